"""Glance's default policies through the API: reader, member, admin, scope,
and the unauthenticated mode (glancelet/policy.py)."""

import pytest

from .conftest import Client, identity

IMAGE = "/v2/images/%s"
NAME = [{"op": "replace", "path": "/name", "value": "renamed"}]
SYSTEM_ADMIN = {"X-Identity-Status": "Confirmed", "OpenStack-System-Scope": "all",
                "X-Roles": "admin,member,reader"}


@pytest.fixture
def alice(app):
    return Client(app, identity("alice"))


def _writes(client, image_id):
    """Every call that changes an image, with its status code."""
    return {
        "patch": client.patch(IMAGE % image_id, NAME).status,
        "upload": client.upload(image_id, b"data").status,
        "tag": client.request("PUT", IMAGE % image_id + "/tags/t").status,
        "stage": client.request("PUT", IMAGE % image_id + "/stage", b"data",
                                headers={"Content-Type": "application/octet-stream"}).status,
        "import": client.post(IMAGE % image_id + "/import",
                              {"method": {"name": "glance-direct"}}).status,
        "delete": client.delete(IMAGE % image_id).status,
    }


def test_a_reader_can_only_read(app, alice):
    """Before: a reader created, uploaded and deleted. Now reader gets 403 for
    every change to its project's images, and reads them."""
    reader = Client(app, identity("alice", "reader"))
    assert reader.post("/v2/images", {"name": "r"}).status == 403
    image = alice.create(name="mine", visibility="private")
    assert reader.get(IMAGE % image["id"]).status == 200
    assert [i["id"] for i in reader.get("/v2/images").json()["images"]] == [image["id"]]
    assert set(_writes(reader, image["id"]).values()) == {403}
    # download_image needs the member role too.
    assert alice.upload(image["id"], b"data").status == 204
    assert reader.get(IMAGE % image["id"] + "/file").status == 403
    assert alice.get(IMAGE % image["id"] + "/file").body == b"data"
    assert alice.get(IMAGE % image["id"]).json()["name"] == "mine"


def test_a_member_writes_its_projects_images_only(app, alice):
    """Another project's private image is hidden (404); a public one it may
    see is refused (403), as Glance's ImageAPIPolicy does."""
    bob = Client(app, identity("bob"))
    ops = Client(app, identity("ops", "admin,member,reader"))
    private = alice.create(visibility="private")
    public = ops.create(visibility="public", owner="alice")
    assert set(_writes(bob, private["id"]).values()) == {404}
    assert set(_writes(bob, public["id"]).values()) == {403}
    assert bob.get(IMAGE % public["id"]).status == 200
    changed = _writes(alice, alice.create(visibility="private")["id"])
    assert changed == {"patch": 200, "upload": 204, "tag": 204, "stage": 409,
                       "import": 409, "delete": 204}


def test_visibility_rules_and_owner(alice):
    """publicize_image is admin-only; communitize_image is the project's; only
    an admin gives an image to another project."""
    resp = alice.post("/v2/images", {"visibility": "public"})
    assert resp.status == 403 and "publicize_image" in resp.error
    assert alice.create(visibility="community")["visibility"] == "community"
    resp = alice.post("/v2/images", {"owner": "bob"})
    assert resp.status == 403
    assert resp.error == "You are not permitted to create images owned by 'bob'."
    image_id = alice.create()["id"]
    resp = alice.patch(IMAGE % image_id, [{"op": "replace", "path": "/owner",
                                           "value": "alice"}])
    assert (resp.status, resp.error) == (403, "Owner can't be updated by non admin.")
    resp = alice.patch(IMAGE % image_id, [{"op": "replace", "path": "/visibility",
                                           "value": "public"}])
    assert resp.status == 403 and "publicize_image" in resp.error


def test_roles_are_matched_as_sent(app, alice):
    """A token with ``member`` but not ``reader`` (Keystone would add it) may
    create but not list, as oslo.policy matches the roles literally."""
    member_only = Client(app, identity("alice", "member"))
    assert member_only.post("/v2/images", {}).status == 201
    assert member_only.get("/v2/images").status == 403


@pytest.mark.parametrize("headers", [
    SYSTEM_ADMIN,
    dict(SYSTEM_ADMIN, **{"X-Project-Id": "alice"}),
    {"X-Identity-Status": "Confirmed", "X-Domain-Id": "default",
     "X-Roles": "admin,member,reader"},
], ids=["system", "system-with-project", "domain"])
def test_a_system_or_domain_scoped_admin_is_not_a_project_admin(app, alice, headers):
    """Before: a system-scoped token was refused (401) or, with a project,
    an admin of it. Now every project-scoped rule refuses it, as Glance's
    enforced scope does: 403, or 404 where Glance hides an image."""
    token = Client(app, headers)
    image_id = alice.create(visibility="community")["id"]
    assert token.get("/v2/images").status == 403
    assert token.post("/v2/images", {}).status == 403
    assert token.get(IMAGE % image_id).status == 404
    assert token.delete(IMAGE % image_id).status == 404
    assert token.get(IMAGE % image_id + "/members").status == 404
    assert token.get("/v2/tasks/%s" % image_id).status == 403
    assert token.get("/v2/schemas/image").status == 200
    assert alice.get(IMAGE % image_id).status == 200


def test_a_lone_scope_header_is_not_the_unauthenticated_mode(client):
    """OpenStack-System-Scope without a confirmed identity is refused (401)."""
    assert client.get("/v2/images", headers={"OpenStack-System-Scope": "all"}).status == 401


def test_unauthenticated_mode_keeps_full_access(app, alice, client):
    """No identity headers: every rule passes (the examples' and tutorial's mode)."""
    private = alice.create(visibility="private")
    assert client.get(IMAGE % private["id"]).status == 200
    assert client.create(visibility="public")["visibility"] == "public"
    changed = _writes(client, private["id"])
    assert changed["patch"] == 200 and changed["delete"] == 204
