"""/v2/images/{image_id}/file: upload and download image data."""

import os
import urllib.parse

from glancelet import errors, request_id
from glancelet.handlers.util import load_image, receive, require_octet_stream
from glancelet.http import empty_response

DOWNLOAD_BLOCK = 1024 * 1024


def upload(req, start_response):
    """Upload a queued image's data; it becomes active only once whole."""
    record = load_image(req, "upload_image")
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


def _open_data(req, record, offload):
    """The image's data file, open; only checked (None) when offloaded. 503 if missing."""
    try:
        if record["data_file"] is None:
            raise FileNotFoundError(record["id"])
        path = req.app.store.path(record["data_file"])
        if offload:
            os.stat(path)
            return None
        return open(path, "rb")
    except FileNotFoundError:
        raise errors.HTTPError(503, "The data of image %s is missing from the store."
                               % record["id"])


def _offload(req, record, start_response, headers):
    """Hand the download to nginx: an empty 200 whose X-Accel-Redirect names the file.

    nginx sends the file with its length, Accept-Ranges and any Range the
    client asked for (checked already). It drops Content-MD5 and the request
    id across the redirect: they ride in the redirect's query string, which
    the internal location turns back into headers ($arg_md5, $arg_request_id).
    """
    query = urllib.parse.urlencode({"md5": record["checksum"] or "",
                                    "request_id": request_id.of(req.environ)})
    target = "%s%s?%s" % (req.conf.get("glancelet", "download_offload_uri"),
                          urllib.parse.quote(record["data_file"]), query)
    return empty_response(start_response, "200 OK", headers + [("X-Accel-Redirect", target)])


def _sendfile(req, record, start_response, headers):
    """Hand the download to Apache's mod_xsendfile: an empty 200 whose
    X-Sendfile names the file by its absolute path.

    mod_xsendfile removes the header, sends the file with its length, and
    keeps the response's other headers (Content-MD5, the request id); Apache
    answers any Range the client asked for (checked already) from the file.
    Apache does not say Accept-Ranges on such a response; glancelet does.
    """
    path = os.path.abspath(req.app.store.path(record["data_file"]))
    return empty_response(start_response, "200 OK",
                          headers + [("Accept-Ranges", "bytes"), ("X-Sendfile", path)])


def download(req, start_response):
    """Download the image's data, whole or one byte range (deactivated: admins only)."""
    record = load_image(req, "download_image")
    if record["status"] == "deactivated" and not req.context.is_admin:
        raise errors.Forbidden("The requested image has been deactivated. Image data "
                               "download is forbidden.")
    if record["status"] not in ("active", "deactivated"):  # no data yet: Glance's 204
        return empty_response(start_response)
    offload = req.conf.get("glancelet", "download_offload")
    fp = _open_data(req, record, offload)
    size = record["size"]
    try:
        span = _parse_range(req.header("Range"), size)
    except errors.HTTPError:
        if fp is not None:
            fp.close()
        raise
    headers = [("Content-Type", "application/octet-stream"),
               ("Content-MD5", record["checksum"])]
    if offload == "x-sendfile":
        return _sendfile(req, record, start_response, headers)
    if offload:
        return _offload(req, record, start_response, headers)
    headers.append(("Accept-Ranges", "bytes"))
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
