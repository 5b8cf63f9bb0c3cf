"""Which node holds an image's staged data, and forwarding an import there.

With several API nodes, each node stages ``glance-direct`` data on its own
disk. A node with ``[DEFAULT] worker_self_reference_url`` records that URL
on the image it stages, as the ``os_glance_stage_host`` property (Glance's
name). An import request that reaches another node is sent on to that URL
with the caller's headers and body, and the stage host's answer is relayed.
When the stage host cannot be reached the import is refused with 504 and
the image stays ``uploading``, its staged data untouched on that host: the
import can be retried once the node is back, or the image deleted.
"""

import http.client
import json
import logging
import urllib.parse

from glancelet import errors, request_id

LOG = logging.getLogger(__name__)

PROPERTY = "os_glance_stage_host"
# Seconds to wait for the stage host's answer (Glance waits 60 s too).
FORWARD_TIMEOUT = 60
# Request headers not sent on: those of this hop.
_HOP_HEADERS = ("HTTP_HOST", "HTTP_CONNECTION", "HTTP_CONTENT_LENGTH",
                "HTTP_TRANSFER_ENCODING", "HTTP_KEEP_ALIVE")
_CAS_TRIES = 100


def self_url(conf):
    """This node's own URL, or "" when it has none."""
    return conf.get("DEFAULT", "worker_self_reference_url")


def elsewhere(conf, record):
    """The URL of the node that staged ``record``'s data, if that is not this node."""
    host = record["properties"].get(PROPERTY)
    return host if host and host != self_url(conf) else None


def record_host(app, image_id, url):
    """Set (``url``) or remove (None) the property, keeping concurrent changes;
    return the image, or None if it is gone."""
    for _ in range(_CAS_TRIES):
        record = app.images.get(image_id)
        if record is None or record["properties"].get(PROPERTY) == url:
            return record
        properties = dict(record["properties"])
        if url is None:
            del properties[PROPERTY]
        else:
            properties[PROPERTY] = url
        updated = app.images.update(image_id, {"properties": properties,
                                               "updated_at": app.clock()},
                                    expect_version=record["version"])
        if updated is not None:
            return updated
    LOG.warning("image %s changed too often to record %s = %s", image_id, PROPERTY, url)
    return None


def forward(req, host, body, start_response):
    """Send this import request to ``host``; relay its status and body."""
    parts = urllib.parse.urlsplit(host)
    path = parts.path.rstrip("/") + req.path
    # auth_token leaves some of the identity headers it manages as None in
    # the environ; the stage host's auth_token derives them again anyway.
    headers = {key[5:].replace("_", "-").title(): value for key, value in req.environ.items()
               if key.startswith("HTTP_") and key not in _HOP_HEADERS and value is not None}
    headers["Content-Type"] = req.header("Content-Type") or "application/json"
    # Both nodes log the request under one id, which the client gets back.
    headers["X-Openstack-Request-Id"] = request_id.of(req.environ)
    conn_class = (http.client.HTTPSConnection if parts.scheme == "https"
                  else http.client.HTTPConnection)
    LOG.info("image staged on %s: forwarding %s %s there", host, req.method, req.path)
    try:
        conn = conn_class(parts.hostname, parts.port, timeout=FORWARD_TIMEOUT)
        try:
            conn.request(req.method, path, body=json.dumps(body).encode(), headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
    except (OSError, http.client.HTTPException) as exc:
        LOG.error("could not forward the import to the stage host %s: %s", host, exc)
        raise errors.HTTPError(
            504, "Stage host is unavailable: the image's data was staged on %s, which "
            "cannot be reached (%s). The image keeps its staged data there; retry the "
            "import once that node is back, or delete the image and upload it again."
            % (host, exc), headers=[("Retry-After", "30")])
    relayed = [(name, value) for name, value in resp.getheaders()
               if name.lower() in ("content-type", "x-openstack-request-id", "retry-after")]
    start_response("%d %s" % (resp.status, resp.reason),
                   relayed + [("Content-Length", str(len(data)))])
    return [data]
