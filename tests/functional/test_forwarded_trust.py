"""How far glancelet trusts X-Forwarded-* headers: there is no count of
trusted proxies. With ``enable_proxy_headers_parsing`` on, the first value
of a comma-separated list wins, so the proxy in front must replace the
header (as the examples do), not append to it."""

from glancelet import app as app_mod

from .conftest import Client, make_conf


def _href(client, headers):
    return client.get("/", headers=headers).json()["versions"][0]["links"][0]["href"]


def test_first_value_of_a_forwarded_list_wins(tmp_path):
    """A client's X-Forwarded-Host followed by the one a proxy appended: the
    links use the client's (the first), not the proxy's."""
    client = Client(app_mod.create_app(make_conf(
        tmp_path, oslo_middleware__enable_proxy_headers_parsing="true")))
    headers = {"X-Forwarded-Host": "client.example, proxy.example",
               "X-Forwarded-Proto": "gopher, https"}
    assert _href(client, headers) == "gopher://client.example/v2/"
