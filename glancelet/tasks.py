"""Import tasks: the thread pool that runs them, draining it, and recovery.

An import (``POST /v2/images/{id}/import``) answers 202 at once; the copy
runs afterwards in a native thread of the process that accepted the
request, from :class:`TaskPool`. Nothing here depends on how the WSGI
server schedules requests, so the same code works under uWSGI (with
threads enabled), gunicorn, mod_wsgi and wsgiref.

Each task is a row in the ``tasks`` table (Glance's ``api_image_import``
task: ``pending`` → ``processing`` → ``success`` | ``failure``). While it
runs, the image is ``importing`` and its ``worker`` column names the
process running the task (``domain.worker_id()``); the task row carries
the same name.

Three ways a task can stop early, and what happens:

* It fails (bad URI, storage full, data over the cap): the task is marked
  ``failure`` with the reason, and the image goes back to where an import
  can be retried: ``uploading`` if its staged data is still there,
  ``queued`` otherwise.
* The server stops gracefully: :func:`register_drain` hooks
  :meth:`TaskPool.drain` into the process exit (``uwsgi.atexit`` under
  uWSGI, ``atexit`` elsewhere). Running and queued tasks get up to
  ``DRAIN_TIMEOUT`` seconds to finish; those still running after that are
  failed and their images released before the process goes.
* The process is killed (SIGKILL, OOM, a server's mercy timeout): nothing
  runs. The next process to look, a peer serving a request for the image or
  task (``Application.reap``) or a new process starting
  (``Application.recover``), sees that the recorded worker is gone and does
  the same clean-up, with a message naming the dead process.
"""

import atexit
import datetime
import logging
import os
import queue
import threading
import time
import uuid

from glancelet import domain, store as store_mod, webdownload
from glancelet.threads import block_server_signals

LOG = logging.getLogger(__name__)

TASK_TYPE = "api_image_import"
RUNNING = ("pending", "processing")
DRAIN_TIMEOUT = 25.0  # seconds; keep it below the server's own shutdown mercy
TASK_TIME_TO_LIVE = datetime.timedelta(hours=48)  # Glance's task_time_to_live


_FORK_LOCK = threading.Lock()


class PoolClosed(Exception):
    """The pool is draining or drained: it takes no new work."""


# -- The pool -------------------------------------------------------------------

class TaskPool:
    """A fixed number of native threads per process, started on demand.

    Threads are created lazily, by the process that submits work, so a pool
    built before a WSGI server forks its workers (uWSGI without lazy-apps,
    gunicorn --preload) works in each worker. Threads are daemons: exit is
    bounded by :meth:`drain`, never by a stuck download.
    """

    def __init__(self, size, name="glancelet-task"):
        self.size = size
        self.name = name
        self._start_afresh()

    def _start_afresh(self):
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._queue = queue.Queue()
        self._threads = []
        self._active = {}  # job key -> function, for jobs queued or running
        self._closed = False

    def _here(self):
        """The pool of this process: after a fork, the parent's threads are not here
        (and its lock may have been held by one of them), so start afresh."""
        if self._pid != os.getpid():
            with _FORK_LOCK:
                if self._pid != os.getpid():
                    self._start_afresh()
        return self._lock

    @property
    def closed(self):
        with self._here():
            return self._closed

    def pending(self):
        """Keys of the jobs submitted and not finished in this process."""
        with self._here():
            return list(self._active)

    def submit(self, key, fn, *args):
        """Run ``fn(*args)`` in a pool thread. ``key`` names the job (a task id)."""
        with self._here():
            if self._closed:
                raise PoolClosed("the server is shutting down")
            self._active[key] = fn
            self._queue.put((key, fn, args))
            # One thread per unfinished job, up to the pool size; threads stay.
            if len(self._threads) < min(self.size, len(self._active)):
                thread = threading.Thread(target=self._work, daemon=True,
                                          name="%s-%d" % (self.name, len(self._threads)))
                self._threads.append(thread)
                thread.start()

    def _work(self):
        block_server_signals()
        while True:
            key, fn, args = self._queue.get()
            if key is None:
                return
            try:
                fn(*args)
            except BaseException:  # a task must never take its thread down
                LOG.exception("task %s failed unexpectedly", key)
            finally:
                with self._lock:
                    self._active.pop(key, None)
                    self._done.notify_all()

    def drain(self, timeout):
        """Take no more work; wait up to ``timeout`` s for submitted jobs.

        Returns the keys of jobs still unfinished (empty when all finished).
        """
        deadline = time.monotonic() + max(timeout, 0)
        with self._here():
            self._closed = True
            while self._active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._done.wait(remaining)
            unfinished = list(self._active)
            if not unfinished:
                for _ in self._threads:
                    self._queue.put((None, None, None))
        return unfinished


# -- Task records ---------------------------------------------------------------

def new_task(image_id, owner, import_req, worker):
    now = domain.utcnow()
    return {"id": str(uuid.uuid4()), "type": TASK_TYPE, "status": "pending",
            "image_id": image_id, "owner": owner,
            "input": {"image_id": image_id, "import_req": import_req},
            "result": None, "message": "", "worker": worker,
            "created_at": now, "updated_at": now, "expires_at": None}


def method_of(task):
    try:
        return task["input"]["import_req"]["method"]["name"]
    except (KeyError, TypeError):
        return None


def _expires(now):
    then = datetime.datetime.strptime(now, "%Y-%m-%dT%H:%M:%SZ")
    return (then + TASK_TIME_TO_LIVE).strftime("%Y-%m-%dT%H:%M:%SZ")


def _final(status, message="", result=None):
    now = domain.utcnow()
    return {"status": status, "message": message, "result": result, "worker": None,
            "updated_at": now, "expires_at": _expires(now)}


def finish_task(app, task_id, status, message="", result=None):
    """End a running task (a no-op if it has ended already)."""
    app.tasks.finish(task_id, _final(status, message, result))


def release_changes(app, image_id, method):
    """The update that returns an image being imported to where a retry starts.

    glance-direct keeps its staged data: the image goes back to ``uploading``
    while the staged file exists, else to ``queued``. web-download goes back
    to ``queued``.
    """
    record = app.images.get(image_id)
    staged = (method != "web-download" and record is not None
              and record["staged_file"] is not None
              and app.staging.exists(record["staged_file"]))
    changes = {"status": "uploading" if staged else "queued", "worker": None,
               "updated_at": domain.utcnow()}
    if not staged:
        changes.update({"size": None, "checksum": None, "os_hash_algo": None,
                        "os_hash_value": None, "staged_file": None})
    return changes


def release_image(app, image_id, worker, method):
    """Release an image that ``worker`` was importing; None if it no longer was."""
    return app.images.update(image_id, release_changes(app, image_id, method),
                             expect_status="importing", expect_worker=worker)


def fail_and_release(app, task_id, image_id, worker, method, reason):
    """Fail the task and release its image, in one transaction.

    Returns the status the image went back to, or None when the image was
    not ``importing`` by ``worker`` any more (deleted, or released already);
    the task is failed with ``reason`` either way.
    """
    changes = release_changes(app, image_id, method)
    message = "%s; image %s is %s again" % (reason, image_id, changes["status"])
    if app.tasks.finish(task_id, _final("failure", message), image_id, changes,
                        "importing", worker):
        return changes["status"]
    finish_task(app, task_id, "failure", reason)
    return None


# -- Running an import ----------------------------------------------------------

class ImportFailed(Exception):
    pass


def _copy_staged(app, staged_file, image_id):
    try:
        if staged_file is None:
            raise FileNotFoundError(image_id)
        fp = open(app.staging.path(staged_file), "rb")
    except FileNotFoundError:
        raise ImportFailed("the staged data of image %s is missing from the staging "
                           "directory; stage it again" % image_id) from None
    with fp:
        return app.store.write(image_id, fp)


def _download(app, image_id, uri, worker):
    limit = app.conf.get("DEFAULT", "image_size_cap")
    uri_filter = webdownload.URIFilter.from_conf(app.conf)

    def cancelled():
        current = app.images.get(image_id)
        if current is None:
            return "image %s was deleted" % image_id
        if current["status"] != "importing" or current["worker"] != worker:
            return "image %s is no longer being imported by this task" % image_id
        return None

    pace = webdownload.Pace(timeout=app.conf.get("DEFAULT", "web_download_timeout"),
                            min_rate=app.conf.get("DEFAULT", "web_download_min_rate"),
                            cancelled=cancelled)
    try:
        with webdownload.open_uri(uri, uri_filter, limit=limit, pace=pace) as download:
            return app.store.write(image_id, download, expected_size=download.length)
    except webdownload.Refused as exc:
        raise ImportFailed("URI for web-download does not pass filtering: %s (%s)"
                           % (uri, exc)) from None
    except webdownload.FetchError as exc:
        raise ImportFailed("web-download failed: %s" % exc) from None
    except store_mod.SizeMismatch as exc:
        raise ImportFailed("web-download of %s failed: the server announced %d bytes and "
                           "sent %d" % (uri, exc.expected, exc.actual)) from None


def run_import(app, task_id):
    """The body of an ``api_image_import`` task, run in a pool thread."""
    task = app.tasks.update(task_id, {"status": "processing",
                                      "updated_at": domain.utcnow()},
                            expect_status="pending")
    if task is None:
        return  # already failed by a drain or a reaper
    image_id, worker, method = task["image_id"], task["worker"], method_of(task)
    LOG.info("task %s: importing image %s with %s", task_id, image_id, method)
    image = app.images.get(image_id)
    staged_file = image and image["staged_file"]
    try:
        if method == "glance-direct":
            result = _copy_staged(app, staged_file, image_id)
        else:
            result = _download(app, image_id, task["input"]["import_req"]["method"]["uri"],
                               worker)
    except Exception as exc:
        if isinstance(exc, ImportFailed):
            message = str(exc)
        elif isinstance(exc, OSError):
            message = "writing the image data failed: %s" % (exc.strerror or exc)
        else:
            LOG.exception("task %s: import of image %s failed", task_id, image_id)
            message = "the import failed: %s: %s" % (type(exc).__name__, exc)
        LOG.warning("task %s: import of image %s failed: %s", task_id, image_id, message)
        fail_and_release(app, task_id, image_id, worker, method, message)
        return

    active = {"status": "active", "worker": None, "size": result.size,
              "checksum": result.checksum, "os_hash_algo": result.os_hash_algo,
              "os_hash_value": result.os_hash_value, "data_file": result.name,
              "staged_file": None, "updated_at": domain.utcnow()}
    if not app.store.keep(result, lambda: app.tasks.finish(
            task_id, _final("success", result={"image_id": image_id}), image_id, active,
            "importing", worker)):
        # Deleted meanwhile, or released by a drain that gave up on this task:
        # the data written is nobody's, and keep() has removed it.
        LOG.warning("task %s: image %s was deleted during its import", task_id, image_id)
        finish_task(app, task_id, "failure",
                    "image %s was deleted while it was being imported" % image_id)
        return
    if method == "glance-direct":
        _remove_quietly(app.staging, staged_file)
    LOG.info("task %s: image %s is active (%d bytes)", task_id, image_id, result.size)


def _remove_quietly(directory, name):
    """Remove a file no image refers to any more; if that fails, the start-up
    scan removes it (it is unreferenced)."""
    try:
        directory.delete(name)
    except OSError as exc:
        LOG.warning("could not remove %s/%s: %s", directory.directory, name, exc.strerror)


# -- Drain on graceful shutdown --------------------------------------------------

def drain(app, timeout=None):
    """Wait for this process's tasks; fail and release those that do not finish."""
    timeout = DRAIN_TIMEOUT if timeout is None else timeout
    waiting = app.task_pool.pending()
    if waiting:
        LOG.info("waiting up to %.0f s for %d import task(s) to finish before exit",
                 timeout, len(waiting))
    unfinished = app.task_pool.drain(timeout)
    for task_id in unfinished:
        task = app.tasks.get(task_id)
        if task is None or task["status"] not in RUNNING:
            continue
        reason = ("the import was interrupted: the server process %s stopped before it "
                  "finished (it waited %.0f s)" % (task["worker"], timeout))
        interrupt(app, task, reason)
    return unfinished


def register_drain(app, timeout=None):
    """Run :func:`drain` when this process exits. Returns how it was hooked.

    Under uWSGI the hook is ``uwsgi.atexit``, which uWSGI calls in each
    worker when the worker is stopped or reloaded gracefully; elsewhere it is
    the ``atexit`` module.
    """
    def hook():
        try:
            drain(app, timeout)
        except Exception:
            LOG.exception("draining import tasks failed")

    try:
        import uwsgi
    except ImportError:
        atexit.register(hook)
        return "atexit"
    previous = getattr(uwsgi, "atexit", None)

    def uwsgi_hook():
        try:
            hook()
        finally:
            if previous is not None:
                previous()

    uwsgi.atexit = uwsgi_hook
    return "uwsgi.atexit"


# -- Recovery: work left behind by a process that is gone --------------------------

def interrupt(app, task, reason):
    """Fail ``task`` with ``reason`` and release its image, if still held by it."""
    status = fail_and_release(app, task["id"], task["image_id"], task["worker"],
                              method_of(task), reason)
    if status is not None:
        LOG.warning("image %s was left importing by %s; returned it to %s: %s",
                    task["image_id"], task["worker"], status, reason)


def _gone(worker):
    return ("the import was interrupted: the process that ran it (%s) is gone"
            % (worker or "unknown"))


def recover_import(app, record):
    """``Application.reap`` for an image left ``importing`` by a dead process."""
    worker = record["worker"]
    tasks = [t for t in app.tasks.for_image(record["id"])
             if t["status"] in RUNNING and t["worker"] == worker]
    if tasks:
        for task in tasks:
            interrupt(app, task, _gone(worker))
    else:  # the process died between claiming the image and recording its task
        release_image(app, record["id"], worker, None)
    return app.images.get(record["id"])


def recover_stage(app, record):
    """``Application.reap`` for an ``uploading`` image.

    ``uploading`` with no worker is data at rest on staging: nothing to do.
    With a dead worker, the stage was cut off before it was recorded (the
    row names the staged file and drops the worker in one update), so the
    image goes back to ``queued``; a file it left is nobody's, and
    ``Application.remove_residue`` removes it.
    """
    worker = record["worker"]
    if worker is None:
        return record
    LOG.warning("image %s was left uploading by %s, which is gone; now queued",
                record["id"], worker)
    recovered = app.images.update(record["id"], {"status": "queued", "worker": None,
                                                 "size": None,
                                                 "updated_at": domain.utcnow()},
                                  expect_status="uploading", expect_worker=worker)
    return recovered or app.images.get(record["id"])


def reap_task(app, task):
    """Return ``task``, first failing it if the process running it is gone."""
    if task is None or task["status"] not in RUNNING or domain.worker_alive(task["worker"]):
        return task
    interrupt(app, task, _gone(task["worker"]))
    app.remove_residue()
    return app.tasks.get(task["id"])


def recover_tasks(app):
    """At start-up: fail tasks of dead processes."""
    for task in app.tasks.in_states(RUNNING):
        reap_task(app, task)
