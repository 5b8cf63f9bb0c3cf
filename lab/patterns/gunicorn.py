"""gunicorn (gthread workers), alone and behind nginx (examples/gunicorn/)."""

import signal

from lab import launchers
from lab.harness import Pattern

DIR = "examples/gunicorn/"


class Gunicorn(Pattern):
    name = "gunicorn"
    title = "gunicorn, gthread workers, no proxy"
    examples = (DIR + "gunicorn.conf.py", DIR + "glancelet.conf")
    app_server = "gunicorn"
    # SIGTERM: workers finish in-flight requests for up to graceful_timeout.
    sigterm = "drain"
    reloaded_servers = ("gunicorn",)

    def launch(self, ws):
        ws.install(DIR + "glancelet.conf", "/etc/glancelet/glancelet.conf")
        ws.install(DIR + "gunicorn.conf.py", "/etc/glancelet/gunicorn.conf.py")
        launchers.start_gunicorn(ws, "/etc/glancelet/gunicorn.conf.py")
        return "http://127.0.0.1:%d" % ws.port("60997")

    def reload(self, deployment):
        # kill -HUP $(cat /run/glancelet/gunicorn.pid)
        pid = int(deployment.workspace.path("/run/glancelet/gunicorn.pid").read_text())
        assert pid == deployment.servers["gunicorn"].pid
        deployment.servers["gunicorn"].send_signal(signal.SIGHUP)


class NginxGunicorn(Gunicorn):
    name = "nginx-gunicorn"
    title = "nginx proxy_pass (unbuffered) to gunicorn, under /image"
    examples = (DIR + "gunicorn.conf.py", DIR + "glancelet-behind-nginx.conf",
                DIR + "nginx-gunicorn.conf")
    url_prefix = "/image"
    reloaded_servers = ("nginx", "gunicorn")
    spools = {"content-length": False, "chunked": False}
    proxy = "nginx"

    def launch(self, ws):
        ws.install(DIR + "glancelet-behind-nginx.conf", "/etc/glancelet/glancelet.conf")
        ws.install(DIR + "gunicorn.conf.py", "/etc/glancelet/gunicorn.conf.py")
        launchers.start_gunicorn(ws, "/etc/glancelet/gunicorn.conf.py")
        ws.install(DIR + "nginx-gunicorn.conf", "/etc/glancelet/nginx-gunicorn.conf")
        launchers.start_nginx(ws, "/etc/glancelet/nginx-gunicorn.conf")
        return "http://127.0.0.1:%d" % ws.port("9292")

    def reload(self, deployment):
        launchers.nginx_reload(deployment.workspace, "/etc/glancelet/nginx-gunicorn.conf")
        super().reload(deployment)


PATTERNS = [Gunicorn(), NginxGunicorn()]
