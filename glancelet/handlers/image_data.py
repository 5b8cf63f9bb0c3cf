"""/v2/images/{image_id}/file: upload and download image data."""

import errno
import logging

from glancelet import body as body_mod
from glancelet import domain, errors, store as store_mod
from glancelet.handlers.images import load_image
from glancelet.http import empty_response

LOG = logging.getLogger(__name__)
DOWNLOAD_BLOCK = 1024 * 1024


def require_octet_stream(req):
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
            conflict):
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
    the other errors.
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


def upload(req, start_response):
    record = load_image(req, for_update=True)
    require_octet_stream(req)

    def conflict(image_id):
        current = req.app.images.get(image_id)
        if current is None:
            return errors.NotFound("No image found with ID %s" % image_id)
        return errors.Conflict("Image status transition from %s to saving is not allowed"
                               % current["status"])

    def finished(result):
        return {"size": result.size, "checksum": result.checksum,
                "os_hash_algo": result.os_hash_algo, "os_hash_value": result.os_hash_value,
                "data_file": result.name}

    receive(req, record["id"], req.app.store, "saving", "active", finished, "uploaded",
            conflict)
    return empty_response(start_response)


def _parse_range(header, size):
    """(start, end inclusive) for a single ``bytes=`` range; None if absent."""
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        raise errors.RangeNotSatisfiable("Only a single byte range is supported: %r"
                                         % header, size)
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            length = int(last)
            if length <= 0:
                raise ValueError
            start, end = max(size - length, 0), size - 1
        else:
            start = int(first)
            end = int(last) if last else size - 1
            end = min(end, size - 1)
    except ValueError:
        raise errors.RangeNotSatisfiable("Malformed Range header %r" % header, size)
    if start > end or start >= size:
        raise errors.RangeNotSatisfiable("Range %r is outside the image's %d bytes"
                                         % (header, size), size)
    return start, end


def _read_range(fp, start, end):
    try:
        fp.seek(start)
        remaining = end - start + 1
        while remaining > 0:
            data = fp.read(min(DOWNLOAD_BLOCK, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        fp.close()


def download(req, start_response):
    record = load_image(req)
    image_id = record["id"]
    if record["status"] == "deactivated" and not req.context.is_admin:
        raise errors.Forbidden("The requested image has been deactivated. Image data "
                               "download is forbidden.")
    if record["status"] != "active":
        return empty_response(start_response)
    try:
        if record["data_file"] is None:
            raise FileNotFoundError(image_id)
        fp = open(req.app.store.path(record["data_file"]), "rb")
    except FileNotFoundError:
        raise errors.HTTPError(503, "The data of image %s is missing from the store."
                               % image_id)
    size = record["size"]
    try:
        span = _parse_range(req.header("Range"), size)
    except errors.HTTPError:
        fp.close()
        raise
    headers = [("Content-Type", "application/octet-stream"),
               ("Content-MD5", record["checksum"]),
               ("Accept-Ranges", "bytes")]
    if span is None:
        headers.append(("Content-Length", str(size)))
        start_response("200 OK", headers)
        wrapper = req.environ.get("wsgi.file_wrapper")
        if wrapper is not None:
            return wrapper(fp, DOWNLOAD_BLOCK)
        return _read_range(fp, 0, size - 1)
    start, end = span
    headers.append(("Content-Length", str(end - start + 1)))
    headers.append(("Content-Range", "bytes %d-%d/%d" % (start, end, size)))
    start_response("206 Partial Content", headers)
    return _read_range(fp, start, end)
