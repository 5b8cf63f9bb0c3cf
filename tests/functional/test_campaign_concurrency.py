"""The attack campaign, kept: races between requests, as regression tests.

Each test races requests in threads against the in-process app and, where a
second process matters, against gunicorn with 2 worker processes sharing one
database and one store; on each backend (``db_url``: SQLite, and PostgreSQL
and MariaDB under ``tox -e db``). Afterwards every active image's bytes must match
its ``checksum`` (md5) and ``os_hash_value`` (sha512), no temp file may be
left in the store or staging directories, and nothing may have been answered
with a 5xx. Synchronisation is by events and barriers, never by sleeping;
every loop is bounded in count and in time.
"""

import concurrent.futures
import hashlib
import json
import os
import random
import threading
import time

import pytest

from glancelet import app as app_mod

from .conftest import CampaignClient, RemoteClient, make_conf, race
from .test_import import Node

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
OCTETS = {"Content-Type": "application/octet-stream"}
KB = 1000


class Target:
    """Where the racing requests go: a client, and the data directories to check."""

    def __init__(self, client, directories, app=None):
        self.client = client
        self.directories = directories
        self.app = app

    def create(self, **props):
        resp = self.client.request("POST", "/v2/images", props)
        assert resp.status == 201, resp.body
        return resp.json()["id"]

    def upload(self, image_id, data):
        return self.client.request("PUT", "/v2/images/%s/file" % image_id, data,
                                   headers=OCTETS).status

    def patch(self, image_id, ops):
        return self.client.request("PATCH", "/v2/images/" + image_id,
                                   json.dumps(ops).encode(), headers=PATCH).status

    def show(self, image_id):
        return self.client.request("GET", "/v2/images/" + image_id)

    def settle(self, campaign):
        """The checks every race ends with: hashes, temp files, 5xx."""
        bad, temps = campaign.check_images(self.client, self.directories)
        assert (bad, temps, campaign.server_errors) == ([], [], 0)


def _in_process(tmp_path, campaign, db_url):
    conf = make_conf(tmp_path, database__connection=db_url)
    app = app_mod.create_app(conf)
    return Target(CampaignClient(app, campaign), list(conf.data_paths[1:]), app)


@pytest.fixture
def local(tmp_path, campaign, db_url):
    target = _in_process(tmp_path, campaign, db_url)
    yield target
    target.app.task_pool.drain(10)


@pytest.fixture(params=["in-process", "gunicorn-2-processes"])
def target(request, tmp_path, campaign, db_url):
    """The in-process app (threads), or gunicorn with 2 processes on one database."""
    if request.param == "in-process":
        target = _in_process(tmp_path, campaign, db_url)
        yield target
        target.app.task_pool.drain(10)
        return
    node = Node(tmp_path, 9, db_url)
    server = node.start("gunicorn", "gunicorn")
    try:
        yield Target(RemoteClient(server.url, campaign),
                     [str(tmp_path / "images"), str(tmp_path / "staging")])
        assert server.stop() == 0, server.log_text()
    finally:
        node.stop_all()


# -- Finding 1 (and 2): an upload held mid-body while its image changes hands ---------

class HeldBody:
    """A ``wsgi.input`` that delivers ``data`` but stops after ``hold_at`` bytes
    until :attr:`release` is set (a slow client, deterministically)."""

    def __init__(self, data, hold_at):
        self.data = data
        self.hold_at = hold_at
        self.pos = 0
        self.held = threading.Event()
        self.release = threading.Event()

    def read(self, size=-1):
        if size is None or size < 0:
            size = len(self.data)
        limit = len(self.data) if self.release.is_set() else self.hold_at
        if self.pos >= limit and self.pos < len(self.data):
            self.held.set()
            if not self.release.wait(30):
                raise OSError("the test never released the held body")
            limit = len(self.data)
        chunk = self.data[self.pos:min(self.pos + size, limit)]
        self.pos += len(chunk)
        return chunk


def _start_held_upload(local, image_id, size=6 * KB * KB):
    body = HeldBody(os.urandom(size), hold_at=size // 2)
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(local.client.request, "PUT", "/v2/images/%s/file" % image_id,
                         b"", headers=OCTETS,
                         environ={"wsgi.input": body, "CONTENT_LENGTH": str(size)})
    assert body.held.wait(10), "the upload never reached the middle of its body"
    return body, future, pool


def test_delete_and_recreate_during_a_slow_upload(local, campaign):
    """Issue 10 findings 1 and 2: a 6 MB upload is held half-way; meanwhile the
    image is deleted, its id is POSTed again, and 300 kB are uploaded to it.

    Required: the id is not given out again (409), the held upload fails with a
    4xx when it ends, and no data of either upload is left under the id."""
    image_id = local.create(id="0b5e6b57-5c1e-4c2e-9d43-1f0c5b8a6a01")
    body, future, pool = _start_held_upload(local, image_id)
    problems = []
    assert local.client.request("DELETE", "/v2/images/" + image_id).status == 204
    again = local.client.request("POST", "/v2/images", {"id": image_id})
    if again.status != 409:
        problems.append("finding 2: re-creating deleted id answered %d" % again.status)
    winner = os.urandom(300 * KB)
    second = local.upload(image_id, winner)
    body.release.set()
    held = future.result(timeout=60)
    pool.shutdown()
    if not 400 <= held.status < 500:
        problems.append("finding 1: the held upload answered %d" % held.status)
    shown = local.show(image_id)
    if again.status == 201 and second == 204:  # the id came back: it must hold the winner
        data = local.client.request("GET", "/v2/images/%s/file" % image_id)
        if (shown.json()["status"], data.status, data.body) != ("active", 200, winner):
            problems.append("finding 1: the recreated image is %s and its download is %d "
                            "with %d bytes" % (shown.json()["status"], data.status,
                                               len(data.body)))
    elif shown.status != 404 or any(image_id in n for d in local.directories
                                    for n in os.listdir(d)):
        problems.append("finding 1: data of deleted image %s left behind" % image_id)
    bad, temps = campaign.check_images(local.client, local.directories)
    assert (problems, bad, temps, campaign.server_errors) == ([], [], [], 0)


def test_an_upload_that_lost_its_claim_leaves_the_winners_data(local, campaign):
    """Finding 1 without id reuse: the held upload's claim is taken from it (the
    row goes back to ``queued``, as recovery does for a worker it believes gone),
    another upload wins, then the held one ends. It must fail and must not
    rename over, or delete, the winner's file."""
    image_id = local.create()
    body, future, pool = _start_held_upload(local, image_id)
    assert local.app.images.transition(image_id, "saving", "queued", {"worker": None})
    winner = os.urandom(300 * KB)
    assert local.upload(image_id, winner) == 204
    body.release.set()
    held = future.result(timeout=60)
    pool.shutdown()
    assert 400 <= held.status < 500, held.status
    data = local.client.request("GET", "/v2/images/%s/file" % image_id)
    assert (data.status, hashlib.md5(data.body).hexdigest()) == (
        200, hashlib.md5(winner).hexdigest())
    local.settle(campaign)


# -- Finding 5: lost updates answered with 2xx ------------------------------------------

def test_parallel_tag_puts_are_all_kept(target, campaign):
    """Eight parallel ``PUT .../tags/tN``: eight 204s, eight tags (5 images in turn,
    as one race of eight can miss the window)."""
    for _ in range(5):
        image_id = target.create()
        statuses = race(8, 8, lambda i: target.client.request(
            "PUT", "/v2/images/%s/tags/t%d" % (image_id, i)).status)
        assert statuses == [204] * 8
        assert sorted(target.show(image_id).json()["tags"]) == ["t%d" % i for i in range(8)]
    target.settle(campaign)


def test_parallel_patches_are_all_kept(target, campaign):
    """200 PATCHes on 16 threads, each adding its own property: all 200 kept."""
    image_id = target.create()
    statuses = race(200, 16, lambda i: target.patch(
        image_id, [{"op": "add", "path": "/p%03d" % i, "value": str(i)}]))
    assert statuses == [200] * 200
    shown = target.show(image_id).json()
    missing = [i for i in range(200) if shown.get("p%03d" % i) != str(i)]
    assert missing == []
    target.settle(campaign)


# -- A bounded create/list/delete storm -----------------------------------------------

STORM_THREADS = 4
STORM_STEPS = 60  # per thread
STORM_SECONDS = 40


def test_create_list_delete_storm(target, campaign):
    """4 threads × 60 steps (40 s at most) of create, upload, list, patch, tag and
    delete, some aimed at other threads' images. Every upload answered 204 on an
    image not deleted afterwards is active with its bytes; no 5xx."""
    deadline = time.monotonic() + STORM_SECONDS
    shared, lock = [], threading.Lock()
    uploaded, deleted = {}, set()

    def storm(thread_no):
        rnd = random.Random(thread_no)
        for _ in range(STORM_STEPS):
            if time.monotonic() > deadline:
                return
            with lock:
                victim = rnd.choice(shared) if shared else None
            step = rnd.choice(("create", "upload", "upload", "list", "patch", "tag",
                               "delete"))
            if step == "create" or victim is None:
                image_id = target.create(name="storm-%d" % thread_no)
                with lock:
                    shared.append(image_id)
            elif step == "upload":
                data = rnd.randbytes(rnd.randint(1, 64 * KB))
                if target.upload(victim, data) == 204:
                    with lock:
                        uploaded[victim] = data
            elif step == "list":
                assert target.client.request("GET", "/v2/images?limit=5").status == 200
            elif step == "patch":
                target.patch(victim, [{"op": "add", "path": "/t%d" % thread_no,
                                       "value": "x"}])
            elif step == "tag":
                target.client.request("PUT", "/v2/images/%s/tags/s%d" % (victim, thread_no))
            elif target.client.request("DELETE", "/v2/images/" + victim).status == 204:
                with lock:
                    deleted.add(victim)

    race(STORM_THREADS, STORM_THREADS, storm)
    for image_id, data in uploaded.items():
        if image_id in deleted:
            assert target.show(image_id).status == 404
            continue
        shown = target.show(image_id).json()
        assert (shown["status"], shown["checksum"]) == ("active",
                                                        hashlib.md5(data).hexdigest())
    target.settle(campaign)
