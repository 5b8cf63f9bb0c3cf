"""GET /v2/schemas/image, images, member and members."""

from glancelet import schemas
from glancelet.http import json_response


def image(req, start_response):
    """The JSON schema of an image, as requests are validated against it."""
    return json_response(start_response, "200 OK", schemas.image_schema())


def images(req, start_response):
    """The JSON schema of an image list."""
    return json_response(start_response, "200 OK", schemas.images_schema())


def member(req, start_response):
    """The JSON schema of an image member."""
    return json_response(start_response, "200 OK", schemas.member_schema())


def members(req, start_response):
    """The JSON schema of an image's member list."""
    return json_response(start_response, "200 OK", schemas.members_schema())
