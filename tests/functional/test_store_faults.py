"""A read-only store (issue 10, finding 9): 503 without paths, and deletes that can be retried.

The store and staging directories are small tmpfs mounts that the test
remounts read-only (the tests run as root, whom file modes do not stop).
"""

import os
import subprocess

import pytest

from glancelet import app as app_mod

from .conftest import Client, make_conf

OCTETS = {"Content-Type": "application/octet-stream"}


class Mounts:
    """tmpfs mounts on ``images`` and ``staging`` under ``tmp_path``."""

    def __init__(self, tmp_path):
        self.paths = {}
        for name in ("images", "staging"):
            path = tmp_path / name
            path.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(path)],
                           check=True)
            self.paths[name] = path

    def set(self, name, mode):
        subprocess.run(["mount", "-o", "remount,%s" % mode, str(self.paths[name])],
                       check=True)

    def unmount(self):
        for path in self.paths.values():
            subprocess.run(["umount", str(path)], check=True)


@pytest.fixture
def mounts(tmp_path):
    mounts = Mounts(tmp_path)
    yield mounts
    mounts.unmount()


@pytest.fixture
def faulty(tmp_path, mounts):
    app = app_mod.create_app(make_conf(tmp_path))
    yield app, Client(app), mounts
    app.task_pool.drain(10)


def assert_503_without_paths(resp, tmp_path):
    assert resp.status == 503, resp.body
    assert "Read-only file system" in resp.error
    assert str(tmp_path) not in resp.body.decode() and "/images" not in resp.error


@pytest.mark.parametrize("target,directory", [("file", "images"), ("stage", "staging")])
def test_a_read_only_store_gives_503_and_the_image_stays_queued(faulty, tmp_path, target,
                                                                directory):
    app, client, mounts = faulty
    image_id = client.create(disk_format="raw", container_format="bare")["id"]
    mounts.set(directory, "ro")
    resp = client.request("PUT", "/v2/images/%s/%s" % (image_id, target), b"data" * 1000,
                          headers=OCTETS)
    assert_503_without_paths(resp, tmp_path)
    assert client.get("/v2/images/%s" % image_id).json()["status"] == "queued"
    mounts.set(directory, "rw")
    resp = client.request("PUT", "/v2/images/%s/%s" % (image_id, target), b"data" * 1000,
                          headers=OCTETS)
    assert resp.status == 204, resp.body


def test_a_delete_the_store_refuses_leaves_a_file_to_retry(faulty, tmp_path):
    """The image is deleted (404 from then on) and its file, which the
    read-only store keeps, is named by the tombstone; the next delete after
    the store recovers removes it, and so would the next start."""
    app, client, mounts = faulty
    image_id = client.create()["id"]
    assert client.upload(image_id, b"x" * 1000).status == 204
    [data_file] = os.listdir(mounts.paths["images"])
    mounts.set("images", "ro")
    assert client.delete("/v2/images/%s" % image_id).status == 204
    assert client.get("/v2/images/%s" % image_id).status == 404
    assert os.listdir(mounts.paths["images"]) == [data_file]
    assert [r["data_file"] for r in app.images.deleted_with_files()] == [data_file]

    restarted = app_mod.create_app(make_conf(tmp_path))  # still read-only: it starts
    assert os.listdir(mounts.paths["images"]) == [data_file]
    mounts.set("images", "rw")
    other = client.create()["id"]
    assert client.delete("/v2/images/%s" % other).status == 204
    assert os.listdir(mounts.paths["images"]) == []
    assert restarted.images.deleted_with_files() == []
