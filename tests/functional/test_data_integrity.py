"""Image data stays the data its row describes, whatever races it (issue 10, findings 1, 2).

A slow upload is held mid-stream by a body that waits on an Event, so each
race below happens in the same order on every run.
"""

import hashlib
import os
import threading
import uuid

import pytest

from glancelet import app as app_mod
from glancelet import recovery
from tests.unit.test_webdownload import DataServer

from .conftest import Client, identity, make_conf

MiB = 1024 * 1024
OCTETS = {"Content-Type": "application/octet-stream"}


class HeldBody:
    """A request body that sends ``first`` bytes, then waits for :meth:`release`."""

    def __init__(self, data, first=MiB):
        self.data, self.first, self.pos = data, first, 0
        self.reached = threading.Event()
        self._release = threading.Event()

    def read(self, n=-1):
        if self.pos >= self.first and not self._release.is_set():
            self.reached.set()
            assert self._release.wait(20), "the test never released the body"
        end = len(self.data) if n is None or n < 0 else self.pos + n
        if self.pos < self.first:
            end = min(end, self.first)
        chunk = self.data[self.pos:end]
        self.pos += len(chunk)
        return chunk

    def release(self):
        self._release.set()


class SlowUpload(threading.Thread):
    """``PUT .../file`` with a :class:`HeldBody`, in a thread; ``status`` once done."""

    def __init__(self, client, image_id, data):
        super().__init__(daemon=True)
        self.client, self.image_id = client, image_id
        self.body = HeldBody(data)
        self.status = None
        self.start()
        assert self.body.reached.wait(20), "the upload did not start"

    def run(self):
        resp = self.client.request(
            "PUT", "/v2/images/%s/file" % self.image_id, headers=dict(
                OCTETS, **{"Content-Length": str(len(self.body.data))}),
            environ={"wsgi.input": self.body})
        self.status = resp.status

    def finish(self):
        self.body.release()
        self.join(20)
        assert not self.is_alive()
        return self.status


def assert_data_matches(client, app, image_id, data):
    """The image is active with ``data``: its row, its file and the download agree."""
    image = client.get("/v2/images/%s" % image_id).json()
    assert (image["status"], image["size"]) == ("active", len(data))
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    resp = client.get("/v2/images/%s/file" % image_id)
    assert resp.status == 200
    assert resp.body == data
    assert os.listdir(app.store.directory) == [app.images.get(image_id)["data_file"]]


# -- Finding 1: a write becomes data only when its claim commits it ----------------------

def test_upload_that_lost_its_claim_leaves_the_winners_data_alone(client, app):
    """The slow upload loses its claim while it streams (as when a peer takes its
    process for dead); another upload then completes. Before the fix, the slow
    one renamed its file over the winner's and then deleted it: the image was
    active and its download answered 503."""
    image_id = client.create()["id"]
    slow = SlowUpload(client, image_id, os.urandom(6 * MiB))
    assert app.images.transition(image_id, "saving", "queued", {"worker": None})
    winner = os.urandom(300_000)
    assert client.upload(image_id, winner).status == 204
    assert slow.finish() == 409
    assert_data_matches(client, app, image_id, winner)


def test_import_that_lost_its_claim_leaves_the_winners_data_alone(tmp_path):
    """A web-download import stalls; the drain gives up on it and releases the
    image (recovery.fail_left_task, as at a graceful stop), and an upload then makes it
    active. Before the fix, the import's late rename put its bytes under the
    upload's checksum."""
    with DataServer(payload=os.urandom(2 * MiB)) as server:
        app = app_mod.create_app(make_conf(
            tmp_path, import_filtering_opts__allowed_hosts="127.0.0.1",
            import_filtering_opts__allowed_ports=str(server.port)))
        client = Client(app)
        image_id = client.create(disk_format="raw", container_format="bare")["id"]
        resp = client.post("/v2/images/%s/import" % image_id,
                           {"method": {"name": "web-download", "uri": server.url("/stall")}})
        assert resp.status == 202
        assert server.stalled.wait(20)
        [task] = app.tasks.for_image(image_id)
        recovery.fail_left_task(app, task, "the drain gave up on it")
        winner = os.urandom(300_000)
        assert client.upload(image_id, winner).status == 204
        server.release()
        assert app.task_pool.drain(20) == []
    assert app.tasks.get(task["id"])["status"] == "failure"
    assert_data_matches(client, app, image_id, winner)
    assert app.staging.temp_files() == [] and app.store.temp_files() == []


# -- Finding 2: deleted ids stay deleted ------------------------------------------------

def test_a_deleted_image_id_is_never_reused(app):
    """Project A deletes its public image; neither B nor an admin can create an
    image under its id again (Glance keeps deleted rows for this), and the
    deleted image stays invisible."""
    alice = Client(app, identity("alice"))
    bob = Client(app, identity("bob"))
    admin = Client(app, identity("ops", "admin"))
    image_id = str(uuid.uuid4())
    # Only an admin may make an image public (publicize_image): alice's image.
    assert admin.post("/v2/images", {"id": image_id, "visibility": "public",
                                     "owner": "alice"}).status == 201
    assert alice.upload(image_id, b"alice's bytes").status == 204
    assert alice.delete("/v2/images/%s" % image_id).status == 204
    for who in (bob, alice, admin):
        resp = who.post("/v2/images", {"id": image_id})
        assert resp.status == 409, resp.body
        assert resp.error == "An image with identifier %s already exists" % image_id
        assert who.get("/v2/images/%s" % image_id).status == 404
        assert who.get("/v2/images/%s/file" % image_id).status == 404
        assert who.delete("/v2/images/%s" % image_id).status == 404
        assert who.patch("/v2/images/%s" % image_id,
                         [{"op": "replace", "path": "/name", "value": "x"}]).status == 404
        assert image_id not in [i["id"] for i in who.get("/v2/images").json()["images"]]
    assert os.listdir(app.store.directory) == []


def test_recreating_an_id_during_a_slow_upload_is_refused(client, app):
    """The reported race: DELETE during a slow upload, then POST the same id.
    The POST is refused; the slow upload learns its image is gone (410) and
    leaves nothing behind."""
    image_id = str(uuid.uuid4())
    assert client.post("/v2/images", {"id": image_id}).status == 201
    slow = SlowUpload(client, image_id, os.urandom(6 * MiB))
    assert client.delete("/v2/images/%s" % image_id).status == 204
    assert client.post("/v2/images", {"id": image_id}).status == 409
    assert slow.finish() == 410
    assert client.get("/v2/images/%s" % image_id).status == 404
    assert os.listdir(app.store.directory) == []
    assert app.store.temp_files() == []


@pytest.mark.parametrize("method", ["upload", "stage"])
def test_a_write_that_fails_to_commit_keeps_no_file(tmp_path, method):
    """The two data paths (file and stage) remove their own file, and only it,
    when the image was deleted under them."""
    app = app_mod.create_app(make_conf(tmp_path))
    client = Client(app)
    keep = client.create(disk_format="raw", container_format="bare")["id"]
    assert client.upload(keep, b"kept").status == 204
    image_id = client.create(disk_format="raw", container_format="bare")["id"]
    target = "file" if method == "upload" else "stage"
    body = HeldBody(os.urandom(2 * MiB))
    result = {}
    thread = threading.Thread(target=lambda: result.update(resp=client.request(
        "PUT", "/v2/images/%s/%s" % (image_id, target),
        headers=dict(OCTETS, **{"Content-Length": str(len(body.data))}),
        environ={"wsgi.input": body})), daemon=True)
    thread.start()
    assert body.reached.wait(20)
    assert client.delete("/v2/images/%s" % image_id).status == 204
    body.release()
    thread.join(20)
    assert result["resp"].status == 410
    assert os.listdir(app.staging.directory) == []
    assert os.listdir(app.store.directory) == [app.images.get(keep)["data_file"]]
