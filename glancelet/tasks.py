"""Import tasks: the thread pool that runs them, and draining it.

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
  task, or a new process starting, reaps it (:mod:`glancelet.recovery`):
  it sees that the recorded worker is gone and does the same clean-up, with
  a message naming the dead process.
"""

import atexit
import logging
import os
import queue
import threading
import time
import uuid

from glancelet import domain, errors, recovery, request_id, store as store_mod, uwsgi_support
from glancelet import stagehost, webdownload
from glancelet.threads import block_server_signals

LOG = logging.getLogger(__name__)

TASK_TYPE = "api_image_import"
# The tasks API's task type (``POST /v2/tasks``) and the input keys it needs.
LEGACY_TYPE = "import"
LEGACY_INPUT = ("import_from", "import_from_format", "image_properties")
DRAIN_TIMEOUT = 25.0  # seconds; keep it below the server's own shutdown mercy


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

def new_task(image_id, owner, import_req, worker, now=None, request_id=None,
             user_id=None):
    """A fresh ``pending`` task row, created ``now`` by the request ``request_id``
    of user ``user_id``."""
    now = domain.utcnow() if now is None else now
    return {"id": str(uuid.uuid4()), "type": TASK_TYPE, "status": "pending",
            "image_id": image_id, "owner": owner,
            "input": {"image_id": image_id, "import_req": import_req},
            "result": None, "message": "", "worker": worker,
            "created_at": now, "updated_at": now, "expires_at": None,
            "request_id": request_id, "user_id": user_id}


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
    """The body of an ``api_image_import`` task, run in a pool thread; its log
    lines name the request that created the task."""
    task = app.tasks.get(task_id)
    with request_id.bound(task and task["request_id"]):
        _run_import(app, task_id)


def _failure_message(exc, task_id, image_id):
    """What a task failed by ``exc`` says, in its ``message``."""
    if isinstance(exc, ImportFailed):
        return str(exc)
    if isinstance(exc, OSError):
        return "writing the image data failed: %s" % (exc.strerror or exc)
    LOG.exception("task %s: import of image %s failed", task_id, image_id)
    return "the import failed: %s: %s" % (type(exc).__name__, exc)


def _start(app, task_id):
    """Move a pending task to ``processing``; None if a drain or reaper got it first."""
    return app.tasks.update(task_id, {"status": "processing", "updated_at": app.clock()},
                            expect_status="pending")


def _settle(app, task_id, image_id, worker, result):
    """Make the image active with the data ``result`` wrote and the task a
    success, in one transaction; False if the image was deleted meanwhile."""
    active = {"status": "active", "worker": None, "size": result.size,
              "checksum": result.checksum, "os_hash_algo": result.os_hash_algo,
              "os_hash_value": result.os_hash_value, "data_file": result.name,
              "staged_file": None, "updated_at": app.clock()}
    if app.store.keep(result, lambda: app.tasks.finish(
            task_id, domain.final_task(app.clock(), "success", result={"image_id": image_id}),
            image_id, active, "importing", worker)):
        LOG.info("task %s: image %s is active (%d bytes)", task_id, image_id, result.size)
        return True
    # Deleted meanwhile, or released by a drain that gave up on this task:
    # the data written is nobody's, and keep() has removed it.
    LOG.warning("task %s: image %s was deleted during its import", task_id, image_id)
    app.tasks.finish(task_id, domain.final_task(
        app.clock(), "failure", "image %s was deleted while it was being imported"
        % image_id))
    return False


def _run_import(app, task_id):
    task = _start(app, task_id)
    if task is None:
        return
    image_id, worker, method = task["image_id"], task["worker"], domain.method_of(task)
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
        message = _failure_message(exc, task_id, image_id)
        LOG.warning("task %s: import of image %s failed: %s", task_id, image_id, message)
        recovery.fail_task(app, task, message)
        return
    if _settle(app, task_id, image_id, worker, result) and method == "glance-direct":
        recovery.remove_unused(app.staging, staged_file)
        stagehost.record_host(app, image_id, None)


# -- The tasks API's ``import`` task ---------------------------------------------

def new_legacy_task(owner, task_input, worker, now, request_id=None, user_id=None):
    """A fresh ``pending`` task of the tasks API's ``import`` type (no image yet)."""
    return {"id": str(uuid.uuid4()), "type": LEGACY_TYPE, "status": "pending",
            "image_id": None, "owner": owner, "input": task_input, "result": None,
            "message": "", "worker": worker, "created_at": now, "updated_at": now,
            "expires_at": None, "request_id": request_id, "user_id": user_id}


def run_legacy_import(app, task_id, make_image):
    """The body of a ``POST /v2/tasks`` ``import`` task, run in a pool thread:
    create the image ``make_image(image_properties)`` returns (a row dict),
    then fetch ``import_from`` into it. On failure the image is deleted, as
    Glance's task flow reverts."""
    task = app.tasks.get(task_id)
    with request_id.bound(task and task["request_id"]):
        _run_legacy_import(app, task_id, make_image)


def _run_legacy_import(app, task_id, make_image):
    task = _start(app, task_id)
    if task is None:
        return
    worker, task_input = task["worker"], task["input"] or {}
    missing = [key for key in LEGACY_INPUT if key not in task_input]
    if missing:
        app.tasks.finish(task_id, domain.final_task(
            app.clock(), "failure", "Input does not contain '%s' field" % missing[0]))
        return
    try:
        record = make_image(task_input["image_properties"])
    except errors.HTTPError as exc:
        app.tasks.finish(task_id, domain.final_task(app.clock(), "failure", exc.message))
        return
    image_id = record["id"]
    record.update({"status": "importing", "worker": worker})
    app.images.add(record)
    app.tasks.update(task_id, {"image_id": image_id})
    LOG.info("task %s: importing image %s from %s", task_id, image_id,
             task_input["import_from"])
    try:
        result = _download(app, image_id, task_input["import_from"], worker)
    except Exception as exc:
        message = _failure_message(exc, task_id, image_id)
        LOG.warning("task %s: import of image %s failed: %s", task_id, image_id, message)
        app.tasks.finish(task_id, domain.final_task(
            app.clock(), "failure", "%s; image %s was deleted" % (message, image_id)))
        current = app.images.get(image_id)
        if current is not None:
            recovery.delete_image(app, current)
        return
    _settle(app, task_id, image_id, worker, result)


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
        if task is None or task["status"] not in domain.TASK_RUNNING:
            continue
        reason = ("the import was interrupted: the server process %s stopped before it "
                  "finished (it waited %.0f s)" % (task["worker"], timeout))
        recovery.fail_left_task(app, task, reason)
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

    how = uwsgi_support.at_exit(hook)
    if how is None:
        atexit.register(hook)
        how = "atexit"
        # At interpreter exit threading's own exit hooks run first, then it
        # joins the threads that are not daemons, and only then atexit's. A
        # thread a library holds (seen behind keystonemiddleware under
        # gunicorn) kept the exit waiting for the whole import, unbounded,
        # before the drain above could run. So drain at the start of the
        # exit too; the later call finds nothing left to wait for.
        register_early = getattr(threading, "_register_atexit", None)
        if register_early is not None:
            register_early(hook)
            how = "atexit, threading exit"
    return how
