"""Recovery: returning orphaned work to a state a client can retry from.

Every function here works on ``app``, the object :func:`glancelet.app.create_app`
builds (it needs its ``images``, ``tasks``, ``store``, ``staging``, ``lease``
and ``clock``). Whether a worker is gone is :meth:`glancelet.lease.Lease.alive`'s
answer: its PID on this host, its lease on another. The words, used in names and log messages alike:

claim
    A worker's hold on an image or a task: the row's ``worker`` column names
    the process (and a token of the one request or task) working on it,
    while the image is in a transient status (``saving``, ``uploading``,
    ``importing``) or the task is ``pending`` or ``processing``.
release
    End a claim by putting the image back in the status a retry starts from
    (:data:`TRANSIENT`): ``queued``, or ``uploading`` when an import's
    staged data is still there.
fail
    End a task as ``failure`` and release its image, in one transaction.
reap
    Release (or fail) what a dead worker claimed. A process reaps lazily,
    when a request reads the image or task (:func:`reap_image`,
    :func:`reap_task`), and reaps everything at start-up (:func:`reap_all`).
residue
    Files that no live process holds and no live image names: temp files
    of dead writes, data a dead process wrote but never recorded, and the
    files of deleted images that could not be removed at the time
    (:func:`remove_residue`, :func:`remove_deleted_files`).
"""

import logging

from glancelet import domain

LOG = logging.getLogger(__name__)


def _directories(app):
    return ((app.store, "data_file"), (app.staging, "staged_file"))


# -- Images ---------------------------------------------------------------------------

def _release_saving(app, record):
    """Release an image a dead ``PUT .../file`` claimed."""
    LOG.warning("image %s was left %s by %s, which is gone; returning it to queued",
                record["id"], record["status"], record["worker"])
    released = app.images.transition(record["id"], record["status"], "queued",
                                     {"worker": None, "updated_at": app.clock()},
                                     worker=record["worker"])
    return released or app.images.get(record["id"])


def _release_uploading(app, record):
    """Release an ``uploading`` image.

    ``uploading`` with no worker is data at rest on staging: nothing to do.
    With a dead worker, the stage was cut off before it was recorded (the
    row names the staged file and drops the worker in one update), so the
    image goes back to ``queued``; a file it left is residue.
    """
    worker = record["worker"]
    if worker is None:
        return record
    LOG.warning("image %s was left uploading by %s, which is gone; now queued",
                record["id"], worker)
    released = app.images.transition(record["id"], "uploading", "queued",
                                     {"worker": None, "size": None,
                                      "updated_at": app.clock()}, worker=worker)
    return released or app.images.get(record["id"])


def _release_importing(app, record):
    """Fail the dead worker's tasks of an ``importing`` image, releasing it."""
    worker = record["worker"]
    running = [t for t in app.tasks.for_image(record["id"])
               if t["status"] in domain.TASK_RUNNING and t["worker"] == worker]
    if running:
        for task in running:
            fail_left_task(app, task, _gone(worker))
    else:  # the process died between claiming the image and recording its task
        release_import(app, record["id"], worker, None)
    return app.images.get(record["id"])


# The transient statuses: a live worker's claim holds the image in them. How
# each is released when its worker is gone.
TRANSIENT = {"saving": _release_saving, "uploading": _release_uploading,
             "importing": _release_importing}


def reap_image(app, record):
    """Return ``record``, first releasing it if the worker that claimed it is gone."""
    if record is None or record["status"] not in TRANSIENT:
        return record
    if app.lease.alive(record["worker"]):
        return record
    released = TRANSIENT[record["status"]](app, record)
    if record["worker"]:
        # The dead process may have left files; nothing else would remove
        # them before the next start (a respawned worker is forked from a
        # master that loaded the app long ago).
        remove_residue(app)
    return released


def _import_release(app, image_id, method):
    """The changes that release an image being imported.

    glance-direct keeps its staged data: the image goes back to ``uploading``
    while the staged file exists, else to ``queued``. web-download goes back
    to ``queued``.
    """
    record = app.images.get(image_id)
    staged = (method != "web-download" and record is not None
              and record["staged_file"] is not None
              and app.staging.exists(record["staged_file"]))
    changes = {"status": "uploading" if staged else "queued", "worker": None,
               "updated_at": app.clock()}
    if not staged:
        changes.update({"size": None, "checksum": None, "os_hash_algo": None,
                        "os_hash_value": None, "staged_file": None})
    return changes


def release_import(app, image_id, worker, method):
    """Release an image ``worker`` claimed for an import; None if it no longer held it."""
    changes = _import_release(app, image_id, method)
    return app.images.transition(image_id, "importing", changes.pop("status"), changes,
                                 worker=worker)


# -- Tasks ------------------------------------------------------------------------------

def fail_task(app, task, reason):
    """Fail ``task`` with ``reason`` and release its image, in one transaction.

    Returns the status the image went back to, or None when the task's
    worker no longer claimed the image (deleted, or released already); the
    task is failed with ``reason`` either way.
    """
    image_id, worker = task["image_id"], task["worker"]
    if image_id is None:  # a tasks-API import that had not made its image yet
        app.tasks.finish(task["id"], domain.final_task(app.clock(), "failure", reason))
        return None
    changes = _import_release(app, image_id, domain.method_of(task))
    message = "%s; image %s is %s again" % (reason, image_id, changes["status"])
    if app.tasks.finish(task["id"], domain.final_task(app.clock(), "failure", message),
                        image_id, changes, "importing", worker):
        return changes["status"]
    app.tasks.finish(task["id"], domain.final_task(app.clock(), "failure", reason))
    return None


def fail_left_task(app, task, reason):
    """:func:`fail_task` for a task its worker left (dead, or stopping), logged."""
    status = fail_task(app, task, reason)
    if status is not None:
        LOG.warning("image %s was left importing by %s; returned it to %s: %s",
                    task["image_id"], task["worker"], status, reason)


def _gone(worker):
    return ("the import was interrupted: the process that ran it (%s) is gone"
            % (worker or "unknown"))


def reap_task(app, task):
    """Return ``task``, first failing it if the worker that claimed it is gone."""
    if task is None or task["status"] not in domain.TASK_RUNNING or \
            app.lease.alive(task["worker"]):
        return task
    fail_left_task(app, task, _gone(task["worker"]))
    remove_residue(app)
    return app.tasks.get(task["id"])


# -- At start-up ---------------------------------------------------------------------------

def reap_all(app):
    """At start-up: reap every claim of a dead worker, then remove the residue."""
    app.lease.purge()
    for record in app.images.in_states(tuple(TRANSIENT)):
        reap_image(app, record)
    for task in app.tasks.in_states(domain.TASK_RUNNING):
        reap_task(app, task)
    remove_deleted_files(app)
    remove_residue(app)


# -- Files --------------------------------------------------------------------------------

def remove_residue(app):
    """Remove what no live process holds and no image refers to: temp files
    of dead writes, and the data files of writes that never were kept."""
    for directory, column in _directories(app):
        removed = directory.remove_stale_temp_files()
        referenced = app.images.files_in_use(column)
        removed += directory.remove_unreferenced(
            referenced, lambda name, column=column: app.images.file_in_use(column, name))
        for name in removed:
            LOG.warning("removed %s/%s, which no image refers to", directory.directory,
                        name)


def delete_image(app, record):
    """Delete an image: its row first (a tombstone), then its files.

    A file that cannot be removed now (a read-only or failing store) stays
    named in the tombstone; every later delete, and every start, retries.
    """
    deleted = app.images.delete(record["id"], app.clock())
    if deleted is not None:
        _remove_files(app, deleted)
    remove_deleted_files(app)


def remove_deleted_files(app):
    """Retry removing the files of deleted images that are still there."""
    for record in app.images.deleted_with_files():
        _remove_files(app, record)


def _remove_files(app, record):
    for directory, column in _directories(app):
        name = record[column]
        if name is None:
            continue
        try:
            directory.delete(name)
        except OSError as exc:
            LOG.warning("could not remove %s/%s of deleted image %s (%s); it will be "
                        "retried", directory.directory, name, record["id"], exc.strerror)
            continue
        app.images.files_removed(record["id"], column, name)


def remove_unused(directory, name):
    """Remove a file no image refers to any more; if that fails, it is residue,
    which the next start removes."""
    try:
        directory.delete(name)
    except OSError as exc:
        LOG.warning("could not remove %s/%s: %s", directory.directory, name, exc.strerror)
