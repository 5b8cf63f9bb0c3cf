"""Links stay the front door's whatever X-Forwarded-* a client sends.

glancelet builds links (version document, ``Location``) from
X-Forwarded-Host/-Proto/-Prefix when ``[oslo_middleware]
enable_proxy_headers_parsing`` is on, as in the examples behind nginx and
HAProxy. There, the proxy sets each of these headers itself (or removes it),
which replaces a client's. This checks it through every nginx and HAProxy
pattern (Apache's: test_apache_forwarded.py), shows what happens without the
line, and that the servers clients reach directly ignore the headers.
"""

import pytest

from lab.client import Api
from lab.patterns import all_patterns, get
from lab.harness import LineEdit

SPOOFED = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "gopher",
           "X-Forwarded-Prefix": "/elsewhere"}
PROXIED_PATTERNS = [p for p in all_patterns() if p.proxy in ("nginx", "haproxy")]
DIRECT_PATTERNS = [get("uwsgi-http"), get("gunicorn")]


def hrefs(api):
    resp = api.request("GET", "/", headers=SPOOFED)
    assert resp.status == 300, resp
    return [link["href"] for v in resp.json()["versions"] for link in v["links"]]


@pytest.mark.parametrize("pattern", PROXIED_PATTERNS, ids=[p.name for p in PROXIED_PATTERNS])
def test_client_cannot_change_links(pattern, tmp_path):
    with pattern.start(tmp_path) as dep:
        api = Api(dep.base_url)
        links = hrefs(api)
        assert links and all(h.startswith(dep.base_url + "/v2") for h in links), links
        image = api.request("POST", "/v2/images", headers=SPOOFED,
                            json_body={"name": "links"}).json()
        assert image["self"].startswith("/v2/images/")   # relative, as in Glance
        assert "evil.example" not in str(image)


@pytest.mark.parametrize("pattern", DIRECT_PATTERNS, ids=[p.name for p in DIRECT_PATTERNS])
def test_direct_servers_ignore_forwarded_headers(pattern, tmp_path):
    """With no proxy in front, the examples leave [oslo_middleware]
    enable_proxy_headers_parsing off: a client's X-Forwarded-Host and
    -Prefix change nothing. (The scheme is not checked: uWSGI's http-socket
    itself sets wsgi.url_scheme from X-Forwarded-Proto, before glancelet
    sees the request.)"""
    with pattern.start(tmp_path) as dep:
        dep_url = dep.base_url.split("://", 1)[1]
        api = Api(dep.base_url)
        links = hrefs(api)
        host_and_path = [h.split("://", 1)[1] for h in links]
        assert links and all(h.startswith(dep_url + "/v2") for h in host_and_path), links
        resp = api.request("POST", "/v2/images", headers=SPOOFED, json_body={"name": "d"})
        location = resp.header("Location").split("://", 1)[1]
        assert location.startswith(dep_url + "/v2/images/"), resp


def test_without_x_forwarded_host_line_a_client_can_change_links(tmp_path, record):
    conf = "examples/nginx-uwsgi/nginx-proxy-http.conf"
    variant = get("nginx-proxy-http").variant(
        {conf: LineEdit(r"^\s*proxy_set_header X-Forwarded-Host ", remove=True)})
    with variant.start(tmp_path) as dep:
        links = hrefs(Api(dep.base_url))
        assert all(h.startswith("http://evil.example/image/v2") for h in links), links
        record.symptom("forwarded-host-spoofed", "nginx-proxy-http",
                       "GET / with X-Forwarded-Host: evil.example -> %s" % links[0])
