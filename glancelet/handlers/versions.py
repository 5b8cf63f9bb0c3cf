"""GET / and GET /versions: the version discovery document."""

from glancelet.http import json_response

# (id, status). Only versions whose calls glancelet implements are listed
# (doc/source/reference/api.rst): v2.0-v2.7 (core, tags, import, os_hash) and
# v2.12 (GET /v2/images/{id}/tasks, which `glance image-tasks` looks for).
# v2.8-v2.11 (multiple stores, copy-image) are not. The newest is CURRENT.
VERSIONS = (("v2.12", "CURRENT"), ("v2.7", "SUPPORTED"), ("v2.6", "SUPPORTED"),
            ("v2.5", "SUPPORTED"),
            ("v2.4", "SUPPORTED"), ("v2.3", "SUPPORTED"), ("v2.2", "SUPPORTED"),
            ("v2.1", "SUPPORTED"), ("v2.0", "SUPPORTED"))


def document(req):
    href = req.base_url() + "/v2/"
    return {"versions": [{"id": vid, "status": status,
                          "links": [{"rel": "self", "href": href}]}
                         for vid, status in VERSIONS]}


def multiple_choices(req, start_response):
    """300 Multiple Choices: the API versions, for a client that asked for none."""
    return json_response(start_response, "300 Multiple Choices", document(req))


def versions(req, start_response):
    """The API versions this service implements, newest first."""
    return json_response(start_response, "200 OK", document(req))
