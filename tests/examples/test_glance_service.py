"""OpenStack Glance 33 itself under the uwsgi-http pattern's files.

Glance from PyPI (tests/glance-requirements.txt; ``python -m lab.glance``)
runs under uWSGI from examples/glance/glance-uwsgi.ini, which includes
the pattern's glancelet-uwsgi.ini, with examples/glance/glance-api.conf as
shipped. The one variant: glance-api-paste.ini's keystone pipeline without
authtoken (lab.glance.TRUSTED_HEADERS), so no Keystone is needed. Collected
only with GLANCELET_GLANCE_TESTS=1 (conftest.py), which tox -e
examples-glance sets.
"""

import hashlib
import http.client
import io
import json
import os
import re
import signal
import sys
import threading
import time

import pytest

from lab import glance, launchers
from lab.client import MiB, Source
from lab.harness import REPO_ROOT, Workspace, holding_open, wait_ready
from lab.patterns import uwsgi_http

INI = "/etc/glance/glance-uwsgi.ini"


@pytest.fixture(scope="module")
def glance_service(tmp_path_factory):
    if glance.installed_version() != glance.VERSION:
        pytest.fail("Glance %s is not installed here: %s (or run tox -e examples-glance)"
                    % (glance.VERSION, " ".join(glance.install_command())))
    ws = Workspace(tmp_path_factory.mktemp("glance"))
    try:
        uwsgi_http.PATTERNS[0].serving("glance").install_files(ws)
        _, db_sync = glance.install(ws, paste_edits=[glance.TRUSTED_HEADERS])
        started = time.monotonic()
        server = launchers.start_uwsgi(ws, INI)
        url = "http://127.0.0.1:%d" % ws.port("60999")
        versions = wait_ready(url + "/", [server], deadline=glance.START_DEADLINE)
        sys.stderr.write("\nGlance: db_sync %.1f s, uWSGI start %.1f s\n"
                         % (db_sync, time.monotonic() - started))
        yield {"ws": ws, "url": url, "versions": versions}
    finally:
        errors = ws.stop_all()
        assert not errors, errors
        ws.remove()


def client(service):
    from glanceclient.v2 import client as v2
    return v2.Client(service["url"], identity_headers=glance.IDENTITY_HEADERS)


def request(service, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", int(service["url"].rsplit(":", 1)[1]),
                                      timeout=60)
    try:
        conn.request(method, path, body=body,
                     headers=dict(glance.IDENTITY_HEADERS, **(headers or {})))
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_version_discovery(glance_service):
    """Glance 33's newest API version is v2.15 (glancelet's: v2.12)."""
    ids = [v["id"] for v in glance_service["versions"]["versions"]]
    assert ids[0] == "v2.15" and all(i.startswith("v2.") for i in ids), ids
    status, body = request(glance_service, "GET", "/versions")
    assert status == 200
    assert [v["id"] for v in json.loads(body)["versions"]] == ids


def documented_start_up_lines():
    """The line regexes of the code block ``glance-startup-uwsgi-http-uwsgi``
    on the service page: ``<n>`` a number, ``<h>`` a hex address, ``<id>``
    a request id."""
    text = (REPO_ROOT / "doc" / "source" / "howto" / "service.rst").read_text()
    block = re.search(r"^\.\. code-block:: text\n   :name: glance-startup-uwsgi-http-uwsgi\n"
                      r"   :caption: .*\n\n((?:   .*\n)+)", text, re.MULTILINE)
    assert block, "service.rst has no glance-startup-uwsgi-http-uwsgi block"
    placeholders = {"<n>": r"\d+", "<h>": r"0x[0-9a-f]+", "<id>": r"[0-9a-f-]+"}
    found = []
    for line in block.group(1).splitlines():
        rx = re.escape(line[3:])
        for name, value in placeholders.items():
            rx = rx.replace(re.escape(name), value)
        found.append(rx + r"\s*$")
    return found


def test_start_up_lines(glance_service):
    """Each worker that imports Glance logs every line the service page
    documents for Glance (four workers: each line four times), and nothing
    else at ERROR level, up to the last worker's "ready" line."""
    server = glance_service["ws"].servers["uwsgi"]
    ready = re.compile(r"WSGI app 0 \(mountpoint=''\) ready in ")
    end = time.monotonic() + glance.START_DEADLINE
    while len(ready.findall(server.log_since_start())) < 4:
        assert time.monotonic() < end, server.log_since_start()[-5000:]
        time.sleep(0.2)
    log = glance_service["ws"].operator_view(server.log_since_start()).splitlines()
    last = max(i for i, line in enumerate(log) if ready.search(line))
    start = log[:last + 1]
    documented = documented_start_up_lines()
    counts = {rx: sum(1 for line in start if re.search(rx, line)) for rx in documented}
    assert all(n == 4 for n in counts.values()), counts
    errors = [line for line in start if " ERROR " in line
              and not any(re.search(rx, line) for rx in documented)]
    assert not errors, errors


def test_the_ini_layers_on_glancelet_uwsgi_ini(glance_service):
    """glance-uwsgi.ini's ``ini =`` line reads glancelet-uwsgi.ini in place:
    the later module and pidfile lines replace its own, and its one
    http-socket stays one socket."""
    ws = glance_service["ws"]
    log = ws.log("uwsgi").read_text()
    assert ws.operator_view(log).count("getting INI configuration from ") == 2
    assert log.count("bound to TCP address") == 1
    assert ws.path("/run/glance/uwsgi.pid").read_text().strip() == str(
        ws.servers["uwsgi"].pid)
    assert not ws.path("/run/glancelet/uwsgi.pid").exists()
    # The app is Glance's (glancelet has no /v2/info/stores), with the
    # one store of glance-api.conf ("default" is the string "true").
    status, body = request(glance_service, "GET", "/v2/info/stores")
    assert (status, json.loads(body)) == (200, {"stores": [{"id": "fs", "default": "true"}]})


def test_glanceclient_upload_download_delete(glance_service):
    """python-glanceclient sends the data chunked, in 1 MiB chunks."""
    glance_api = client(glance_service)
    source = Source(5 * MiB + 123, seed=13)
    data = source.bytes()
    image = glance_api.images.create(name="smoke", disk_format="raw",
                                     container_format="bare")
    assert image["status"] == "queued"
    # A file object: glanceclient reads it in CHUNKSIZE (1 MiB) pieces and
    # sends each as one chunk.
    glance_api.images.upload(image["id"], io.BytesIO(data))
    image = glance_api.images.get(image["id"])
    assert (image["status"], image["size"]) == ("active", len(data))
    assert image["checksum"] == source.md5.hexdigest()
    assert (image["os_hash_algo"], image["os_hash_value"]) == (
        "sha512", source.sha512.hexdigest())
    stored = glance_service["ws"].path("/var/lib/glance/images") / image["id"]
    assert stored.stat().st_size == len(data)
    got = hashlib.sha512(b"".join(glance_api.images.data(image["id"]))).hexdigest()
    assert got == source.sha512.hexdigest()
    glance_api.images.delete(image["id"])
    assert request(glance_service, "GET", "/v2/images/%s" % image["id"])[0] == 404
    assert not stored.exists()


def send_chunked(service, path, source, chunk_size, pace=None):
    """PUT ``source`` with Transfer-Encoding: chunked, ``chunk_size`` bytes a
    chunk, at most ``pace`` bytes/s; (status, body) or the exception raised."""
    conn = http.client.HTTPConnection("127.0.0.1", int(service["url"].rsplit(":", 1)[1]),
                                      timeout=120)
    started = time.monotonic()
    try:
        conn.putrequest("PUT", path)
        for name, value in dict(glance.IDENTITY_HEADERS, **{
                "Content-Type": "application/octet-stream",
                "Transfer-Encoding": "chunked"}).items():
            conn.putheader(name, value)
        conn.endheaders()
        for chunk in source.chunks(chunk_size):
            conn.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            if pace:
                time.sleep(max(0.0, source.sent / pace - (time.monotonic() - started)))
        conn.send(b"0\r\n\r\n")
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (OSError, http.client.HTTPException) as exc:
        return exc
    finally:
        conn.close()


def test_16mib_chunks_pass_with_the_inis_chunked_input_limit(glance_service):
    """glancelet-uwsgi.ini's chunked-input-limit (64 MiB) lets Glance take
    16 MiB chunks too (with uWSGI's default, 1 MiB, even glanceclient's fail)."""
    glance_api = client(glance_service)
    image = glance_api.images.create(name="big-chunks", disk_format="raw",
                                     container_format="bare")
    source = Source(32 * MiB, seed=5)
    assert send_chunked(glance_service, "/v2/images/%s/file" % image["id"], source,
                        16 * MiB) == (204, b"")
    image = glance_api.images.get(image["id"])
    assert (image["status"], image["size"], image["checksum"]) == (
        "active", source.size, source.md5.hexdigest())


def worker_writing(server, path, deadline=60.0):
    """The PID of the uWSGI worker holding ``path`` open, once it has written 4 MiB."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if path.exists() and path.stat().st_size >= 4 * MiB:
            holders = holding_open(server.children(), path)
            if holders:
                return holders[0]
        time.sleep(0.1)
    raise AssertionError("no worker wrote 4 MiB of %s within %ss" % (path, deadline))


def test_killed_worker_leaves_saving_and_a_partial_file(glance_service):
    """SIGKILL to the worker receiving an upload (64 MiB at 8 MiB/s). Unlike
    glancelet, which returns such an image to queued and removes its data at
    the next request for it (test_import_scenarios.py, import-kill-9),
    Glance leaves the image in saving, for good, and the partial file."""
    glance_api = client(glance_service)
    image = glance_api.images.create(name="killed", disk_format="raw",
                                     container_format="bare")
    stored = glance_service["ws"].path("/var/lib/glance/images") / image["id"]
    server = glance_service["ws"].servers["uwsgi"]
    result = []
    upload = threading.Thread(target=lambda: result.append(send_chunked(
        glance_service, "/v2/images/%s/file" % image["id"], Source(64 * MiB), MiB,
        pace=8 * MiB)))
    upload.start()
    try:
        pid = worker_writing(server, stored)
        # Only a process this test started: a worker of its uWSGI.
        assert pid in server.children()
        os.kill(pid, signal.SIGKILL)
    finally:
        upload.join(timeout=60)
    assert not upload.is_alive()
    assert isinstance(result[0], (OSError, http.client.HTTPException)), result
    partial = stored.stat().st_size
    assert 4 * MiB <= partial < 64 * MiB
    # Every request, in any worker (the killed one is respawned), sees the same.
    for _ in range(8):
        image = glance_api.images.get(image["id"])
        assert (image["status"], image["size"], image["checksum"]) == ("saving", None, None)
    assert stored.stat().st_size == partial


def test_glance_direct_import_works_with_an_identity(glance_service):
    """The 2020 guide's "interoperable import does not work" under a WSGI
    server: with a project in the request context (what auth_token gives),
    glance-direct import under uWSGI makes the image active with the staged
    bytes and empties the staging area. (Without one, Glance's noauth
    pipeline, the task cannot be created: research notes, not tested here.)"""
    glance_api = client(glance_service)
    image = glance_api.images.create(name="imported", disk_format="raw",
                                     container_format="bare")
    source = Source(3 * MiB + 7, seed=17)
    glance_api.images.stage(image["id"], io.BytesIO(source.bytes()))
    staging = glance_service["ws"].path("/var/lib/glance/staging")
    assert [p.name for p in staging.iterdir()] == [image["id"]]
    assert glance_api.images.get(image["id"])["status"] == "uploading"
    glance_api.images.image_import(image["id"], method="glance-direct")
    end = time.monotonic() + 120
    while glance_api.images.get(image["id"])["status"] != "active":
        assert time.monotonic() < end, glance_api.images.get(image["id"])
        time.sleep(0.5)
    image = glance_api.images.get(image["id"])
    assert (image["size"], image["checksum"], image["os_hash_value"]) == (
        source.size, source.md5.hexdigest(), source.sha512.hexdigest())
    assert list(staging.iterdir()) == []
    status, body = request(glance_service, "DELETE", "/v2/images/%s" % image["id"])
    assert status == 204, (status, body, glance_service["ws"].log("uwsgi").read_text()[-6000:])
