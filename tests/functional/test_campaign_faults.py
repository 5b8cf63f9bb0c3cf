"""The attack campaign, kept: faults below the API.

* kill -9 of a uWSGI worker at each observable stage of an upload (claimed
  but no body yet; half the body in): a peer server that reads the image
  finds it ``queued``, no temp file is left, and the upload can be retried.
  The stage "whole body in, not yet committed" lasts only the final fsync
  and rename and cannot be caught from outside the process: not tested.
* disk full: the store on a 4 MiB tmpfs; an 8 MB upload gets a clean 413
  or 503 JSON error and leaves nothing behind.
* read-only store (the tmpfs remounted ``ro``): upload and stage get 503
  with no server path in the message; a delete that cannot remove the file
  leaves something a retry or start-up recovery finishes.
* a corrupt database at start-up: the server refuses to start with one
  clear ``glancelet:`` line and no traceback.

The tmpfs needs root (``mount``); without it the tests fail and print the
command to run them with.
"""

import hashlib
import os
import signal
import socket
import subprocess

import pytest

from glancelet import app as app_mod
from glancelet.store import TEMP_PREFIX
from lab.harness import Server, assert_refused, free_port

from .conftest import CampaignClient, RemoteClient, make_conf
from .test_import import Node, server_argv, wait_for

MiB = 1024 * 1024
OCTETS = {"Content-Type": "application/octet-stream"}


def temp_files(*directories):
    return [n for d in directories for n in os.listdir(d) if n.startswith(TEMP_PREFIX)]


# -- kill -9 at each stage of an upload ----------------------------------------------

@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A node's shared config, and a gunicorn peer that outlives the victims."""
    node = Node(tmp_path_factory.mktemp("faults-node"), 9)
    try:
        node.peer = node.start("peer", "gunicorn")
        yield node
    finally:
        logs = node.peer.log_text()
        node.stop_all()
        assert "Traceback" not in logs, logs


def _claimed(node, image_id):
    row = node.row("images", image_id)
    return row if row["status"] == "saving" else None


def _half_written(node):
    directory = node.tmp / "images"
    return [n for n in temp_files(directory)
            if os.path.getsize(directory / n) >= 2 * MiB]


@pytest.mark.parametrize("stage", ["before-body", "mid-body"])
def test_kill_9_during_an_upload(node, campaign, stage):
    """The worker is SIGKILLed with the upload claimed (before the body, or with
    half of it written); the image goes back to ``queued``, no temp file stays,
    and a retry through another server stores the data."""
    victim = node.start("victim-" + stage, "uwsgi", workers=1, master=False)
    data = os.urandom(4 * MiB + 3)
    image_id = campaign.send("POST", victim.url + "/v2/images", json={}).json()["id"]
    port = int(victim.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(("PUT /v2/images/%s/file HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
                      % (image_id, len(data))).encode())
        campaign.requests += 1  # never answered: the worker dies
        wait_for(lambda: _claimed(node, image_id), 10, what="the upload to be claimed")
        if stage == "mid-body":
            sock.sendall(data[:len(data) // 2 + MiB])
            wait_for(lambda: _half_written(node), 10, what="half the body on disk")
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(10) == -signal.SIGKILL
    finally:
        sock.close()

    peer = node.peer.url
    shown = campaign.send("GET", peer + "/v2/images/" + image_id).json()
    assert (shown["status"], shown["size"]) == ("queued", None)
    assert temp_files(node.tmp / "images") == []
    assert campaign.send("PUT", peer + "/v2/images/%s/file" % image_id, data=data,
                         headers=OCTETS).status_code == 204
    bad, temps = campaign.check_images(RemoteClient(peer, campaign),
                                       [str(node.tmp / "images"), str(node.tmp / "staging")])
    assert (bad, temps, campaign.server_errors) == ([], [], 0)
    assert hashlib.md5(campaign.send("GET", peer + "/v2/images/%s/file" % image_id)
                       .content).hexdigest() == hashlib.md5(data).hexdigest()


# -- A small, full, or read-only store -----------------------------------------------

def _mount(argv):
    if os.geteuid() != 0:
        pytest.fail("the store faults need root to mount a tmpfs; run as root: "
                    "sudo %s" % " ".join(argv))
    subprocess.run(argv, check=True, capture_output=True, text=True)


@pytest.fixture
def small_store(tmp_path, campaign):
    """An app whose store and staging directories are on a 4 MiB tmpfs of their own."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    _mount(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)])
    try:
        conf = make_conf(tmp_path, glance_store__filesystem_store_datadir=mount_point / "images",
                         os_glance_staging_store__filesystem_store_datadir=mount_point
                         / "staging")
        app = app_mod.create_app(conf)
        app.mount_point = mount_point
        app.conf_for_restart = conf
        yield CampaignClient(app, campaign)
        app.task_pool.drain(10)
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def _directories(client):
    return [str(client.app.mount_point / "images"), str(client.app.mount_point / "staging")]


def _assert_no_path(resp, client):
    message = resp.error
    for path in (client.app.mount_point, client.app.mount_point.parent):
        assert str(path) not in message, message


def test_disk_full_is_a_clean_error(small_store, campaign):
    """An 8 MB upload into 4 MiB: 413 or 503 JSON error, image ``queued``, nothing
    partial; a smaller upload then works."""
    client = small_store
    for path, image_status in (("file", "queued"), ("stage", "queued")):
        image_id = client.create(disk_format="raw", container_format="bare")["id"]
        with campaign.requiring(503):
            resp = client.request("PUT", "/v2/images/%s/%s" % (image_id, path),
                                  os.urandom(8 * MiB), headers=OCTETS)
        assert resp.status in (413, 503), (path, resp.status, resp.body)
        _assert_no_path(resp, client)
        assert client.get("/v2/images/" + image_id).json()["status"] == image_status
        assert temp_files(*_directories(client)) == []
        assert client.upload(image_id, b"x" * 100_000).status == 204
    bad, temps = campaign.check_images(client, _directories(client))
    assert (bad, temps, campaign.server_errors) == ([], [], 0)


def test_read_only_store_is_503_without_paths(small_store, campaign):
    """Finding 9: with the store remounted read-only, upload and stage answer
    503 with no server path, reads still work, and a delete that cannot remove
    the file is finished by a retry or by start-up recovery: no orphaned file."""
    client = small_store
    kept = client.create()["id"]
    assert client.upload(kept, b"k" * 1000).status == 204
    doomed = client.create()["id"]
    assert client.upload(doomed, b"d" * 1000).status == 204
    _mount(["mount", "-o", "remount,ro", str(client.app.mount_point)])
    try:
        for path in ("file", "stage"):
            image_id = client.create(disk_format="raw", container_format="bare")["id"]
            with campaign.requiring(503):
                resp = client.request("PUT", "/v2/images/%s/%s" % (image_id, path),
                                      b"x" * 1000, headers=OCTETS)
            assert resp.status == 503, (path, resp.status, resp.body)
            _assert_no_path(resp, client)
            assert client.get("/v2/images/" + image_id).json()["status"] == "queued"
        assert client.get("/v2/images/%s/file" % kept).body == b"k" * 1000
        with campaign.requiring(503):
            first = client.delete("/v2/images/" + doomed)
        assert first.status in (204, 503), (first.status, first.body)
        if first.status == 503:
            _assert_no_path(first, client)
    finally:
        _mount(["mount", "-o", "remount,rw", str(client.app.mount_point)])
    retry = client.delete("/v2/images/" + doomed)
    assert retry.status == (204 if first.status == 503 else 404)
    app_mod.create_app(client.app.conf_for_restart)  # start-up recovery, the reaper
    left = [n for d in _directories(client) for n in os.listdir(d) if doomed in n]
    assert left == []
    assert campaign.server_errors == 0


# -- A corrupt database at start-up --------------------------------------------------

@pytest.mark.parametrize("kind", ["gunicorn", "uwsgi"])
def test_corrupt_database_refuses_to_start(tmp_path, kind):
    """The server exits with one ``glancelet:`` line naming the database
    problem, and no traceback through glancelet (``assert_refused``; gunicorn
    without preload imports the app in each worker, so each prints it)."""
    node = Node(tmp_path, 9)
    node.db_path.write_bytes(b"this is not an SQLite database\n" * 200)
    server = Server(kind, server_argv(kind, free_port()), tmp_path / "server.log",
                    env={"GLANCELET_CONFIG_FILE": str(node.config)}, cwd=str(tmp_path)).start()
    code = server.wait(60)
    log = server.log_text()
    server.kill_group()  # ours; nothing of it may outlive the test
    assert code is not None, log
    line = assert_refused(server, code, "glancelet: cannot use the database")
    assert str(node.db_path) in line and "file is not a database" in line, log
