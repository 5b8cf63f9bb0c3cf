"""Why uWSGI's ``add-header = Connection: close`` matters behind HAProxy.

HAProxy keeps the client's connection open and, between requests, reuses
its connection to uWSGI. uWSGI's ``http-socket`` closes that after every
response; without the header HAProxy does not know it will.
"""

import http.client
import re
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lab.client import Api, MiB, Source, auth_headers
from lab.harness import LineEdit, names_image
from lab.patterns import get
from tests.examples.test_apache_proxy_http import SLOW_CLOSE

INI = "examples/uwsgi-http/glancelet-uwsgi.ini"
VARIANTS = {
    "shipped": SLOW_CLOSE,
    "without-connection-close": SLOW_CLOSE + [
        LineEdit(r"^add-header = Connection: close$", remove=True)],
}


def on_one_connection(base_url, count):
    """Up to ``count`` GETs on one client connection, opening a new one only
    after a failure: (statuses, errors)."""
    parts = urlsplit(base_url)
    statuses, errors = [], []
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        for _ in range(count):
            try:
                conn.request("GET", parts.path + "/v2/images?limit=1", headers=auth_headers())
                resp = conn.getresponse()
                resp.read()
                statuses.append(resp.status)
            except (http.client.HTTPException, OSError) as exc:
                errors.append(exc)
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    finally:
        conn.close()
    return statuses, errors


@pytest.mark.parametrize("which", list(VARIANTS))
def test_client_keepalive_through_haproxy(which, tmp_path):
    """40 GETs on one client connection, with uWSGI's close of each
    connection delayed (lab/slow_close.py) as in the Apache reuse test. As
    shipped all succeed; without the header HAProxy drops the client's
    connection without a response on about every other request."""
    with get("haproxy-uwsgi").variant({INI: VARIANTS[which]}).start(tmp_path) as dep:
        started = time.monotonic()
        statuses, errors = on_one_connection(dep.base_url, 40)
        assert time.monotonic() - started < 120
    if which == "shipped":
        assert (statuses, errors) == ([200] * 40, [])
    else:
        assert set(statuses) == {200}, statuses
        assert len(errors) >= 10, (statuses, errors)
        assert all(isinstance(e, http.client.RemoteDisconnected) for e in errors), errors


# Debian's sample haproxy.cfg, as the haproxy package installs it.
DISTRO_CFG = Path("/etc/haproxy/haproxy.cfg")
HAPROXY_CFG = "examples/haproxy-uwsgi/haproxy.cfg"
# Longer than Debian's 50 s client timeout, shorter than the node's own
# limit (uWSGI's socket-timeout, 60 s in the uwsgi-http ini).
PAUSE = 53.0


def distro_timeouts():
    """{"client": ..., "server": ...}: the timeouts of Debian's sample haproxy.cfg."""
    if not DISTRO_CFG.exists():
        pytest.fail("%s is missing; as root: apt-get install --reinstall -o "
                    "Dpkg::Options::=--force-confmiss haproxy" % DISTRO_CFG)
    found = dict(re.findall(r"^\s*timeout\s+(client|server)\s+(\S+)\s*$",
                            DISTRO_CFG.read_text(), re.M))
    assert set(found) == {"client", "server"}, found
    return found


def _paused_put(dep, image_id, pause):
    """PUT 2 MiB with Content-Length: 1 MiB, ``pause`` seconds of silence,
    then the rest; return the raw response (b"" if the connection was closed
    without one)."""
    parts = urlsplit(dep.base_url)
    half = b"x" * (1024 * 1024)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=pause + 30)
    with sock:
        headers = "".join("%s: %s\r\n" % kv for kv in auth_headers().items())
        sock.sendall(("PUT %s/v2/images/%s/file HTTP/1.1\r\nHost: %s\r\n%sContent-Type: "
                      "application/octet-stream\r\nContent-Length: %d\r\n\r\n"
                      % (parts.path, image_id, parts.netloc, headers, 2 * len(half))).encode()
                     + half)
        time.sleep(pause)
        try:
            sock.sendall(half)
        except OSError:  # HAProxy closed the connection: read what it said
            pass
        response = b""
        try:
            while b"\r\n\r\n" not in response:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                response += chunk
        except ConnectionResetError:
            pass
    return response


@pytest.mark.full_only
@pytest.mark.parametrize("which", ["shipped", "distro-timeouts"])
def test_a_pause_mid_upload_against_the_client_timeout(which, tmp_path, record):
    """A client that goes silent for 53 s in the middle of an upload. With the
    example's 6 h timeouts the upload completes (204): the node's own limit
    is uWSGI's 60 s socket-timeout. With Debian's sample timeouts (50 s)
    HAProxy answers 504 and closes both connections, and glancelet puts the
    image back to queued, keeping no data."""
    edits = []
    if which == "distro-timeouts":
        edits = [LineEdit(r"^    timeout %s 6h$" % side, replace="timeout %s %s" % (side, value))
                 for side, value in sorted(distro_timeouts().items())]
    variant = get("haproxy-uwsgi").variant({HAPROXY_CFG: edits}) if edits else get(
        "haproxy-uwsgi")
    with variant.start(tmp_path) as dep:
        api = Api(dep.base_url, dep.ca_file)
        image_id = api.create_image(name="paused")["id"]
        started = time.monotonic()
        response = _paused_put(dep, image_id, PAUSE).decode(errors="replace")
        elapsed = time.monotonic() - started
        end = time.monotonic() + 15
        while api.get_image(image_id)["status"] == "saving" and time.monotonic() < end:
            time.sleep(0.2)
        image = api.get_image(image_id)
        if which == "shipped":
            assert response.startswith("HTTP/1.1 204"), response
            assert (image["status"], image["size"]) == ("active", 2 * 1024 * 1024), image
            return
        # The node, waiting for the rest of the body, is as silent as the
        # client: HAProxy's server timeout fires, and it answers 504.
        assert response.startswith("HTTP/1.1 504 Gateway Time-out\r\n"), response
        assert "The server didn't respond in time." in response, response
        assert PAUSE - 5 < elapsed < PAUSE + 5, elapsed
        assert (image["status"], image["size"]) == ("queued", None), image
        assert not list(dep.store_dir.iterdir()), list(dep.store_dir.iterdir())
        record.symptom("haproxy-timeout-mid-upload", "haproxy-uwsgi", response.strip())


# The shipped backend, and one with the option its comment leaves out.
BUFFERING = {
    "shipped": [],
    "http-buffer-request": [LineEdit(r"^    option httpchk$",
                                     add_after="option http-buffer-request")],
}
# How long glancelet is given to start writing the image after the first
# 4 KiB of its body: the shipped run waits until it does (well under a
# second), the other the whole window.
FIRST_BYTES_WINDOW = 10.0


@pytest.mark.parametrize("which", list(BUFFERING))
def test_an_upload_reaches_uwsgi_before_its_body_ends(which, tmp_path):
    """The first 4 KiB of a 1 MiB upload, then the client holds the rest. As
    shipped HAProxy passes the request on at once: glancelet is writing the
    image (its temp file is there) while the client still holds the body.
    With ``option http-buffer-request`` HAProxy keeps the request until the
    body fills its buffer (tune.bufsize, 16 KiB): glancelet has not seen it
    after 10 s. Both then store the whole upload."""
    edits = BUFFERING[which]
    pattern = get("haproxy-uwsgi")
    with (pattern.variant({HAPROXY_CFG: edits}) if edits else pattern).start(tmp_path) as dep:
        api = Api(dep.base_url, dep.ca_file)
        image_id = api.create_image(name="first-bytes")["id"]
        source = Source(MiB, seed=71)
        data = source.bytes()
        conn = api._start_put(image_id, {"Content-Length": str(len(data))}, timeout=60)
        conn.send(data[:4096])
        started = time.monotonic()
        end = started + FIRST_BYTES_WINDOW
        while not names_image(dep.store_dir, image_id) and time.monotonic() < end:
            time.sleep(0.05)
        reached = names_image(dep.store_dir, image_id)
        seconds = time.monotonic() - started
        conn.send(data[4096:])
        resp = api._finish(conn)
        image = api.get_image(image_id)
    assert resp.status == 204, resp
    assert image["os_hash_value"] == source.sha512.hexdigest(), image
    assert reached == (which == "shipped"), (which, seconds)
