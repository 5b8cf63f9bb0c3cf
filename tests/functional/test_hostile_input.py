"""Hostile input found by the attack campaign of issue 10: identity, policy, input."""

import pytest

from .conftest import Client, identity

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
