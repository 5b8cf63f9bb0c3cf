"""GET / and GET /versions: the version discovery document.

Glance lists a version only when the calls it introduced are served by that
deployment, not every version up to the newest: without multiple stores it
leaves v2.8, v2.10 and v2.11 out, without the cache v2.14 and v2.16. Clients
ask the same way (Tempest's ``has_version('2.12')``, python-glanceclient's
checks before ``image-tasks`` or ``image-import``). glancelet lists, by what
each version introduced (the Images API reference's "Since Image API v2.N"):

* v2.0: images, data, tags, schemas; the ``v2.0-json-patch`` media type.
* v2.1: image members and ``/v2/schemas/member(s)``; ``v2.1-json-patch``.
* v2.3: ``POST .../actions/deactivate`` and ``.../reactivate``.
* v2.4: location rules; glancelet exposes no locations, as Glance with
  ``show_multiple_locations = False`` (its default), which lists v2.4.
* v2.5: ``community`` and ``shared`` visibility, members on shared images only.
* v2.6: interoperable import and ``/v2/info/import``.
* v2.7: ``os_hidden`` and ``os_hash_algo``/``os_hash_value``.
* v2.12: ``GET /v2/images/{id}/tasks``. It is the newest listed, so CURRENT.

Left out: v2.2, whose tasks API is served only in part (``POST /v2/tasks``
with the ``import`` type and ``GET /v2/tasks/{id}``, not the list ``GET
/v2/tasks``; property protections, its other addition, are optional in
Glance too); v2.8, v2.10 and v2.11 (multiple stores, deleting from one
store, copy-image); v2.9, v2.14, v2.16 and v2.18 (the image cache and its
API); v2.13 (``/v2/info/usage``); v2.15 (``/v2/info/stores/detail``);
v2.17 (the locations API).
"""

from glancelet.http import json_response

# (id, status), newest first. See the module docstring for why each is here.
VERSIONS = (("v2.12", "CURRENT"), ("v2.7", "SUPPORTED"), ("v2.6", "SUPPORTED"),
            ("v2.5", "SUPPORTED"), ("v2.4", "SUPPORTED"), ("v2.3", "SUPPORTED"),
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
