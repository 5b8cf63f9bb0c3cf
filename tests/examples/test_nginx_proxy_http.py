"""Why two lines of examples/nginx-uwsgi/ are there (proxy_pass variant).

Each test runs the example with one line removed and asserts what the
operator sees: what the page's option table says about that line.
"""

import time

from lab.client import MiB, Api, Source
from lab.harness import LineEdit
from lab.patterns import nginx_uwsgi
from tests.examples.test_apache_proxy_http import SLOW_CLOSE, hammer
from tests.examples.test_buffering import SPOOL_MESSAGE, nginx_error_log

PATTERN = nginx_uwsgi.PATTERNS[0]
CONF = nginx_uwsgi.DIR + "nginx-proxy-http.conf"
INI = nginx_uwsgi.DIR + "glancelet-uwsgi.ini"
assert PATTERN.name == "nginx-proxy-http"


def test_without_proxy_http_version_chunked_uploads_are_spooled(tmp_path):
    """Without ``proxy_http_version 1.1`` nginx speaks HTTP/1.0 upstream,
    which cannot carry a chunked body: it writes each chunked upload to
    client_body_temp_path before passing it on, request buffering off or
    not. The upload still succeeds. (As shipped, nothing is spooled:
    test_buffering.py::test_upload_spooling[nginx-proxy-http].)"""
    variant = PATTERN.variant({CONF: LineEdit(r"^\s*proxy_http_version 1\.1;$", remove=True)})
    with variant.start(tmp_path) as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="http10")
        source = Source(8 * MiB, seed=31)
        resp = api.upload_chunked(image["id"], source, MiB)
        assert resp.status == 204, resp
        assert api.get_image(image["id"])["os_hash_value"] == source.sha512.hexdigest()
        assert SPOOL_MESSAGE in nginx_error_log(dep)


def test_nginx_needs_no_connection_close_from_uwsgi(tmp_path):
    """Without uWSGI's ``add-header = Connection: close``, and with uWSGI's
    close of each connection delayed (lab/slow_close.py) as in the Apache
    reuse test, 200 quick requests through nginx all succeed: nginx opens a
    new upstream connection for every request (the example has no upstream
    ``keepalive``), so it never reuses one uWSGI is closing."""
    variant = PATTERN.variant({INI: SLOW_CLOSE + [
        LineEdit(r"^add-header = Connection: close$", remove=True)]})
    with variant.start(tmp_path) as dep:
        started = time.monotonic()
        statuses, bad = hammer(dep.base_url, 200)
        assert time.monotonic() - started < 300
        log = nginx_error_log(dep)
    assert set(statuses) == {200, 201}, (statuses, bad)
    assert "upstream prematurely closed" not in log, log
