"""Import scenarios, run against every pattern through its front door.

Each pattern is started with its own files plus
``examples/import/internal-mirror.conf`` (``harness.IMPORT_EXAMPLES``), which
allows ``web-download`` from the test's mirror on 127.0.0.1
(:mod:`lab.mirror`). The first four scenarios share one
deployment per pattern; the SIGTERM and kill -9 scenarios start their own,
because they stop or kill its processes.

Where a pattern declares an expected failure for a scenario, the test
asserts that exact failure instead of success: nothing is skipped.

With ``--service glance`` they run against Glance 33, whose own
``glance-api.conf`` allows the mirror (the drop-in is glancelet's). Glance
records no process for an import, so the one running it is found by its
connection to the mirror (:func:`import_process`), and where Glance does not
recover an import whose process is gone, that is asserted
(:func:`not_recovered`).
"""

import contextlib
import os
import signal
import sqlite3
import time

import pytest

from glancelet import db
from glancelet.store import NEW_PREFIX, TEMP_PREFIX
from lab.client import MiB, Api, Source, cli_field, glance_cli
from lab.harness import IMPORT_EXAMPLES, connected_to
from lab.mirror import Mirror

MIRROR_PORT_TOKEN = "60990"   # the port examples/import/internal-mirror.conf allows
IMPORT_DEADLINE = 120         # seconds for an import to become active


@pytest.fixture(scope="module")
def import_deployment(pattern, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(pattern.name + "-import")
    with pattern.start(tmp, extra=IMPORT_EXAMPLES) as dep:
        with Mirror(dep.workspace.port(MIRROR_PORT_TOKEN)) as mirror:
            yield dep, mirror


def temp_files(*directories):
    """Temp files (an upload or import in progress, or left behind) in ``directories``."""
    return sorted(p.name for directory in directories for p in directory.iterdir()
                  if p.name.startswith((TEMP_PREFIX, NEW_PREFIX)))


def assert_imported(api, image_id, source):
    """The image is active, its server-side hashes are ``source``'s, and the
    bytes served back are ``source``'s."""
    image = api.get_image(image_id)
    assert image["status"] == "active", image
    assert image["size"] == source.size
    assert image["checksum"] == source.md5.hexdigest()
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == source.sha512.hexdigest()
    resp, size, md5, sha512 = api.download(image_id)
    assert resp.status == 200, resp
    assert (size, md5, sha512) == (source.size, source.md5.hexdigest(),
                                   source.sha512.hexdigest())


def import_and_wait(api, image_id, method, uri=None):
    resp = api.import_image(image_id, method, uri)
    assert resp.status == 202, resp
    return api.wait_status(image_id, "active", deadline=IMPORT_DEADLINE)


def worker_of(dep, image_id):
    """The process glancelet recorded as running the image's import.

    The Images API does not show it (Glance's does not either), so this reads
    the ``worker`` column ("host|pid|start time") of the pattern's database:
    an SQLite file read-only, a database server through glancelet's own access.
    """
    query = ("SELECT worker FROM images WHERE id = ?", (image_id,))
    if dep.db_path is None:
        database = db.connect(dep.connection, sync=False)
        try:
            [row] = database.query(*query) or [None]
        finally:
            database.engine.dispose()
    else:
        conn = sqlite3.connect("file:%s?mode=ro" % dep.db_path, uri=True, timeout=30)
        try:
            row = conn.execute(*query).fetchone()
        finally:
            conn.close()
    assert row and row[0], "image %s has no worker recorded" % image_id
    return row[0], int(row[0].split("|")[1])


@pytest.mark.scenario("import-glance-direct")
def test_import_glance_direct(import_deployment, record):
    dep, _ = import_deployment
    api = Api(dep.base_url, dep.ca_file)
    info = api.request("GET", "/v2/info/import")
    assert info.status == 200, info
    assert info.json()["import-methods"]["value"] == ["glance-direct", "web-download"]
    created = api.request("POST", "/v2/images", json_body={
        "name": "direct", "disk_format": "raw", "container_format": "bare"})
    assert created.status == 201, created
    # The header that tells clients import is available survives the proxy.
    assert created.header("OpenStack-image-import-methods") == "glance-direct,web-download"
    image_id = created.json()["id"]
    source = Source(24 * MiB + 11, seed=31)
    resp = api.upload_cl(image_id, source, target="stage")
    assert resp.status == 204, resp
    staged = api.get_image(image_id)
    assert staged["status"] == "uploading"
    [staged_file] = dep.staged_files(image_id)
    assert staged_file.stat().st_size == source.size
    import_and_wait(api, image_id, "glance-direct")
    assert_imported(api, image_id, source)
    [task] = api.tasks_of(image_id)
    assert task["status"] == "success", task
    # GET /v2/tasks/{id} is for admins only (tasks_api_access, Glance's default).
    admin = Api(dep.base_url, dep.ca_file, user="admin")
    assert admin.get_task(task["id"])["status"] == "success"
    # The staged copy is gone once the image is active; no temp file anywhere.
    assert dep.staged_files(image_id) == []
    assert temp_files(*dep.staging_dirs) == [] and temp_files(dep.store_dir) == []
    api.delete_image(image_id)


@pytest.mark.scenario("import-web-download")
def test_import_web_download(import_deployment, record):
    dep, mirror = import_deployment
    api = Api(dep.base_url, dep.ca_file)
    image = api.create_image(name="fetched")
    size = 40 * MiB + 3
    path = mirror.path("web-download.raw", size, seed=32)
    import_and_wait(api, image["id"], "web-download", mirror.url(path))
    assert mirror.sent(path) == size
    assert_imported(api, image["id"], Source(size, seed=32).consume())
    [task] = api.tasks_of(image["id"])
    assert task["status"] == "success", task
    assert temp_files(dep.store_dir) == []
    api.delete_image(image["id"])


def _cli_args(method, mirror, tmp_path):
    """(glance image-create-via-import arguments, the data it should import)."""
    common = ["image-create-via-import", "--name", "cli-" + method, "--disk-format", "raw",
              "--container-format", "bare", "--import-method", method]
    if method == "glance-direct":
        source = Source(3 * MiB + 5, seed=33)
        path = tmp_path / "cli.raw"
        path.write_bytes(source.bytes())   # staged chunked, in 1 MiB chunks
        return common + ["--file", str(path)], source
    path = mirror.path("cli.raw", 8 * MiB + 9, seed=34)
    return common + ["--uri", mirror.url(path)], Source(8 * MiB + 9, seed=34).consume()


@pytest.mark.parametrize("method", [
    pytest.param("glance-direct", marks=pytest.mark.scenario("import-cli-glance-direct")),
    pytest.param("web-download", marks=pytest.mark.scenario("import-cli-web-download")),
])
def test_glance_cli_image_create_via_import(import_deployment, record, tmp_path, method):
    dep, mirror = import_deployment
    api = Api(dep.base_url, dep.ca_file)
    args, source = _cli_args(method, mirror, tmp_path)
    out = glance_cli(dep, *args)
    failure = dep.expected_failure("import-cli-" + method)
    if failure is not None:
        assert out.returncode == 1, out
        assert ("HTTP %d" % failure.status) in out.stderr, out
        assert failure.body in out.stderr, out
        record.expected_failure(out.stderr.strip())
        # The client created the image before the stage failed: it is queued,
        # with no data anywhere.
        [image] = [i for i in api.list_images() if i["name"] == "cli-" + method]
        assert image["status"] == "queued", image
        assert temp_files(*dep.staging_dirs) == [] and temp_files(dep.store_dir) == []
        api.delete_image(image["id"])
        return
    assert out.returncode == 0, out
    image_id = cli_field(out.stdout, "id")
    api.wait_status(image_id, "active", deadline=IMPORT_DEADLINE)
    assert_imported(api, image_id, source)
    tasks = glance_cli(dep, "image-tasks", image_id)
    assert tasks.returncode == 0 and "| success |" in tasks.stdout, tasks
    out = glance_cli(dep, "image-delete", image_id)
    assert out.returncode == 0, out


@contextlib.contextmanager
def _running_import(pattern, tmp_path, name, size, seed, started):
    """Start ``pattern`` with the mirror drop-in, and a web-download of
    ``size`` bytes that the mirror sends at 4 MiB/s; yield (deployment,
    mirror, api, image id, mirror path) once ``started`` bytes are sent."""
    with pattern.start(tmp_path, extra=IMPORT_EXAMPLES) as dep, \
            Mirror(dep.workspace.port(MIRROR_PORT_TOKEN)) as mirror:
        api = Api(dep.base_url, dep.ca_file)
        image_id = api.create_image(name=name + "-import")["id"]
        path = mirror.path(name + ".raw", size, seed=seed, rate=4 * MiB)
        resp = api.import_image(image_id, "web-download", mirror.url(path))
        assert resp.status == 202, resp
        mirror.wait_sent(path, started)
        yield dep, mirror, api, image_id, path


@pytest.mark.scenario("import-sigterm")
def test_sigterm_during_import(pattern, tmp_path, record):
    """SIGTERM reaches the WSGI server 8 MiB into a 48 MiB web-download that
    the mirror sends at 4 MiB/s (12 s). The pattern's ``import_sigterm``
    says what must happen: "drain" (the server finishes the import, then
    exits) or "interrupt" (the process is gone first; the restarted server
    fails the task, the image is queued, and importing again works). Where
    the service declares that it does not recover the import (Glance under
    mod_wsgi and gunicorn), that is asserted instead (:func:`not_recovered`)."""
    size = 48 * MiB
    with _running_import(pattern, tmp_path, "sigterm", size, 35, 8 * MiB) as (
            dep, mirror, api, image_id, path):
        assert api.get_image(image_id)["status"] == "importing"
        # The app server running the import (one node's, in a multi-node pattern).
        server = dep.server_of(import_process(dep, image_id))
        signalled = time.monotonic()
        server.send_signal(signal.SIGTERM)
        code = server.wait(server.stop_timeout)
        assert code is not None, "%s did not exit within %ss of SIGTERM" % (
            server.name, server.stop_timeout)
        exit_after = time.monotonic() - signalled
        sent_at_exit = mirror.sent(path)
        log = server.log_since_start()

        # Start the WSGI server again (the same command) and look.
        dep.restart(server.name)
        image = api.get_image(image_id)
        [task] = api.tasks_of(image_id)
        source = Source(size, seed=35).consume()
        assert dep.pattern.import_sigterm in ("drain", "interrupt")
        failure = dep.expected_failure("import-sigterm")
        if failure is not None:
            # The service does not recover the import (Glance).
            if failure.log:
                assert failure.log[1] in log, log
            record.expected_failure(
                "SIGTERM during a %d MiB import: %s exited %.1f s after the signal, %.0f MiB "
                "sent, and was started again. %s" % (
                    size // MiB, server.name, exit_after, sent_at_exit / MiB,
                    not_recovered(dep, mirror, api, image_id, sent_at_exit, size, failure,
                                  dep.servers[server.name])))
            return
        if dep.pattern.import_sigterm == "drain":
            if dep.service == "glancelet":
                assert "waiting up to 25 s for 1 import task(s) to finish before exit" in log
            assert task["status"] == "success", (task["status"], task["message"],
                                                 image["status"], sent_at_exit)
            assert sent_at_exit == size
            assert_imported(api, image_id, source)
        else:
            assert task["status"] == "failure", task
            assert "the import was interrupted" in task["message"], task
            assert image["status"] == "queued", image
            assert sent_at_exit < size, "the import finished: the pattern drains"
            assert temp_files(dep.store_dir) == []
            # Import again, now at full speed.
            retry = mirror.path("sigterm-retry.raw", size, seed=35)
            import_and_wait(api, image_id, "web-download", mirror.url(retry))
            assert_imported(api, image_id, source)
            record.expected_failure(
                "SIGTERM interrupted the import after %.0f of %d MiB; %s exited %.1f s "
                "after the signal. After the restart the task was %s: %s; the image was "
                "%s, and importing again made it active."
                % (sent_at_exit / MiB, size // MiB, server.name, exit_after,
                   task["status"], dep.workspace.operator_view(task["message"]),
                   image["status"]))
        assert temp_files(dep.store_dir) == []


@pytest.mark.scenario("import-kill-9")
def test_kill_9_during_import(pattern, tmp_path, record):
    """SIGKILL to the worker process running a web-download, 4 MiB into 32
    MiB sent at 4 MiB/s. The server respawns the worker; the next request
    for the image, in any process, fails the task with a message naming the
    dead process, returns the image to queued and removes its temp file; a
    second import succeeds. Where the service declares that it does not
    recover (Glance), that is asserted instead (:func:`not_recovered`)."""
    size = 32 * MiB
    with _running_import(pattern, tmp_path, "kill", size, 36, 4 * MiB) as (
            dep, mirror, api, image_id, path):
        failure = dep.expected_failure("import-kill-9")
        if failure is not None:
            pid = import_process(dep, image_id)
            server = _kill_9(dep, pid)
            sent = mirror.sent(path)
            record.expected_failure(
                "kill -9 of the %s worker downloading, after %.0f of %d MiB. %s" % (
                    server.name, sent / MiB, size // MiB,
                    not_recovered(dep, mirror, api, image_id, sent, size, failure, server)))
            return
        worker, pid = worker_of(dep, image_id)
        assert temp_files(dep.store_dir), "no temp file while importing"
        server = _kill_9(dep, pid)

        image = api.wait_status(image_id, "queued", deadline=60)
        assert image["size"] is None, image
        [task] = api.tasks_of(image_id)
        assert task["status"] == "failure", task
        assert "the process that ran it (%s) is gone" % worker in task["message"], task
        assert temp_files(dep.store_dir) == []
        assert mirror.sent(path) < size

        retry = mirror.path("kill-retry.raw", size, seed=36)
        import_and_wait(api, image_id, "web-download", mirror.url(retry))
        assert_imported(api, image_id, Source(size, seed=36).consume())
        statuses = sorted(t["status"] for t in api.tasks_of(image_id))
        assert statuses == ["failure", "success"], statuses
        assert temp_files(dep.store_dir) == []


def import_process(dep, image_id):
    """The PID of the worker process running the image's import (a
    web-download from the test's mirror): glancelet's record of it, or, for
    Glance, which keeps none, the worker connected to the mirror."""
    if dep.service == "glancelet":
        return worker_of(dep, image_id)[1]
    workers = {pid for server in dep.servers.values() for pid in server.children()}
    [pid] = connected_to(workers, dep.workspace.port(MIRROR_PORT_TOKEN))
    return pid


def _kill_9(dep, pid):
    """SIGKILL to worker ``pid`` (only a process this deployment started: a
    worker of one of its servers), once it is gone; return its server."""
    server = dep.server_of(pid)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while pid in server.children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pid not in server.children()
    return server


def not_recovered(dep, mirror, api, image_id, sent, size, failure, server):
    """After the process of ``server`` running a web-download of ``size``
    bytes went away with ``sent`` of them (killed, or stopped and started
    again), where the service declares that it does not recover (Glance):
    the image is in ``failure.image_status`` and its task in ``task_status``, the
    staged part is still there, importing again is refused as declared, and
    deleting the image removes the staged part: at once on one host; on
    several nodes a DELETE that another node takes leaves it, until a worker
    of the node that downloaded starts. Returns what was seen."""
    assert sent <= size
    image = api.get_image(image_id)
    assert image["status"] == failure.image_status and image["size"] is None, image
    [task] = api.tasks_of(image_id)
    assert task["status"] == failure.task_status, task
    [staged] = dep.staged_files(image_id)
    staged_size = staged.stat().st_size
    assert staged_size <= sent, (staged, sent)
    retry = mirror.path("retry.raw", size, seed=37)
    resp = api.import_image(image_id, "web-download", mirror.url(retry))
    assert resp.status == failure.status and failure.body in resp.text, resp
    seen = ("The image stayed %s and its task %s (%s), with %.1f MiB staged; importing "
            "again: %s %s. " % (image["status"], task["status"], task["message"] or "",
                                staged_size / MiB, resp.status_line, resp.text))
    others = [url for name, url in dep.node_urls.items() if name != server.name]
    if not others:
        api.delete_image(image_id)
        assert dep.staged_files(image_id) == []
        return seen + "Deleting the image removed the staged part."
    # Several nodes, each with its own staging directory: Glance removes
    # staged data from the directory of the node that takes the DELETE.
    Api(others[0], dep.ca_file).delete_image(image_id)
    assert dep.staged_files(image_id) == [staged]
    # Its staging cleaner, which each worker runs as it starts, removes the
    # staged data of deleted images.
    server.send_signal(signal.SIGTERM)
    assert server.wait(server.stop_timeout) is not None
    dep.restart(server.name)
    deadline = time.monotonic() + 60
    while dep.staged_files(image_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert dep.staged_files(image_id) == []
    return seen + ("Deleting the image through another node left the staged part on %s "
                   "until it was restarted." % server.name)
