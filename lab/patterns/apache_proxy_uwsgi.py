"""Apache httpd + mod_proxy_uwsgi under /image -> uWSGI ``socket =``
(examples/apache-proxy-uwsgi/)."""

from lab import apache, launchers
from lab.harness import ExpectedFailure, Pattern

DIR = "examples/apache-proxy-uwsgi/"

# Apache's own 411 page: mod_proxy_uwsgi asks for a Content-Length before it
# contacts uWSGI, so glancelet never sees a chunked upload.
LENGTH_REQUIRED = "A request of the requested method PUT requires a valid Content-length."
_CHUNKED = ExpectedFailure(
    status=411, body=LENGTH_REQUIRED,
    reason="mod_proxy_uwsgi refuses chunked request bodies (Transfer-Encoding: chunked) "
           "with 411 before forwarding; no setting changes it. Use mod_proxy_http or "
           "mod_wsgi for clients that upload chunked.")


class ApacheProxyUwsgi(apache.ApachePatternBase, Pattern):
    name = "apache-proxy-uwsgi"
    title = "Apache httpd, mod_proxy_uwsgi under /image, to uWSGI socket (uwsgi protocol)"
    examples = (DIR + "glancelet-apache.conf", DIR + "glancelet-uwsgi.ini",
                DIR + "glancelet.conf")
    app_server = "uwsgi"
    url_prefix = "/image"
    reloaded_servers = (apache.APACHE_SERVER_NAME, "uwsgi")
    sigterm = "drain"
    expected_failures = {
        "upload-chunked-1mib": _CHUNKED,
        "upload-chunked-16mib": _CHUNKED,
        # python-glanceclient uploads with Transfer-Encoding: chunked.
        "glanceclient-library": _CHUNKED,
        "glanceclient-cli": _CHUNKED,
        # image-create-via-import stages the file the same way.
        "import-cli-glance-direct": _CHUNKED,
    }

    def install(self, ws):
        self.install_file(ws, DIR + "glancelet.conf", "/etc/glancelet/glancelet.conf")
        self.install_file(ws, DIR + "glancelet-uwsgi.ini", "/etc/glancelet/glancelet-uwsgi.ini")
        return self.install_file(ws, DIR + "glancelet-apache.conf",
                                 "/etc/glancelet/glancelet-apache.conf")

    def launch(self, ws):
        conf = self.install(ws)
        launchers.start_uwsgi(ws, "/etc/glancelet/glancelet-uwsgi.ini")
        port = apache.start(ws, [conf])
        return "http://127.0.0.1:%d" % port

    def reload(self, deployment):
        apache.graceful(deployment.workspace)
        launchers.uwsgi_reload(deployment.workspace, "/run/glancelet/uwsgi.pid")


PATTERNS = [ApacheProxyUwsgi()]
