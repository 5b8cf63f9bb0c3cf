"""Apache httpd terminating TLS (mod_ssl) on 9292, mod_proxy_http under /image
-> uWSGI http-socket (examples/apache-tls/)."""

from lab import apache, launchers
from lab.harness import Pattern

DIR = "examples/apache-tls/"


class ApacheTls(apache.ApachePatternBase, Pattern):
    name = "apache-tls"
    title = "Apache httpd, TLS (mod_ssl) + mod_proxy_http under /image, to uWSGI http-socket"
    examples = (DIR + "glancelet-apache.conf", DIR + "glancelet-uwsgi.ini",
                DIR + "glancelet.conf")
    app_server = "uwsgi"
    url_prefix = "/image"
    sigterm = "drain"
    reloaded_servers = (apache.APACHE_SERVER_NAME, "uwsgi")

    def install(self, ws):
        self.install_file(ws, DIR + "glancelet.conf", "/etc/glancelet/glancelet.conf")
        self.install_file(ws, DIR + "glancelet-uwsgi.ini", "/etc/glancelet/glancelet-uwsgi.ini")
        conf = self.install_file(ws, DIR + "glancelet-apache.conf",
                                 "/etc/glancelet/glancelet-apache.conf")
        # A throwaway CA (kept outside the operator's tree: it is the
        # clients' side) and the server pair where the example names it.
        tls = apache.make_ca_and_server_cert(
            ws.root / "client-ca",
            cert_path=ws.path("/etc/glancelet/tls/glancelet.pem"),
            key_path=ws.path("/etc/glancelet/tls/glancelet.key"))
        return conf, str(tls["ca_cert"])

    def launch(self, ws):
        conf, ca_file = self.install(ws)
        launchers.start_uwsgi(ws, "/etc/glancelet/glancelet-uwsgi.ini")
        # The "Listen 9292 https" of ports.conf, on 127.0.0.1.
        port = apache.start(ws, [conf], listen_port=ws.port("9292"), listen_protocol="https")
        return "https://127.0.0.1:%d" % port, ca_file

    def reload(self, deployment):
        apache.graceful(deployment.workspace)
        launchers.uwsgi_reload(deployment.workspace, "/run/glancelet/uwsgi.pid")


PATTERNS = [ApacheTls()]
