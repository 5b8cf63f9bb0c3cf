"""Apache httpd + mod_proxy_uwsgi under /image -> uWSGI ``socket =``
(examples/apache-proxy-uwsgi/)."""

from lab.harness import ExpectedFailure
from lab.patterns.apache_uwsgi import apache_to_uwsgi

DIR = "examples/apache-proxy-uwsgi/"

# Apache's own 411 page: mod_proxy_uwsgi asks for a Content-Length before it
# contacts uWSGI, so glancelet never sees a chunked upload.
LENGTH_REQUIRED = "A request of the requested method PUT requires a valid Content-length."
_CHUNKED = ExpectedFailure(
    status=411, body=LENGTH_REQUIRED,
    reason="mod_proxy_uwsgi refuses chunked request bodies (Transfer-Encoding: chunked) "
           "with 411 before forwarding; no setting changes it. Use mod_proxy_http or "
           "mod_wsgi for clients that upload chunked.")

PATTERNS = [apache_to_uwsgi(
    DIR,
    name="apache-proxy-uwsgi",
    title="Apache httpd, mod_proxy_uwsgi under /image, to uWSGI socket (uwsgi protocol)",
    # Glance: the uwsgi protocol carries SCRIPT_NAME=/image, no drop-in needed.
    glance_dropins=(),
    # Apache answers before the application, whichever it is.
    expected_failures={service: {
        "upload-chunked-1mib": _CHUNKED,
        "upload-chunked-16mib": _CHUNKED,
        # python-glanceclient uploads with Transfer-Encoding: chunked.
        "glanceclient-library": _CHUNKED,
        "glanceclient-cli": _CHUNKED,
        # image-create-via-import stages the file the same way.
        "import-cli-glance-direct": _CHUNKED,
    } for service in ("glancelet", "glance")},
)]
