"""Why the lines of examples/apache-mod-wsgi/ are there, on live servers."""

import contextlib
import os
import time

import pytest

from lab import apache
from lab.client import MiB, Api, HalfRequest, Source
from lab.harness import LineEdit, Workspace
from lab.patterns import apache_mod_wsgi

PATTERN = apache_mod_wsgi.PATTERNS[0]
CONF = apache_mod_wsgi.DIR + "glancelet-apache.conf"
LOCATION = apache_mod_wsgi.DIR + "image-location.conf"
GIB = 1024 * MiB


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    with PATTERN.start(tmp_path_factory.mktemp("apache-mod-wsgi")) as dep:
        yield dep


def test_example_loads_the_module_config_of_the_venv():
    """The LoadModule/WSGIPythonHome lines are what `mod_wsgi-express
    module-config` prints for the provisioned venv, and the module links
    Debian's libpython, not pyenv's under /root."""
    text = (apache.REPO_ROOT / CONF).read_text()
    apache.check_module_config(text)
    so, home = apache.module_config()
    assert home == str(apache.MOD_WSGI_VENV)
    ldd = apache._run(["ldd", so]).stdout
    libpython = [line for line in ldd.splitlines() if "libpython" in line]
    assert libpython and all("/root/" not in line for line in libpython), libpython


@pytest.mark.parametrize("which", ["shipped", "without-WSGIChunkedRequest"])
def test_chunked_request(which, tmp_path, record):
    """As shipped a chunked upload (python-glanceclient's framing) reaches
    glancelet; without ``WSGIChunkedRequest On`` mod_wsgi answers 411."""
    pattern = PATTERN
    if which != "shipped":
        pattern = PATTERN.variant({LOCATION: LineEdit(r"^\s*WSGIChunkedRequest On$",
                                                      remove=True)})
    with pattern.start(tmp_path) as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="chunked")
        source = Source(3 * MiB + 5, seed=42)
        resp = api.upload_chunked(image["id"], source, MiB)
        if which == "shipped":
            assert resp.status == 204, resp
            assert api.get_image(image["id"])["os_hash_value"] == source.sha512.hexdigest()
            return
        assert resp.status == 411, resp
        assert "<title>411 Length Required</title>" in resp.text, resp
        assert "A request of the requested method PUT requires a valid Content-length." \
            in resp.text, resp
        assert api.get_image(image["id"])["status"] == "queued"
        log = dep.log_text(apache.APACHE_SERVER_NAME)
        lines = [line for line in log.splitlines() if "chunked" in line.lower()]
        assert lines and "WSGI0139: Request requires chunked transfer encoding, but " \
            "support for chunked transfer encoding has not been enabled." in lines[0], lines
        # Shown as the operator's path: /etc/glancelet/glancelet.wsgi.
        logged = lines[0].split("] ", 3)[-1].replace(str(dep.workspace.root), "")
        record.symptom("chunked-411-mod-wsgi", PATTERN.name,
                       "%s\n%s\nerror log: %s" % (resp.status_line, resp.text.strip(), logged))


@contextlib.contextmanager
def _broken_variant(tmp_path, edit):
    """Launch the example with ``edit`` applied to its Apache file. Such a
    variant never answers glancelet's version document, so readiness here is
    Apache's own "resuming normal operations"; yields (Apache, an Api on its
    port, the workspace root as text)."""
    ws = Workspace(tmp_path)
    try:
        PATTERN.variant({CONF: edit}).launch(ws)
        server = ws.servers[apache.APACHE_SERVER_NAME]
        end = time.monotonic() + 30
        while "resuming normal operations" not in server.log_text():
            assert server.alive() and time.monotonic() < end, server.log_text()
            time.sleep(0.1)
        yield server, Api("http://127.0.0.1:%d" % apache.listen_port(ws)), str(ws.root)
    finally:
        errors = ws.stop_all()
        ws.remove()
    assert errors == []


def _error_log_line(line, ws_root):
    """The message part of an Apache error log line, without the workspace path."""
    return line.split("] ", 3)[-1].replace(ws_root, "")


def test_without_wsgi_socket_prefix(tmp_path, record):
    """Without WSGISocketPrefix the daemon sockets go to this mod_wsgi
    build's default, /var/run/apache2/wsgi.*: the daemons start only if that
    directory exists (Debian's apache2ctl creates it); otherwise Apache runs
    but every request to glancelet gets 503."""
    without = LineEdit(r"^WSGISocketPrefix /run/glancelet/wsgi$", remove=True)
    with _broken_variant(tmp_path, without) as (server, api, root):
        resp = api.request("GET", "/image/v2/images", timeout=60)
        log = server.log_text()
        if os.path.isdir("/var/run/apache2"):
            # The default works on this host: Debian's run dir exists.
            assert resp.status == 200, resp
            return
        assert resp.status == 503, resp
        assert "<title>503 Service Unavailable</title>" in resp.text
        bind = [x for x in log.splitlines() if "WSGI0013" in x]
        connect = [x for x in log.splitlines() if "WSGI0117" in x]
        assert bind and "Unable to bind unix domain socket '/var/run/apache2/wsgi." in bind[0]
        assert "Daemon group will not start." in bind[0]
        assert connect and "Unable to connect to WSGI daemon process 'glancelet'" in connect[0]
        record.symptom("mod-wsgi-socket-prefix", PATTERN.name,
                       "%s\nerror log: %s\nerror log: %s"
                       % (resp.status_line, _error_log_line(bind[0], root),
                          _error_log_line(connect[0], root)))


def test_without_the_directory_grant(tmp_path, record):
    """Debian's apache2.conf denies the whole filesystem (``<Directory />
    Require all denied``; the test scaffolding does the same): without the
    example's ``<Directory /etc/glancelet>`` grant every request is 403."""
    with _broken_variant(tmp_path, LineEdit(r"^\s*Require all granted$", remove=True)) as (
            server, api, root):
        resp = api.request("GET", "/image/", timeout=30)
        assert resp.status == 403, resp
        assert "You don't have permission to access this resource." in resp.text
        denied = [x for x in server.log_text().splitlines() if "AH01630" in x]
        assert denied and "client denied by server configuration" in denied[0]
        record.symptom("mod-wsgi-directory-denied", PATTERN.name, "%s\nerror log: %s" % (
            resp.status_line, _error_log_line(denied[0], root)))


def test_socket_rotation_off_gives_502(tmp_path, record):
    """Why the example does not set ``WSGISocketRotation Off``, which mod_wsgi
    documents for the requests that old Apache children pass on after a
    graceful restart: with it, such a request reaches the new daemon socket,
    but the daemon refuses it (its origin token is made per generation), and
    the client gets 502 instead of the 503 of
    ``test_lifecycle.py::test_graceful_reload[apache-mod-wsgi]``."""
    pattern = PATTERN.variant({CONF: LineEdit(r"^WSGISocketPrefix /run/glancelet/wsgi$",
                                              add_after="WSGISocketRotation Off")})
    with pattern.start(tmp_path) as dep:
        in_flight = HalfRequest(Api(dep.base_url), "/v2/images").start()
        time.sleep(1)   # accepted by an Apache child of this generation
        apache.graceful(dep.workspace)
        resp = in_flight.finish()
        log = dep.log_text(apache.APACHE_SERVER_NAME)
        assert resp.status == 502, resp
        assert "WSGI0034: Request origin could not be validated; magic token mismatch" in log
        assert "WSGI0117" not in log, log
        line = [ln for ln in log.splitlines() if "WSGI0034" in ln][0]
        record.symptom("mod-wsgi-socket-rotation-off", "apache-mod-wsgi", "%s\n(Apache log) %s"
                       % (resp.status_line, line.split("] ", 3)[-1]))
