"""The application factory: ``create_app(conf)`` wires config, storage and routes."""

import logging
import sys

from glancelet import conf as conf_mod
from glancelet import context, db, domain, errors, pipeline, router, store, tasks
from glancelet.handlers import healthcheck, image_data, images, imports, schemas, tags, versions
from glancelet.http import Request

LOG = logging.getLogger("glancelet")

# What serves each path and method. A path listed here with another method
# gets 405 with an Allow header.
ROUTES = {
    "/": {"GET": versions.multiple_choices},
    "/versions": {"GET": versions.versions},
    "/healthcheck": {"GET": healthcheck.check},
    "/v2/schemas/image": {"GET": schemas.image},
    "/v2/schemas/images": {"GET": schemas.images},
    "/v2/images": {"GET": images.index, "POST": images.create},
    "/v2/images/{image_id}": {"GET": images.show, "PATCH": images.update,
                              "DELETE": images.delete},
    "/v2/images/{image_id}/file": {"GET": image_data.download, "PUT": image_data.upload},
    "/v2/images/{image_id}/tags/{tag}": {"PUT": tags.add, "DELETE": tags.remove},
    "/v2/images/{image_id}/stage": {"PUT": imports.stage},
    "/v2/images/{image_id}/import": {"POST": imports.import_image},
    "/v2/images/{image_id}/tasks": {"GET": imports.image_tasks},
    "/v2/info/import": {"GET": imports.info_import},
    "/v2/tasks/{task_id}": {"GET": imports.show_task},
    "/v2/schemas/task": {"GET": imports.task_schema},
}

# Served whatever the identity headers say, as Glance's version negotiation
# answers before authentication: a client finds the API before it has a token.
ANONYMOUS = (versions.multiple_choices, versions.versions, healthcheck.check)

# Image states in which a live process is working on the image. If that
# process is gone, the image goes back to the state a retry starts from
# (a callable works that out, and does the clean-up, itself).
TRANSIENT = {"saving": "queued", "uploading": tasks.recover_stage,
             "importing": tasks.recover_import}


class Application:
    """The WSGI application. One per process; thread-safe."""

    def __init__(self, conf, routes=None):
        self.conf = conf
        db_path, image_dir, staging_dir = conf.data_paths
        self.db = db.Database(db_path)
        self.images = db.ImageRepo(self.db)
        self.tasks = db.TaskRepo(self.db)
        self.store = store.FilesystemStore(image_dir,
                                           conf.get("DEFAULT", "hashing_algorithm"))
        self.staging = store.FilesystemStore(staging_dir,
                                             conf.get("DEFAULT", "hashing_algorithm"))
        self.router = router.Router(routes or ROUTES)
        self.task_pool = tasks.TaskPool(conf.get("wsgi", "task_pool_threads"))

    # -- WSGI ----------------------------------------------------------------

    def __call__(self, environ, start_response):
        try:
            req = Request(environ, self.conf)
            req.app = self
            handler, req.route_args = self.router.match(req.method, req.path)
            if handler not in ANONYMOUS:
                req.context = context.from_environ(environ)
            return handler(req, start_response)
        except errors.HTTPError as exc:
            _drain_unread_body(environ, exc)
            return exc(environ, start_response)
        except Exception:
            LOG.exception("unhandled error serving %s %s", environ.get("REQUEST_METHOD"),
                          environ.get("PATH_INFO"))
            return errors.HTTPError(500, "The server failed to handle the request; see "
                                    "its log.")(environ, start_response)

    # -- Lifecycle shared by handlers ------------------------------------------

    def reap(self, record):
        """Return ``record``, first recovering it if its worker died mid-operation."""
        if record is None or record["status"] not in TRANSIENT:
            return record
        if domain.worker_alive(record["worker"]):
            return record
        target = TRANSIENT[record["status"]]
        if callable(target):
            recovered = target(self, record)
        else:
            recovered = self._release(record, target)
        if record["worker"]:
            # The dead process may have left files; nothing else would
            # remove them before the next start (a respawned worker is forked
            # from a master that loaded the app long ago).
            self.remove_residue()
        return recovered

    def _release(self, record, target):
        LOG.warning("image %s was left %s by %s, which is gone; returning it to %s",
                    record["id"], record["status"], record["worker"], target)
        recovered = self.images.update(record["id"], {"status": target, "worker": None,
                                                      "updated_at": domain.utcnow()},
                                       expect_status=record["status"],
                                       expect_worker=record["worker"])
        return recovered or self.images.get(record["id"])

    def recover(self):
        """At start-up: release work and remove files that dead processes left."""
        for record in self.images.in_states(tuple(TRANSIENT)):
            self.reap(record)
        tasks.recover_tasks(self)
        self.remove_deleted_files()
        self.remove_residue()

    def remove_residue(self):
        """Remove what no live process holds and no image refers to: temp files
        of dead writes, and the data files of writes that never were kept."""
        for directory, column in ((self.store, "data_file"), (self.staging, "staged_file")):
            removed = directory.remove_stale_temp_files()
            referenced = self.images.files_in_use(column)
            removed += directory.remove_unreferenced(
                referenced, lambda name, column=column: self.images.file_in_use(column, name))
            for name in removed:
                LOG.warning("removed %s/%s, which no image refers to", directory.directory,
                            name)

    def delete_image(self, record):
        """Delete an image: its row first (a tombstone), then its files.

        A file that cannot be removed now (a read-only or failing store) stays
        named in the tombstone; every later delete, and every start, retries.
        """
        deleted = self.images.delete(record["id"], domain.utcnow())
        if deleted is not None:
            self._remove_files(deleted)
        self.remove_deleted_files()

    def remove_deleted_files(self):
        """Retry removing the files of deleted images that are still there."""
        for record in self.images.deleted_with_files():
            self._remove_files(record)

    def _remove_files(self, record):
        for directory, column in ((self.store, "data_file"), (self.staging, "staged_file")):
            name = record[column]
            if name is None:
                continue
            try:
                directory.delete(name)
            except OSError as exc:
                LOG.warning("could not remove %s/%s of deleted image %s (%s); it will be "
                            "retried", directory.directory, name, record["id"], exc.strerror)
                continue
            self.images.files_removed(record["id"], column, name)


# An error answered before the request body was all read (409, 415, 413...)
# is only seen by a client that finished sending: python-glanceclient sends the
# whole body before it reads the response, and a server that closes a
# connection with unread data makes the client see a reset instead of the
# status. So a body up to this size is read and discarded first; a larger one
# is not worth the bandwidth, and the client sees the connection close.
DRAIN_LIMIT = 64 * 1024 * 1024


def _drain_unread_body(environ, exc):
    from glancelet.body import BodyIncomplete, RequestBody
    try:
        reader = RequestBody(environ)
        if reader.length is not None and reader.length > DRAIN_LIMIT:
            return
        while reader.bytes_read <= DRAIN_LIMIT and reader.read(1024 * 1024):
            pass
    except (errors.HTTPError, BodyIncomplete, OSError):
        pass


def create_app(conf):
    app = Application(conf)
    app.recover()
    return app


def setup_logging(conf):
    """Log to stderr, which every WSGI server sends to its own log."""
    logger = logging.getLogger("glancelet")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.DEBUG if conf.get("DEFAULT", "debug") else logging.INFO)


def init_application(environ=None):
    """Load config and build the app; a bad config fails with one clear line."""
    import os
    environ = os.environ if environ is None else environ
    try:
        conf = conf_mod.load(environ=environ)
        check_server()
        front = pipeline.build(conf)
    except conf_mod.ConfigError as exc:
        sys.stderr.write("glancelet: configuration error: %s\n" % exc)
        sys.stderr.flush()
        raise
    setup_logging(conf)
    app = create_app(conf)
    tasks.register_drain(app)
    LOG.info("glancelet ready: config %s, images in %s",
             ", ".join(conf.files) or "(built-in defaults)", app.store.directory)
    return pipeline.attach(front, app)


def check_server():
    """Refuse to run where background work cannot: uWSGI without threads."""
    try:
        import uwsgi
    except ImportError:
        return
    opt = getattr(uwsgi, "opt", {}) or {}

    def on(name):
        value = opt.get(name)
        if isinstance(value, bytes):
            value = value.decode()
        return value not in (None, False, "", "0", "false", "no", "off")

    threads = opt.get("threads")
    if isinstance(threads, bytes):
        threads = threads.decode()
    if not on("enable-threads") and not (threads and str(threads) not in ("0", "1")):
        raise conf_mod.ConfigError(
            "uWSGI runs this app without Python threads; glancelet needs them for hashing "
            "and import tasks: set 'enable-threads = true' in the [uwsgi] section")
