"""GET/HEAD /healthcheck: oslo.middleware's answers, no auth, no database."""

import pytest

from glancelet import app as app_mod

from .conftest import Client, make_conf


@pytest.fixture
def drain_file(tmp_path):
    return tmp_path / "healthcheck_disable"


@pytest.fixture
def hc_client(tmp_path, drain_file):
    conf = make_conf(tmp_path, healthcheck__disable_by_file_path=drain_file)
    return Client(app_mod.create_app(conf))


def test_healthy_get_is_200_ok_text_plain(hc_client):
    resp = hc_client.get("/healthcheck")
    assert (resp.status, resp.body) == (200, b"OK")
    assert resp.headers["content-type"] == "text/plain; charset=UTF-8"


def test_healthy_head_is_204_with_no_body(hc_client):
    resp = hc_client.request("HEAD", "/healthcheck")
    assert (resp.status, resp.body) == (204, b"")


def test_drain_file_gives_503_disabled_by_file_until_removed(hc_client, drain_file):
    drain_file.write_text("")
    resp = hc_client.get("/healthcheck")
    assert (resp.status, resp.body) == (503, b"DISABLED BY FILE")
    assert resp.headers["content-type"] == "text/plain; charset=UTF-8"
    assert hc_client.request("HEAD", "/healthcheck").status == 503
    drain_file.unlink()
    assert hc_client.get("/healthcheck").status == 200


def test_without_disable_by_file_path_it_is_always_ok(client, tmp_path):
    (tmp_path / "healthcheck_disable").write_text("")
    assert client.get("/healthcheck").body == b"OK"


def test_needs_no_identity(hc_client):
    """A refused identity (what auth_token marks a bad token) is not asked for."""
    resp = hc_client.get("/healthcheck", headers={"X-Identity-Status": "Invalid"})
    assert (resp.status, resp.body) == (200, b"OK")


def test_queries_no_database(hc_client):
    class NoDatabase:
        def __getattr__(self, name):
            raise AssertionError("healthcheck used the database (%s)" % name)

    hc_client.app.images = hc_client.app.tasks = hc_client.app.db = NoDatabase()
    assert hc_client.get("/healthcheck").status == 200


def test_other_methods_are_405(hc_client):
    resp = hc_client.request("POST", "/healthcheck")
    assert resp.status == 405
    assert resp.headers["allow"] == "GET, HEAD"
