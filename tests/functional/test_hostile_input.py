"""Hostile input found by the attack campaign of issue 10: identity, policy, input."""

import io
import json
import os
import time
import types
import urllib.parse

import pytest

from glancelet import app as app_mod
from tests.unit.test_webdownload import DataServer

from .conftest import Client, identity, make_conf
from .test_import import settled, stage, wait_for

ALICE = identity("alice")


@pytest.fixture
def alice_private(app):
    return Client(app, ALICE).create(name="secret", visibility="private")


# -- Identity (finding 3) ---------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"X-Identity-Status": "Invalid"},
    {"X-Project-Id": "", "X-Roles": ""},
    {"X-Project-Id": " ", "X-Roles": "member"},
    {"X-Project-Id": "bob", "X-Roles": "member"},  # no X-Identity-Status
    {"X-Identity-Status": "Invalid", "X-Project-Id": "bob", "X-Roles": "admin"},
    {"X-Identity-Status": "confirmed", "X-Project-Id": "bob", "X-Roles": "admin"},
    {"X-Identity-Status": "Confirmed"},
    {"X-Identity-Status": "Confirmed", "X-Project-Id": "", "X-Roles": "admin"},
    {"X-Identity-Status": "Confirmed", "X-Project-Id": "%20", "X-Roles": "admin"},
    {"X-Identity-Status": "Confirmed", "X-Project-Id": " ", "X-Tenant-Id": "bob",
     "X-Roles": "admin"},
    {"X-Identity-Status": "Confirmed", "X-Project-Id": "bob", "X-Roles": ""},
    {"X-Identity-Status": "Confirmed", "X-Project-Id": "bob", "X-Roles": " , "},
    {"X-Identity-Status": "Confirmed", "X-Project-Id": "bob"},
    {"X-User-Id": "bob"},
], ids=lambda h: ";".join("%s=%r" % kv for kv in h.items()))
def test_unconfirmed_or_blank_identity_is_refused(app, alice_private, headers):
    caller = Client(app, headers)
    path = "/v2/images/%s" % alice_private["id"]
    for resp in (caller.get(path), caller.get("/v2/images"), caller.delete(path),
                 caller.post("/v2/images", {"name": "x"})):
        assert resp.status == 401, resp.body
        assert "identity is not confirmed" in resp.error
    assert Client(app, ALICE).get(path).status == 200


def test_version_documents_need_no_identity(app):
    caller = Client(app, {"X-Identity-Status": "Invalid"})
    assert caller.get("/versions").status == 200
    assert caller.get("/").status == 300
    assert caller.get("/v2/schemas/image").status == 401


def test_confirmed_identity_gets_its_project_and_roles(app, alice_private):
    path = "/v2/images/%s" % alice_private["id"]
    assert Client(app, identity("bob")).get(path).status == 404
    assert Client(app, identity("bob", project_header="X-Tenant-Id")).get(path).status == 404
    assert Client(app, identity("ops", "Member,%20ADMIN")).get(path).status == 200


def test_no_identity_headers_at_all_is_the_unauthenticated_mode(app, alice_private):
    assert Client(app).get("/v2/images/%s" % alice_private["id"]).status == 200


# -- Policy (finding 4) ---------------------------------------------------------

def test_only_an_admin_may_make_an_image_public(app, alice_private):
    alice = Client(app, ALICE)
    resp = alice.post("/v2/images", {"name": "p", "visibility": "public"})
    assert resp.status == 403
    assert "publicize_image" in resp.error
    path = "/v2/images/%s" % alice_private["id"]
    resp = alice.patch(path, [{"op": "replace", "path": "/visibility", "value": "public"}])
    assert resp.status == 403
    assert alice.get(path).json()["visibility"] == "private"
    admin = Client(app, identity("ops", "admin"))
    assert admin.post("/v2/images", {"visibility": "public"}).status == 201
    resp = admin.patch(path, [{"op": "replace", "path": "/visibility", "value": "public"}])
    assert resp.json()["visibility"] == "public"


def test_members_may_make_their_images_community(app, alice_private):
    alice = Client(app, ALICE)
    assert alice.post("/v2/images", {"visibility": "community"}).status == 201
    resp = alice.patch("/v2/images/%s" % alice_private["id"],
                       [{"op": "replace", "path": "/visibility", "value": "community"}])
    assert resp.status == 200
    assert resp.json()["visibility"] == "community"


# -- Input that made 5xx (finding 6) ----------------------------------------------

HUGE = 2 ** 63


@pytest.mark.parametrize("name", ["min_ram", "min_disk"])
@pytest.mark.parametrize("value", [HUGE, 2 ** 200, -1])
def test_out_of_range_integers_are_400(client, name, value):
    resp = client.post("/v2/images", {name: value})
    assert resp.status == 400
    assert "non-negative integer of at most %d" % (HUGE - 1) in resp.error
    image = client.create()
    resp = client.patch("/v2/images/%s" % image["id"],
                        [{"op": "replace", "path": "/" + name, "value": value}])
    assert resp.status == 400
    assert client.get("/v2/images/%s" % image["id"]).json()[name] == 0


def test_largest_integer_is_accepted(client):
    assert client.create(min_ram=HUGE - 1)["min_ram"] == HUGE - 1


def test_served_schema_states_what_the_api_accepts(client):
    schema = client.get("/v2/schemas/image").json()
    for name in ("min_ram", "min_disk"):
        assert schema["properties"][name]["minimum"] == 0
        assert schema["properties"][name]["maximum"] == HUGE - 1
    assert schema["properties"]["tags"]["items"]["minLength"] == 1
    assert schema["additionalProperties"]["maxLength"] == 65535
    assert client.post("/v2/images", {"extra": "x" * 65536}).status == 400


@pytest.mark.parametrize("query", ["size_min=%d" % HUGE, "size_max=%d" % HUGE,
                                   "min_ram=%d" % HUGE, "min_disk=%d" % 2 ** 70])
def test_huge_integer_filters_are_400(client, query):
    resp = client.get("/v2/images?" + query)
    assert resp.status == 400
    assert "param must be at most" in resp.error


def test_a_huge_limit_is_capped_as_before(client):
    client.create()
    resp = client.get("/v2/images?limit=%d" % 2 ** 70)
    assert resp.status == 200
    assert len(resp.json()["images"]) == 1


def _raw_json(client, method, path, raw, content_type="application/json"):
    return client.request(method, path, raw, headers={"Content-Type": content_type})


def test_deeply_nested_json_is_400(client):
    image = client.create(disk_format="raw", container_format="bare")
    deep = b"[" * 5000 + b"]" * 5000
    path = "/v2/images/%s" % image["id"]
    for method, url, kind in (
            ("POST", "/v2/images", "application/json"),
            ("PATCH", path, "application/openstack-images-v2.1-json-patch"),
            ("POST", path + "/import", "application/json")):
        resp = _raw_json(client, method, url, deep, kind)
        assert resp.status == 400, (method, url, resp.body)
        assert "nested too deeply" in resp.error


@pytest.mark.parametrize("raw", [b'{"name": "\\ud800"}', b'{"x\\udfff": "y"}',
                                 b'{"tags": ["ok", "\\udbff"]}'])
def test_lone_surrogate_is_400(client, raw):
    resp = _raw_json(client, "POST", "/v2/images", raw)
    assert resp.status == 400
    assert "lone surrogate" in resp.error
    image = client.create()
    resp = _raw_json(client, "PATCH", "/v2/images/%s" % image["id"],
                     b'[{"op": "add", "path": "/a", "value": "\\ud800"}]',
                     "application/openstack-images-v2.1-json-patch")
    assert resp.status == 400


@pytest.mark.parametrize("name", ['a"b', "a.b", "$", "a[0]", "a\\b", "a'b"])
def test_any_property_name_can_be_a_filter(client, name):
    client.create(name="other")
    image = client.create(**{name: "v"})
    resp = client.get("/v2/images?" + urllib.parse.urlencode({name: "v"}))
    assert resp.status == 200, resp.body
    assert [i["id"] for i in resp.json()["images"]] == [image["id"]]


def test_nul_in_a_property_name_is_400_and_filters_nothing(client):
    assert client.post("/v2/images", {"a\x00b": "v"}).status == 400
    client.create(a="v")
    resp = client.get("/v2/images?a%00b=v")
    assert resp.status == 200, resp.body
    assert resp.json()["images"] == []


def test_request_without_a_method_is_400(app):
    env = {"PATH_INFO": "/v2/images", "QUERY_STRING": "", "wsgi.input": io.BytesIO(),
           "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
    captured = []
    body = b"".join(app(env, lambda status, headers, exc_info=None: captured.append(status)))
    assert captured[0].startswith("400 ")
    assert json.loads(body)["error"]["code"] == 400


def _gunicorn_chunked(raw):
    """A wsgi.input that dechunks ``raw`` with gunicorn's own reader."""
    from gunicorn.http.body import Body, ChunkedReader
    from gunicorn.http.unreader import IterUnreader
    return Body(ChunkedReader(types.SimpleNamespace(trailers=None), IterUnreader([raw])))


@pytest.mark.parametrize("raw", [b"zz\r\nabcd\r\n0\r\n\r\n",
                                 b"4\r\nGOODxyz\r\n0\r\n\r\n",
                                 b"-5\r\nhello\r\n0\r\n\r\n",
                                 b"4\r\nGOOD\r\n5zz\r\nhello\r\n0\r\n\r\n"])
@pytest.mark.parametrize("route", ["file", "stage"])
def test_broken_chunk_framing_under_gunicorn_is_400(client, app, raw, route):
    image = client.create(disk_format="raw", container_format="bare")
    resp = client.request("PUT", "/v2/images/%s/%s" % (image["id"], route), b"",
                          headers={"Content-Type": "application/octet-stream"},
                          chunked=True, environ={"wsgi.input": _gunicorn_chunked(raw)})
    assert resp.status == 400, resp.body
    assert "framing is invalid" in resp.error
    shown = client.get("/v2/images/%s" % image["id"]).json()
    assert (shown["status"], shown["size"]) == ("queued", None)
    for directory in (app.store.directory, app.staging.directory):
        assert os.listdir(directory) == []
    # The image takes a good upload afterwards.
    resp = client.request("PUT", "/v2/images/%s/%s" % (image["id"], route), b"",
                          headers={"Content-Type": "application/octet-stream"},
                          chunked=True, environ={
                              "wsgi.input": _gunicorn_chunked(b"4\r\nGOOD\r\n0\r\n\r\n")})
    assert resp.status == 204


# -- JSON patch (finding 11) ---------------------------------------------------------

V20 = {"Content-Type": "application/openstack-images-v2.0-json-patch"}


def test_patch_path_escapes_are_decoded(client):
    image = client.create()
    resp = client.patch("/v2/images/%s" % image["id"], [
        {"op": "add", "path": "/a~1b", "value": "slash"},
        {"op": "add", "path": "/c~0d", "value": "tilde"},
        {"op": "add", "path": "/e~01", "value": "tilde-one"}])
    assert resp.status == 200, resp.body
    shown = resp.json()
    assert (shown["a/b"], shown["c~d"], shown["e~1"]) == ("slash", "tilde", "tilde-one")
    assert "a~1b" not in shown


@pytest.mark.parametrize("path", ["/a~2", "/a~", "/~x", "/a~~0"])
def test_patch_bad_escapes_are_400(client, path):
    image = client.create()
    resp = client.patch("/v2/images/%s" % image["id"],
                        [{"op": "add", "path": path, "value": "x"}])
    assert resp.status == 400
    assert "escape" in resp.error


@pytest.mark.parametrize("name", ["deleted", "deleted_at", "location", "stores"])
def test_reserved_and_read_only_names_are_403(client, name):
    image = client.create()
    resp = client.patch("/v2/images/%s" % image["id"],
                        [{"op": "add", "path": "/" + name, "value": "x"}])
    assert resp.status == 403
    assert "Attribute '%s' is" % name in resp.error
    assert client.post("/v2/images", {name: "x"}).status == 403
    assert name not in client.get("/v2/images/%s" % image["id"]).json()


def test_replacing_a_missing_reserved_property_is_403(client):
    image = client.create()
    for op in ("replace", "remove"):
        resp = client.patch("/v2/images/%s" % image["id"],
                            [{"op": op, "path": "/os_glance_import_task", "value": "x"}])
        assert resp.status == 403
        assert "reserved" in resp.error


def test_patch_v20_media_type_uses_the_v20_operation_shape(client):
    image = client.create(name="a", foo="1")
    resp = client.patch("/v2/images/%s" % image["id"], [
        {"replace": "/name", "value": "b"}, {"add": "/bar", "value": "2"},
        {"remove": "/foo"}], headers=V20)
    assert resp.status == 200, resp.body
    shown = resp.json()
    assert (shown["name"], shown["bar"]) == ("b", "2")
    assert "foo" not in shown


@pytest.mark.parametrize("op", [{"op": "replace", "path": "/name", "value": "x"},
                                {"replace": "/name", "add": "/name", "value": "x"},
                                {"move": "/name"}])
def test_patch_v20_needs_exactly_one_operation_member(client, op):
    image = client.create(name="a")
    resp = client.patch("/v2/images/%s" % image["id"], [op], headers=V20)
    assert resp.status == 400
    assert "exactly one member" in resp.error
    assert client.get("/v2/images/%s" % image["id"]).json()["name"] == "a"


# -- Import tasks of a public image (finding 11) ------------------------------------

def test_only_the_owner_and_admins_see_an_images_tasks(app):
    owner, other = Client(app, ALICE), Client(app, identity("bob"))
    admin = Client(app, identity("ops", "admin"))
    image = owner.create(disk_format="raw", container_format="bare")
    path = "/v2/images/%s" % image["id"]
    assert stage(owner, image["id"], b"data").status == 204
    assert owner.post(path + "/import", {"method": {"name": "glance-direct"}}).status == 202
    settled(owner, image["id"])
    resp = admin.patch(path, [{"op": "replace", "path": "/visibility", "value": "public"}])
    assert resp.status == 200
    assert len(owner.get(path + "/tasks").json()["tasks"]) == 1
    assert len(admin.get(path + "/tasks").json()["tasks"]) == 1
    assert other.get(path).status == 200
    resp = other.get(path + "/tasks")
    assert resp.status == 200
    assert resp.json()["tasks"] == []


# -- web-download: deadline, rate, cancellation (finding 8) ---------------------------

@pytest.fixture
def dripping(tmp_path):
    """make(**options): an app whose web-download may reach a server that trickles."""
    made = []
    with DataServer() as server:
        def make(**options):
            app = app_mod.create_app(make_conf(
                tmp_path, import_filtering_opts__allowed_hosts="127.0.0.1",
                import_filtering_opts__allowed_ports=str(server.port), **options))
            made.append(app)
            return app, Client(app), server.url("/drip?every=0.05")
        yield make
        for app in made:
            app.task_pool.drain(10)


def _start_web_download(client, uri):
    image = client.create(disk_format="raw", container_format="bare")
    resp = client.post("/v2/images/%s/import" % image["id"],
                       {"method": {"name": "web-download", "uri": uri}})
    assert resp.status == 202, resp.body
    return image["id"]


def _task(app, image_id):
    return app.tasks.for_image(image_id)[0]


def test_deleting_an_image_cancels_its_web_download(dripping):
    app, client, uri = dripping()
    image_id = _start_web_download(client, uri)
    wait_for(lambda: app.store.temp_files(), 5, what="the download writes a temp file")
    assert client.delete("/v2/images/%s" % image_id).status == 204
    task = wait_for(lambda: _task(app, image_id)["status"] == "failure" and
                    _task(app, image_id), 5, what="the task fails")
    assert "was deleted" in task["message"]
    assert app.store.temp_files() == []
    assert app.task_pool.pending() == []


def test_a_web_download_past_its_deadline_fails_and_the_image_is_queued(dripping):
    app, client, uri = dripping(DEFAULT__web_download_timeout=2)
    image_id = _start_web_download(client, uri)
    started = time.monotonic()
    image = settled(client, image_id)
    assert time.monotonic() - started < 6
    assert image["status"] == "queued"
    task = _task(app, image_id)
    assert task["status"] == "failure"
    assert "web_download_timeout" in task["message"]
    assert app.store.temp_files() == []
