"""Glance's own uWSGI sample, httpd/glance-api-uwsgi.ini, verbatim, in front
of OpenStack Glance 33.

The ini is read at test time from the glance 33.0.0 sdist on PyPI
(:func:`lab.glance.upstream_sample_ini`; this repository does not copy it)
and installed as /etc/glance/glance-api-uwsgi.ini through the lab's one
rewrite (the port of its ``http-socket``). glance-api.conf and
glance-api-paste.ini are installed as for test_glance_service.py
(examples/glance/glance-api.conf; the keystone pipeline without authtoken,
lab.glance.TRUSTED_HEADERS, so no Keystone is needed).

How Glance finds glance-api.conf: the sample says nothing about it. At
import, glance.wsgi.api reads glance-api.conf (and glance-image-import.conf
if it exists) from the directory named by $OS_GLANCE_CONFIG_DIR, which
defaults to /etc/glance: an operator's Glance reads
/etc/glance/glance-api.conf with no setting at all. Here /etc/glance is the
workspace's, so uWSGI's environment gets OS_GLANCE_CONFIG_DIR set to that
default path as rewritten; nothing is added to the ini.

Collected only with GLANCELET_GLANCE_TESTS=1 (conftest.py), which tox -e
examples-glance sets.
"""

import contextlib
import http.client
import io
import re
import signal
import socket
import threading

import pytest

from lab import glance, launchers
from lab.client import MiB, Api, Source
from lab.harness import LineEdit, Workspace, wait_ready
from tests.examples.test_glance_service import client, worker_writing

INI = "/etc/glance/glance-api-uwsgi.ini"
# Options of uWSGI's HTTP router (the ``http =`` process) that the sample
# sets next to an ``http-socket``, which has no router.
ROUTER_OPTIONS = ("http-auto-chunked", "http-chunked-input", "http-raw-body")
VARIANTS = {
    "sample": (),
    "without-router-options": tuple(LineEdit(r"^%s = true$" % option, remove=True)
                                    for option in ROUTER_OPTIONS),
}
# What uWSGI logs for ``plugins = python`` when Python is built in (pip's uWSGI).
PLUGIN_ERROR = ("!!! UNABLE to load uWSGI plugin: ./python_plugin.so: cannot open shared "
                "object file: No such file or directory !!!")
CHUNK_ERROR = "OSError: unable to receive chunked part"


class TrustedApi(Api):
    """lab.client.Api sending the identity headers Glance's context trusts."""

    def auth_headers(self):
        return dict(glance.IDENTITY_HEADERS)


@pytest.fixture(scope="session")
def sample_ini(tmp_path_factory):
    return glance.upstream_sample_ini(tmp_path_factory.mktemp("glance-sdist"))


def start(ws):
    """uWSGI with the installed sample, as the operator starts it; the service."""
    server = launchers.start_uwsgi(ws, INI, env={
        "OS_GLANCE_CONFIG_DIR": str(ws.path("/etc/glance"))})
    url = "http://127.0.0.1:%d" % ws.port("60999")
    wait_ready(url + "/", [server], deadline=glance.START_DEADLINE)
    return {"ws": ws, "url": url, "server": server, "api": TrustedApi(url, user=None),
            "store": ws.path("/var/lib/glance/images")}


@contextlib.contextmanager
def running(tmp_path_factory, sample_ini, edits=()):
    """Glance under the sample ini (with ``edits``) in a new workspace."""
    ws = Workspace(tmp_path_factory.mktemp("glance-sample"))
    try:
        text = sample_ini
        for edit in edits:
            text = edit.apply(text, glance.SAMPLE_INI)
        ws.install_text(text, INI)
        glance.install(ws, paste_edits=[glance.TRUSTED_HEADERS])
        yield start(ws)
    finally:
        errors = ws.stop_all()
        ws.remove()
        assert not errors, errors


@pytest.fixture(scope="module", params=list(VARIANTS))
def service(request, tmp_path_factory, sample_ini):
    with running(tmp_path_factory, sample_ini, VARIANTS[request.param]) as svc:
        yield dict(svc, variant=request.param)


def test_the_sample_is_glances_and_the_variant_drops_only_the_router_options(service,
                                                                             sample_ini):
    """The installed file is the sdist's, byte for byte but the port, or
    that without the three router lines."""
    installed = service["ws"].operator_view(service["ws"].path(INI).read_text())
    expected = sample_ini
    if service["variant"] != "sample":
        expected = "".join(line for line in sample_ini.splitlines(keepends=True)
                           if line.split(" =")[0] not in ROUTER_OPTIONS)
    assert installed == expected
    assert "http-socket = 127.0.0.1:60999\n" in expected and "\nhttp =" not in expected


def test_plugins_python_is_an_error_in_the_log_not_a_failure(service):
    """pip's uWSGI has Python built in: ``plugins = python`` finds no
    python_plugin.so, says so once, and uWSGI goes on to serve Glance."""
    log = service["server"].log_since_start()
    assert log.count(PLUGIN_ERROR) == 1, log
    assert log.count("bound to TCP address 127.0.0.1:%d" % service["ws"].port("60999")) == 1
    resp = service["api"].request("GET", "/v2/info/stores")
    assert (resp.status, resp.json()) == (200, {"stores": [{"id": "fs", "default": "true"}]})


def test_glanceclient_1mib_chunks_fail_with_500(service):
    """python-glanceclient's upload (1 MiB chunks): uWSGI's default
    chunked-input-limit (1 MiB, framing included) refuses each chunk and
    Glance answers 500; the image goes back to queued with no data."""
    from glanceclient import exc
    glance_api = client(service)
    image = glance_api.images.create(name="glanceclient", disk_format="raw",
                                     container_format="bare")
    with pytest.raises(exc.HTTPInternalServerError) as raised:
        glance_api.images.upload(image["id"], io.BytesIO(Source(5 * MiB, seed=3).bytes()))
    assert str(raised.value) == ("HTTP 500 Internal Server Error: The server has either erred "
                                 "or is incapable of performing the requested operation.")
    image = service["api"].get_image(image["id"])
    assert (image["status"], image["size"], image["checksum"]) == ("queued", None, None)
    assert not (service["store"] / image["id"]).exists()
    # One request, one 500, and Glance's own account of why.
    log = service["server"].log_since_start()
    assert len(re.findall(r"^.* ERROR glance\.api\.v2\.image_data \[.*\] Failed to upload "
                          r"image data due to internal error: %s$" % CHUNK_ERROR, log, re.M)) == 1
    assert len(re.findall(r"PUT /v2/images/%s/file => .* \(HTTP/1\.1 500\)" % image["id"],
                          log)) == 1


def assert_active(service, image_id, source):
    image = service["api"].get_image(image_id)
    assert (image["status"], image["size"], image["checksum"], image["os_hash_value"]) == (
        "active", source.size, source.md5.hexdigest(), source.sha512.hexdigest())
    assert (service["store"] / image_id).stat().st_size == source.size


@pytest.mark.parametrize("framing", ["content-length", "chunked-64kib"])
def test_uploads_that_pass(service, framing):
    """A Content-Length upload (openstacksdk's way), and a chunked one whose
    chunks are under the limit (curl's 64 KiB): 204, active, the bytes sent."""
    api = service["api"]
    image = api.create_image(name=framing)
    source = Source(5 * MiB + 11, seed=7)
    if framing == "content-length":
        resp = api.upload_cl(image["id"], source)
    else:
        resp = api.upload_chunked(image["id"], source, 64 * 1024)
    assert (resp.status, resp.body) == (204, b"")
    assert_active(service, image["id"], source)


def upload_while(service, image, sig, pace=8 * MiB):
    """A 64 MiB Content-Length upload at ``pace`` bytes/s; ``sig`` to the
    uWSGI master once a worker has written 4 MiB of it. (the upload's
    Response or exception, the bytes stored when the signal went, the
    source, the worker's PID)."""
    source = Source(64 * MiB, seed=23)
    stored = service["store"] / image["id"]
    server = service["server"]
    result = []

    def upload():
        try:
            result.append(service["api"].upload_cl(image["id"], source, pace=pace))
        except (OSError, http.client.HTTPException) as exc:
            result.append(exc)

    thread = threading.Thread(target=upload)
    thread.start()
    try:
        pid = worker_writing(server, stored)
        at_signal = stored.stat().st_size
        server.send_signal(sig)
    finally:
        thread.join(timeout=120)
    assert not thread.is_alive()
    return result[0], at_signal, source, pid


def master_lines(server, first):
    """uWSGI's own lines of ``server``'s log from the line ``first`` on
    (without Glance's log lines and the request lines); the workers' burial
    times {worker number: seconds}."""
    log = server.log_since_start().splitlines()
    lines = [line for line in log[log.index(first):]
             if line and not re.match(r"\d{4}-\d\d-\d\d |\[pid: ", line)]
    buried = dict(re.findall(r"^worker (\d+) buried after (\d+) seconds$", "\n".join(lines),
                             re.M))
    assert sorted(buried) == ["1", "2", "3", "4"], lines
    assert not [line for line in lines if "spawned uWSGI worker" in line], lines
    return lines, buried


def refused(port):
    """True when nothing listens on 127.0.0.1:``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sighup_finishes_the_upload_then_exit_on_reload_stops_the_service(
        tmp_path_factory, sample_ini):
    """SIGHUP (a reload) during an upload: the worker finishes it (204, the
    image active with every byte), then, because of ``exit-on-reload``, the
    master exits instead of starting new workers: the port refuses
    connections until someone starts uWSGI again."""
    with running(tmp_path_factory, sample_ini) as svc:
        image = svc["api"].create_image(name="reload")
        resp, at_signal, source, pid = upload_while(svc, image, signal.SIGHUP)
        assert at_signal < source.size
        assert (resp.status, resp.body) == (204, b"")
        server = svc["server"]
        assert server.wait(timeout=30) == 0
        lines, buried = master_lines(server, "...gracefully killing workers...")
        uploader = re.search(r"^Gracefully killing worker (\d+) \(pid: %d\)\.\.\.$" % pid,
                             "\n".join(lines), re.M).group(1)
        # It took the rest of the upload (60 MiB at 8 MiB/s), within uWSGI's
        # default worker-reload-mercy (60 s; the sample sets none).
        assert 7 <= int(buried[uploader]) < 60, lines
        assert lines[-1] == "uWSGI: GAME OVER (insert coin)", lines
        assert refused(svc["ws"].port("60999"))
        # Started again, it shows the upload kept.
        assert_active(start(svc["ws"]), image["id"], source)


def test_sigterm_with_die_on_term_alone_cuts_the_upload_and_leaves_saving(
        tmp_path_factory, sample_ini):
    """SIGTERM during an upload: with ``die-on-term`` and no graceful hook,
    the master kills its workers at once; the client's connection is reset
    without a response, and the image stays ``saving`` with a partial file,
    also after uWSGI is started again. The client, still sending, sees
    the reset as ECONNRESET from the send the RST interrupts, or as EPIPE
    when the kernel had taken the RST in before the next send (the full
    run of bfd2c23 got EPIPE): either way an error, never a response."""
    with running(tmp_path_factory, sample_ini) as svc:
        image = svc["api"].create_image(name="term")
        outcome, at_signal, source, _ = upload_while(svc, image, signal.SIGTERM)
        assert isinstance(outcome, (ConnectionResetError, BrokenPipeError)), outcome
        server = svc["server"]
        assert server.wait(timeout=30) == 0
        lines, _ = master_lines(server, "SIGINT/SIGTERM received...killing workers...")
        assert not [line for line in lines if line.startswith("Gracefully killing")], lines
        assert lines[-1] == "goodbye to uWSGI.", lines
        assert refused(svc["ws"].port("60999"))
        partial = (svc["store"] / image["id"]).stat().st_size
        assert at_signal <= partial < source.size
        again = start(svc["ws"])
        for _ in range(4):
            image = again["api"].get_image(image["id"])
            assert (image["status"], image["size"], image["checksum"]) == ("saving", None, None)
        assert (again["store"] / image["id"]).stat().st_size == partial
