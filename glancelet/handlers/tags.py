"""PUT/DELETE /v2/images/{image_id}/tags/{tag}."""

from glancelet import domain, errors
from glancelet.handlers.images import load_image
from glancelet.http import empty_response


def _tag(req):
    tag = req.route_args["tag"]
    if not 0 < len(tag) <= 255:
        raise errors.BadRequest("A tag is 1 to 255 characters long.")
    return tag


def add(req, start_response):
    record = load_image(req, for_update=True)
    tag = _tag(req)
    if tag not in record["tags"]:
        req.app.images.update(record["id"], {"tags": record["tags"] + [tag],
                                             "updated_at": domain.utcnow()})
    return empty_response(start_response)


def remove(req, start_response):
    record = load_image(req, for_update=True)
    tag = _tag(req)
    if tag not in record["tags"]:
        raise errors.NotFound("Tag %s not found on image %s" % (tag, record["id"]))
    req.app.images.update(record["id"], {"tags": [t for t in record["tags"] if t != tag],
                                         "updated_at": domain.utcnow()})
    return empty_response(start_response)
