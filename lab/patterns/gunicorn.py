"""gunicorn (gthread workers), alone and behind nginx (examples/gunicorn/)."""

import signal

from lab import launchers
from lab.harness import Pattern

DIR = "examples/gunicorn/"
GUNICORN_CONF = "/etc/glancelet/gunicorn.conf.py"
NGINX_CONF = "/etc/glancelet/nginx-gunicorn.conf"


class Gunicorn(Pattern):
    name = "gunicorn"
    title = "gunicorn, gthread workers, no proxy"
    files = ((DIR + "gunicorn.conf.py", GUNICORN_CONF),
             (DIR + "glancelet.conf", "/etc/glancelet/glancelet.conf"))
    app_server = "gunicorn"
    servers = ("gunicorn",)
    # SIGTERM: workers finish in-flight requests for up to graceful_timeout.
    sigterm = "drain"
    reloaded_servers = ("gunicorn",)

    def launch(self, ws):
        self.install_files(ws)
        launchers.start_gunicorn(ws, GUNICORN_CONF)
        return "http://127.0.0.1:%d" % ws.port("60997")

    def reload(self, deployment):
        # kill -HUP $(cat /run/glancelet/gunicorn.pid)
        pid = int(deployment.workspace.path("/run/glancelet/gunicorn.pid").read_text())
        assert pid == deployment.servers["gunicorn"].pid
        deployment.servers["gunicorn"].send_signal(signal.SIGHUP)


class NginxGunicorn(Gunicorn):
    name = "nginx-gunicorn"
    title = "nginx proxy_pass (unbuffered) to gunicorn, under /image"
    files = ((DIR + "gunicorn.conf.py", GUNICORN_CONF),
             (DIR + "glancelet-behind-nginx.conf", "/etc/glancelet/glancelet.conf"),
             (DIR + "nginx-gunicorn.conf", NGINX_CONF))
    url_prefix = "/image"
    reloaded_servers = ("nginx", "gunicorn")
    servers = ("gunicorn", "nginx")
    spools = {"content-length": False, "chunked": False}
    proxy = "nginx"

    def launch(self, ws):
        super().launch(ws)
        launchers.start_nginx(ws, NGINX_CONF)
        return "http://127.0.0.1:%d" % ws.port("9292")

    def reload(self, deployment):
        launchers.nginx_reload(deployment.workspace, NGINX_CONF)
        super().reload(deployment)


PATTERNS = [Gunicorn(), NginxGunicorn()]
