"""Why Glance behind a proxy needs examples/glance/behind-proxy.conf, and
behind nginx's uwsgi_pass two lines of nginx-uwsgi-pass.conf.

The drop-in's one option, ``[oslo_middleware] enable_proxy_headers_parsing
= true``, makes Glance build its links from the X-Forwarded-* headers the
proxy sets. As shipped, the version-discovery scenario of each pattern
below (test_scenarios.py, --service glance) asserts that every version
href points back through the front door, /image included. Each test here
runs Glance with the option removed and shows the href a client then gets.
The last two run Glance behind nginx-uwsgi-pass.conf without one of its
two Glance lines: ``uwsgi_param SCRIPT_NAME ""`` and ``uwsgi_param
HTTP_TRANSFER_ENCODING ""``. Collected only with GLANCELET_GLANCE_TESTS=1
(conftest.py).
"""

import http.client
import re
import time
from urllib.parse import urlsplit

import pytest

from lab.client import Api, Source
from lab.harness import LineEdit, Workspace, http_get
from lab.patterns import GLANCE_BEHIND_PROXY, get

WITHOUT = {GLANCE_BEHIND_PROXY: LineEdit(r"^enable_proxy_headers_parsing = true$", remove=True)}


def version_hrefs(dep):
    """The ``self`` hrefs of the version document at the front door of
    ``dep`` (over https with the deployment's CA where it serves TLS)."""
    resp = Api(dep.base_url, dep.ca_file, timeout=60, user=None).request("GET", "/")
    assert resp.status == 300, resp
    return [link["href"] for v in resp.json()["versions"] for link in v["links"]
            if link["rel"] == "self"]


def front_without_prefix(dep):
    """The front door's scheme, host and port, without /image."""
    return "http://%s" % urlsplit(dep.base_url).netloc


def uwsgi_itself(dep):
    """uWSGI's own http-socket, the Host that mod_proxy_http sends, with the
    front door's scheme: uWSGI's http-socket sets wsgi.url_scheme from
    X-Forwarded-Proto itself (https behind apache-tls)."""
    return "%s://127.0.0.1:%d" % (urlsplit(dep.base_url).scheme, dep.workspace.port("60999"))


# What each version href starts with (before /v2) once the option is gone.
WITHOUT_IT = {
    # nginx's Host is the front door's, and X-Forwarded-Prefix is ignored.
    "nginx-proxy-http": front_without_prefix,
    "nginx-gunicorn": front_without_prefix,
    # Apache sends its backend's address as Host (no ProxyPreserveHost).
    "apache-proxy-http": uwsgi_itself,
    # The same behind Apache's TLS front door, as https: uWSGI's port, over a
    # scheme that port does not speak.
    "apache-tls": uwsgi_itself,
}


@pytest.mark.parametrize("name", sorted(WITHOUT_IT))
def test_without_it_hrefs_leave_the_front_door(name, tmp_path):
    """Without the option Glance builds each version href from the Host the
    proxy sends alone: behind nginx the front door without /image, where
    nginx serves nothing; behind Apache uWSGI's own address (behind
    apache-tls with https, which uWSGI's plain-HTTP port does not speak)."""
    pattern = get(name).serving("glance").variant(WITHOUT)
    with pattern.start(tmp_path) as dep:
        hrefs = version_hrefs(dep)
        wrong = WITHOUT_IT[name](dep)
    assert urlsplit(dep.base_url).path == "/image", dep.base_url
    assert hrefs and all(h.startswith(wrong + "/v2") for h in hrefs), (wrong, hrefs)


MIB = 1024 * 1024
NGINX_UWSGI_PASS = "examples/nginx-uwsgi/nginx-uwsgi-pass.conf"
WITHOUT_SCRIPT_NAME = {NGINX_UWSGI_PASS: LineEdit(r'^\s*uwsgi_param SCRIPT_NAME "";$',
                                                  remove=True)}


def test_uwsgi_pass_without_script_name_is_502(tmp_path):
    """Debian's uwsgi_params sends no SCRIPT_NAME. Without the file's own
    ``uwsgi_param SCRIPT_NAME ""`` Glance fails a request (the version
    document) before it answers: uWSGI logs a 500 with no headers sent (the
    log names the missing key), and nginx gives the client 502. (The
    deployment never becomes ready, so it is launched here without waiting
    for it.)"""
    pattern = get("nginx-uwsgi-pass").serving("glance").variant(WITHOUT_SCRIPT_NAME)
    ws = Workspace(tmp_path, unit_user=pattern.unit_user)
    try:
        base, _ = pattern.launch(ws)
        server = ws.servers[pattern.app_server]
        deadline = time.monotonic() + pattern.ready_deadline
        answered = None
        while answered is None and time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                status, _, body = http_get(base + "/", timeout=5.0)
            except (OSError, http.client.HTTPException):
                continue
            # nginx answers 502 until uWSGI's workers have loaded Glance too;
            # this 502 is Glance's once uWSGI logs the request.
            if "GET / =>" in server.log_text():
                answered = status, body
        log = server.log_text()
    finally:
        errors = ws.stop_all()
    assert answered is not None and answered[0] == 502, (answered, log[-3000:])
    assert "KeyError: 'SCRIPT_NAME'" in log, log[-3000:]
    assert re.search(r"GET / => generated 0 bytes .*\(HTTP/1\.1 500\) 0 headers", log), log[-3000:]
    assert not errors, errors


WITHOUT_TE_BLANK = {NGINX_UWSGI_PASS: LineEdit(r'^\s*uwsgi_param HTTP_TRANSFER_ENCODING "";$',
                                               remove=True)}


def test_uwsgi_pass_without_blank_transfer_encoding_chunked_upload_is_500(tmp_path):
    """nginx spools a chunked upload and passes it with CONTENT_LENGTH, and
    with the client's Transfer-Encoding: chunked unless the file blanks it.
    Glance then reads the de-chunked body with uWSGI's chunked reader and
    answers 500; the image stays queued (the upload can be retried)."""
    pattern = get("nginx-uwsgi-pass").serving("glance").variant(WITHOUT_TE_BLANK)
    with pattern.start(tmp_path) as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="chunked")
        resp = api.upload_chunked(image["id"], Source(MIB), 64 * 1024)
        status = api.get_image(image["id"])["status"]
        log = dep.log_text()
    assert resp.status == 500, resp
    assert "unable to receive chunked part" in log, log[-3000:]
    assert status == "queued", status
