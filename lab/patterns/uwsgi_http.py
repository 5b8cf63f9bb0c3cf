"""uWSGI alone, serving HTTP on an ``http-socket`` (examples/uwsgi-http/)."""

from lab import launchers
from lab.harness import Pattern

DIR = "examples/uwsgi-http/"


class UwsgiHttp(Pattern):
    name = "uwsgi-http"
    title = "uWSGI, HTTP mode (http-socket), no proxy"
    examples = (DIR + "glancelet-uwsgi.ini", DIR + "glancelet.conf")
    app_server = "uwsgi"
    # hook-master-start = unix_signal:15 gracefully_kill_them_all
    sigterm = "drain"
    # SIGHUP (uwsgi --reload): the master waits for busy workers, then re-execs.
    reloaded_servers = ("uwsgi",)

    def launch(self, ws):
        ws.install(DIR + "glancelet.conf", "/etc/glancelet/glancelet.conf")
        ws.install(DIR + "glancelet-uwsgi.ini", "/etc/glancelet/glancelet-uwsgi.ini")
        launchers.start_uwsgi(ws, "/etc/glancelet/glancelet-uwsgi.ini")
        return "http://127.0.0.1:%d" % ws.port("60999")

    def reload(self, deployment):
        launchers.uwsgi_reload(deployment.workspace, "/run/glancelet/uwsgi.pid")


PATTERNS = [UwsgiHttp()]
