"""Apache httpd terminating TLS (mod_ssl) on 9292, mod_proxy_http under /image
-> uWSGI http-socket (examples/apache-tls/)."""

from lab import apache, launchers

DIR = "examples/apache-tls/"


class ApacheTls(apache.ApacheToUwsgi):
    name = "apache-tls"
    title = "Apache httpd, TLS (mod_ssl) + mod_proxy_http under /image, to uWSGI http-socket"
    folder = DIR

    def launch(self, ws):
        self.install_files(ws)
        # A throwaway CA (kept outside the operator's tree: it is the
        # clients' side) and the server pair where the example names it.
        tls = apache.make_ca_and_server_cert(
            ws.root / "client-ca",
            cert_path=ws.path("/etc/glancelet/tls/glancelet.pem"),
            key_path=ws.path("/etc/glancelet/tls/glancelet.key"))
        launchers.start_uwsgi(ws, apache.UWSGI_INI)
        # The "Listen 9292 https" of ports.conf, on 127.0.0.1.
        port = apache.start(ws, [ws.path(apache.APACHE_CONF)], listen_port=ws.port("9292"),
                            listen_protocol="https")
        return "https://127.0.0.1:%d" % port, str(tls["ca_cert"])


PATTERNS = [ApacheTls()]
