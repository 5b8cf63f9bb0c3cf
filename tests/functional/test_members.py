"""Image members: Glance's sharing API, its status codes and who may do what."""

import sqlite3

import pytest

from glancelet import app as app_mod, db
from glancelet.handlers import members as members_mod

from .conftest import Client, identity, make_conf


@pytest.fixture
def people(app):
    """alice owns images; bob and carol are other projects; ops is an admin."""
    return {name: Client(app, identity(name)) for name in ("alice", "bob", "carol")} | {
        "ops": Client(app, identity("ops", "admin,member,reader")),
        "alice_reader": Client(app, identity("alice", "reader"))}


def _ids(resp):
    assert resp.status == 200, resp.body
    return [image["id"] for image in resp.json()["images"]]


def _share(owner, image_id, project):
    resp = owner.post("/v2/images/%s/members" % image_id, {"member": project})
    assert resp.status == 200, resp.body
    return resp.json()


def _set_status(client, image_id, project, status):
    return client.request("PUT", "/v2/images/%s/members/%s" % (image_id, project),
                          {"status": status})


def test_share_accept_and_list(people, app):
    """A new member is pending; it sees the image but lists it only once accepted,
    and member_status picks other memberships as Glance's list does."""
    alice, bob = people["alice"], people["bob"]
    image = alice.create(name="shared")
    assert image["visibility"] == "shared"
    member = _share(alice, image["id"], "bob")
    assert member == {"member_id": "bob", "image_id": image["id"], "status": "pending",
                      "created_at": member["created_at"],
                      "updated_at": member["updated_at"], "schema": "/v2/schemas/member"}
    assert image["id"] not in _ids(bob.get("/v2/images"))
    assert bob.get("/v2/images/%s" % image["id"]).status == 200
    assert image["id"] in _ids(bob.get("/v2/images?member_status=pending"))
    resp = _set_status(bob, image["id"], "bob", "accepted")
    assert resp.status == 200 and resp.json()["status"] == "accepted"
    assert image["id"] in _ids(bob.get("/v2/images"))
    assert image["id"] in _ids(bob.get("/v2/images?visibility=shared"))
    assert image["id"] not in _ids(bob.get("/v2/images?member_status=pending"))
    assert _set_status(bob, image["id"], "bob", "rejected").status == 200
    assert image["id"] not in _ids(bob.get("/v2/images"))
    assert image["id"] in _ids(bob.get("/v2/images?member_status=rejected"))
    assert image["id"] in _ids(bob.get("/v2/images?visibility=all&member_status=all"))
    assert image["id"] not in _ids(people["carol"].get("/v2/images?member_status=all"))
    resp = bob.get("/v2/images?member_status=maybe")
    assert resp.status == 400 and resp.error == "Invalid status: maybe"


def test_who_may_do_what(people):
    """The owner adds and removes members but cannot accept for them; a member
    changes only its own status and sees only its own membership; another
    project sees nothing (404)."""
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    image_id = alice.create()["id"]
    _share(alice, image_id, "bob")
    _share(alice, image_id, "dave")
    members = "/v2/images/%s/members" % image_id
    assert _set_status(alice, image_id, "bob", "accepted").status == 403
    assert bob.post(members, {"member": "carol"}).status == 403
    assert bob.delete(members + "/bob").status == 403
    assert _set_status(bob, image_id, "dave", "accepted").status == 404
    assert bob.get(members + "/dave").status == 404
    assert [m["member_id"] for m in bob.get(members).json()["members"]] == ["bob"]
    assert bob.get(members + "/bob").json()["status"] == "pending"
    listed = alice.get(members).json()
    assert listed["schema"] == "/v2/schemas/members"
    assert sorted(m["member_id"] for m in listed["members"]) == ["bob", "dave"]
    for resp in (carol.get(members), carol.get(members + "/bob"),
                 carol.post(members, {"member": "carol"}),
                 _set_status(carol, image_id, "bob", "accepted"),
                 carol.delete(members + "/bob")):
        assert resp.status == 404, resp.body
    assert alice.delete(members + "/dave").status == 204
    assert alice.get(members + "/dave").status == 404
    assert alice.delete(members + "/dave").status == 404
    # An admin may do all of it, the member's status included.
    assert _set_status(people["ops"], image_id, "bob", "accepted").status == 200


def test_a_project_reader_reads_members_but_cannot_share(people):
    """Tempest's reader persona: the owner project's reader lists and shows
    members (get_member(s)), but add_member needs the member role."""
    alice, reader = people["alice"], people["alice_reader"]
    image_id = alice.create()["id"]
    _share(alice, image_id, "bob")
    members = "/v2/images/%s/members" % image_id
    assert [m["member_id"] for m in reader.get(members).json()["members"]] == ["bob"]
    assert reader.get(members + "/bob").status == 200
    resp = reader.post(members, {"member": "carol"})
    assert resp.status == 403
    assert "add_member" in resp.error
    assert reader.delete(members + "/bob").status == 403


def test_only_shared_images_have_members(people):
    alice = people["alice"]
    image_id = alice.create(visibility="private")["id"]
    members = "/v2/images/%s/members" % image_id
    resp = alice.post(members, {"member": "bob"})
    assert resp.status == 403
    assert "only shared images have members" in resp.error
    assert alice.get(members).status == 403
    assert alice.get(members + "/bob").status == 404
    assert _set_status(alice, image_id, "bob", "accepted").status == 403
    assert alice.delete(members + "/bob").status == 403


def test_members_bad_requests(people):
    alice, bob = people["alice"], people["bob"]
    image_id = alice.create()["id"]
    members = "/v2/images/%s/members" % image_id
    for body, message in ((["bob"], 'Expected a member in the form: {"member": "..."}'),
                          ({}, "Member to be added not specified"),
                          ({"member": ""}, "Member can't be empty"),
                          ({"member": 7}, "A member is a project id: a string of at most "
                                          "255 characters.")):
        resp = alice.post(members, body)
        assert (resp.status, resp.error) == (400, message)
    _share(alice, image_id, "bob")
    resp = alice.post(members, {"member": "bob"})
    assert resp.status == 409
    assert resp.error == "Member bob is duplicated for image %s" % image_id
    assert _set_status(bob, image_id, "bob", "maybe").status == 400
    resp = bob.request("PUT", members + "/bob", {"state": "accepted"})
    assert (resp.status, resp.error) == (400, "Status not specified")
    assert bob.get(members + "/bob").json()["status"] == "pending"


def test_member_limit_is_413(people, monkeypatch):
    monkeypatch.setattr(members_mod, "MEMBER_LIMIT", 2)
    alice = people["alice"]
    image_id = alice.create()["id"]
    _share(alice, image_id, "bob")
    _share(alice, image_id, "carol")
    assert alice.post("/v2/images/%s/members" % image_id, {"member": "dave"}).status == 413


def test_deleting_an_image_removes_its_members(people, app):
    alice, bob = people["alice"], people["bob"]
    image_id = alice.create()["id"]
    _share(alice, image_id, "bob")
    assert _set_status(bob, image_id, "bob", "accepted").status == 200
    assert alice.delete("/v2/images/%s" % image_id).status == 204
    assert app.members.list(image_id) == []
    assert image_id not in _ids(bob.get("/v2/images?member_status=all"))
    assert bob.get("/v2/images/%s/members/bob" % image_id).status == 404


def test_member_schemas(client):
    member = client.get("/v2/schemas/member").json()
    assert member["name"] == "member"
    assert member["properties"]["status"]["enum"] == ["pending", "accepted", "rejected"]
    members = client.get("/v2/schemas/members").json()
    assert members["name"] == "members"
    assert members["properties"]["members"]["items"] == member


def test_unauthenticated_mode_manages_members(client):
    """No identity headers: full access, as every other call."""
    image_id = client.create()["id"]
    _share(client, image_id, "bob")
    assert _set_status(client, image_id, "bob", "accepted").status == 200
    assert client.get("/v2/images/%s/members" % image_id).json()["members"][0][
        "status"] == "accepted"


# The database glancelet created before image members (commit 8f44e32): the
# images and tasks tables only.
OLD_SCHEMA = """
CREATE TABLE images (id TEXT PRIMARY KEY, name TEXT, status TEXT NOT NULL,
    visibility TEXT NOT NULL, protected INTEGER NOT NULL DEFAULT 0,
    os_hidden INTEGER NOT NULL DEFAULT 0, checksum TEXT, os_hash_algo TEXT,
    os_hash_value TEXT, size INTEGER, virtual_size INTEGER,
    min_disk INTEGER NOT NULL DEFAULT 0, min_ram INTEGER NOT NULL DEFAULT 0,
    disk_format TEXT, container_format TEXT, owner TEXT,
    tags TEXT NOT NULL DEFAULT '[]', properties TEXT NOT NULL DEFAULT '{}', worker TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, data_file TEXT, staged_file TEXT,
    version INTEGER NOT NULL DEFAULT 0, deleted_at TEXT);
CREATE INDEX images_created ON images (created_at, id);
CREATE INDEX images_status ON images (status);
CREATE TABLE tasks (id TEXT PRIMARY KEY, type TEXT NOT NULL, status TEXT NOT NULL,
    image_id TEXT, owner TEXT, input TEXT NOT NULL DEFAULT '{}', result TEXT,
    message TEXT NOT NULL DEFAULT '', worker TEXT, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, expires_at TEXT);
CREATE INDEX tasks_image ON tasks (image_id);
INSERT INTO images (id, status, visibility, owner, created_at, updated_at)
    VALUES ('2f2ad0b4-3a48-4d4b-9a53-2a4d1b0c6e11', 'queued', 'shared', 'alice',
            '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
"""


def test_a_database_from_before_members_is_upgraded(tmp_path):
    """The schema script adds the members table to an existing database; its
    images keep working and can be shared."""
    conf = make_conf(tmp_path)
    path = db.sqlite_path(conf.data_paths[0])
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
    app = app_mod.create_app(conf)
    alice, bob = Client(app, identity("alice")), Client(app, identity("bob"))
    image_id = "2f2ad0b4-3a48-4d4b-9a53-2a4d1b0c6e11"
    _share(alice, image_id, "bob")
    assert _set_status(bob, image_id, "bob", "accepted").status == 200
    assert _ids(bob.get("/v2/images")) == [image_id]
    members = db.MemberRepo(db.connect(conf.data_paths[0]))
    assert members.get(image_id, "bob")["status"] == "accepted"
