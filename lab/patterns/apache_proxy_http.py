"""Apache httpd + mod_proxy_http under /image -> uWSGI http-socket
(examples/apache-proxy-http/)."""

from lab import apache, launchers
from lab.harness import Pattern

DIR = "examples/apache-proxy-http/"


class ApacheProxyHttp(apache.ApachePatternBase, Pattern):
    name = "apache-proxy-http"
    title = "Apache httpd, mod_proxy_http under /image, to uWSGI http-socket"
    examples = (DIR + "glancelet-apache.conf", DIR + "glancelet-uwsgi.ini",
                DIR + "glancelet.conf")
    app_server = "uwsgi"
    url_prefix = "/image"
    reloaded_servers = (apache.APACHE_SERVER_NAME, "uwsgi")
    # uWSGI's graceful SIGTERM hook; Apache keeps the client connection open.
    sigterm = "drain"

    def install(self, ws):
        self.install_file(ws, DIR + "glancelet.conf", "/etc/glancelet/glancelet.conf")
        self.install_file(ws, DIR + "glancelet-uwsgi.ini", "/etc/glancelet/glancelet-uwsgi.ini")
        # On Debian: /etc/apache2/conf-available/glancelet.conf.
        return self.install_file(ws, DIR + "glancelet-apache.conf",
                                 "/etc/glancelet/glancelet-apache.conf")

    def launch(self, ws):
        conf = self.install(ws)
        launchers.start_uwsgi(ws, "/etc/glancelet/glancelet-uwsgi.ini")
        port = apache.start(ws, [conf])
        return "http://127.0.0.1:%d" % port

    def reload(self, deployment):
        # What the example documents: `apachectl graceful` for Apache and
        # `uwsgi --reload` for uWSGI. Both, one after the other.
        apache.graceful(deployment.workspace)
        launchers.uwsgi_reload(deployment.workspace, "/run/glancelet/uwsgi.pid")


PATTERNS = [ApacheProxyHttp()]
