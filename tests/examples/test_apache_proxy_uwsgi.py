"""What examples/apache-proxy-uwsgi/ can and cannot do, on live servers.

* Chunked uploads cannot pass mod_proxy_uwsgi: Apache answers 411 before it
  contacts uWSGI, and neither ``proxy-sendcl`` nor ``proxy-sendchunked``
  changes that (both are read by mod_proxy_http only). The way out is
  examples/apache-proxy-http/ (or mod_wsgi).
* ``LimitRequestBody 0`` is needed: mod_proxy_uwsgi applies Apache's 1 GiB
  default to the Content-Length before forwarding anything.
* The pairing Glance's published doc shows (``uwsgi://`` to an
  ``http-socket``) fails on every request.
"""

import http.client
import socket
import time
from urllib.parse import urlsplit

import pytest

from lab import apache
from lab.client import MiB, Api, Source, auth_headers
from lab.harness import LineEdit, Workspace
from lab.patterns import apache_proxy_uwsgi

PATTERN = apache_proxy_uwsgi.PATTERNS[0]
CONF = apache_proxy_uwsgi.DIR + "glancelet-apache.conf"
INI = apache_proxy_uwsgi.DIR + "glancelet-uwsgi.ini"
A2ENMOD = "# a2enmod: proxy proxy_uwsgi headers"
A2ENMOD_LINE = "^%s$" % A2ENMOD
PROXYPASS = r'^\s*ProxyPass "uwsgi://127\.0\.0\.1:60998" retry=0 timeout=120$'
GIB = 1024 * MiB

CHUNKED_VARIANTS = {
    "shipped": {},
    # SetEnv needs mod_env: the a2enmod line gains it, so Apache loads it.
    "proxy-sendcl": {CONF: [LineEdit(A2ENMOD_LINE, replace=A2ENMOD + " env"),
                            LineEdit(PROXYPASS, add_after="SetEnv proxy-sendcl 1")]},
    "proxy-sendchunked": {CONF: [LineEdit(A2ENMOD_LINE, replace=A2ENMOD + " env"),
                                 LineEdit(PROXYPASS, add_after="SetEnv proxy-sendchunked 1")]},
}


@pytest.mark.parametrize("which", list(CHUNKED_VARIANTS))
def test_chunked_upload_gets_411(which, tmp_path, record):
    """A chunked upload gets Apache's 411 page; uWSGI never sees the PUT;
    the image stays queued. The same with proxy-sendcl or proxy-sendchunked.
    A Content-Length upload of the same data works."""
    edits = CHUNKED_VARIANTS[which]
    pattern = PATTERN.variant(edits) if edits else PATTERN
    with pattern.start(tmp_path) as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="chunked")
        resp = api.upload_chunked(image["id"], Source(3 * MiB + 1, seed=31), MiB)
        assert resp.status == 411, resp
        assert "<title>411 Length Required</title>" in resp.text
        assert apache_proxy_uwsgi.LENGTH_REQUIRED in resp.text
        assert "PUT /v2/images/%s/file" % image["id"] not in dep.log_text("uwsgi")
        assert api.get_image(image["id"])["status"] == "queued"
        # Content-Length works through the same configuration.
        source = Source(3 * MiB + 1, seed=31)
        ok = api.upload_cl(image["id"], source)
        assert ok.status == 204, ok
        assert api.get_image(image["id"])["os_hash_value"] == source.sha512.hexdigest()
        if which == "shipped":
            record.symptom("chunked-411-mod-proxy-uwsgi", PATTERN.name,
                           "%s\n%s" % (resp.status_line, resp.text.strip()))


@pytest.mark.slow
def test_uwsgi_protocol_to_an_http_socket_fails(tmp_path, record):
    """Glance's published doc pairs ``ProxyPass ... uwsgi://`` with an
    ``http-socket``. uWSGI then reads the uwsgi packet as HTTP, waits for a
    request line that never ends, and after its socket-timeout (60 s here)
    Apache answers 500 to every request."""
    variant = PATTERN.variant({INI: LineEdit(r"^socket = 127\.0\.0\.1:60998$",
                                             replace="http-socket = 127.0.0.1:60998")})
    ws = Workspace(tmp_path)
    try:
        variant.launch(ws)
        port = _apache_port(ws)
        _wait_for_port(port)
        base = "http://127.0.0.1:%d/image" % port
        parts = urlsplit(base)
        started = time.monotonic()
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=150)
        try:
            conn.request("GET", parts.path + "/v2/images", headers=auth_headers())
            resp = conn.getresponse()
            body = resp.read().decode("utf-8", "replace")
        finally:
            conn.close()
        seconds = time.monotonic() - started
        assert resp.status == 500, body
        assert "<title>500 Internal Server Error</title>" in body
        assert 55 <= seconds < 130, seconds
        record.symptom("uwsgi-protocol-to-http-socket", PATTERN.name,
                       "%d %s after %.0f s\n%s"
                       % (resp.status, resp.reason, seconds, body.strip()))
    finally:
        apache.settle_uwsgi(ws.servers.get("uwsgi"))
        errors = ws.stop_all()
        ws.remove()
    assert errors == []


def _wait_for_port(port, deadline=30.0):
    end = time.monotonic() + deadline
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < end, "nothing listens on %d" % port
            time.sleep(0.1)


def _apache_port(ws):
    return apache.listen_port(ws)
