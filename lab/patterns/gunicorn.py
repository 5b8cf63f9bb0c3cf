"""gunicorn (gthread workers), alone and behind nginx (examples/gunicorn/)."""

from lab.harness import ExpectedFailure, Pattern
from lab.patterns import (GLANCE_BEHIND_PROXY, GLANCE_IMPORT_NOT_QUEUED, KEYSTONE,
                          glance_under_gunicorn, in_etc)
from lab.patterns.nginx_uwsgi import LOGROTATE
from lab.servers import Run
from lab.units import nginx_unit

DIR = "examples/gunicorn/"
GUNICORN_CONF = "/etc/glancelet/gunicorn.conf.py"
NGINX_CONF = "/etc/glancelet/nginx-gunicorn.conf"


def _gunicorn(port=None):
    """gunicorn -c gunicorn.conf.py; reload: kill -HUP $(cat .../gunicorn.pid)."""
    return Run("gunicorn", GUNICORN_CONF, pidfile="/run/glancelet/gunicorn.pid", port=port,
               unit="glancelet-gunicorn.service")


# gunicorn raises its parse error (gunicorn.http.errors.InvalidChunkSize,
# ChunkMissingTerminator: ParseException, not OSError or ValueError) from
# wsgi.input.read(). Glance's upload (glance/api/v2/image_data.py, its last
# "except Exception") returns the image to queued and re-raises, and its
# Resource (glance/common/wsgi.py, "Caught error") turns any exception into
# a 500. gunicorn's own handler would answer 400 (workers/base.py
# handle_error), but the error never reaches it; no setting of gunicorn or
# Glance changes either. nginx in front refuses the body first (400).
MALFORMED_CHUNKS_500 = ExpectedFailure(
    500, "The server has either erred or is incapable of performing the requested "
    "operation.", "Glance answers gunicorn's error for broken chunk framing "
    "(InvalidChunkSize, ChunkMissingTerminator, raised from wsgi.input.read) with 500, "
    "not 400: its WSGI resource turns every exception it does not know into 500; the "
    "image is back in queued, with no data",
    log=(None, "Failed to upload image data due to internal error: "
         "gunicorn.http.errors.InvalidChunkSize"),
    image_status="queued")

# Glance under gunicorn, SIGTERM during a web-download: the worker exits
# after its requests; Glance's exit hook (drain_workers, glance/common/
# wsgi_app.py) shuts its task pool down and waits for the running step, the
# download, which completes; taskflow cannot schedule the next step on the
# pool that is shut down, so the task fails and the image stays importing.
GLANCE_IMPORT_FAILS_AT_EXIT = ExpectedFailure(
    409, GLANCE_IMPORT_NOT_QUEUED,
    "after SIGTERM the worker finishes the download, but Glance 33 has shut its task pool "
    "down at exit, so the import's next step cannot start (RuntimeError: cannot schedule "
    "new futures after shutdown): the task fails (Task failed due to Internal Error), the "
    "image stays importing, and a new import of it is refused with 409",
    log=(None, "RuntimeError: cannot schedule new futures after shutdown"),
    image_status="importing", task_status="failure")

NGINX_SERVERS = (_gunicorn(), Run("nginx", NGINX_CONF, port="9292",
                                  unit=nginx_unit("nginx-gunicorn.conf")))

PATTERNS = [
    Pattern(
        name="gunicorn",
        title="gunicorn, gthread workers, no proxy",
        doc="howto/gunicorn",
        files=in_etc(DIR, "gunicorn.conf.py", "glancelet.conf") + KEYSTONE,
        servers=(_gunicorn(port="60997"),),
        # OpenStack Glance: glance-gunicorn.conf.py runs gunicorn.conf.py.
        glance=glance_under_gunicorn((_gunicorn(port="60997"),)),
        # gunicorn runs as glancelet (the unit's User=), from the service venv.
        unit_user=True,
        # SIGTERM: workers finish in-flight requests for up to graceful_timeout.
        sigterm="drain",
        expected_failures={"glance": {"upload-chunked-malformed": MALFORMED_CHUNKS_500,
                                      "import-sigterm": GLANCE_IMPORT_FAILS_AT_EXIT}},
    ),
    Pattern(
        name="nginx-gunicorn",
        title="nginx proxy_pass (unbuffered) to gunicorn, under /image",
        doc="howto/gunicorn",
        files=(in_etc(DIR, "gunicorn.conf.py")
               + ((DIR + "glancelet-behind-nginx.conf", "/etc/glancelet/glancelet.conf"),)
               + in_etc(DIR, "nginx-gunicorn.conf") + LOGROTATE + KEYSTONE),
        # nginx -s reload, then gunicorn's.
        servers=NGINX_SERVERS,
        # Glance builds its links from nginx's X-Forwarded-* headers only
        # with the drop-in (as behind nginx-proxy-http).
        glance=glance_under_gunicorn(NGINX_SERVERS, (GLANCE_BEHIND_PROXY,)),
        url_prefix="/image",
        sigterm="drain",
        spools={"content-length": False, "chunked": False},
        proxy="nginx",
        unit_user=True,
        expected_failures={"glance": {"import-sigterm": GLANCE_IMPORT_FAILS_AT_EXIT}},
    ),
]
