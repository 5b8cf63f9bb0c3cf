"""The import task pool, its drain, and recovery from dead processes.

A "dead process" here is a real one: a child Python process whose
``domain.worker_id()`` is taken while it runs and that then exits, so
``domain.worker_alive()`` sees exactly what it sees after a SIGKILL.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import types

import pytest

from glancelet import app as app_mod
from glancelet import domain, recovery, tasks
from glancelet.store import TEMP_PREFIX
from tests.functional.conftest import make_conf
from tests.unit.test_webdownload import DataServer


def wait_for(predicate, timeout=10.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met within %ss" % timeout)


@pytest.fixture(scope="module")
def dead_worker():
    """The worker id of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    worker = domain.worker_id(child.pid)
    assert domain.worker_alive(worker)
    child.stdin.close()
    child.wait(10)
    assert not domain.worker_alive(worker)
    return worker


# -- TaskPool ------------------------------------------------------------------------

def test_pool_threads_leave_server_signals_to_the_main_thread():
    # uWSGI's graceful-stop handler calls exit() in whichever thread gets
    # the signal; it must never be a task's thread.
    pool = tasks.TaskPool(1)
    seen = []
    pool.submit("job", lambda: seen.append(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
    assert pool.drain(10) == []
    assert {signal.SIGTERM, signal.SIGHUP, signal.SIGINT} <= seen[0]


def test_pool_starts_threads_on_demand_up_to_its_size():
    pool = tasks.TaskPool(2)
    assert pool._threads == []  # nothing before the first job
    gate = threading.Event()
    names = []

    def job(n):
        names.append(threading.current_thread().name)
        gate.wait(10)

    for n in range(4):
        pool.submit("job-%d" % n, job, n)
    wait_for(lambda: len(names) == 2)
    assert len(pool._threads) == 2
    assert sorted(pool.pending()) == ["job-0", "job-1", "job-2", "job-3"]
    assert all(name.startswith("glancelet-task-") for name in names)
    assert threading.current_thread().name not in names
    gate.set()
    assert pool.drain(10) == []
    assert len(names) == 4


def test_a_failing_job_does_not_take_its_thread_down():
    pool = tasks.TaskPool(1)
    done = []
    pool.submit("bad", lambda: 1 / 0)
    pool.submit("good", done.append, "ok")
    assert pool.drain(10) == []
    assert done == ["ok"]


def test_drain_waits_for_running_jobs():
    pool = tasks.TaskPool(2)
    finished = []
    pool.submit("slow", lambda: (time.sleep(0.3), finished.append(1)))
    start = time.monotonic()
    assert pool.drain(10) == []
    assert finished == [1]
    assert 0.2 < time.monotonic() - start < 5


def test_drain_is_bounded_and_reports_what_did_not_finish():
    pool = tasks.TaskPool(1)
    gate = threading.Event()
    pool.submit("stuck", gate.wait, 30)
    pool.submit("queued", lambda: None)
    start = time.monotonic()
    assert sorted(pool.drain(0.3)) == ["queued", "stuck"]
    assert time.monotonic() - start < 2
    with pytest.raises(tasks.PoolClosed):
        pool.submit("late", lambda: None)
    gate.set()


def test_a_pool_built_before_fork_works_in_the_child():
    """uWSGI (without lazy-apps) and gunicorn --preload build the app, then fork."""
    pool = tasks.TaskPool(2)
    pool.submit("parent", lambda: None)
    assert pool.drain(10) == []
    assert pool.closed  # the parent's pool is closed; the child's starts afresh
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            out = []
            pool.submit("child", lambda: out.append(threading.current_thread().name))
            ok = pool.drain(10) == [] and out and out[0].startswith("glancelet-task-")
            os.write(write, b"ok" if ok else b"bad")
        finally:
            os._exit(0)
    os.close(write)
    result = os.read(read, 10)
    os.close(read)
    os.waitpid(pid, 0)
    assert result == b"ok"


# -- Drain registration --------------------------------------------------------------

@pytest.fixture
def app(tmp_path):
    application = app_mod.create_app(make_conf(tmp_path))
    yield application
    application.task_pool.drain(5)


def test_register_drain_uses_atexit_outside_uwsgi(app, monkeypatch):
    """Both at the start of the interpreter's exit (threading's hooks, before
    it joins threads that are not daemons) and in atexit; the second call
    finds the pool drained."""
    registered, early = [], []
    monkeypatch.setattr(tasks.atexit, "register", registered.append)
    monkeypatch.setattr(tasks.threading, "_register_atexit", early.append)
    monkeypatch.delitem(sys.modules, "uwsgi", raising=False)
    assert tasks.register_drain(app) == "atexit, threading exit"
    assert len(registered) == 1 and len(early) == 1
    early[0]()
    assert app.task_pool.closed
    assert registered[0]() is None


def test_register_drain_uses_uwsgi_atexit_and_keeps_an_earlier_hook(app, monkeypatch):
    calls = []
    fake = types.ModuleType("uwsgi")
    fake.atexit = lambda: calls.append("earlier hook")
    monkeypatch.setitem(sys.modules, "uwsgi", fake)
    registered = []
    monkeypatch.setattr(tasks.atexit, "register", registered.append)
    assert tasks.register_drain(app) == "uwsgi.atexit"
    assert registered == []
    fake.atexit()
    assert app.task_pool.closed
    assert calls == ["earlier hook"]


# -- Images and tasks in the database ---------------------------------------------------

def add_image(app, status="queued", worker=None, **values):
    record = domain.new_record(str(__import__("uuid").uuid4()), None,
                               {"status": status, "worker": worker, "disk_format": "raw",
                                "container_format": "bare", **values})
    app.images.add(record)
    return record["id"]


def add_task(app, image_id, method, worker, status="processing"):
    req = {"method": {"name": method}}
    if method == "web-download":
        req["method"]["uri"] = "http://127.0.0.1/x"
    task = tasks.new_task(image_id, None, req, worker)
    task["status"] = status
    app.tasks.add(task)
    return task["id"]


def stage_file(app, image_id, data=b"staged bytes", recorded=True):
    """A staged file, as a stage writes it; ``recorded``: named in the image's row, as a
    completed stage leaves it (else as a process that died before recording it)."""
    name = "%s.%s" % (image_id, os.urandom(8).hex())
    with open(app.staging.path(name), "wb") as fp:
        fp.write(data)
    if recorded:
        assert app.images.update(image_id, {"staged_file": name})
    return name


def test_reap_returns_a_glance_direct_import_to_uploading_with_its_data(app, dead_worker):
    image_id = add_image(app, "importing", dead_worker, size=12)
    staged = stage_file(app, image_id)
    task_id = add_task(app, image_id, "glance-direct", dead_worker)
    record = recovery.reap_image(app, app.images.get(image_id))
    assert (record["status"], record["worker"], record["size"]) == ("uploading", None, 12)
    assert record["staged_file"] == staged and app.staging.exists(staged)
    task = app.tasks.get(task_id)
    assert task["status"] == "failure"
    assert dead_worker in task["message"] and "is gone" in task["message"]
    assert "uploading again" in task["message"]
    assert task["worker"] is None and task["expires_at"]


def test_reap_without_staged_data_returns_the_image_to_queued(app, dead_worker):
    image_id = add_image(app, "importing", dead_worker, size=12)
    add_task(app, image_id, "glance-direct", dead_worker, status="pending")
    record = recovery.reap_image(app, app.images.get(image_id))
    assert (record["status"], record["size"]) == ("queued", None)


def test_reap_returns_a_web_download_to_queued(app, dead_worker):
    image_id = add_image(app, "importing", dead_worker)
    task_id = add_task(app, image_id, "web-download", dead_worker)
    assert recovery.reap_image(app, app.images.get(image_id))["status"] == "queued"
    assert "queued again" in app.tasks.get(task_id)["message"]


def test_reap_leaves_live_work_alone(app):
    me = domain.worker_id()
    image_id = add_image(app, "importing", me)
    task_id = add_task(app, image_id, "web-download", me)
    assert recovery.reap_image(app, app.images.get(image_id))["status"] == "importing"
    assert recovery.reap_task(app, app.tasks.get(task_id))["status"] == "processing"


def test_reap_of_an_image_claimed_before_its_task_was_recorded(app, dead_worker):
    image_id = add_image(app, "importing", dead_worker)
    stage_file(app, image_id)
    assert recovery.reap_image(app, app.images.get(image_id))["status"] == "uploading"


def test_an_interrupted_stage_is_recovered(app, dead_worker):
    cut = add_image(app, "uploading", dead_worker)          # died while writing
    renamed = add_image(app, "uploading", dead_worker)      # died before recording it
    unrecorded = stage_file(app, renamed, b"x" * 42, recorded=False)
    staged = add_image(app, "uploading", None, size=3)      # data at rest: untouched
    kept = stage_file(app, staged, b"abc")
    assert recovery.reap_image(app, app.images.get(cut))["status"] == "queued"
    record = recovery.reap_image(app, app.images.get(renamed))
    assert (record["status"], record["worker"], record["size"]) == ("queued", None, None)
    assert recovery.reap_image(app, app.images.get(staged)) == app.images.get(staged)
    assert os.listdir(app.staging.directory) == [kept]  # the unrecorded file is removed
    assert not app.staging.exists(unrecorded)


def test_reap_task_fails_a_task_whose_process_is_gone(app, dead_worker):
    image_id = add_image(app, "active")
    task_id = add_task(app, image_id, "web-download", dead_worker)
    task = recovery.reap_task(app, app.tasks.get(task_id))
    assert task["status"] == "failure" and dead_worker in task["message"]
    assert app.images.get(image_id)["status"] == "active"


def test_reap_fails_a_tasks_api_import_that_made_no_image_yet(app, dead_worker):
    task = tasks.new_legacy_task("p1", {"import_from": "http://127.0.0.1/x"}, dead_worker,
                                 now=domain.utcnow())
    app.tasks.add(task)
    reaped = recovery.reap_task(app, app.tasks.get(task["id"]))
    assert reaped["status"] == "failure" and dead_worker in reaped["message"]
    assert "image None" not in reaped["message"]


def test_recover_at_start_fails_dead_tasks_and_removes_staging_residue(tmp_path, dead_worker):
    conf = make_conf(tmp_path)
    first = app_mod.create_app(conf)
    importing = add_image(first, "importing", dead_worker)
    importing_file = stage_file(first, importing)
    task_id = add_task(first, importing, "glance-direct", dead_worker)
    orphan_task = add_task(first, add_image(first, "active"), "web-download", dead_worker)
    waiting = add_image(first, "uploading")
    waiting_file = stage_file(first, waiting)
    done = add_image(first, "active")
    stage_file(first, done, recorded=False)     # died before removing its staged copy
    stage_file(first, "0b6b3c40-3c1f-4b4e-9d3f-000000000000", recorded=False)  # deleted
    residue = os.path.join(first.staging.directory, ".tmp-leftover-1-abcd")
    open(residue, "wb").close()

    second = app_mod.create_app(conf)           # a new process starting
    assert second.images.get(importing)["status"] == "uploading"
    assert second.tasks.get(task_id)["status"] == "failure"
    assert second.tasks.get(orphan_task)["status"] == "failure"
    kept = sorted([importing_file, waiting_file])
    assert sorted(os.listdir(second.staging.directory)) == kept


# -- Running imports -------------------------------------------------------------------

def import_conf(tmp_path, server, **extra):
    return make_conf(tmp_path, import_filtering_opts__allowed_hosts="127.0.0.1",
                     import_filtering_opts__allowed_ports=str(server.port), **extra)


def start_import(app, image_id, req):
    me = domain.worker_id()
    assert app.images.transition(image_id, "queued", "importing", {"worker": me})
    task = tasks.new_task(image_id, None, req, me)
    app.tasks.add(task)
    app.task_pool.submit(task["id"], tasks.run_import, app, task["id"])
    return task["id"]


def import_from(app, server, path):
    """A new image and the web-download import of ``server``'s ``path`` into
    it: (image id, task id)."""
    image_id = add_image(app)
    return image_id, start_import(app, image_id, {"method": {"name": "web-download",
                                                             "uri": server.url(path)}})


def finished(app, task_id):
    task = app.tasks.get(task_id)
    return task if task["status"] in ("success", "failure") else None


def test_web_download_task_streams_into_the_store(tmp_path):
    with DataServer() as server:
        app = app_mod.create_app(import_conf(tmp_path, server))
        image_id, task_id = import_from(app, server, "/data")
        task = wait_for(lambda: finished(app, task_id))
    assert task["status"] == "success", task["message"]
    assert task["result"] == {"image_id": image_id}
    record = app.images.get(image_id)
    assert (record["status"], record["size"]) == ("active", len(server.payload))
    with open(app.store.path(record["data_file"]), "rb") as fp:
        assert fp.read() == server.payload


@pytest.mark.parametrize("path,cap,message", [
    ("/missing", None, "HTTP 404"),
    ("/short", None, "ended after"),
    ("/data", 1000, "image_size_cap"),
    ("/nolength", 1000, "image_size_cap"),
    ("/redirect?to=http://127.0.0.1:1/x", None, "does not pass filtering"),
])
def test_failed_web_download_leaves_nothing_and_queues_the_image(tmp_path, path, cap,
                                                                 message):
    with DataServer() as server:
        extra = {"DEFAULT__image_size_cap": cap} if cap else {}
        app = app_mod.create_app(import_conf(tmp_path, server, **extra))
        image_id, task_id = import_from(app, server, path)
        task = wait_for(lambda: finished(app, task_id))
    assert task["status"] == "failure"
    assert message in task["message"]
    assert app.images.get(image_id)["status"] == "queued"
    assert os.listdir(app.store.directory) == []


def test_drain_fails_and_releases_what_outlives_it(tmp_path):
    """A stuck download at shutdown: the task fails, the image can be imported again."""
    with DataServer() as server:
        app = app_mod.create_app(import_conf(tmp_path, server))
        image_id, task_id = import_from(app, server, "/stall")
        assert server.stalled.wait(10)
        start = time.monotonic()
        assert tasks.drain(app, timeout=0.3) == [task_id]
        assert time.monotonic() - start < 3
        task = app.tasks.get(task_id)
        assert task["status"] == "failure"
        assert "stopped before it finished" in task["message"]
        assert app.images.get(image_id)["status"] == "queued"
        server.release()
        # The abandoned thread may still finish its copy: it must not resurrect the image.
        wait_for(lambda: not app.task_pool.pending())
        assert app.images.get(image_id)["status"] == "queued"
        assert not app.store.exists(image_id)


def test_image_deleted_during_import_leaves_no_data(tmp_path):
    with DataServer() as server:
        app = app_mod.create_app(import_conf(tmp_path, server))
        image_id, task_id = import_from(app, server, "/stall")
        assert server.stalled.wait(10)
        recovery.delete_image(app, app.images.get(image_id))
        server.release()
        task = wait_for(lambda: finished(app, task_id))
    assert task["status"] == "failure" and "deleted" in task["message"]
    assert os.listdir(app.store.directory) == []


def test_a_killed_process_is_recovered_by_the_next_one(tmp_path):
    """SIGKILL a real process in the middle of a web-download, then start again."""
    with DataServer() as server:
        conf_args = repr(str(tmp_path)), server.port
        script = (
            "import sys, time\n"
            "from glancelet import app as app_mod, domain, tasks\n"
            "from tests.functional.conftest import make_conf\n"
            "from tests.unit.test_tasks import add_image, start_import\n"
            "conf = make_conf(__import__('pathlib').Path(%s),"
            " import_filtering_opts__allowed_hosts='127.0.0.1',"
            " import_filtering_opts__allowed_ports='%d')\n"
            "app = app_mod.create_app(conf)\n"
            "image_id = add_image(app)\n"
            "task_id = start_import(app, image_id, {'method': {'name': 'web-download',"
            " 'uri': sys.argv[1]}})\n"
            "print(image_id, task_id, flush=True)\n"
            "time.sleep(60)\n" % conf_args)
        child = subprocess.Popen([sys.executable, "-c", script, server.url("/stall")],
                                 stdout=subprocess.PIPE, text=True,
                                 cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                     os.path.abspath(__file__)))))
        try:
            image_id, task_id = child.stdout.readline().split()
            assert server.stalled.wait(20)
            # The server has sent half the data, but the child may not have
            # its temp file yet. Kill it once it is writing, so that the
            # scan below has a .tmp- file to remove.
            wait_for(lambda: any(n.startswith(TEMP_PREFIX)
                                 for n in os.listdir(tmp_path / "images")), timeout=20)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            child.stdout.close()
    app = app_mod.create_app(make_conf(tmp_path))
    assert app.images.get(image_id)["status"] == "queued"
    task = app.tasks.get(task_id)
    assert task["status"] == "failure"
    assert "|%d|" % child.pid in task["message"] and "is gone" in task["message"]
    assert [n for n in os.listdir(app.store.directory)] == []
