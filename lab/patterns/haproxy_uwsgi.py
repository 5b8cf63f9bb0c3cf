"""HAProxy in front of uWSGI's http-socket (examples/haproxy-uwsgi/, with the
uwsgi-http example's files)."""

from lab.harness import Pattern
from lab.patterns import GLANCE_BEHIND_PROXY, KEYSTONE, glance_under_uwsgi, in_etc
from lab.servers import Run

DIR = "examples/haproxy-uwsgi/"
UWSGI_DIR = "examples/uwsgi-http/"
INI = "/etc/glancelet/glancelet-uwsgi.ini"
CFG = "/etc/glancelet/haproxy.cfg"

SERVERS = (Run("uwsgi", INI, pidfile="/run/glancelet/uwsgi.pid", unit="glancelet-uwsgi.service"),
           Run("haproxy", CFG, pidfile="/run/glancelet-haproxy/haproxy.pid", port="9292",
               unit="glancelet-haproxy.service"))

PATTERNS = [Pattern(
    name="haproxy-uwsgi",
    title="HAProxy in front of uWSGI's http-socket",
    doc="howto/haproxy-uwsgi",
    files=in_etc(UWSGI_DIR, "glancelet-uwsgi.ini", "glancelet.conf") + (
        (DIR + "behind-haproxy.conf", "/etc/glancelet/glancelet.conf.d/behind-haproxy.conf"),
        (DIR + "haproxy.cfg", CFG)) + KEYSTONE,
    # Both reload: HAProxy's master starts new workers (kill -USR2), uWSGI
    # re-execs after its busy workers finish (uwsgi --reload).
    servers=SERVERS,
    # OpenStack Glance: glance-uwsgi.ini, and the same option as
    # behind-haproxy.conf in a drop-in for glance-api.conf.
    glance=glance_under_uwsgi(SERVERS, (GLANCE_BEHIND_PROXY,)),
    proxy="haproxy",
    # uWSGI runs as glancelet (the unit's User=), from the service venv.
    unit_user=True,
    # uWSGI drains on SIGTERM (the uwsgi-http ini); HAProxy keeps the client
    # connection while it does.
    sigterm="drain",
)]
