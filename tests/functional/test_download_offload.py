"""``[glancelet] download_offload``: glancelet checks a download as before
and answers it with no body and an ``X-Accel-Redirect`` header, for nginx to
send the file (``x-accel-redirect``), or an ``X-Sendfile`` header, for
Apache's mod_xsendfile (``x-sendfile``). tests/examples/test_download_offload.py
runs them behind the real nginx and Apache."""

import hashlib
import os

import pytest

from glancelet import app as app_mod

from .conftest import Client, identity, make_conf
from .test_conformance import ADMIN, ALICE, action, active_image

DATA = b"0123456789"


@pytest.fixture
def offload_app(tmp_path):
    return app_mod.create_app(make_conf(tmp_path, glancelet__download_offload="x-accel-redirect"))


def data_file(app):
    """The name of the one data file in the app's store."""
    names = os.listdir(app.store.directory)
    assert len(names) == 1, names
    return names[0]


def test_offloaded_download_is_a_redirect_with_glances_headers(offload_app):
    alice = Client(offload_app, ALICE)
    image_id = active_image(alice, DATA)
    resp = alice.get("/v2/images/%s/file" % image_id)
    assert (resp.status, resp.body) == (200, b"")
    md5 = hashlib.md5(DATA).hexdigest()
    rid = resp.headers["x-openstack-request-id"]
    # nginx drops Content-MD5 and the request id across the redirect: the
    # internal location sets them again from the query string.
    assert resp.headers["x-accel-redirect"] == "/glancelet-offload/%s?md5=%s&request_id=%s" % (
        data_file(offload_app), md5, rid)
    assert resp.headers["content-md5"] == md5
    assert resp.headers["content-type"] == "application/octet-stream"
    # The body on the wire is empty; nginx sends the file's own length and
    # Accept-Ranges (a second one would be a duplicate header).
    assert resp.headers["content-length"] == "0"
    assert "accept-ranges" not in resp.headers


def test_offload_uri_is_configurable(tmp_path):
    app = app_mod.create_app(make_conf(tmp_path, glancelet__download_offload="x-accel-redirect",
                                       glancelet__download_offload_uri="/_internal/images/"))
    alice = Client(app, ALICE)
    image_id = active_image(alice, DATA)
    resp = alice.get("/v2/images/%s/file" % image_id)
    assert resp.headers["x-accel-redirect"].startswith("/_internal/images/%s?md5="
                                                       % data_file(app))


def test_a_valid_range_is_left_to_nginx(offload_app):
    """nginx answers the Range itself (206) on the redirected request."""
    alice = Client(offload_app, ALICE)
    image_id = active_image(alice, DATA)
    resp = alice.get("/v2/images/%s/file" % image_id, headers={"Range": "bytes=2-4"})
    assert (resp.status, resp.body) == (200, b"")
    assert "content-range" not in resp.headers
    assert resp.headers["x-accel-redirect"].startswith("/glancelet-offload/")


@pytest.mark.parametrize("mode", ["x-accel-redirect", "x-sendfile"])
@pytest.mark.parametrize("header", ["bytes=10-12", "bytes=0-1,4-5", "items=0-1"])
def test_an_unsatisfiable_range_is_still_glancelets_416(tmp_path, mode, header):
    """With either offload, a range glancelet refuses is its JSON 416, with
    no header that hands the download to the front end."""
    app = app_mod.create_app(make_conf(tmp_path, glancelet__download_offload=mode))
    alice = Client(app, ALICE)
    image_id = active_image(alice, DATA)
    resp = alice.get("/v2/images/%s/file" % image_id, headers={"Range": header})
    assert resp.status == 416
    assert resp.headers["content-range"] == "bytes */10"
    assert resp.error
    assert "x-accel-redirect" not in resp.headers and "x-sendfile" not in resp.headers


def test_checks_before_the_offload_are_unchanged(offload_app):
    """No data: 204; deactivated: 403 to the project, offloaded to an admin;
    another project's private image: 404; data missing from the store: 503.
    None of the refusals carries a redirect."""
    alice, admin = Client(offload_app, ALICE), Client(offload_app, ADMIN)
    bob = Client(offload_app, identity("bob"))
    queued = alice.create()["id"]
    resp = alice.get("/v2/images/%s/file" % queued)
    assert (resp.status, resp.body) == (204, b"")
    assert "x-accel-redirect" not in resp.headers

    image_id = active_image(alice, DATA, visibility="private")
    resp = bob.get("/v2/images/%s/file" % image_id)
    assert resp.status == 404 and "x-accel-redirect" not in resp.headers

    assert action(alice, image_id, "deactivate").status == 204
    resp = alice.get("/v2/images/%s/file" % image_id)
    assert resp.status == 403 and "deactivated" in resp.error
    assert "x-accel-redirect" not in resp.headers
    resp = admin.get("/v2/images/%s/file" % image_id)
    assert resp.status == 200
    assert resp.headers["x-accel-redirect"].startswith("/glancelet-offload/%s?"
                                                       % data_file(offload_app))

    os.unlink(os.path.join(offload_app.store.directory, data_file(offload_app)))
    resp = admin.get("/v2/images/%s/file" % image_id)
    assert resp.status == 503 and "missing from the store" in resp.error
    assert "x-accel-redirect" not in resp.headers


def test_offload_off_by_default_sends_the_bytes(client):
    image_id = active_image(client, DATA)
    resp = client.get("/v2/images/%s/file" % image_id)
    assert (resp.status, resp.body) == (200, DATA)
    assert resp.headers["content-length"] == "10"
    assert "x-accel-redirect" not in resp.headers


@pytest.fixture
def sendfile_app(tmp_path):
    return app_mod.create_app(make_conf(tmp_path, glancelet__download_offload="x-sendfile"))


def test_sendfile_download_is_an_empty_200_naming_the_file(sendfile_app):
    """X-Sendfile names the data file by its absolute path; glancelet's other
    headers are those of a download (Apache keeps them, and adds no
    Accept-Ranges of its own); no body."""
    alice = Client(sendfile_app, ALICE)
    image_id = active_image(alice, DATA)
    resp = alice.get("/v2/images/%s/file" % image_id)
    assert (resp.status, resp.body) == (200, b"")
    path = resp.headers["x-sendfile"]
    assert os.path.isabs(path)
    assert path == os.path.join(os.path.abspath(sendfile_app.store.directory),
                                data_file(sendfile_app))
    assert resp.headers["content-md5"] == hashlib.md5(DATA).hexdigest()
    assert resp.headers["content-type"] == "application/octet-stream"
    assert resp.headers["x-openstack-request-id"].startswith("req-")
    assert resp.headers["content-length"] == "0"
    assert resp.headers["accept-ranges"] == "bytes"
    assert "x-accel-redirect" not in resp.headers


def test_sendfile_leaves_a_valid_range_to_apache(sendfile_app):
    alice = Client(sendfile_app, ALICE)
    image_id = active_image(alice, DATA)
    resp = alice.get("/v2/images/%s/file" % image_id, headers={"Range": "bytes=2-4"})
    assert (resp.status, resp.body) == (200, b"")
    assert "content-range" not in resp.headers
    assert resp.headers["x-sendfile"].endswith(data_file(sendfile_app))


def test_sendfile_refusals_name_no_file(sendfile_app):
    """No data: 204; another project's private image: 404; deactivated: 403;
    data missing: 503; none carries X-Sendfile."""
    alice, bob = Client(sendfile_app, ALICE), Client(sendfile_app, identity("bob"))
    queued = alice.create()["id"]
    assert alice.get("/v2/images/%s/file" % queued).status == 204
    image_id = active_image(alice, DATA, visibility="private")
    resp = bob.get("/v2/images/%s/file" % image_id)
    assert resp.status == 404 and "x-sendfile" not in resp.headers
    assert action(alice, image_id, "deactivate").status == 204
    resp = alice.get("/v2/images/%s/file" % image_id)
    assert resp.status == 403 and "x-sendfile" not in resp.headers
    os.unlink(os.path.join(sendfile_app.store.directory, data_file(sendfile_app)))
    resp = Client(sendfile_app, ADMIN).get("/v2/images/%s/file" % image_id)
    assert resp.status == 503 and "x-sendfile" not in resp.headers
