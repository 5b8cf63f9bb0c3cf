"""Helpers shared by the handler modules: finding the route's image, changing
it safely, and taking image data into a store."""

import errno
import logging
import re

from glancelet import body as body_mod
from glancelet import domain, errors, policy, recovery, store as store_mod
from glancelet.http import json_response

LOG = logging.getLogger(__name__)


# -- The route's image -------------------------------------------------------------

# A UUID as str(uuid.UUID(...)) writes it: lower case, with hyphens.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def parse_image_id(req):
    """The route's image id in canonical form (lower case); 404 if it is not
    a UUID written in that form, in any case."""
    image_id = req.route_args["image_id"]
    canonical = image_id.lower()
    if not _CANONICAL_UUID.match(canonical):
        raise errors.NotFound("No image found with ID %s" % image_id)
    return canonical


def visible(req, image):
    """Whether the caller reaches ``image`` at all, as Glance's database layer
    decides before any policy: an admin any image, others their project's,
    public and community ones, and shared ones their project is a member of
    (whatever the member status)."""
    ctx = req.context
    if ctx.is_admin or image["visibility"] in ("public", "community"):
        return True
    if ctx.project_id is None or image["owner"] is None:
        return False
    if image["owner"] == ctx.project_id:
        return True
    return (image["visibility"] == "shared"
            and req.app.members.get(image["id"], ctx.project_id) is not None)


def load_image(req, rule="get_image"):
    """The image named in the route, if the caller may see it (404 otherwise)
    and do ``rule`` to it (403; see :func:`glancelet.policy.enforce_image`)."""
    image_id = parse_image_id(req)
    record = recovery.reap_image(req.app, req.app.images.get(image_id))
    if record is None or not visible(req, record):
        raise errors.NotFound("No image found with ID %s" % image_id)
    policy.enforce_image(req.context, "get_image", record)
    if rule != "get_image":
        policy.enforce_image(req.context, rule, record)
    return record


MODIFY_TRIES = 1000


def modify(req, record, changes_of):
    """Apply ``changes_of(record)`` to the route's image, as a compare-and-swap.

    If another change came between the read and the write, read the image
    again and recompute, so that every change answered with 2xx is kept.
    Returns the image as written.
    """
    for _ in range(MODIFY_TRIES):
        changes = changes_of(record)
        if not changes:
            return record
        changes["updated_at"] = req.app.clock()
        updated = req.app.images.update(record["id"], changes,
                                        expect_version=record["version"])
        if updated is not None:
            return updated
        record = load_image(req, "modify_image")
    raise errors.Conflict("Image %s changed too often while this change was being made; "
                          "retry it." % record["id"])


def image_response(req, start_response, record, status="200 OK", headers=()):
    """A response whose body is the API view of image ``record``."""
    return json_response(start_response, status, domain.view(record),
                         headers)


# -- Image data -----------------------------------------------------------------------

def require_octet_stream(req):
    """415 unless the request body is sent as application/octet-stream."""
    if req.content_type != "application/octet-stream":
        raise errors.UnsupportedMediaType(
            "Image data must be sent with Content-Type: application/octet-stream, not %r"
            % (req.header("Content-Type") or ""))


def expected_size(req, reader):
    """The size the client promised: x-openstack-image-size, checked against CL."""
    raw = req.header("x-openstack-image-size")
    if raw is None:
        return None
    try:
        size = int(raw)
        if size < 0:
            raise ValueError
    except ValueError:
        raise errors.BadRequest("x-openstack-image-size %r is not a non-negative integer"
                                % raw)
    if reader.mode == "length" and reader.length != size:
        raise errors.BadRequest("x-openstack-image-size (%d) does not match Content-Length "
                                "(%d)" % (size, reader.length))
    return size


def write_body(req, image_id, target_store, reader, size):
    """Stream ``reader`` into ``target_store``, turning failures into HTTP errors.

    Whatever happens, no partial data is left behind (the store guarantees
    it); the caller returns the image to a retryable state.
    """
    try:
        return target_store.write(image_id, reader, expected_size=size)
    except body_mod.BodyIncomplete as exc:
        LOG.warning("upload of image %s failed: %s", image_id, exc)
        raise errors.BadRequest("The image data could not be read: %s" % exc)
    except store_mod.SizeMismatch as exc:
        raise errors.BadRequest("The image data has %d bytes but x-openstack-image-size "
                                "said %d" % (exc.actual, exc.expected))
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise errors.RequestTooLarge("Image storage media is full: %s" % exc.strerror)
        LOG.exception("writing image %s failed", image_id)
        raise errors.HTTPError(503, "The image store cannot take the data now (%s); the "
                               "image is queued again, retry later." % exc.strerror,
                               headers=[("Retry-After", "30")])


def receive(req, image_id, target_store, busy_status, done_status, finished, verb,
            conflict, on_claim=None):
    """Take the request body into ``target_store`` for a ``queued`` image.

    The one data path of ``PUT .../file`` (``busy_status`` "saving") and
    ``PUT .../stage`` ("uploading"): claim the image for this request, stream
    the body into a file of its own, then move the image to ``done_status``
    with ``finished(result)`` (a dict of image changes naming that file) only
    if the claim still holds.
    Whatever fails, the image goes back to ``queued``; if the image changed
    or went away meanwhile, this request's file is removed and the client
    gets 409 or 410. ``conflict(image_id)`` returns the error for an image that was not
    ``queued`` when the request came; ``verb`` ("uploaded", "staged") words
    the other errors. ``on_claim()``, if given, runs once the image is claimed.
    """
    app = req.app
    reader = body_mod.RequestBody(req.environ, limit=req.conf.get("DEFAULT",
                                                                  "image_size_cap"))
    size = expected_size(req, reader)
    me = domain.claim_id()
    claimed = app.images.transition(image_id, "queued", busy_status,
                                    {"worker": me, "updated_at": app.clock()})
    if claimed is None:
        raise conflict(image_id)
    try:
        if on_claim is not None:
            on_claim()
        result = write_body(req, image_id, target_store, reader, size)
    except BaseException:
        app.images.transition(image_id, busy_status, "queued",
                              {"worker": None, "updated_at": app.clock()}, worker=me)
        raise
    changes = dict(finished(result), worker=None, updated_at=app.clock())
    if not target_store.keep(result, lambda: app.images.transition(
            image_id, busy_status, done_status, changes, worker=me)):
        if app.images.get(image_id) is None:
            raise errors.Gone("Image %s was deleted while its data was being %s."
                              % (image_id, verb))
        raise errors.Conflict("Image %s changed state while its data was being %s; the "
                              "data was discarded." % (image_id, verb))
