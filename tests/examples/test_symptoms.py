"""What an operator sees when one option of an example is missing.

Each test starts an example with exactly one line removed or changed (the
edit is asserted to match one line, then the normal rewrite applies) and
captures the exact failure for the docs' symptom index (reference/symptoms).
These are not scenarios: the shipped examples do not fail this way; these
runs show why the line is there.
"""

import http.client
import os
import select
import signal
import socket
import time
from urllib.parse import urlsplit

import pytest

from lab import launchers
from lab.client import MiB, Api, Source
from lab.harness import LineEdit, Workspace, assert_refused, signal_dispositions
from lab.patterns import get


UWSGI_HTTP = "examples/uwsgi-http/"
NGINX_PROXY_HTTP_CONF = "examples/nginx-uwsgi/nginx-proxy-http.conf"


def without(pattern_name, example, line_regex):
    """Pattern ``pattern_name`` with the one line of ``example`` that
    matches ``line_regex`` removed."""
    return get(pattern_name).variant({example: LineEdit(line_regex, remove=True)})


def test_uwsgi_chunk_over_chunked_input_limit(tmp_path, record):
    """Without chunked-input-limit, uWSGI's 1 MiB default (framing included)
    cannot take the exactly-1-MiB chunks python-glanceclient sends."""
    variant = without("uwsgi-http", UWSGI_HTTP + "glancelet-uwsgi.ini", r"^chunked-input-limit\s*=")
    with variant.start(tmp_path) as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="too-big-chunks")
        resp = api.upload_chunked(image["id"], Source(3 * MiB, seed=12), MiB)
        assert resp.status >= 400, resp
        log = dep.log_text("uwsgi")
        assert "unable to receive chunked part" in log, log
        assert api.get_image(image["id"])["status"] == "queued"
        line = [ln for ln in log.splitlines() if "unable to receive chunked part" in ln][0]
        record.symptom("uwsgi-chunked-part", "uwsgi-http", "%s\n%s\n(uWSGI log) %s" % (
            resp.status_line, resp.text, dep.workspace.operator_view(line.strip())))


def test_nginx_default_client_max_body_size(tmp_path, record):
    """Without client_max_body_size, nginx's 1m default refuses any image."""
    variant = without("nginx-proxy-http", NGINX_PROXY_HTTP_CONF, r"^\s*client_max_body_size\s")
    with variant.start(tmp_path) as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="too-big-for-nginx")
        resp = api.upload_cl(image["id"], Source(2 * MiB, seed=13))
        assert resp.status == 413, resp
        assert "413 Request Entity Too Large" in resp.text
        record.symptom("nginx-413", "nginx-proxy-http",
                       "%s\n%s" % (resp.status_line, resp.text.strip()))


def test_image_size_cap(tmp_path, record):
    """glancelet's own limit: image_size_cap set to 1 MiB, a 2 MiB upload."""
    variant = get("uwsgi-http").variant({UWSGI_HTTP + "glancelet.conf": LineEdit(
        r"^image_size_cap\s*=", replace="image_size_cap = 1048576")})
    with variant.start(tmp_path) as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="over-the-cap")
        resp = api.upload_cl(image["id"], Source(2 * MiB, seed=14))
        assert resp.status == 413, resp
        assert resp.json()["error"]["code"] == 413
        assert api.get_image(image["id"])["status"] == "queued"
        assert [p.name for p in dep.store_dir.iterdir()] == []
        record.symptom("image-size-cap", "uwsgi-http", "%s\n%s" % (resp.status_line, resp.text))


def _start_with_bad_config(tmp_path, folder, server_file, start):
    ws = Workspace(tmp_path)
    ws.install_variant(folder + "glancelet.conf", "/etc/glancelet/glancelet.conf",
                       r"^image_size_cap\s*=", replace="image_size_cap = one terabyte")
    ws.install(folder + server_file, "/etc/glancelet/" + server_file)
    server = start(ws, "/etc/glancelet/" + server_file)
    code = server.wait(60)
    assert code is not None, "%s kept running with a bad glancelet.conf" % server.name
    return ws, server, code


def test_uwsgi_refuses_to_start_with_a_bad_config(tmp_path, record):
    """A configuration error stops uWSGI (status 3, one line, no traceback)
    instead of leaving workers that answer every request with 500."""
    ws, server, code = _start_with_bad_config(tmp_path, "examples/uwsgi-http/",
                                              "glancelet-uwsgi.ini", launchers.start_uwsgi)
    line = assert_refused(server, code, "glancelet: configuration error:")
    record.symptom("config-error", "uwsgi-http", "%s\n(uWSGI exits with status %d)"
                   % (ws.operator_view(line), code))
    ws.remove()


def test_gunicorn_refuses_to_start_with_a_bad_config(tmp_path, record):
    """The same for gunicorn: status 3 is its "worker failed to boot", so the
    arbiter stops instead of starting workers again (see
    ``harness.assert_refused`` for gunicorn's own traceback when two workers
    fail at once)."""
    ws, server, code = _start_with_bad_config(tmp_path, "examples/gunicorn/",
                                              "gunicorn.conf.py", launchers.start_gunicorn)
    line = assert_refused(server, code, "glancelet: configuration error:")
    assert "Worker failed to boot." in server.log_text()
    record.symptom("config-error", "gunicorn", "%s\n(gunicorn exits with status %d)"
                   % (ws.operator_view(line), code))
    ws.remove()


def test_uwsgi_without_need_app_serves_500s(tmp_path, record):
    """Why need-app is in the example: when glancelet cannot be imported
    (here the module line has a typo), uWSGI without it starts anyway and
    every request fails. (glancelet's own refusals stop uWSGI either way:
    test_uwsgi_refuses_to_start_with_a_bad_config.)"""
    ws = Workspace(tmp_path)
    d = "examples/uwsgi-http/"
    ws.install(d + "glancelet.conf", "/etc/glancelet/glancelet.conf")
    ws.install(d + "glancelet-uwsgi.ini", "/etc/glancelet/glancelet-uwsgi.ini", [
        LineEdit(r"^need-app\s*=", remove=True),
        LineEdit(r"^module = glancelet\.wsgi\.api:application$",
                 replace="module = glancelet.wsgi.app:application")])
    server = launchers.start_uwsgi(ws, "/etc/glancelet/glancelet-uwsgi.ini")
    try:
        api = Api("http://127.0.0.1:%d" % ws.port("60999"), timeout=5)
        deadline = time.monotonic() + 30
        resp = None
        while time.monotonic() < deadline and resp is None:
            assert server.alive(), server.log_text()
            try:
                resp = api.request("GET", "/")
            except OSError:
                time.sleep(0.2)
        assert resp is not None and resp.status == 500, resp
        assert server.alive()
        record.symptom("uwsgi-no-app", "uwsgi-http", "%s\n%s\n(uWSGI log) %s" % (
            resp.status_line, resp.text.strip(),
            [ln for ln in server.log_text().splitlines() if "no app loaded" in ln][0]))
    finally:
        errors = ws.stop_all()
    assert not errors, errors
    ws.remove()


def _kept_connections(client, url):
    """Connections python-glanceclient's requests session keeps open in its
    pool for ``url``'s host, to send its next request on."""
    manager = client.http_client.session.get_adapter(url).poolmanager
    port = urlsplit(url).port
    return [conn for key in manager.pools.keys() if key.key_port == port
            for conn in list(manager.pools[key].pool.queue)
            if conn is not None and conn.sock is not None]


def _get_images(api, conn):
    """GET /v2/images on ``conn`` (an http.client connection of ``api``'s)."""
    conn.request("GET", api.path("/v2/images"), headers=api.auth_headers())
    resp = conn.getresponse()
    resp.read()
    return resp


def test_uwsgi_http_socket_without_connection_close(tmp_path, record, monkeypatch):
    """Why add-header = Connection: close is in the uWSGI ini.

    Without it, http-socket answers HTTP/1.1 with no ``Connection: close``
    and closes the connection after the response all the same. A client
    keeps such a connection for its next request: python-glanceclient's
    requests session pools it, and a request sent on it gets no response
    (http.client, which requests' urllib3 builds on, reusing it after the
    close: deterministic). urllib3 checks a pooled connection before it
    reuses it, so glanceclient fails only when its next request leaves
    before the close has reached it: a race, not asserted here. With the
    line, the response says it will close, and the pool keeps nothing.
    """
    import glanceclient
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    variant = without("uwsgi-http", UWSGI_HTTP + "glancelet-uwsgi.ini",
                      r"^add-header\s*=\s*Connection: close")
    with variant.start(tmp_path) as dep:
        api = Api(dep.base_url)
        conn = api.connection(timeout=10)
        try:
            resp = _get_images(api, conn)
            assert (resp.status, resp.version, resp.getheader("Connection")) == (200, 11, None)
            assert not resp.will_close     # the client may send its next request on it
            # ... but uWSGI closes it: the client's end reads EOF.
            assert select.select([conn.sock], [], [], 10)[0], "uWSGI kept the connection open"
            assert conn.sock.recv(1, socket.MSG_PEEK) == b""
            with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError,
                                BrokenPipeError)) as caught:
                _get_images(api, conn)
        finally:
            conn.close()
        client = glanceclient.Client("2", endpoint=dep.base_url, token=dep.token() or "x")
        list(client.images.list())
        assert len(_kept_connections(client, dep.base_url)) == 1
        record.symptom("uwsgi-connection-reset", "uwsgi-http", dep.workspace.operator_view(
            "%s: %s" % (type(caught.value).__name__, caught.value)))
    with get("uwsgi-http").start(tmp_path / "shipped") as dep:
        api = Api(dep.base_url)
        conn = api.connection(timeout=10)
        try:
            resp = _get_images(api, conn)
            assert (resp.status, resp.getheader("Connection"), resp.will_close) == (
                200, "close", True)
        finally:
            conn.close()
        client = glanceclient.Client("2", endpoint=dep.base_url, token=dep.token() or "x")
        list(client.images.list())
        assert _kept_connections(client, dep.base_url) == []


def _uwsgi_with_slow_worker_start(tmp_path):
    """The uwsgi-http example with ``hook-post-fork = exec:sleep 3`` added,
    returned once its master handles SIGTERM and its 4 workers are forked
    but still starting (they ignore SIGHUP)."""
    ws = Workspace(tmp_path)
    ws.install(UWSGI_HTTP + "glancelet.conf", "/etc/glancelet/glancelet.conf")
    ws.install_variant(UWSGI_HTTP + "glancelet-uwsgi.ini", "/etc/glancelet/glancelet-uwsgi.ini",
                       r"^master\s*=", add_after="hook-post-fork = exec:sleep 3")
    server = launchers.start_uwsgi(ws, "/etc/glancelet/glancelet-uwsgi.ini")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.alive(), server.log_text()
        workers = server.children()
        if signal.SIGTERM in signal_dispositions(server.pid)[0] and len(workers) == 4:
            break
        time.sleep(0.02)
    starting = [pid for pid in workers if signal.SIGHUP in signal_dispositions(pid)[1]]
    assert len(starting) == 4, (workers, server.log_text())
    return ws, server


def test_harness_stops_uwsgi_only_once_its_workers_have_started(tmp_path):
    """The guard the tests use against the hang below: ``Server.stop`` waits
    until uWSGI's master and every worker handle their signals
    (``launchers.uwsgi_signal_ready``), so the stop is graceful and quick."""
    ws, server = _uwsgi_with_slow_worker_start(tmp_path)
    try:
        assert server.signal_pending() is not None
        assert server.stop(timeout=15) == 0, server.log_text()
        assert "Gracefully killing worker" in server.log_since_start()
    finally:
        errors = ws.stop_all()
    assert not errors, errors
    ws.remove()


def test_uwsgi_stop_while_workers_start_hangs(tmp_path, record):
    """uWSGI 2.0 loses a graceful stop that reaches a worker still starting.

    A worker ignores SIGHUP from fork until it installs its handlers (see
    ``launchers.uwsgi_signal_ready``). The master passes SIGTERM on to the
    workers as SIGHUP (``gracefully_kill_them_all``), a worker that is still
    starting ignores it, and the master waits for that worker for ever. The
    window is normally milliseconds; the variant widens it with a post-fork
    hook that sleeps 3 s, so the stop lands in it on every run. Sending SIGHUP
    to the stuck workers again ends the stop."""
    ws, server = _uwsgi_with_slow_worker_start(tmp_path)
    try:
        os.kill(server.pid, signal.SIGTERM)
        # The workers leave the post-fork hook 3 s after they started; give
        # them 5 s more. A stop that works ends within a second here.
        assert server.wait(8) is None, server.log_text()
        log = server.log_since_start()
        assert "graceful shutdown triggered" in log, log
        assert "Gracefully killing worker" not in log, log
        stuck = sorted(server.children())
        assert stuck and all(signal.SIGHUP in signal_dispositions(pid)[0] for pid in stuck)
        for pid in stuck:
            os.kill(pid, signal.SIGHUP)
        assert server.wait(30) == 0, server.log_text()
        record.symptom("uwsgi-stop-while-starting", "uwsgi-http", (
            "(uWSGI log, after SIGTERM) graceful shutdown triggered...\n"
            "(then nothing: no \"Gracefully killing worker\" line, and uWSGI still runs 8 s "
            "later, until each worker is sent SIGHUP again)"))
    finally:
        errors = ws.stop_all()
    assert not errors, errors
    ws.remove()
