"""gunicorn (gthread workers), alone and behind nginx (examples/gunicorn/)."""

from lab.harness import Pattern
from lab.patterns import GLANCE_BEHIND_PROXY, KEYSTONE, glance_under_gunicorn, in_etc
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
    ),
]
