"""Glance behaviours Tempest's image tests check (issue 17): deactivate and
reactivate, the size filters, x-openstack-request-id, 404 for empty-id paths,
and the version document."""

import logging
import os
import re

import pytest

from glancelet import app as app_mod, pipeline, request_id as request_id_mod

from .conftest import Client, identity
from .test_import import settled, stage
from .test_pipeline import keystone_front

ALICE = identity("alice")
BOB = identity("bob")
ADMIN = identity("ops", "admin")
REQUEST_ID = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                        r"[0-9a-f]{12}\Z")


def active_image(api, data=b"image data", **props):
    image = api.create(**props)
    assert api.upload(image["id"], data).status == 204
    return image["id"]


# -- deactivate and reactivate (v2.3) ------------------------------------------------

def action(api, image_id, name):
    return api.post("/v2/images/%s/actions/%s" % (image_id, name), b"")


def test_deactivate_then_reactivate_as_tempest_does(app):
    """The owner's member deactivates: 204, the image is deactivated and its
    data is 403 to the project but not to an admin; reactivating restores it."""
    alice, admin = Client(app, ALICE), Client(app, ADMIN)
    image_id = active_image(alice, b"0123456789", visibility="private")
    resp = action(alice, image_id, "deactivate")
    assert (resp.status, resp.body) == (204, b"")
    assert alice.get("/v2/images/" + image_id).json()["status"] == "deactivated"
    resp = alice.get("/v2/images/%s/file" % image_id)
    assert resp.status == 403
    assert "deactivated" in resp.error
    resp = admin.get("/v2/images/%s/file" % image_id)
    assert (resp.status, resp.body) == (200, b"0123456789")
    assert admin.get("/v2/images/%s/file" % image_id,
                     headers={"Range": "bytes=2-4"}).body == b"234"
    assert [i["id"] for i in alice.get("/v2/images").json()["images"]] == [image_id]

    assert action(alice, image_id, "reactivate").status == 204
    assert alice.get("/v2/images/" + image_id).json()["status"] == "active"
    assert alice.get("/v2/images/%s/file" % image_id).body == b"0123456789"


def test_repeating_an_action_is_204_and_changes_nothing(app):
    alice = Client(app, ALICE)
    image_id = active_image(alice)
    assert action(alice, image_id, "reactivate").status == 204
    assert action(alice, image_id, "deactivate").status == 204
    before = alice.get("/v2/images/" + image_id).json()
    assert action(alice, image_id, "deactivate").status == 204
    assert alice.get("/v2/images/" + image_id).json() == before


@pytest.mark.parametrize("name", ["deactivate", "reactivate"])
def test_actions_on_an_image_without_data_are_403(app, name):
    alice = Client(app, ALICE)
    image_id = alice.create()["id"]
    resp = action(alice, image_id, name)
    assert resp.status == 403
    assert resp.error == "Not allowed to %s image in status 'queued'" % name
    assert alice.get("/v2/images/" + image_id).json()["status"] == "queued"


def test_who_may_deactivate(app):
    """Glance's default rule: an admin, or a member of the image's project
    (glancelet.policy "deactivate"). Another project
    gets 404 for an image it cannot see and 403 for one it can."""
    alice, bob, admin = Client(app, ALICE), Client(app, BOB), Client(app, ADMIN)
    private = active_image(alice, visibility="private")
    public = active_image(alice)
    assert admin.patch("/v2/images/" + public,
                       [{"op": "replace", "path": "/visibility", "value": "public"}]
                       ).status == 200
    assert action(bob, private, "deactivate").status == 404
    resp = action(bob, public, "deactivate")
    assert resp.status == 403
    # Glance's words for a policy refusal.
    assert resp.error == "You are not authorized to complete deactivate action."
    assert alice.get("/v2/images/" + public).json()["status"] == "active"
    assert action(admin, public, "deactivate").status == 204
    assert action(bob, public, "reactivate").status == 403
    assert action(admin, public, "reactivate").status == 204


def test_action_routes(app):
    alice = Client(app, ALICE)
    image_id = active_image(alice)
    resp = alice.get("/v2/images/%s/actions/deactivate" % image_id)
    assert (resp.status, resp.headers["allow"]) == (405, "POST")
    missing = "00000000-0000-4000-8000-000000000000"
    assert action(alice, missing, "deactivate").status == 404
    assert action(alice, image_id, "delete").status == 404


def test_a_deactivated_image_can_be_changed_and_deleted(app):
    alice = Client(app, ALICE)
    image_id = active_image(alice)
    assert action(alice, image_id, "deactivate").status == 204
    resp = alice.patch("/v2/images/" + image_id,
                       [{"op": "replace", "path": "/name", "value": "old"}])
    assert (resp.status, resp.json()["status"]) == (200, "deactivated")
    assert alice.delete("/v2/images/" + image_id).status == 204
    assert os.listdir(app.store.directory) == []
    assert alice.get("/v2/images/" + image_id).status == 404


def test_losing_a_race_answers_from_the_image_as_it_now_is(app):
    """Another request deactivates between this one's read and its write: this
    one's transition fails, it reads again, finds the image deactivated: 204."""
    alice = Client(app, ALICE)
    image_id = active_image(alice)
    real = app.images.transition
    calls = []

    def racing(*args, **kw):
        if not calls:
            calls.append(args)
            real(image_id, "active", "deactivated", {})
        return real(*args, **kw)
    app.images.transition = racing
    try:
        assert action(alice, image_id, "deactivate").status == 204
    finally:
        app.images.transition = real
    assert calls == [(image_id, "active", "deactivated", calls[0][3])]
    assert alice.get("/v2/images/" + image_id).json()["status"] == "deactivated"


# -- size, size_min, size_max ----------------------------------------------------------

@pytest.fixture
def sized(client):
    """Images of 3, 5 and 7 bytes, and one without data, by size."""
    ids = {size: active_image(client, b"x" * size) for size in (3, 5, 7)}
    ids[None] = client.create()["id"]
    return ids


def listed(client, query):
    resp = client.get("/v2/images?" + query)
    assert resp.status == 200, resp.body
    return {image["id"] for image in resp.json()["images"]}


@pytest.mark.parametrize("query, sizes", [
    ("size=5", {5}), ("size=4", set()), ("size_min=5", {5, 7}), ("size_max=5", {3, 5}),
    ("size_min=4&size_max=6", {5}), ("size=5&size_min=6", set()),
    ("size=5&size_max=5", {5}), ("size_min=-500", {3, 5, 7}), ("size_max=-1", set()),
    ("size_min=3&size_min=5", {5, 7}), ("size=+5", {5}), ("size=%205", {5}),
])
def test_size_filters_as_glance(client, sized, query, sizes):
    """``size`` is equality; every size filter given must hold; negative bounds
    are taken as Glance takes them; an image without data has no size."""
    assert listed(client, query) == {sized[s] for s in sizes}


@pytest.mark.parametrize("query, message", [
    ("size=abc", "size param must be an integer"),
    ("size=1.5", "size param must be an integer"),
    ("size=", "size param must be an integer"),
    ("size_min=abc", "Unable to filter on a range with a non-numeric value (size_min)."),
    ("size_max=1e3", "Unable to filter on a range with a non-numeric value (size_max)."),
    ("size=%d" % 2 ** 63, "size param must be at most %d" % (2 ** 63 - 1)),
    ("size_min=%d" % -2 ** 64, "size_min param must be at least %d" % -2 ** 63),
])
def test_bad_size_filters_are_400(client, query, message):
    resp = client.get("/v2/images?" + query)
    assert resp.status == 400
    assert resp.error == message


# -- x-openstack-request-id ----------------------------------------------------------------

def request_id(resp):
    rid = resp.headers["x-openstack-request-id"]
    assert REQUEST_ID.match(rid), rid
    return rid


class HeaderSpy:
    """A WSGI app around ``app`` that keeps the raw response header names."""

    def __init__(self, app):
        self.app, self.names = app, []

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            self.names = [name.lower() for name, _ in headers]
            return start_response(status, headers, exc_info)
        return self.app(environ, start)

    def count(self, name):
        return self.names.count(name)


def boom(req, start_response):
    """Fail, for the tests."""
    raise RuntimeError("boom")


@pytest.fixture
def boom_app(conf):
    return app_mod.create_app(conf, routes=dict(app_mod.ROUTES, **{"/boom": {"GET": boom}}))


@pytest.mark.parametrize("method, path, headers, status", [
    ("GET", "/", {}, 300), ("GET", "/versions", {}, 200), ("GET", "/healthcheck", {}, 200),
    ("HEAD", "/healthcheck", {}, 204), ("GET", "/v2/images", {}, 200),
    ("GET", "/nowhere", {}, 404), ("GET", "/v2/images/", {}, 404),
    ("PUT", "/v2/images", {}, 405), ("POST", "/v2/images", {}, 415),
    ("GET", "/v2/images", {"X-Identity-Status": "Invalid"}, 401),
    ("GET", "/v2/images?limit=x", {}, 400), ("GET", "/boom", {}, 500),
])
def test_every_response_has_a_request_id(boom_app, method, path, headers, status):
    spy = HeaderSpy(boom_app)
    resp = Client(spy).request(method, path, headers=headers)
    assert resp.status == status
    assert spy.count("x-openstack-request-id") == 1
    request_id(resp)


def test_each_request_gets_its_own_id(client):
    ids = {request_id(client.get("/v2/images")) for _ in range(5)}
    assert len(ids) == 5


def test_a_well_formed_client_id_is_kept_and_anything_else_replaced(client):
    sent = "req-0f5f2a3c-64c4-4c7e-9a85-5d4c3e9b1a20"
    assert request_id(client.get("/", headers={"X-Openstack-Request-Id": sent})) == sent
    for bogus in ("abc", "req-abc", sent.upper(), sent + "x", "x" * 10000):
        rid = request_id(client.get("/", headers={"X-Openstack-Request-Id": bogus}))
        assert rid != bogus


def test_request_ids_through_the_keystone_front(tmp_path):
    """auth_token's own 401 carries one, and what the app answers behind the
    front carries one header, not two."""
    front = keystone_front(tmp_path).app
    assert isinstance(front, pipeline.Pipeline)
    spy = HeaderSpy(front)
    for path, status in (("/v2/images", 401), ("/", 300), ("/versions", 200),
                         ("/healthcheck", 200)):
        resp = Client(spy).get(path)
        assert resp.status == status
        assert spy.count("x-openstack-request-id") == 1
        request_id(resp)


def test_the_log_line_of_a_request_names_its_id(boom_app, caplog):
    """The filter setup_logging puts on glancelet's handler gives each record
    the id of the request being served."""
    log_filter = request_id_mod.LogFilter()
    caplog.handler.addFilter(log_filter)
    try:
        with caplog.at_level(logging.ERROR, logger="glancelet"):
            resp = Client(boom_app).get("/boom")
    finally:
        caplog.handler.removeFilter(log_filter)
    [record] = [r for r in caplog.records if "unhandled error" in r.getMessage()]
    assert record.request_id == request_id(resp)


def test_the_import_task_records_the_request_that_created_it(app, caplog):
    """As Tempest checks after a glance-direct import; the task's log lines
    (in a pool thread) name that request too."""
    alice = Client(app, dict(ALICE, **{"X-User-Id": "alice-user"}))
    image_id = alice.create(disk_format="raw", container_format="bare")["id"]
    assert stage(alice, image_id, b"staged").status == 204
    log_filter = request_id_mod.LogFilter()
    caplog.handler.addFilter(log_filter)
    try:
        with caplog.at_level(logging.INFO, logger="glancelet"):
            resp = alice.post("/v2/images/%s/import" % image_id,
                              {"method": {"name": "glance-direct"}})
            assert resp.status == 202
            assert settled(alice, image_id)["status"] == "active"
            app.task_pool.drain(10)
    finally:
        caplog.handler.removeFilter(log_filter)
    rid = request_id(resp)
    task_lines = [r for r in caplog.records if r.getMessage().startswith("task ")]
    assert task_lines and {r.request_id for r in task_lines} == {rid}
    [task] = alice.get("/v2/images/%s/tasks" % image_id).json()["tasks"]
    assert (task["request_id"], task["user_id"]) == (rid, "alice-user")
    # GET /v2/tasks/{id} is admin-only (Glance's tasks_api_access).
    shown = Client(app, ADMIN).get("/v2/tasks/" + task["id"]).json()
    assert (shown["request_id"], shown["user_id"]) == (rid, "alice-user")


# -- 404 for empty ids and trailing slashes ------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("GET", "/v2/images/"), ("DELETE", "/v2/images/"), ("POST", "/v2/images/"),
    ("PATCH", "/v2/images/"), ("GET", "/v2/images/{id}/"), ("GET", "/v2/images/{id}/file/"),
    ("DELETE", "/v2/images/{id}/tags/"), ("GET", "/v2/images//file"), ("GET", "/v2/"),
    ("GET", "/v2"), ("GET", "/v2/tasks/"), ("GET", "/v2/schemas/image/"),
])
def test_empty_ids_and_trailing_slashes_are_404(client, method, path):
    image_id = client.create()["id"]
    resp = client.request(method, path.replace("{id}", image_id))
    assert resp.status == 404
    assert resp.error == "The resource could not be found."


@pytest.mark.parametrize("path, status", [("/", 300), ("/versions", 200), ("/versions/", 200),
                                          ("/healthcheck", 200), ("/healthcheck/", 200),
                                          ("/v2/images", 200), ("", 300)])
def test_paths_glance_answers_keep_working(client, path, status):
    assert client.get(path).status == status


# -- The version document ----------------------------------------------------------------------

def test_the_version_document_lists_what_is_implemented(client):
    versions = client.get("/versions").json()["versions"]
    assert [(v["id"], v["status"]) for v in versions] == [
        ("v2.12", "CURRENT"), ("v2.7", "SUPPORTED"), ("v2.6", "SUPPORTED"),
        ("v2.5", "SUPPORTED"), ("v2.4", "SUPPORTED"), ("v2.3", "SUPPORTED"),
        ("v2.1", "SUPPORTED"), ("v2.0", "SUPPORTED")]
