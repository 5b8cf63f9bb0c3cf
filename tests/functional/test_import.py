"""Interoperable image import: the wire contract, real clients, several processes, crashes.

The first half calls glancelet in process (the conftest ``Client``) to pin
the API: status codes and messages of stage, import, info/import and tasks.
The second half runs real servers on 127.0.0.1 that share one config (one
SQLite database, one store, one staging directory), as the workers of one
node do:

* python-glanceclient's ``glance image-create-via-import`` and openstacksdk,
  unchanged, with both methods, under gunicorn and uWSGI;
* stage through one server, import through the other;
* a server process SIGKILLed in the middle of imports: a peer notices when it
  reads the image, and a new process notices when it starts;
* a graceful stop (SIGTERM) in the middle of an import: uWSGI (the drain
  hooked into ``uwsgi.atexit``) and gunicorn (``atexit``) finish it first.

web-download data comes from a local ``http.server`` on 127.0.0.1, which the
config allows with ``[import_filtering_opts] allowed_hosts``/``allowed_ports``.
"""

import hashlib
import os
import signal
import sqlite3
import time

import pytest
import requests

from glancelet import app as app_mod
from glancelet import tasks
from glancelet.store import TEMP_PREFIX
from lab.harness import Server, free_port, wait_ready
from lab.launchers import uwsgi_signal_ready
from tests.unit.test_webdownload import DataServer

from .conftest import Client, field, identity, make_conf, which
from .conftest import glance as run_glance

MiB = 1024 * 1024
OCTETS = {"Content-Type": "application/octet-stream"}


def wait_for(predicate, timeout=30.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("%s not met within %ss (last: %r)" % (what, timeout, last))


# == In process: the API contract ========================================================

@pytest.fixture
def import_app(tmp_path, data_server):
    app = app_mod.create_app(make_conf(
        tmp_path, import_filtering_opts__allowed_hosts="127.0.0.1",
        import_filtering_opts__allowed_ports="80,443,%d" % data_server.port))
    yield app
    app.task_pool.drain(10)


@pytest.fixture
def api(import_app):
    return Client(import_app)


def new_image(api, **props):
    props.setdefault("disk_format", "raw")
    props.setdefault("container_format", "bare")
    return api.create(**props)["id"]


def stage(api, image_id, data, **kw):
    headers = dict(OCTETS)
    headers.update(kw.pop("headers", {}))
    return api.request("PUT", "/v2/images/%s/stage" % image_id, data, headers=headers, **kw)


def do_import(api, image_id, method="glance-direct", **extra):
    body = {"method": dict({"name": method}, **extra)}
    return api.post("/v2/images/%s/import" % image_id, body)


def settled(api, image_id):
    """The image once no import is running on it."""
    def check():
        image = api.get("/v2/images/%s" % image_id).json()
        return image if image["status"] not in ("importing",) else None
    return wait_for(check, 20, what="image %s leaves importing" % image_id)


def test_info_import_lists_the_enabled_methods(api):
    resp = api.get("/v2/info/import")
    assert resp.status == 200
    assert resp.json() == {"import-methods": {"description": "Import methods available.",
                                              "type": "array",
                                              "value": ["glance-direct", "web-download"]}}


def test_glance_direct_stage_then_import(api, import_app):
    data = os.urandom(3 * MiB + 5)
    image_id = new_image(api)
    resp = stage(api, image_id, data, chunked=True)
    assert resp.status == 204, resp.body
    image = api.get("/v2/images/%s" % image_id).json()
    assert (image["status"], image["size"], image["checksum"]) == ("uploading", len(data),
                                                                   None)
    staged_file = import_app.images.get(image_id)["staged_file"]
    assert os.listdir(import_app.staging.directory) == [staged_file]

    resp = do_import(api, image_id)
    assert resp.status == 202 and resp.body == b""
    image = settled(api, image_id)
    assert image["status"] == "active"
    assert image["size"] == len(data)
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert (image["os_hash_algo"], image["os_hash_value"]) == (
        "sha512", hashlib.sha512(data).hexdigest())
    assert api.get("/v2/images/%s/file" % image_id).body == data
    assert os.listdir(import_app.staging.directory) == []  # staged copy removed

    found = api.get("/v2/images/%s/tasks" % image_id).json()["tasks"]
    assert len(found) == 1
    task = found[0]
    assert (task["type"], task["status"], task["image_id"]) == ("api_image_import",
                                                                "success", image_id)
    assert task["input"]["import_req"] == {"method": {"name": "glance-direct"}}
    assert task["result"] == {"image_id": image_id}
    shown = api.get("/v2/tasks/%s" % task["id"]).json()
    assert shown["self"] == "/v2/tasks/%s" % task["id"]
    assert shown["schema"] == "/v2/schemas/task"
    assert shown["status"] == "success" and shown["expires_at"]


def test_web_download_import(api, data_server, import_app):
    image_id = new_image(api)
    resp = do_import(api, image_id, "web-download", uri=data_server.url("/data"))
    assert resp.status == 202, resp.body
    image = settled(api, image_id)
    assert image["status"] == "active"
    assert image["checksum"] == hashlib.md5(data_server.payload).hexdigest()
    assert api.get("/v2/images/%s/file" % image_id).body == data_server.payload
    assert os.listdir(import_app.staging.directory) == []


def test_web_download_follows_allowed_redirects(api, data_server):
    image_id = new_image(api)
    uri = data_server.url("/redirect?to=/data")
    assert do_import(api, image_id, "web-download", uri=uri).status == 202
    assert settled(api, image_id)["status"] == "active"


@pytest.mark.parametrize("path,message", [
    ("/missing", "HTTP 404"),
    ("/redirect?to=http://169.254.169.254/latest/meta-data", "does not pass filtering"),
])
def test_failed_web_download_returns_the_image_to_queued(api, data_server, path, message):
    image_id = new_image(api)
    assert do_import(api, image_id, "web-download", uri=data_server.url(path)).status == 202
    image = settled(api, image_id)
    assert (image["status"], image["size"], image["checksum"]) == ("queued", None, None)
    task = api.get("/v2/images/%s/tasks" % image_id).json()["tasks"][0]
    assert task["status"] == "failure"
    assert message in task["message"]
    # ... from where a new import can start.
    assert do_import(api, image_id, "web-download",
                     uri=data_server.url("/data")).status == 202
    assert settled(api, image_id)["status"] == "active"


def test_web_download_over_the_size_cap_fails(tmp_path, data_server):
    app = app_mod.create_app(make_conf(
        tmp_path, DEFAULT__image_size_cap="1000",
        import_filtering_opts__allowed_hosts="127.0.0.1",
        import_filtering_opts__allowed_ports=str(data_server.port)))
    api = Client(app)
    image_id = new_image(api)
    assert do_import(api, image_id, "web-download",
                     uri=data_server.url("/nolength")).status == 202
    assert settled(api, image_id)["status"] == "queued"
    task = api.get("/v2/images/%s/tasks" % image_id).json()["tasks"][0]
    assert "image_size_cap" in task["message"]
    assert os.listdir(app.store.directory) == []


def test_default_filter_refuses_loopback(tmp_path, data_server):
    api = Client(app_mod.create_app(make_conf(tmp_path)))
    image_id = new_image(api)
    resp = do_import(api, image_id, "web-download", uri=data_server.url("/data"))
    assert resp.status == 400
    assert resp.error.startswith("URI for web-download does not pass filtering: http://127")
    assert api.get("/v2/images/%s" % image_id).json()["status"] == "queued"
    assert api.get("/v2/images/%s/tasks" % image_id).json() == {"tasks": []}
    assert data_server.requests == []


def test_restage_is_a_conflict_and_keeps_the_first_data(api, import_app):
    image_id = new_image(api)
    assert stage(api, image_id, b"first").status == 204
    resp = stage(api, image_id, b"second")
    assert resp.status == 409
    assert resp.error == "The image %s has data on staging" % image_id
    with open(import_app.staging.path(import_app.images.get(image_id)["staged_file"]),
              "rb") as fp:
        assert fp.read() == b"first"


def test_stage_needs_octet_stream(api):
    image_id = new_image(api)
    resp = stage(api, image_id, b"x", headers={"Content-Type": "text/plain"})
    assert resp.status == 415
    assert api.get("/v2/images/%s" % image_id).json()["status"] == "queued"


def test_stage_after_upload_is_a_conflict(api):
    image_id = new_image(api)
    assert api.upload(image_id, b"data").status == 204
    resp = stage(api, image_id, b"x")
    assert resp.status == 409
    assert resp.error == "Image status transition from active to uploading is not allowed"


def test_failed_stage_leaves_no_partial_file_and_a_queued_image(tmp_path):
    app = app_mod.create_app(make_conf(tmp_path, DEFAULT__image_size_cap="1000"))
    api = Client(app)
    image_id = new_image(api)
    resp = stage(api, image_id, b"x" * 1001, chunked=True)  # over the cap, no length given
    assert resp.status == 413
    assert api.get("/v2/images/%s" % image_id).json()["status"] == "queued"
    assert os.listdir(app.staging.directory) == []
    # A body that ends before its Content-Length (the client went away).
    resp = stage(api, image_id, b"x" * 10, headers={"Content-Length": "500"})
    assert resp.status == 400
    assert "ended after 10 of 500 bytes" in resp.error
    assert api.get("/v2/images/%s" % image_id).json()["status"] == "queued"
    assert os.listdir(app.staging.directory) == []
    # ... and the image can still be staged.
    assert stage(api, image_id, b"x" * 1000).status == 204


def test_stage_size_header_must_match(api):
    image_id = new_image(api)
    resp = stage(api, image_id, b"12345", headers={"x-openstack-image-size": "6"},
                 chunked=True)
    assert resp.status == 400
    assert api.get("/v2/images/%s" % image_id).json()["status"] == "queued"


@pytest.mark.parametrize("body,message", [
    ({}, "Import request requires a 'method' field."),
    ({"method": {}}, "Import request requires a 'name' field."),
    ({"method": {"name": "copy-image"}}, "Unknown import method name 'copy-image'."),
    ({"method": {"name": "glance-direct", "uri": "http://x/"}}, "can only be given with"),
    ({"method": {"name": "web-download"}}, "needs a 'uri'"),
    ({"method": {"name": "glance-direct"}, "all_stores": "yes"}, "must be boolean"),
])
def test_bad_import_requests(api, body, message):
    image_id = new_image(api)
    assert stage(api, image_id, b"data").status == 204
    resp = api.post("/v2/images/%s/import" % image_id, body)
    assert resp.status == 400
    assert message in resp.error


def test_import_state_conflicts(api, data_server):
    queued = new_image(api)
    resp = do_import(api, queued)
    assert resp.status == 409
    assert resp.error == "Image needs to be staged before 'glance-direct' method can be used"

    staged = new_image(api)
    assert stage(api, staged, b"data").status == 204
    resp = do_import(api, staged, "web-download", uri=data_server.url("/data"))
    assert resp.status == 409
    assert resp.error == "Image needs to be in 'queued' state to use 'web-download' method"

    active = new_image(api)
    assert api.upload(active, b"data").status == 204
    resp = do_import(api, active, "web-download", uri=data_server.url("/data"))
    assert resp.status == 409
    assert resp.error == "Image with status active cannot be target for import"

    bare = api.create(name="no formats")["id"]
    assert stage(api, bare, b"data").status == 204
    resp = do_import(api, bare)
    assert resp.status == 409
    assert resp.error == "'container_format' needs to be set before import"


def test_a_second_import_while_the_first_runs_is_a_conflict(api, data_server):
    image_id = new_image(api)
    assert do_import(api, image_id, "web-download", uri=data_server.url("/stall")).status \
        == 202
    assert data_server.stalled.wait(10)
    image = api.get("/v2/images/%s" % image_id).json()
    assert image["status"] == "importing"
    task = api.get("/v2/images/%s/tasks" % image_id).json()["tasks"][0]
    assert task["status"] == "processing"
    resp = do_import(api, image_id, "web-download", uri=data_server.url("/data"))
    assert resp.status == 409
    data_server.release()
    assert settled(api, image_id)["status"] == "active"


def test_deleting_an_image_during_its_import(api, data_server, import_app):
    image_id = new_image(api)
    assert do_import(api, image_id, "web-download", uri=data_server.url("/stall")).status \
        == 202
    assert data_server.stalled.wait(10)
    task_id = api.get("/v2/images/%s/tasks" % image_id).json()["tasks"][0]["id"]
    assert api.delete("/v2/images/%s" % image_id).status == 204
    data_server.release()
    task = wait_for(lambda: (lambda t: t if t["status"] == "failure" else None)(
        api.get("/v2/tasks/%s" % task_id).json()), 20)
    assert "deleted while it was being imported" in task["message"]
    assert os.listdir(import_app.store.directory) == []


def test_disabled_import(tmp_path):
    api = Client(app_mod.create_app(make_conf(tmp_path,
                                              DEFAULT__enabled_import_methods="")))
    resp = api.post("/v2/images", {"name": "x"})
    assert "openstack-image-import-methods" not in resp.headers
    image_id = resp.json()["id"]
    resp = stage(api, image_id, b"data")
    assert resp.status == 404
    assert resp.error == "'glance-direct' method is not available at this site."
    resp = do_import(api, image_id)
    assert resp.status == 404
    assert api.get("/v2/info/import").json()["import-methods"]["value"] == []


def test_only_web_download_enabled(tmp_path):
    api = Client(app_mod.create_app(make_conf(
        tmp_path, DEFAULT__enabled_import_methods="web-download")))
    resp = api.post("/v2/images", {"name": "x"})
    assert resp.headers["openstack-image-import-methods"] == "web-download"
    image_id = resp.json()["id"]
    assert stage(api, image_id, b"data").status == 404
    resp = do_import(api, image_id)
    assert resp.status == 400
    assert resp.error == "Unknown import method name 'glance-direct'."


def test_tasks_not_found_and_not_visible(api):
    resp = api.get("/v2/tasks/00000000-0000-0000-0000-000000000000")
    assert resp.status == 404
    owner = identity("p1")
    resp = api.post("/v2/images", {"disk_format": "raw", "container_format": "bare"},
                    headers=owner)
    image_id = resp.json()["id"]
    assert stage(api, image_id, b"data", headers=owner).status == 204
    resp = api.post("/v2/images/%s/import" % image_id,
                    {"method": {"name": "glance-direct"}}, headers=owner)
    assert resp.status == 202
    settled(api, image_id)
    task_id = api.get("/v2/images/%s/tasks" % image_id,
                      headers=owner).json()["tasks"][0]["id"]
    # The tasks API is admin-only (Glance's tasks_api_access), even for the
    # task's own project, which sees it in GET /v2/images/{id}/tasks.
    assert api.get("/v2/tasks/%s" % task_id, headers=owner).status == 403
    admin = identity("ops", "admin,member,reader")
    assert api.get("/v2/tasks/%s" % task_id, headers=admin).json()["owner"] == "p1"
    other = identity("p2")
    assert api.get("/v2/tasks/%s" % task_id, headers=other).status == 403
    assert api.get("/v2/images/%s/tasks" % image_id, headers=other).status == 404
    resp = api.post("/v2/images/%s/import" % image_id,
                    {"method": {"name": "glance-direct"}}, headers=other)
    assert resp.status == 404


def test_task_schema_is_served(api):
    schema = api.get("/v2/schemas/task").json()
    assert schema["name"] == "task"
    assert "api_image_import" in schema["properties"]["type"]["enum"]


# == In process: the tasks API's POST /v2/tasks (type "import") ==========================
#
# Tempest's ImageTaskCreate.test_task_create_fake_image_location posts an
# import task whose import_from names a host that does not exist; it accepts
# a 400 at once (newer Glance) or a task that ends in failure.

TASKS_ADMIN = identity("ops", "admin,member,reader")


def task_body(uri, **props):
    props = props or {"name": "t", "disk_format": "raw", "container_format": "bare"}
    return {"type": "import", "input": {"import_from": uri, "import_from_format": "raw",
                                        "image_properties": props}}


def task_finished(api, task_id):
    def check():
        task = api.get("/v2/tasks/%s" % task_id, headers=TASKS_ADMIN).json()
        return task if task["status"] in ("success", "failure") else None
    return wait_for(check, 20, what="task %s finishes" % task_id)


def test_import_task_creates_an_active_image(api, data_server):
    resp = api.post("/v2/tasks", task_body(data_server.url("/data"), name="legacy",
                                           disk_format="qcow2", container_format="bare",
                                           visibility="public"), headers=TASKS_ADMIN)
    assert resp.status == 201, resp.body
    task = resp.json()
    assert resp.headers["location"] == "/v2/tasks/%s" % task["id"]
    assert (task["type"], task["status"], task["owner"]) == ("import", "pending", "ops")
    assert task["input"]["import_from"] == data_server.url("/data")
    assert task["self"] == "/v2/tasks/%s" % task["id"]
    assert task["schema"] == "/v2/schemas/task"
    assert task["request_id"] == resp.headers["x-openstack-request-id"]
    task = task_finished(api, task["id"])
    assert task["status"] == "success", task["message"]
    image_id = task["result"]["image_id"]
    assert task["image_id"] == image_id
    image = api.get("/v2/images/%s" % image_id, headers=TASKS_ADMIN).json()
    assert (image["name"], image["status"], image["disk_format"], image["visibility"],
            image["owner"]) == ("legacy", "active", "qcow2", "public", "ops")
    assert image["checksum"] == hashlib.md5(data_server.payload).hexdigest()
    assert api.get("/v2/images/%s/file" % image_id, headers=TASKS_ADMIN).body == \
        data_server.payload


class FinishingPool(tasks.TaskPool):
    """A real pool whose ``submit`` returns only once the job has run: the
    interleaving in which the task thread wins the race with the response."""

    def submit(self, key, fn, *args):
        super().submit(key, fn, *args)
        wait_for(lambda: key not in self.pending(), 20, what="job %s runs" % key)


def test_the_201_shows_the_task_as_created_even_if_it_already_ran(tmp_path, data_server):
    # CI (2026-11-30) saw "processing" here: the body was read after submit.
    app = app_mod.create_app(make_conf(
        tmp_path, import_filtering_opts__allowed_hosts="127.0.0.1",
        import_filtering_opts__allowed_ports="80,443,%d" % data_server.port),
        task_pool=FinishingPool(1))
    try:
        api = Client(app)
        resp = api.post("/v2/tasks", task_body(data_server.url("/data")), headers=TASKS_ADMIN)
        assert resp.status == 201, resp.body
        task = resp.json()
        assert (task["status"], task["result"]) == ("pending", None)
        shown = api.get("/v2/tasks/%s" % task["id"], headers=TASKS_ADMIN).json()
        assert shown["status"] == "success", shown["message"]
    finally:
        app.task_pool.drain(10)


def test_failed_fetch_fails_the_task_and_deletes_its_image(api, data_server, import_app):
    resp = api.post("/v2/tasks", task_body(data_server.url("/missing")), headers=TASKS_ADMIN)
    assert resp.status == 201, resp.body
    task = task_finished(api, resp.json()["id"])
    assert task["status"] == "failure"
    assert "HTTP 404" in task["message"]
    # As Glance's task flow reverts: the image it created is gone, no data left.
    assert api.get("/v2/images/%s" % task["image_id"], headers=TASKS_ADMIN).status == 404
    assert os.listdir(import_app.store.directory) == []


@pytest.mark.parametrize("uri,message", [
    ("http://tempest-dummy-img-file-1234.qcow2", "does not pass filtering"),
    ("file:///etc/passwd", "File based imports are not allowed"),
    ("ftp://example.com/x.img", "The given uri is not valid"),
    (None, "Invalid location: None"),
])
def test_bad_import_from_is_400_at_create(api, uri, message):
    resp = api.post("/v2/tasks", task_body(uri), headers=TASKS_ADMIN)
    assert resp.status == 400
    assert message in resp.error


@pytest.mark.parametrize("body,message", [
    ({"input": {}}, "Task 'type' is required"),
    ({"type": "import"}, "Task 'input' is required"),
    ({"type": "copy", "input": {}}, "Invalid value for 'type'"),
    ({"type": "api_image_import", "input": {}}, "made by the image import API"),
    ([], "Body expected in request."),
])
def test_bad_task_body_is_400(api, body, message):
    resp = api.post("/v2/tasks", body, headers=TASKS_ADMIN)
    assert resp.status == 400
    assert message in resp.error


def test_missing_input_field_fails_the_task(api, data_server):
    body = task_body(data_server.url("/data"))
    del body["input"]["import_from_format"]
    resp = api.post("/v2/tasks", body, headers=TASKS_ADMIN)
    assert resp.status == 201
    task = task_finished(api, resp.json()["id"])
    assert (task["status"], task["message"]) == (
        "failure", "Input does not contain 'import_from_format' field")


def test_tasks_api_is_admin_only(api, data_server):
    # tasks_api_access: a project member (even of its own project) gets 403.
    resp = api.post("/v2/tasks", task_body(data_server.url("/data")),
                    headers=identity("p1"))
    assert resp.status == 403
    assert resp.error == "You are not authorized to complete tasks_api_access action."


# == Real servers sharing one node's config ============================================

def server_argv(kind, port, workers=2, master=True, graceful=False, mercy=None,
                address="127.0.0.1"):
    if kind == "uwsgi":
        argv = [which("uwsgi"), "--http-socket", "%s:%d" % (address, port),
                "--module", "glancelet.wsgi.api:application", "--processes", str(workers),
                "--enable-threads", "--need-app", "--die-on-term",
                "--chunked-input-limit", str(64 * MiB), "--chunked-input-timeout", "30",
                # http-socket answers HTTP/1.1 without "Connection: close", then closes:
                # a client that reuses the connection races the close (glanceclient's
                # next PUT fails with RemoteDisconnected). Say what uWSGI does.
                "--add-header", "Connection: close", "--log-date"]
        if master:
            argv.append("--master")
        if graceful:
            argv += ["--hook-master-start", "unix_signal:15 gracefully_kill_them_all"]
        if mercy is not None:
            argv += ["--worker-reload-mercy", str(mercy)]
        return argv
    return [which("gunicorn"), "--bind", "%s:%d" % (address, port), "--workers", str(workers),
            "--worker-class", "gthread", "--threads", "4", "glancelet.wsgi.api:application"]


class Node:
    """One config (database, store, staging) that several servers share."""

    def __init__(self, tmp, data_port, db_url=None):
        self.tmp = tmp
        self.db_path = tmp / "glancelet.sqlite"
        self.config = tmp / "glancelet.conf"
        self.config.write_text(
            "[DEFAULT]\nimage_size_cap = %d\n"
            "[database]\nconnection = %s\n"
            "[glance_store]\nfilesystem_store_datadir = %s\n"
            "[os_glance_staging_store]\nfilesystem_store_datadir = %s\n"
            "[wsgi]\ntask_pool_threads = 1\n"
            "[import_filtering_opts]\nallowed_hosts = [127.0.0.1]\n"
            "allowed_ports = [80,443,%d]\n"
            % (64 * MiB, db_url or "sqlite:///%s" % self.db_path, tmp / "images",
               tmp / "staging", data_port))
        self.servers = []

    def start(self, name, kind, **argv_kw):
        port = free_port()
        server = Server(name, server_argv(kind, port, **argv_kw), self.tmp / (name + ".log"),
                        env={"GLANCELET_CONFIG_FILE": str(self.config)}, cwd=str(self.tmp),
                        signal_ready=uwsgi_signal_ready if kind == "uwsgi" else None)
        server.url = "http://127.0.0.1:%d" % port
        server.start()
        self.servers.append(server)
        wait_ready(server.url + "/", [server])
        return server

    def row(self, table, row_id):
        conn = sqlite3.connect(str(self.db_path), timeout=30)
        try:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM %s WHERE id = ?" % table, (row_id,)).fetchone()
            return dict(row) if row else None
        finally:
            conn.close()

    def stop_all(self):
        for server in self.servers:
            if server.alive():
                server.kill_group()


@pytest.fixture(scope="module")
def web():
    with DataServer(payload=os.urandom(2 * MiB + 3), slow_seconds=2.0) as server:
        yield server


@pytest.fixture(scope="module")
def node(tmp_path_factory, web):
    node = Node(tmp_path_factory.mktemp("node"), web.port)
    try:
        node.a = node.start("gunicorn-a", "gunicorn")
        node.b = node.start("uwsgi-b", "uwsgi")
        yield node
    finally:
        logs = {s.name: s.log_text() for s in node.servers}
        for server in (node.a, node.b):
            if server.alive():
                assert server.stop() == 0, logs[server.name]
        node.stop_all()


def rest(server, method, path, **kw):
    return requests.request(method, server.url + path, timeout=30, **kw)


def wait_status(server, image_id, wanted, timeout=30):
    def check():
        status = rest(server, "GET", "/v2/images/" + image_id).json()["status"]
        return status if status == wanted else None
    try:
        return wait_for(check, timeout)
    except AssertionError:
        raise AssertionError("image %s is %s, not %s" % (
            image_id, rest(server, "GET", "/v2/images/" + image_id).json()["status"], wanted))


def glance(server, *args):
    return run_glance(server.url, *args)


@pytest.mark.parametrize("which", ["a", "b"])
def test_glance_cli_image_create_via_import(node, web, which, tmp_path):
    server = getattr(node, which)
    data = os.urandom(3 * MiB + 77)  # glanceclient stages it chunked, in 1 MiB chunks
    path = tmp_path / "disk.img"
    path.write_bytes(data)
    out = glance(server, "image-create-via-import", "--name", "cli-direct",
                 "--disk-format", "raw", "--container-format", "bare",
                 "--import-method", "glance-direct", "--file", str(path))
    direct = field(out, "id")
    out = glance(server, "image-create-via-import", "--name", "cli-web",
                 "--disk-format", "qcow2", "--container-format", "bare",
                 "--import-method", "web-download", "--uri", web.url("/data"))
    downloaded = field(out, "id")
    for image_id, payload in ((direct, data), (downloaded, web.payload)):
        wait_status(server, image_id, "active")
        shown = glance(server, "image-show", image_id)
        assert field(shown, "checksum") == hashlib.md5(payload).hexdigest()
        image = rest(server, "GET", "/v2/images/" + image_id).json()
        assert image["os_hash_value"] == hashlib.sha512(payload).hexdigest()
    target = tmp_path / "back"
    glance(server, "image-download", "--file", str(target), direct)  # checks the hash
    assert target.read_bytes() == data
    assert "import-methods" in glance(server, "import-info")
    task_id = rest(server, "GET", "/v2/images/%s/tasks" % direct).json()["tasks"][0]["id"]
    shown = glance(server, "task-show", task_id)
    assert (field(shown, "status"), field(shown, "type")) == ("success", "api_image_import")
    # `glance image-tasks` looks for v2.12 in the version document.
    listed = glance(server, "image-tasks", direct)
    assert "| success |" in listed, listed


@pytest.mark.parametrize("which", ["a", "b"])
def test_openstacksdk_import(node, web, which, tmp_path):
    import openstack

    server = getattr(node, which)
    conn = openstack.connection.Connection(
        auth_type="none", auth={"endpoint": server.url}, image_api_version="2")
    data = os.urandom(MiB + 1)
    path = tmp_path / "disk.img"
    path.write_bytes(data)
    image = conn.image.create_image(name="sdk-direct", filename=str(path), disk_format="raw",
                                    container_format="bare", use_import=True)
    image = conn.image.wait_for_status(image, "active", failures=["queued"], wait=30,
                                       interval=0.2)
    assert image.checksum == hashlib.md5(data).hexdigest()

    image = conn.image.create_image(name="sdk-web", disk_format="raw",
                                    container_format="bare", allow_duplicates=True)
    conn.image.import_image(image, method="web-download", uri=web.url("/data"))
    image = conn.image.wait_for_status(image, "active", failures=["queued"], wait=30,
                                       interval=0.2)
    assert image.hash_value == hashlib.sha512(web.payload).hexdigest()
    tasks_found = rest(server, "GET", "/v2/images/%s/tasks" % image.id).json()["tasks"]
    task = conn.image.get_task(tasks_found[0]["id"])
    assert (task.type, task.status) == ("api_image_import", "success")


def test_glanceclient_task_show(node):
    from glanceclient import Client as GlanceClient

    server = node.b
    gc = GlanceClient("2", endpoint=server.url, token="x")
    image = gc.images.create(name="lib", disk_format="raw", container_format="bare")
    gc.images.stage(image.id, open(os.devnull, "rb"))
    gc.images.image_import(image.id, method="glance-direct")
    wait_status(server, image.id, "active")
    task_id = rest(server, "GET", "/v2/images/%s/tasks" % image.id).json()["tasks"][0]["id"]
    task = gc.tasks.get(task_id)
    assert (task.status, task.type, task.result) == ("success", "api_image_import",
                                                     {"image_id": image.id})


def test_stage_on_one_server_import_on_another(node):
    """Workers of one node share the staging directory and the database."""
    data = os.urandom(2 * MiB + 9)
    image_id = rest(node.a, "POST", "/v2/images", json={
        "name": "two-servers", "disk_format": "raw", "container_format": "bare"}).json()["id"]
    assert rest(node.a, "PUT", "/v2/images/%s/stage" % image_id, data=data,
                headers=OCTETS).status_code == 204
    assert rest(node.b, "GET", "/v2/images/" + image_id).json()["status"] == "uploading"
    resp = rest(node.b, "POST", "/v2/images/%s/import" % image_id,
                json={"method": {"name": "glance-direct"}})
    assert resp.status_code == 202, resp.text
    wait_status(node.a, image_id, "active")
    views = [rest(s, "GET", "/v2/images/" + image_id).json() for s in (node.a, node.b)]
    assert views[0] == views[1]
    assert views[0]["checksum"] == hashlib.md5(data).hexdigest()
    tasks_a = rest(node.a, "GET", "/v2/images/%s/tasks" % image_id).json()
    assert tasks_a == rest(node.b, "GET", "/v2/images/%s/tasks" % image_id).json()
    assert tasks_a["tasks"][0]["status"] == "success"
    # The task ran in a uWSGI worker of server b, not in server a.
    assert rest(node.b, "GET", "/v2/images/%s/file" % image_id).content == data


def _pid_of(worker):
    return int(worker.split("|")[1])


def test_killed_server_imports_are_recovered(node, web):
    """SIGKILL mid-import: a peer fixes what it reads, a new process fixes the rest.

    The victim is a single uWSGI process with one task thread: a web-download
    stalls in it, and a glance-direct import waits behind it.
    """
    victim = node.start("victim", "uwsgi", workers=1, master=False)
    web.reset()
    downloading = rest(victim, "POST", "/v2/images", json={
        "disk_format": "raw", "container_format": "bare"}).json()["id"]
    assert rest(victim, "POST", "/v2/images/%s/import" % downloading, json={
        "method": {"name": "web-download", "uri": web.url("/stall")}}).status_code == 202
    assert web.stalled.wait(20)

    data = os.urandom(MiB + 5)
    waiting = rest(victim, "POST", "/v2/images", json={
        "disk_format": "raw", "container_format": "bare"}).json()["id"]
    assert rest(victim, "PUT", "/v2/images/%s/stage" % waiting, data=data,
                headers=OCTETS).status_code == 204
    assert rest(victim, "POST", "/v2/images/%s/import" % waiting,
                json={"method": {"name": "glance-direct"}}).status_code == 202
    [waiting_task] = rest(victim, "GET", "/v2/images/%s/tasks" % waiting).json()["tasks"]
    assert waiting_task["status"] == "pending"  # queued behind the stalled download
    [download_task] = rest(victim, "GET", "/v2/images/%s/tasks" % downloading).json()[
        "tasks"]
    assert download_task["status"] == "processing"
    worker = node.row("images", downloading)["worker"]
    assert _pid_of(worker) == victim.pid

    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait(10) == -signal.SIGKILL
    web.release()

    # A peer (gunicorn, another server) reads the image: it notices the dead worker.
    image = rest(node.a, "GET", "/v2/images/" + downloading).json()
    assert image["status"] == "queued"
    task = rest(node.a, "GET", "/v2/tasks/" + download_task["id"]).json()
    assert task["status"] == "failure"
    assert "the process that ran it (%s) is gone" % worker in task["message"]
    # ...and removes the half-written temp file the victim left in the store.
    assert [n for n in os.listdir(node.tmp / "images") if n.startswith(TEMP_PREFIX)] == []

    # Nobody has read the other image: it is still importing, held by the dead process.
    assert node.row("images", waiting)["status"] == "importing"
    assert node.row("tasks", waiting_task["id"])["status"] == "pending"
    # A new process starts (the same command): it recovers at start-up, before any
    # request, and the staged data is intact.
    restarted = node.start("victim-again", "uwsgi", workers=1)
    assert node.row("images", waiting)["status"] == "uploading"
    row = node.row("tasks", waiting_task["id"])
    process = worker.rsplit("|", 1)[0]  # its claim differs; the process is the same
    assert row["status"] == "failure" and process in row["message"]
    assert os.path.exists(node.tmp / "staging" / node.row("images", waiting)["staged_file"])

    # Both imports can be retried, on any server.
    assert rest(node.b, "POST", "/v2/images/%s/import" % waiting,
                json={"method": {"name": "glance-direct"}}).status_code == 202
    assert rest(restarted, "POST", "/v2/images/%s/import" % downloading, json={
        "method": {"name": "web-download", "uri": web.url("/data")}}).status_code == 202
    wait_status(node.a, waiting, "active")
    wait_status(node.a, downloading, "active")
    assert rest(node.a, "GET", "/v2/images/%s/file" % waiting).content == data
    assert rest(node.b, "GET", "/v2/images/%s/file" % downloading).content == web.payload
    assert restarted.stop() == 0


@pytest.mark.parametrize("kind", ["uwsgi", "gunicorn"])
def test_graceful_stop_drains_running_imports(node, web, kind):
    """SIGTERM while a download is running: the process finishes it, then exits."""
    server = node.start("drain-" + kind, kind, workers=1, graceful=True)
    image_id, task_id, _ = _stalled_import(node, web, server, kind)
    server.send_signal(signal.SIGTERM)
    wait_for(lambda: "waiting up to 25 s for 1 import task(s) to finish before exit"
             in server.log_text(), 20, what="the drain to start")
    assert server.alive()  # draining: the process waits for the import
    assert node.row("images", image_id)["status"] == "importing"
    web.release()
    code = server.wait(30)
    log = server.log_text()
    assert code == 0, log
    image = rest(node.a, "GET", "/v2/images/" + image_id).json()
    assert image["status"] == "active", (image, log)
    assert image["checksum"] == hashlib.md5(web.payload).hexdigest()
    assert node.row("tasks", task_id)["status"] == "success", log
    assert server.stop() == 0


def _stalled_import(node, web, server, kind="uwsgi"):
    """Start a web-download on ``server`` and wait until it stalls half-way
    (half the data is in; the rest waits for ``web.release()``); return
    (image id, task id, the worker recorded as running it)."""
    web.reset()
    image_id = rest(server, "POST", "/v2/images", json={
        "disk_format": "raw", "container_format": "bare"}).json()["id"]
    assert rest(server, "POST", "/v2/images/%s/import" % image_id, json={
        "method": {"name": "web-download", "uri": web.url("/stall")}}).status_code == 202
    [task] = rest(server, "GET", "/v2/images/%s/tasks" % image_id).json()["tasks"]
    assert web.stalled.wait(20)
    if kind == "uwsgi":  # the master installs the SIGTERM hook after forking workers
        wait_for(lambda: "gracefully_kill_them_all\" (master-start)" in server.log_text(), 10)
    return image_id, task["id"], node.row("images", image_id)["worker"]


def test_reload_mercy_shorter_than_an_import_cuts_it_off(node, web):
    """A graceful reload (SIGHUP) with ``worker-reload-mercy = 3`` while an
    import runs: the worker starts draining, uWSGI kills it when the mercy
    runs out (long before glancelet's 25 s), and the reloaded server finds
    the import cut off at start-up: task failed, image queued, retry works."""
    server = node.start("mercy-reload", "uwsgi", workers=1, graceful=True, mercy=3)
    image_id, task_id, worker = _stalled_import(node, web, server)
    signalled = time.monotonic()
    server.send_signal(signal.SIGHUP)
    wait_for(lambda: "waiting up to 25 s for 1 import task(s) to finish before exit"
             in server.log_text(), 20, what="the drain to start")
    wait_for(lambda: "NO MERCY" in server.log_text(), 20, what="uWSGI to kill the worker")
    row = wait_for(lambda: (lambda r: r if r["status"] == "failure" else None)(
        node.row("tasks", task_id)), 30, what="the reloaded server to fail the task")
    assert time.monotonic() - signalled < 25
    assert "the process that ran it (%s) is gone" % worker in row["message"]
    assert server.alive()  # reloaded, not stopped
    wait_ready(server.url + "/", [server])
    assert rest(server, "GET", "/v2/images/" + image_id).json()["status"] == "queued"
    web.release()
    assert rest(server, "POST", "/v2/images/%s/import" % image_id, json={
        "method": {"name": "web-download", "uri": web.url("/data")}}).status_code == 202
    wait_status(server, image_id, "active")
    assert server.stop() == 0


def test_mercy_does_not_bound_a_graceful_stop(node, web):
    """SIGTERM with ``gracefully_kill_them_all`` and ``worker-reload-mercy = 3``:
    uWSGI 2.0 does not apply the mercy to a stop. The worker is still draining
    6 s after the signal, and the import completes once its data arrives."""
    server = node.start("mercy-stop", "uwsgi", workers=1, graceful=True, mercy=3)
    image_id, task_id, _ = _stalled_import(node, web, server)
    server.send_signal(signal.SIGTERM)
    wait_for(lambda: "waiting up to 25 s for 1 import task(s) to finish before exit"
             in server.log_text(), 20, what="the drain to start")
    time.sleep(6)   # twice the mercy
    assert server.alive() and "NO MERCY" not in server.log_text()
    web.release()
    assert server.wait(30) == 0, server.log_text()
    assert rest(node.a, "GET", "/v2/images/" + image_id).json()["status"] == "active"
    assert node.row("tasks", task_id)["status"] == "success"


def test_info_import_from_every_server(node):
    for server in (node.a, node.b):
        body = rest(server, "GET", "/v2/info/import").json()
        assert body["import-methods"]["value"] == ["glance-direct", "web-download"]
        resp = rest(server, "POST", "/v2/images", json={"name": "h"})
        assert resp.headers["OpenStack-image-import-methods"] == "glance-direct,web-download"
