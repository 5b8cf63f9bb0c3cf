"""What an operator sees when one option of an example is missing.

Each test starts an example with exactly one line removed or changed (the
edit is asserted to match one line, then the normal rewrite applies) and
captures the exact failure for the docs' symptom index (reference/symptoms).
These are not scenarios: the shipped examples do not fail this way; these
runs show why the line is there.
"""

import contextlib
import io
import os
import re
import signal
import time

from lab import launchers
from lab.client import MiB, Api, Source
from lab.harness import REPO_ROOT, Deployment, Workspace, signal_dispositions
from lab.patterns import get


def install_variant(ws, example, operator_path, line_regex, new_line=None):
    """Install ``example`` with the one line matching ``line_regex`` removed
    (or replaced by ``new_line``, which may keep it and add lines after it)."""
    lines = (REPO_ROOT / example).read_text().split("\n")
    hits = [i for i, line in enumerate(lines) if re.search(line_regex, line)]
    assert len(hits) == 1, (example, line_regex, hits)
    if new_line is None:
        del lines[hits[0]]
    else:
        lines[hits[0]] = new_line
    return ws.install_text("\n".join(lines), operator_path)


def uwsgi_http_without(ws, line_regex):
    """Start examples/uwsgi-http/ with one line of its uWSGI ini removed."""
    d = "examples/uwsgi-http/"
    ws.install(d + "glancelet.conf", "/etc/glancelet/glancelet.conf")
    install_variant(ws, d + "glancelet-uwsgi.ini", "/etc/glancelet/glancelet-uwsgi.ini",
                    line_regex)
    launchers.start_uwsgi(ws, "/etc/glancelet/glancelet-uwsgi.ini")
    return running(ws, get("uwsgi-http"), "http://127.0.0.1:%d" % ws.port("60999"))


def nginx_proxy_http_without(ws, line_regex):
    """Start the nginx proxy_pass example with one line of its nginx file removed."""
    d = "examples/nginx-uwsgi/"
    ws.install(d + "glancelet.conf", "/etc/glancelet/glancelet.conf")
    ws.install(d + "glancelet-uwsgi.ini", "/etc/glancelet/glancelet-uwsgi.ini")
    install_variant(ws, d + "nginx-proxy-http.conf", "/etc/glancelet/nginx-proxy-http.conf",
                    line_regex)
    launchers.start_uwsgi(ws, "/etc/glancelet/glancelet-uwsgi.ini")
    launchers.start_nginx(ws, "/etc/glancelet/nginx-proxy-http.conf")
    return running(ws, get("nginx-proxy-http"), "http://127.0.0.1:%d" % ws.port("9292"),
                   "/image")


@contextlib.contextmanager
def running(ws, pattern, base_url, prefix=""):
    dep = Deployment(pattern, ws, base_url + prefix, *pattern.glancelet_paths(ws))
    try:
        dep.wait_ready()
        yield dep
    finally:
        errors = ws.stop_all()
    assert not errors, errors
    ws.remove()


def test_uwsgi_chunk_over_chunked_input_limit(tmp_path, record):
    """Without chunked-input-limit, uWSGI's 1 MiB default (framing included)
    cannot take the exactly-1-MiB chunks python-glanceclient sends."""
    ws = Workspace(tmp_path)
    with uwsgi_http_without(ws, r"^chunked-input-limit\s*=") as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="too-big-chunks")
        resp = api.upload_chunked(image["id"], Source(3 * MiB, seed=12), MiB)
        assert resp.status >= 400, resp
        log = dep.log_text("uwsgi")
        assert "unable to receive chunked part" in log, log
        assert api.get_image(image["id"])["status"] == "queued"
        line = [ln for ln in log.splitlines() if "unable to receive chunked part" in ln][0]
        record.symptom("uwsgi-chunked-part", "uwsgi-http", "%s\n%s\n(uWSGI log) %s" % (
            resp.status_line, resp.text, ws.operator_view(line.strip())))


def test_nginx_default_client_max_body_size(tmp_path, record):
    """Without client_max_body_size, nginx's 1m default refuses any image."""
    ws = Workspace(tmp_path)
    with nginx_proxy_http_without(ws, r"^\s*client_max_body_size\s") as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="too-big-for-nginx")
        resp = api.upload_cl(image["id"], Source(2 * MiB, seed=13))
        assert resp.status == 413, resp
        assert "413 Request Entity Too Large" in resp.text
        record.symptom("nginx-413", "nginx-proxy-http",
                       "%s\n%s" % (resp.status_line, resp.text.strip()))


def test_image_size_cap(tmp_path, record):
    """glancelet's own limit: image_size_cap set to 1 MiB, a 2 MiB upload."""
    ws = Workspace(tmp_path)
    d = "examples/uwsgi-http/"
    install_variant(ws, d + "glancelet.conf", "/etc/glancelet/glancelet.conf",
                    r"^image_size_cap\s*=", "image_size_cap = 1048576")
    ws.install(d + "glancelet-uwsgi.ini", "/etc/glancelet/glancelet-uwsgi.ini")
    launchers.start_uwsgi(ws, "/etc/glancelet/glancelet-uwsgi.ini")
    with running(ws, get("uwsgi-http"), "http://127.0.0.1:%d" % ws.port("60999")) as dep:
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
    install_variant(ws, folder + "glancelet.conf", "/etc/glancelet/glancelet.conf",
                    r"^image_size_cap\s*=", "image_size_cap = one terabyte")
    ws.install(folder + server_file, "/etc/glancelet/" + server_file)
    server = start(ws, "/etc/glancelet/" + server_file)
    code = server.wait(60)
    assert code is not None, "%s kept running with a bad glancelet.conf" % server.name
    return ws, server, code


def test_uwsgi_refuses_to_start_with_a_bad_config(tmp_path, record):
    """need-app = true: a configuration error stops uWSGI instead of leaving
    workers that answer every request with 500."""
    ws, server, code = _start_with_bad_config(tmp_path, "examples/uwsgi-http/",
                                              "glancelet-uwsgi.ini", launchers.start_uwsgi)
    log = server.log_text()
    assert code != 0
    line = [ln for ln in log.splitlines() if "glancelet: configuration error:" in ln]
    assert line, log
    assert "no app loaded" in log, log
    record.symptom("config-error", "uwsgi-http", "%s\n(uWSGI exits with status %d)"
                   % (ws.operator_view(line[0]), code))
    ws.remove()


def test_gunicorn_refuses_to_start_with_a_bad_config(tmp_path, record):
    ws, server, code = _start_with_bad_config(tmp_path, "examples/gunicorn/",
                                              "gunicorn.conf.py", launchers.start_gunicorn)
    log = server.log_text()
    assert code != 0
    line = [ln for ln in log.splitlines() if "glancelet: configuration error:" in ln]
    assert line, log
    record.symptom("config-error", "gunicorn", "%s\n(gunicorn exits with status %d)"
                   % (ws.operator_view(line[0]), code))
    ws.remove()


def test_uwsgi_without_need_app_serves_500s(tmp_path, record):
    """Why need-app is in the example: without it, uWSGI starts anyway after
    the configuration error and every request fails."""
    ws = Workspace(tmp_path)
    d = "examples/uwsgi-http/"
    install_variant(ws, d + "glancelet.conf", "/etc/glancelet/glancelet.conf",
                    r"^image_size_cap\s*=", "image_size_cap = one terabyte")
    install_variant(ws, d + "glancelet-uwsgi.ini", "/etc/glancelet/glancelet-uwsgi.ini",
                    r"^need-app\s*=")
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


def test_uwsgi_http_socket_without_connection_close(tmp_path, record, monkeypatch):
    """Why add-header = Connection: close is in the uWSGI ini: http-socket
    closes the connection after each response without saying so, and
    python-glanceclient (requests) reuses the pooled connection."""
    import glanceclient
    from glanceclient import exc as gexc
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    ws = Workspace(tmp_path)
    with uwsgi_http_without(ws, r"^add-header\s*=\s*Connection: close") as dep:
        client = glanceclient.Client("2", endpoint=dep.base_url, token="x")
        error = None
        # Uploads then reads on one client, as `glance image-create --file`
        # does: a pooled connection is soon reused after uWSGI closed it.
        data = Source(2 * MiB, seed=15).bytes()
        tries, deadline = 0, time.monotonic() + 30
        while tries < 200 and time.monotonic() < deadline:
            tries += 1
            try:
                image = client.images.create(name="reuse", disk_format="raw",
                                             container_format="bare")
                client.images.upload(image["id"], io.BytesIO(data))
                client.images.get(image["id"])
            except gexc.CommunicationError as exc:
                error = exc
                break
        assert error is not None, "%d rounds succeeded without Connection: close" % tries
        text = str(error)
        assert "Connection reset by peer" in text or "Remote end closed connection" in text, text
        record.symptom("uwsgi-connection-reset", "uwsgi-http", ws.operator_view(text))


def _uwsgi_with_slow_worker_start(tmp_path):
    """The uwsgi-http example with ``hook-post-fork = exec:sleep 3`` added,
    returned once its master handles SIGTERM and its 4 workers are forked
    but still starting (they ignore SIGHUP)."""
    ws = Workspace(tmp_path)
    d = "examples/uwsgi-http/"
    ws.install(d + "glancelet.conf", "/etc/glancelet/glancelet.conf")
    install_variant(ws, d + "glancelet-uwsgi.ini", "/etc/glancelet/glancelet-uwsgi.ini",
                    r"^master\s*=", "master = true\nhook-post-fork = exec:sleep 3")
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
