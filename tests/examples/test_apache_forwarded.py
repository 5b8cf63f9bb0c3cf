"""Version links through every Apache pattern: they follow the Host the
client used and the /image prefix, and forwarding headers a client sends
(X-Forwarded-Host/-Proto/-Prefix) change nothing, because each example sets
or removes them (glancelet trusts them as coming from its proxy)."""

from urllib.parse import urlsplit

import pytest

from lab.client import Api
from lab.harness import LineEdit
from lab.patterns import get

PATTERNS = ["apache-proxy-http", "apache-proxy-uwsgi", "apache-tls", "apache-mod-wsgi"]
SPOOFED = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "gopher",
           "X-Forwarded-Prefix": "/elsewhere"}


def _hrefs(dep, headers):
    resp = Api(dep.base_url, dep.ca_file).request("GET", "/", headers=headers, timeout=30)
    assert resp.status == 300, resp
    return {link["href"] for v in resp.json()["versions"] for link in v["links"]}


@pytest.mark.parametrize("name", PATTERNS)
def test_version_links(name, tmp_path):
    with get(name).start(tmp_path) as dep:
        parts = urlsplit(dep.base_url)
        own = "%s://127.0.0.1:%d/image/v2/" % (parts.scheme, parts.port)
        assert _hrefs(dep, {}) == {own}
        assert _hrefs(dep, {"Host": "images.example.com:8443"}) == \
            {"%s://images.example.com:8443/image/v2/" % parts.scheme}
        assert _hrefs(dep, SPOOFED) == {own}


@pytest.mark.parametrize("name", ["apache-proxy-uwsgi", "apache-mod-wsgi"])
def test_without_the_unset_lines(name, tmp_path):
    """These patterns pass SCRIPT_NAME and Host, and their glancelet.conf
    leaves [oslo_middleware] enable_proxy_headers_parsing off: glancelet
    ignores a client's X-Forwarded-Host and -Prefix even without the
    RequestHeader unset lines. uWSGI does not ignore X-Forwarded-Proto (it
    sets the scheme from it), and with parsing on the client's headers end
    up in every link, so the examples drop them in Apache."""
    pattern = get(name)
    conf = pattern.example_with(r"^\s*RequestHeader unset X-Forwarded-Host$")
    ini = [f for f in pattern.examples if f.endswith("/glancelet.conf")][0]
    no_unset = [LineEdit(r"^\s*RequestHeader unset %s$" % h, remove=True) for h in SPOOFED]
    with pattern.variant({conf: no_unset}).start(tmp_path / "off") as dep:
        own = _hrefs(dep, {})
        spoofed = _hrefs(dep, SPOOFED)
    # glancelet ignores X-Forwarded-Host and -Prefix...
    assert {h.split("://", 1)[1] for h in spoofed} == {h.split("://", 1)[1] for h in own}
    if name == "apache-proxy-uwsgi":
        # ...but uWSGI itself sets wsgi.url_scheme from X-Forwarded-Proto, so
        # this pattern needs the unset lines whatever glancelet.conf says.
        assert {h.split("://", 1)[0] for h in spoofed} == {"gopher"}
    else:
        assert spoofed == own
    parsing = LineEdit(r"^hashing_algorithm = sha512$",
                       add_after="[oslo_middleware]\nenable_proxy_headers_parsing = true")
    with pattern.variant({conf: no_unset, ini: parsing}).start(tmp_path / "on") as dep:
        assert _hrefs(dep, SPOOFED) == {"gopher://evil.example/elsewhere/image/v2/"}
