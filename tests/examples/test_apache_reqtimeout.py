"""What Debian's stock mod_reqtimeout does to a slow upload.

Debian enables reqtimeout (``RequestReadTimeout body=10,minrate=500``): the
body must start within 10 s, and each 500 bytes received buys one more
second. An upload slower than 500 bytes/s runs out of time; one above that
rate is never cut, however long it takes. The tests run on Debian's own
/etc/apache2 (lab/apache.py), so the module is on as shipped.
"""

import json
import socket
import time

import pytest

from lab.client import Api, auth_headers
from lab.patterns import get

TIMEOUT_TEXT = "Server timeout waiting for the HTTP request from the client."


def _slow_put(dep, image_id, length, rate, deadline=60.0):
    """PUT ``length`` bytes of image data at ``rate`` bytes/s in 100-byte
    pieces; return (seconds, bytes sent, raw response) once Apache answers
    or the body is sent."""
    host, port = "127.0.0.1", int(dep.base_url.split(":")[2].split("/")[0])
    path = "%s/v2/images/%s/file" % (dep.pattern.url_prefix, image_id)
    sock = socket.create_connection((host, port), timeout=30)
    with sock:
        token = "".join("%s: %s\r\n" % kv for kv in auth_headers().items())
        sock.sendall(("PUT %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Type: "
                      "application/octet-stream\r\nContent-Length: %d\r\n\r\n"
                      % (path, token, length)).encode())
        start, sent = time.monotonic(), 0
        sock.setblocking(False)
        while sent < length and time.monotonic() - start < deadline:
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break
            except BlockingIOError:
                pass
            sock.sendall(b"x" * min(100, length - sent))
            sent += min(100, length - sent)
            time.sleep(100 / rate)
        elapsed = time.monotonic() - start
        sock.setblocking(True)
        sock.settimeout(30)
        response = b""
        while b"</html>" not in response and not response.startswith(b"HTTP/1.1 204"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            response += chunk
    return elapsed, sent, response.decode(errors="replace")


def _image(dep):
    api = Api(dep.base_url, dep.ca_file)
    return api, api.create_image(name="slow")["id"]


# What the client gets when the body runs out of time, per pattern, and the
# error log line that goes with it.
CUT = {
    "apache-proxy-http": ("408 Request Timeout", TIMEOUT_TEXT, "AH01095"),
    "apache-mod-wsgi": ("408 Request Timeout", TIMEOUT_TEXT, None),
    # mod_proxy_uwsgi reports the client's timeout as its own error.
    "apache-proxy-uwsgi": ("500 Internal Server Error", "Internal Server Error", None),
}


@pytest.mark.parametrize("name", sorted(CUT))
def test_upload_below_minrate_is_cut(name, tmp_path):
    """200 bytes/s: Apache answers once 10 s plus 1 s per 500 bytes received
    have passed (about 12.5 s), and glancelet puts the image back to
    queued. mod_proxy_http and mod_wsgi answer 408; mod_proxy_uwsgi 500."""
    status, text, log_id = CUT[name]
    with get(name).start(tmp_path) as dep:
        api, image_id = _image(dep)
        elapsed, sent, response = _slow_put(dep, image_id, 100000, rate=200)
        assert response.startswith("HTTP/1.1 %s\r\n" % status), response
        assert text in response
        assert 10 <= elapsed <= 10 + sent / 500 + 5 and sent < 100000, (elapsed, sent)
        log = dep.log_text("apache")
        assert "The timeout specified has expired" in log or log_id is None, log[-3000:]
        assert log_id is None or log_id in log, log[-3000:]
        end = time.monotonic() + 10
        while api.get_image(image_id)["status"] != "queued" and time.monotonic() < end:
            time.sleep(0.2)
        assert api.get_image(image_id)["status"] == "queued"


def test_upload_above_minrate_is_not_cut(tmp_path):
    """2000 bytes/s for about 15 s (longer than body=10) through
    apache-proxy-http: the extension keeps up, the upload completes (204)."""
    with get("apache-proxy-http").start(tmp_path) as dep:
        api, image_id = _image(dep)
        elapsed, sent, response = _slow_put(dep, image_id, 30000, rate=2000)
        assert response.startswith("HTTP/1.1 204"), response
        assert elapsed > 12 and sent == 30000, (elapsed, sent)
        image = api.get_image(image_id)
        assert (image["status"], image["size"]) == ("active", 30000), json.dumps(image)
