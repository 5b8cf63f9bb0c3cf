"""/v2/images/{image_id}/members: sharing a ``shared`` image with other projects.

The image's project adds and removes members (projects); a member accepts,
rejects or returns to pending its own membership, and lists the image
(``GET /v2/images``) once it has accepted. Who may do what is
:mod:`glancelet.policy`'s ``*_member(s)`` rules; as in Glance, a non-admin
that is not the image's project sees only its own membership.
"""

from glancelet import errors, policy
from glancelet.handlers.util import load_image
from glancelet.http import empty_response, json_response

STATUSES = ("pending", "accepted", "rejected")
# Glance's default [DEFAULT] image_member_quota.
MEMBER_LIMIT = 128


def view(member):
    """The API representation of a member row."""
    return {"member_id": member["member"], "image_id": member["image_id"],
            "status": member["status"], "created_at": member["created_at"],
            "updated_at": member["updated_at"], "schema": "/v2/schemas/member"}


def _shared_image(req, action):
    """The route's image (404 unless the caller sees it), which must be
    ``shared``: else 403 for ``action`` ("create", "list"...), 404 for "show"."""
    record = load_image(req)
    if record["visibility"] != "shared":
        if action == "show":
            raise errors.NotFound("Only shared images have members.")
        raise errors.Forbidden("Not allowed to %s members for image %s: only shared "
                               "images have members." % (action, record["id"]))
    return record


def _sees(ctx, image, member):
    """Whether ``ctx`` sees this membership: the image's project and admins see
    every member, a member only itself."""
    return ctx.is_admin or ctx.project_id in (image["owner"], member["member"])


def _member(req, image):
    """The route's member of ``image``, if the caller sees it (404 otherwise)."""
    policy.enforce_image(req.context, "get_member", image)
    member_id = req.route_args["member_id"]
    member = req.app.members.get(image["id"], member_id)
    if member is None or not _sees(req.context, image, member):
        raise errors.NotFound("%s not found in the member list of the image %s."
                              % (member_id, image["id"]))
    return member


def _body_field(req, name, missing):
    """The ``name`` field of the JSON object body; 400 with ``missing`` unless there."""
    body = req.json_body()
    if not isinstance(body, dict):
        raise errors.BadRequest('Expected a %s in the form: {"%s": "..."}' % (name, name))
    if name not in body:
        raise errors.BadRequest(missing)
    return body[name]


def create(req, start_response):
    """Share the image with a project: a new ``pending`` member (200)."""
    member_id = _body_field(req, "member", "Member to be added not specified")
    if not member_id:
        raise errors.BadRequest("Member can't be empty")
    if not isinstance(member_id, str) or len(member_id) > 255:
        raise errors.BadRequest("A member is a project id: a string of at most 255 "
                                "characters.")
    image = _shared_image(req, "create")
    policy.enforce_image(req.context, "add_member", image)
    now = req.app.clock()
    record = {"image_id": image["id"], "member": member_id, "status": "pending",
              "created_at": now, "updated_at": now}
    refused = req.app.members.add(record, MEMBER_LIMIT)
    if refused == "duplicate":
        raise errors.Conflict("Member %s is duplicated for image %s"
                              % (member_id, image["id"]))
    if refused == "full":
        raise errors.RequestTooLarge("Image member limit exceeded for image %s: it has "
                                     "%d members." % (image["id"], MEMBER_LIMIT))
    if refused is not None:  # the image was deleted or unshared meanwhile
        raise errors.Conflict("Image %s was deleted or unshared while the member was "
                              "being added." % image["id"])
    return json_response(start_response, "200 OK", view(record))


def index(req, start_response):
    """List the image's members the caller sees."""
    ctx = req.context
    image = _shared_image(req, "list")
    policy.enforce_image(ctx, "get_members", image)
    members = [view(m) for m in req.app.members.list(image["id"]) if _sees(ctx, image, m)]
    return json_response(start_response, "200 OK",
                         {"members": members, "schema": "/v2/schemas/members"})


def show(req, start_response):
    """Show one member; 404 if the caller does not see it."""
    image = _shared_image(req, "show")
    try:
        member = _member(req, image)
    except errors.HTTPError as exc:
        if exc.status != 403:
            raise
        raise errors.NotFound(exc.message)  # Glance hides the membership
    return json_response(start_response, "200 OK", view(member))


def update(req, start_response):
    """Set a membership's status; only the member itself (or an admin) may."""
    status = _body_field(req, "status", "Status not specified")
    image = _shared_image(req, "update")
    member = _member(req, image)
    policy.enforce_image(req.context, "modify_member", image)
    if status not in STATUSES:
        raise errors.BadRequest('Incorrect request: Status must be "pending", "accepted" '
                                'or "rejected".')
    updated = req.app.members.update(image["id"], member["member"], status,
                                     req.app.clock())
    if updated is None:
        raise errors.NotFound("%s not found in the member list of the image %s."
                              % (member["member"], image["id"]))
    return json_response(start_response, "200 OK", view(updated))


def delete(req, start_response):
    """Stop sharing the image with a project (204)."""
    image = _shared_image(req, "delete")
    member = _member(req, image)
    policy.enforce_image(req.context, "delete_member", image)
    req.app.members.delete(image["id"], member["member"])
    return empty_response(start_response)
