"""The application factory: ``create_app(conf)`` builds the services and routes
requests to the handlers."""

import dataclasses
import logging
import sys
import typing

from glancelet import conf as conf_mod
from glancelet import context, db as db_mod, domain, errors, pipeline, recovery, request_id
from glancelet import lease as lease_mod, router
from glancelet import store as store_mod, tasks, uwsgi_support
from glancelet.handlers import (actions, healthcheck, image_data, images, imports, members,
                                schemas, tags, versions)
from glancelet.http import Request

LOG = logging.getLogger("glancelet")

# What serves each path and method. A path listed here with another method
# gets 405 with an Allow header.
ROUTES = {
    "/": {"GET": versions.multiple_choices},
    "/versions": {"GET": versions.versions},
    "/versions/": {"GET": versions.versions},
    "/healthcheck": {"GET": healthcheck.check},
    "/healthcheck/": {"GET": healthcheck.check},
    "/v2/schemas/image": {"GET": schemas.image},
    "/v2/schemas/images": {"GET": schemas.images},
    "/v2/images": {"GET": images.index, "POST": images.create},
    "/v2/images/{image_id}": {"GET": images.show, "PATCH": images.update,
                              "DELETE": images.delete},
    "/v2/images/{image_id}/file": {"GET": image_data.download, "PUT": image_data.upload},
    "/v2/images/{image_id}/tags/{tag}": {"PUT": tags.add, "DELETE": tags.remove},
    "/v2/images/{image_id}/actions/deactivate": {"POST": actions.deactivate},
    "/v2/images/{image_id}/actions/reactivate": {"POST": actions.reactivate},
    "/v2/images/{image_id}/members": {"GET": members.index, "POST": members.create},
    "/v2/images/{image_id}/members/{member_id}": {"GET": members.show,
                                                  "PUT": members.update,
                                                  "DELETE": members.delete},
    "/v2/schemas/member": {"GET": schemas.member},
    "/v2/schemas/members": {"GET": schemas.members},
    "/v2/images/{image_id}/stage": {"PUT": imports.stage},
    "/v2/images/{image_id}/import": {"POST": imports.import_image},
    "/v2/images/{image_id}/tasks": {"GET": imports.image_tasks},
    "/v2/info/import": {"GET": imports.info_import},
    "/v2/tasks": {"POST": imports.create_task},
    "/v2/tasks/{task_id}": {"GET": imports.show_task},
    "/v2/schemas/task": {"GET": imports.task_schema},
}

# Served whatever the identity headers say, as Glance's version negotiation
# answers before authentication: a client finds the API before it has a token.
ANONYMOUS = (versions.multiple_choices, versions.versions, healthcheck.check)


@dataclasses.dataclass(eq=False, kw_only=True)
class Application:
    """The WSGI application: routes a request to its handler. One per process;
    thread-safe.

    It holds the services :func:`create_app` built, which handlers reach as
    ``req.app``.
    """

    conf: conf_mod.Config
    images: db_mod.ImageRepo
    tasks: db_mod.TaskRepo
    members: db_mod.MemberRepo
    store: store_mod.FilesystemStore  # image data
    staging: store_mod.FilesystemStore  # data staged for glance-direct imports
    task_pool: tasks.TaskPool
    lease: lease_mod.Lease  # this process's heartbeat; others' liveness
    clock: typing.Callable[[], str]  # the time, as Glance writes it
    routes: dict = dataclasses.field(default_factory=lambda: ROUTES)

    def __post_init__(self):
        self.router = router.Router(self.routes)

    def __call__(self, environ, start_response):
        start_response = request_id.tagging(environ, start_response)
        with request_id.bound(request_id.of(environ)):
            return self._serve(environ, start_response)

    def _serve(self, environ, start_response):
        self.lease.hold()
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


def create_app(conf, *, store=None, staging=None, db=None, clock=None, task_pool=None,
               routes=None):
    """The WSGI application ``conf`` describes, with work dead processes left reaped.

    Each service is built from ``conf`` unless given: ``store`` and
    ``staging`` (:class:`glancelet.store.FilesystemStore`), ``db``
    (:func:`glancelet.db.connect`), ``clock`` (returns the time as
    Glance writes it; :func:`glancelet.domain.utcnow`), ``task_pool``
    (:class:`glancelet.tasks.TaskPool`).
    """
    db_url, image_dir, staging_dir = conf.data_paths
    algorithm = conf.get("DEFAULT", "hashing_algorithm")
    database = db_mod.connect(db_url) if db is None else db
    app = Application(
        conf=conf, images=db_mod.ImageRepo(database), tasks=db_mod.TaskRepo(database),
        members=db_mod.MemberRepo(database),
        store=store_mod.FilesystemStore(image_dir, algorithm) if store is None else store,
        staging=(store_mod.FilesystemStore(staging_dir, algorithm) if staging is None
                 else staging),
        task_pool=(tasks.TaskPool(conf.get("wsgi", "task_pool_threads"))
                   if task_pool is None else task_pool),
        lease=lease_mod.Lease(db_mod.WorkerRepo(database),
                              conf.get("DEFAULT", "worker_lease_timeout")),
        clock=domain.utcnow if clock is None else clock, routes=routes or ROUTES)
    recovery.reap_all(app)
    return app


def setup_logging(conf):
    """Log to stderr, which every WSGI server sends to its own log."""
    logger = logging.getLogger("glancelet")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(request_id.LogFilter())
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(process)d %(levelname)s %(name)s [%(request_id)s]: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.DEBUG if conf.get("DEFAULT", "debug") else logging.INFO)


# The exit status of a server process glancelet refuses to start in. 3 is
# gunicorn's "worker failed to boot": gunicorn stops rather than respawning
# the worker for ever. uWSGI exits with it, need-app or not.
REFUSED = 3


def refuse(why):
    """Stop the server process: one ``glancelet:`` line, no traceback."""
    sys.stderr.write("glancelet: %s\n" % why)
    sys.stderr.flush()
    raise SystemExit(REFUSED)


def init_application(environ=None):
    """Load config and build the app. A bad config or an unusable database
    stops the server process with one clear line (:func:`refuse`)."""
    import os
    environ = os.environ if environ is None else environ
    try:
        conf = conf_mod.load(environ=environ)
        uwsgi_support.check_server()
        front = pipeline.build(conf)
        setup_logging(conf)
        app = create_app(conf)
    except conf_mod.ConfigError as exc:
        refuse("configuration error: %s" % exc)
    except db_mod.UnusableDatabase as exc:
        refuse("cannot use the database %s" % exc)
    tasks.register_drain(app)
    LOG.info("glancelet ready: config %s, images in %s",
             ", ".join(conf.files) or "(built-in defaults)", app.store.directory)
    return pipeline.attach(front, app)
