"""The Images API v2 contract, in process: what python-glanceclient and openstacksdk rely on."""

import errno
import hashlib
import os
import types

import pytest

from glancelet import app as app_mod
from glancelet import domain, recovery, store as store_mod

from .conftest import Client, identity, make_conf

UUID0 = "00000000-0000-0000-0000-000000000000"


# -- Version discovery ---------------------------------------------------------

def test_root_is_300_with_v2_links(client):
    resp = client.get("/")
    assert resp.status == 300
    versions = resp.json()["versions"]
    assert versions[0] == {"id": "v2.12", "status": "CURRENT",
                           "links": [{"rel": "self", "href": "http://127.0.0.1:9292/v2/"}]}
    assert {v["id"] for v in versions} >= {"v2.0", "v2.6", "v2.7"}
    assert not {"v2.8", "v2.9", "v2.10", "v2.11"} & {v["id"] for v in versions}


def test_versions_is_200(client):
    assert client.get("/versions").status == 200


def test_hrefs_honour_script_name(client):
    resp = client.get("/", environ={"SCRIPT_NAME": "/image"})
    assert resp.json()["versions"][0]["links"][0]["href"] == "http://127.0.0.1:9292/image/v2/"


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "cloud.example.com",
             "X-Forwarded-Prefix": "/image"}


def test_forwarded_headers_are_ignored_by_default(client):
    resp = client.get("/", headers=FORWARDED)
    assert resp.json()["versions"][0]["links"][0]["href"] == "http://127.0.0.1:9292/v2/"
    resp = client.post("/v2/images", {"name": "x"}, headers=FORWARDED)
    assert resp.headers["location"].startswith("http://127.0.0.1:9292/v2/images/")


def test_hrefs_honour_forwarded_headers_when_enabled(tmp_path):
    client = Client(app_mod.create_app(make_conf(
        tmp_path, oslo_middleware__enable_proxy_headers_parsing="true")))
    resp = client.get("/", headers=FORWARDED)
    href = resp.json()["versions"][0]["links"][0]["href"]
    assert href == "https://cloud.example.com/image/v2/"
    # without the headers, the request's own Host still works
    resp = client.get("/")
    assert resp.json()["versions"][0]["links"][0]["href"] == "http://127.0.0.1:9292/v2/"


def test_public_endpoint_wins(tmp_path):
    client = Client(app_mod.create_app(make_conf(
        tmp_path, DEFAULT__public_endpoint="https://img.example.com/image/")))
    resp = client.get("/", headers={"X-Forwarded-Host": "ignored"})
    assert resp.json()["versions"][0]["links"][0]["href"] == "https://img.example.com/image/v2/"


# -- Schemas ---------------------------------------------------------------------

def test_image_schema(client):
    schema = client.get("/v2/schemas/image").json()
    assert schema["name"] == "image"
    assert schema["additionalProperties"] == {"type": "string", "maxLength": 65535}
    for prop in ("id", "name", "status", "checksum", "os_hash_algo", "os_hash_value",
                 "size", "visibility", "tags", "os_hidden", "disk_format"):
        assert prop in schema["properties"]
        assert schema["properties"][prop].get("description")


def test_images_schema(client):
    schema = client.get("/v2/schemas/images").json()
    assert schema["properties"]["images"]["items"]["name"] == "image"


# -- Create / show ------------------------------------------------------------

def test_create_returns_entity_location_and_import_methods(client):
    resp = client.post("/v2/images", {"name": "cirros", "disk_format": "qcow2",
                                      "container_format": "bare", "os_distro": "cirros"})
    assert resp.status == 201
    image = resp.json()
    assert image["status"] == "queued"
    assert image["visibility"] == "shared"
    assert image["os_distro"] == "cirros"
    for key in ("checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size"):
        assert image[key] is None
    assert image["self"] == "/v2/images/%s" % image["id"]
    assert image["file"] == "/v2/images/%s/file" % image["id"]
    assert image["schema"] == "/v2/schemas/image"
    assert resp.headers["location"] == "http://127.0.0.1:9292/v2/images/%s" % image["id"]
    assert resp.headers["openstack-image-import-methods"] == "glance-direct,web-download"
    assert client.get("/v2/images/%s" % image["id"]).json() == image


def test_create_with_id(client):
    image = client.create(id="5a9e2c4b-2b9e-4f7b-9a0e-6d4c9f0f1a11")
    assert image["id"] == "5a9e2c4b-2b9e-4f7b-9a0e-6d4c9f0f1a11"
    resp = client.post("/v2/images", {"id": image["id"]})
    assert resp.status == 409
    assert "already exists" in resp.error


@pytest.mark.parametrize("body,status,text", [
    ({"status": "active"}, 403, "Attribute 'status' is read-only."),
    ({"checksum": "x"}, 403, "read-only"),
    ({"os_glance_import_task": "x"}, 403, "reserved"),
    ({"visibility": "everyone"}, 400, "Invalid value for 'visibility'"),
    ({"disk_format": "floppy"}, 400, "Invalid value for 'disk_format'"),
    ({"min_ram": -1}, 400, "non-negative integer"),
    ({"protected": "yes"}, 400, "must be a boolean"),
    ({"extra": 5}, 400, "extra properties must be strings"),
    ({"tags": "a,b"}, 400, "list of strings"),
    ({"id": "not-a-uuid"}, 400, "must be a UUID"),
    ([], 400, "must be a JSON object"),
])
def test_create_validation(client, body, status, text):
    resp = client.post("/v2/images", body)
    assert resp.status == status
    assert text in resp.error


def test_create_needs_json(client):
    resp = client.request("POST", "/v2/images", b"name=x",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 415
    resp = client.request("POST", "/v2/images", b"{nope",
                          headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert "not valid JSON" in resp.error


@pytest.mark.parametrize("path", ["/v2/images/%s" % UUID0, "/v2/images/not-a-uuid",
                                  "/v2/images/%s/file" % UUID0])
def test_unknown_image_is_404(client, path):
    resp = client.get(path)
    assert resp.status == 404
    assert "No image found with ID" in resp.error


def test_unknown_path_is_404_and_wrong_method_405(client):
    assert client.get("/v3/images").status == 404
    resp = client.request("PUT", "/v2/images")
    assert resp.status == 405
    assert resp.headers["allow"] == "GET, HEAD, POST"


# -- Update ---------------------------------------------------------------------

def test_patch_replace_add_remove(client):
    image = client.create(name="a", foo="1")
    resp = client.patch("/v2/images/%s" % image["id"], [
        {"op": "replace", "path": "/name", "value": "b"},
        {"op": "add", "path": "/bar", "value": "2"},
        {"op": "replace", "path": "/foo", "value": "3"},
        {"op": "replace", "path": "/tags", "value": ["x", "y", "x"]},
        {"op": "replace", "path": "/min_disk", "value": 2},
    ])
    assert resp.status == 200, resp.body
    updated = resp.json()
    assert (updated["name"], updated["bar"], updated["foo"]) == ("b", "2", "3")
    assert updated["tags"] == ["x", "y"]
    assert updated["min_disk"] == 2
    resp = client.patch("/v2/images/%s" % image["id"], [{"op": "remove", "path": "/bar"}])
    assert "bar" not in resp.json()


@pytest.mark.parametrize("ops,status,text", [
    ([{"op": "replace", "path": "/status", "value": "active"}], 403, "read-only"),
    ([{"op": "replace", "path": "/missing", "value": "x"}], 409, "does not exist"),
    ([{"op": "remove", "path": "/missing"}], 409, "does not exist"),
    ([{"op": "remove", "path": "/name"}], 403, "cannot be removed"),
    ([{"op": "move", "path": "/name"}], 400, "Unsupported JSON-patch operation"),
    ([{"op": "replace", "path": "/a/b", "value": "x"}], 400, "Invalid JSON-patch path"),
    ({"op": "replace"}, 400, "must be a list"),
])
def test_patch_errors(client, ops, status, text):
    image = client.create(name="a")
    resp = client.patch("/v2/images/%s" % image["id"], ops)
    assert resp.status == status
    assert text in resp.error


def test_patch_needs_json_patch_media_type(client):
    image = client.create()
    resp = client.patch("/v2/images/%s" % image["id"], [],
                        headers={"Content-Type": "application/json"})
    assert resp.status == 415


# -- Tags and delete -------------------------------------------------------------

def test_tags(client):
    image = client.create()
    path = "/v2/images/%s/tags/" % image["id"]
    assert client.request("PUT", path + "red").status == 204
    assert client.request("PUT", path + "red").status == 204
    assert client.request("PUT", path + "blue").status == 204
    assert client.get("/v2/images/%s" % image["id"]).json()["tags"] == ["red", "blue"]
    assert client.request("DELETE", path + "red").status == 204
    resp = client.request("DELETE", path + "red")
    assert resp.status == 404


def test_delete(client, app):
    image = client.create()
    client.upload(image["id"], b"data")
    assert client.delete("/v2/images/%s" % image["id"]).status == 204
    assert client.get("/v2/images/%s" % image["id"]).status == 404
    assert not app.store.exists(image["id"])


def test_protected_image_cannot_be_deleted(client):
    image = client.create(protected=True)
    resp = client.delete("/v2/images/%s" % image["id"])
    assert resp.status == 403
    assert "protected" in resp.error


# -- Listing ---------------------------------------------------------------------

@pytest.fixture
def many(client):
    ids = []
    for i in range(7):
        ids.append(client.create(name="img-%d" % (i % 3), tags=["t%d" % (i % 2)],
                                 os_hidden=(i == 6), min_ram=i)["id"])
    return ids


def _names(resp):
    return [image["name"] for image in resp.json()["images"]]


def test_list_default_hides_os_hidden(client, many):
    images = client.get("/v2/images").json()["images"]
    assert len(images) == 6
    assert many[6] not in [i["id"] for i in images]
    hidden = client.get("/v2/images?os_hidden=true").json()["images"]
    assert [i["id"] for i in hidden] == [many[6]]


def test_list_filters(client, many):
    assert sorted(_names(client.get("/v2/images?name=img-1"))) == ["img-1", "img-1"]
    assert len(client.get("/v2/images?tag=t1").json()["images"]) == 3
    # i=0 only: i=6 has the same name and tag but is hidden
    assert len(client.get("/v2/images?tag=t0&name=img-0").json()["images"]) == 1
    assert len(client.get("/v2/images?status=queued").json()["images"]) == 6
    assert len(client.get("/v2/images?status=active").json()["images"]) == 0
    assert len(client.get("/v2/images?name=in:img-0,img-2").json()["images"]) == 4
    assert len(client.get("/v2/images?visibility=shared").json()["images"]) == 6
    assert client.get("/v2/images?visibility=bogus").status == 400


def test_list_extra_property_filter(client):
    client.create(name="a", os_distro="ubuntu")
    client.create(name="b", os_distro="debian")
    assert _names(client.get("/v2/images?os_distro=debian")) == ["b"]


def test_list_pagination_walks_every_image_once(client, many):
    seen, url, pages = [], "/v2/images?limit=2&sort=name:asc,min_ram:desc", 0
    while url and pages < 10:
        doc = client.get(url).json()
        seen += [(i["name"], i["min_ram"]) for i in doc["images"]]
        url = doc.get("next")
        pages += 1
    assert seen == sorted(seen, key=lambda s: (s[0], -s[1]))
    assert len(seen) == 6 and len(set(seen)) == 6


def test_list_pagination_with_nulls(client):
    for name in (None, "b", None, "a"):
        client.create(name=name)
    for direction in ("asc", "desc"):
        seen, url = [], "/v2/images?limit=1&sort_key=name&sort_dir=%s" % direction
        for _ in range(10):
            doc = client.get(url).json()
            seen += [i["id"] for i in doc["images"]]
            url = doc.get("next")
            if not url:
                break
        assert len(seen) == 4 and len(set(seen)) == 4, direction


def test_list_bad_params(client, many):
    assert client.get("/v2/images?limit=x").status == 400
    assert client.get("/v2/images?sort_key=bogus").status == 400
    assert client.get("/v2/images?sort_dir=sideways").status == 400
    resp = client.get("/v2/images?marker=%s" % UUID0)
    assert resp.status == 400
    assert "marker not found" in resp.error


def test_next_link_only_when_page_is_full(client, many):
    assert "next" in client.get("/v2/images?limit=3").json()
    assert "next" not in client.get("/v2/images?limit=50").json()


# -- Identity and visibility -----------------------------------------------------

def test_owner_is_the_callers_project_and_private_images_are_private(app):
    alice = Client(app, identity("alice"))
    bob = Client(app, identity("bob", project_header="X-Tenant-Id"))
    admin = Client(app, identity("ops", "admin%2Cmember"))
    private = alice.create(name="mine", visibility="private")
    public = admin.create(name="all", visibility="public", owner="alice")
    assert private["owner"] == "alice"
    assert bob.get("/v2/images/%s" % private["id"]).status == 404
    assert bob.get("/v2/images/%s" % public["id"]).status == 200
    assert _names(bob.get("/v2/images")) == ["all"]
    assert sorted(_names(alice.get("/v2/images"))) == ["all", "mine"]
    assert admin.get("/v2/images/%s" % private["id"]).status == 200
    resp = bob.patch("/v2/images/%s" % public["id"],
                     [{"op": "replace", "path": "/name", "value": "x"}])
    assert resp.status == 403
    assert bob.delete("/v2/images/%s" % public["id"]).status == 403
    assert admin.delete("/v2/images/%s" % private["id"]).status == 204


def test_non_admin_cannot_give_images_away(app):
    alice = Client(app, identity("alice"))
    resp = alice.post("/v2/images", {"owner": "bob"})
    assert resp.status == 403


def test_no_identity_headers_is_full_access_without_owner(client):
    image = client.create(visibility="private")
    assert image["owner"] is None
    assert client.get("/v2/images/%s" % image["id"]).status == 200


# -- Image data ---------------------------------------------------------------------

def test_upload_download_with_hashes(client, app):
    data = os.urandom(300_000)
    image = client.create(name="d")
    assert client.upload(image["id"], data).status == 204
    shown = client.get("/v2/images/%s" % image["id"]).json()
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    resp = client.get("/v2/images/%s/file" % image["id"])
    assert resp.status == 200
    assert resp.body == data
    assert resp.headers["content-length"] == str(len(data))
    assert resp.headers["content-md5"] == hashlib.md5(data).hexdigest()
    assert resp.headers["content-type"] == "application/octet-stream"


def test_chunked_upload_read_to_eof(client):
    image = client.create()
    assert client.upload(image["id"], b"abc" * 1000, chunked=True).status == 204
    assert client.get("/v2/images/%s" % image["id"]).json()["size"] == 3000


def test_download_uses_the_servers_file_wrapper(client):
    image = client.create()
    client.upload(image["id"], b"wrapped")
    used = []

    def file_wrapper(fp, block):
        used.append(block)
        return iter(lambda: fp.read(block), b"")

    resp = client.get("/v2/images/%s/file" % image["id"],
                      environ={"wsgi.file_wrapper": file_wrapper})
    assert resp.body == b"wrapped"
    assert used


@pytest.mark.parametrize("header,status,body,content_range", [
    ("bytes=0-3", 206, b"0123", "bytes 0-3/10"),
    ("bytes=7-", 206, b"789", "bytes 7-9/10"),
    ("bytes=-2", 206, b"89", "bytes 8-9/10"),
    ("bytes=5-100", 206, b"56789", "bytes 5-9/10"),
    ("bytes=10-12", 416, None, "bytes */10"),
    ("bytes=4-2", 416, None, "bytes */10"),
    ("bytes=0-1,4-5", 416, None, "bytes */10"),
    ("items=0-1", 416, None, "bytes */10"),
])
def test_download_ranges(client, header, status, body, content_range):
    image = client.create()
    client.upload(image["id"], b"0123456789")
    resp = client.get("/v2/images/%s/file" % image["id"], headers={"Range": header})
    assert resp.status == status
    assert resp.headers["content-range"] == content_range
    if body is not None:
        assert resp.body == body
    else:
        assert resp.error


def test_download_without_data_is_204(client):
    image = client.create()
    resp = client.get("/v2/images/%s/file" % image["id"])
    assert resp.status == 204
    assert resp.body == b""


def test_upload_needs_octet_stream(client):
    image = client.create()
    resp = client.upload(image["id"], b"x", headers={"Content-Type": "text/plain"})
    assert resp.status == 415
    assert "application/octet-stream" in resp.error


def test_second_upload_is_409(client):
    image = client.create()
    client.upload(image["id"], b"x")
    resp = client.upload(image["id"], b"y")
    assert resp.status == 409
    assert "transition from active to saving is not allowed" in resp.error


def _assert_retryable(client, app, image_id):
    shown = client.get("/v2/images/%s" % image_id).json()
    assert shown["status"] == "queued"
    assert shown["size"] is None and shown["checksum"] is None
    assert os.listdir(app.store.directory) == []


def _assert_413_and_retryable(client, app, image_id, body, message):
    resp = client.upload(image_id, body)
    assert resp.status == 413
    assert message in resp.error
    _assert_retryable(client, app, image_id)


def test_upload_over_the_cap_is_413_and_retryable(tmp_path):
    app = app_mod.create_app(make_conf(tmp_path, DEFAULT__image_size_cap=1000))
    client = Client(app)
    image = client.create()
    _assert_413_and_retryable(client, app, image["id"], b"x" * 1001, "image_size_cap")
    resp = client.upload(image["id"], b"x" * 1001, chunked=True)
    assert resp.status == 413
    _assert_retryable(client, app, image["id"])
    assert client.upload(image["id"], b"x" * 1000).status == 204


def test_size_header_mismatch_is_400_and_retryable(client, app):
    image = client.create()
    resp = client.upload(image["id"], b"x" * 10, headers={"x-openstack-image-size": "11"})
    assert resp.status == 400
    assert "does not match Content-Length" in resp.error
    resp = client.upload(image["id"], b"x" * 10, chunked=True,
                         headers={"x-openstack-image-size": "11"})
    assert resp.status == 400
    assert "x-openstack-image-size said 11" in resp.error
    _assert_retryable(client, app, image["id"])
    assert client.upload(image["id"], b"x" * 10,
                         headers={"x-openstack-image-size": "10"}).status == 204


def test_client_abort_is_400_and_retryable(client, app):
    image = client.create()
    resp = client.upload(image["id"], b"x" * 100,
                         environ={"CONTENT_LENGTH": "5000"})
    assert resp.status == 400
    assert "ended after 100 of 5000 bytes" in resp.error
    _assert_retryable(client, app, image["id"])


def test_unreadable_chunked_body_is_411_and_changes_nothing(client, app):
    image = client.create()
    resp = client.upload(image["id"], b"", environ={"HTTP_TRANSFER_ENCODING": "chunked"})
    assert resp.status == 411
    assert "does not deliver chunked bodies" in resp.error
    _assert_retryable(client, app, image["id"])


class FullStore(store_mod.FilesystemStore):
    """A store whose disk fills up once the data has arrived."""

    def write(self, image_id, body, expected_size=None):
        def read(size):
            data = body.read(size)
            if not data:
                raise OSError(errno.ENOSPC, "No space left on device")
            return data

        return super().write(image_id, types.SimpleNamespace(read=read), expected_size)


def test_disk_error_is_clean_and_retryable(tmp_path):
    app = app_mod.create_app(make_conf(tmp_path),
                             store=FullStore(str(tmp_path / "images")))
    client = Client(app)
    image = client.create()
    _assert_413_and_retryable(client, app, image["id"], b"x" * 10, "storage media is full")


def test_image_deleted_during_upload_is_410_and_data_removed(client, app):
    image = client.create()

    class DeleteMidway:
        def __init__(self):
            self.sent = False

        def read(self, n):
            if not self.sent:
                self.sent = True
                recovery.delete_image(app, app.images.get(image["id"]))
                return b"x" * 10
            return b""

    resp = client.upload(image["id"], b"",
                         environ={"wsgi.input": DeleteMidway(), "CONTENT_LENGTH": "10"})
    assert resp.status == 410
    assert os.listdir(app.store.directory) == []


def test_upload_left_saving_by_a_dead_worker_is_recovered(client, app):
    image = client.create()
    app.images.transition(image["id"], "queued", "saving",
                          {"worker": "%s|999999999|1" % domain._HOST})
    # any read notices the dead worker
    assert client.get("/v2/images/%s" % image["id"]).json()["status"] == "queued"
    assert client.upload(image["id"], b"retry").status == 204


def test_upload_by_a_live_worker_is_not_stolen(client, app):
    image = client.create()
    app.images.transition(image["id"], "queued", "saving", {"worker": domain.worker_id()})
    assert client.get("/v2/images/%s" % image["id"]).json()["status"] == "saving"
    assert client.upload(image["id"], b"x").status == 409


def test_startup_recovery_removes_residue(tmp_path):
    conf = make_conf(tmp_path)
    app = app_mod.create_app(conf)
    image = Client(app).create()
    app.images.transition(image["id"], "queued", "saving",
                          {"worker": "%s|999999999|1" % domain._HOST})
    residue = os.path.join(app.store.directory, ".tmp-%s-1-ab" % image["id"])
    with open(residue, "wb") as fp:
        fp.write(b"partial")
    restarted = app_mod.create_app(conf)
    assert restarted.images.get(image["id"])["status"] == "queued"
    assert not os.path.exists(residue)


def test_create_app_uses_the_services_it_is_given(tmp_path):
    """create_app builds each service from the config unless one is injected."""
    conf = make_conf(tmp_path)
    store = store_mod.FilesystemStore(str(tmp_path / "injected"))
    app = app_mod.create_app(conf, store=store, clock=lambda: "2001-02-03T04:05:06Z")
    client = Client(app)
    image = client.create()
    assert (image["created_at"], image["updated_at"]) == ("2001-02-03T04:05:06Z",) * 2
    assert client.upload(image["id"], b"abc").status == 204
    assert os.listdir(store.directory) == [app.images.get(image["id"])["data_file"]]
    assert not (tmp_path / "images").exists()  # the default store was never built
