"""GET / and GET /versions: the version discovery document."""

from glancelet.http import json_response

# (id, status). glancelet implements the v2 calls these versions introduced
# that it lists in doc/source/reference/api.rst; the newest is CURRENT.
VERSIONS = (("v2.7", "CURRENT"), ("v2.6", "SUPPORTED"), ("v2.5", "SUPPORTED"),
            ("v2.4", "SUPPORTED"), ("v2.3", "SUPPORTED"), ("v2.2", "SUPPORTED"),
            ("v2.1", "SUPPORTED"), ("v2.0", "SUPPORTED"))


def document(req):
    href = req.base_url() + "/v2/"
    return {"versions": [{"id": vid, "status": status,
                          "links": [{"rel": "self", "href": href}]}
                         for vid, status in VERSIONS]}


def multiple_choices(req, start_response):
    return json_response(start_response, "300 Multiple Choices", document(req))


def versions(req, start_response):
    return json_response(start_response, "200 OK", document(req))
