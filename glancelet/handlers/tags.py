"""PUT/DELETE /v2/images/{image_id}/tags/{tag}."""

from glancelet import errors
from glancelet.handlers.util import load_image, modify
from glancelet.http import empty_response


def _tag(req):
    tag = req.route_args["tag"]
    if not 0 < len(tag) <= 255:
        raise errors.BadRequest("A tag is 1 to 255 characters long.")
    return tag


def add(req, start_response):
    """Add a tag (adding one the image has is a no-op)."""
    record = load_image(req, "modify_image")
    tag = _tag(req)

    def changes(record):
        return {} if tag in record["tags"] else {"tags": record["tags"] + [tag]}

    modify(req, record, changes)
    return empty_response(start_response)


def remove(req, start_response):
    """Remove a tag; 404 if the image does not have it."""
    record = load_image(req, "modify_image")
    tag = _tag(req)

    def changes(record):
        if tag not in record["tags"]:
            raise errors.NotFound("Tag %s not found on image %s" % (tag, record["id"]))
        return {"tags": [t for t in record["tags"] if t != tag]}

    modify(req, record, changes)
    return empty_response(start_response)
