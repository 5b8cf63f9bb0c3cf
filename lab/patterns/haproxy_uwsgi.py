"""HAProxy in front of uWSGI's http-socket (examples/haproxy-uwsgi/, with the
uwsgi-http example's files)."""

from lab import launchers
from lab.harness import Pattern

DIR = "examples/haproxy-uwsgi/"
UWSGI_DIR = "examples/uwsgi-http/"
INI = "/etc/glancelet/glancelet-uwsgi.ini"
CFG = "/etc/glancelet/haproxy.cfg"


class HaproxyUwsgi(Pattern):
    name = "haproxy-uwsgi"
    title = "HAProxy in front of uWSGI's http-socket"
    files = ((UWSGI_DIR + "glancelet-uwsgi.ini", INI),
             (UWSGI_DIR + "glancelet.conf", "/etc/glancelet/glancelet.conf"),
             (DIR + "behind-haproxy.conf",
              "/etc/glancelet/glancelet.conf.d/behind-haproxy.conf"),
             (DIR + "haproxy.cfg", CFG))
    servers = ("uwsgi", "haproxy")
    app_server = "uwsgi"
    proxy = "haproxy"
    # uWSGI drains on SIGTERM (the uwsgi-http ini); HAProxy keeps the client
    # connection while it does.
    sigterm = "drain"
    # Both reload: HAProxy's master starts new workers (kill -USR2), uWSGI
    # re-execs after its busy workers finish (uwsgi --reload).
    reloaded_servers = ("haproxy", "uwsgi")

    def launch(self, ws):
        self.install_files(ws)
        launchers.start_uwsgi(ws, INI)
        launchers.start_haproxy(ws, CFG)
        return "http://127.0.0.1:%d" % ws.port("9292")

    def reload(self, deployment):
        launchers.haproxy_reload(deployment.workspace, "/run/glancelet/haproxy.pid")
        launchers.uwsgi_reload(deployment.workspace, "/run/glancelet/uwsgi.pid")


PATTERNS = [HaproxyUwsgi()]
