"""Why Glance behind a proxy needs examples/glance/behind-proxy.conf.

The drop-in's one option, ``[oslo_middleware] enable_proxy_headers_parsing
= true``, makes Glance build its links from the X-Forwarded-* headers the
proxy sets. As shipped, the version-discovery scenario of each pattern
below (test_scenarios.py, --service glance) asserts that every version
href points back through the front door, /image included. Each test here
runs Glance with the option removed and shows the href a client then gets.
Collected only with GLANCELET_GLANCE_TESTS=1 (conftest.py).
"""

from urllib.parse import urlsplit

import pytest

from lab.client import Api
from lab.harness import LineEdit
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
