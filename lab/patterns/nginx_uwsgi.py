"""nginx in front of uWSGI (examples/nginx-uwsgi/), two variants:

* ``nginx-proxy-http``: ``proxy_pass`` to uWSGI's ``http-socket``, unbuffered,
  under the /image prefix; chunked uploads stream through as chunked.
* ``nginx-uwsgi-pass``: ``uwsgi_pass`` to uWSGI's uwsgi-protocol ``socket``;
  Content-Length uploads stream, chunked uploads are spooled to disk first.
"""

from lab import launchers
from lab.harness import Pattern

DIR = "examples/nginx-uwsgi/"


class _NginxUwsgi(Pattern):
    nginx_conf = None
    app_server = "uwsgi"
    servers = ("uwsgi", "nginx")
    # uWSGI: hook-master-start = unix_signal:15 gracefully_kill_them_all
    sigterm = "drain"
    reloaded_servers = ("nginx", "uwsgi")
    # Which uploads nginx writes to client_body_temp_path before passing on
    # (checked by test_buffering.py from nginx's error log).
    spools = {"content-length": False, "chunked": False}
    proxy = "nginx"

    @property
    def files(self):
        return ((DIR + "glancelet.conf", "/etc/glancelet/glancelet.conf"),
                (DIR + "glancelet-uwsgi.ini", "/etc/glancelet/glancelet-uwsgi.ini"),
                (DIR + self.nginx_conf, "/etc/glancelet/" + self.nginx_conf))

    def launch(self, ws):
        self.install_files(ws)
        launchers.start_uwsgi(ws, "/etc/glancelet/glancelet-uwsgi.ini")
        launchers.start_nginx(ws, "/etc/glancelet/" + self.nginx_conf)
        return "http://127.0.0.1:%d" % ws.port("9292")

    def reload(self, deployment):
        # Both, as a configuration change would: nginx first, then uWSGI.
        launchers.nginx_reload(deployment.workspace, "/etc/glancelet/" + self.nginx_conf)
        launchers.uwsgi_reload(deployment.workspace, "/run/glancelet/uwsgi.pid")


class NginxProxyHttp(_NginxUwsgi):
    name = "nginx-proxy-http"
    title = "nginx proxy_pass (unbuffered) to uWSGI http-socket, under /image"
    nginx_conf = "nginx-proxy-http.conf"
    url_prefix = "/image"


class NginxUwsgiPass(_NginxUwsgi):
    name = "nginx-uwsgi-pass"
    title = "nginx uwsgi_pass to uWSGI socket (uwsgi protocol)"
    nginx_conf = "nginx-uwsgi-pass.conf"
    spools = {"content-length": False, "chunked": True}


PATTERNS = [NginxProxyHttp(), NginxUwsgiPass()]
