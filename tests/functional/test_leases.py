"""Leases: work a process on another host left is released once its lease
expires, without that host coming back (:mod:`glancelet.lease`).

The other host's processes are simulated: their claims name a host that is
not this one, and their heartbeats are rows written with a chosen time. The
lease clock is the test's (``app.lease.now``)."""

import os
import time

import pytest

from glancelet import app as app_mod, domain, recovery

from .conftest import Client, make_conf
from tests.unit.test_tasks import add_image, add_task, stage_file

TIMEOUT = 60
OTHER = "node-b.example|4242|777"   # a process of another host


@pytest.fixture
def clock():
    return [1_000_000.0]


@pytest.fixture
def app(tmp_path, clock):
    application = app_mod.create_app(make_conf(tmp_path, DEFAULT__worker_lease_timeout=TIMEOUT))
    application.lease.now = lambda: clock[0]
    yield application
    application.task_pool.drain(5)


def claim(process=OTHER):
    return "%s|%s" % (process, os.urandom(6).hex())


def beat(app, clock, process=OTHER, ago=0.0):
    app.lease.workers.beat(process, process.split("|")[0], clock[0] - ago)


def test_an_upload_of_a_process_whose_lease_expired_is_released(app, clock):
    image_id = add_image(app, "saving", claim())
    beat(app, clock, ago=TIMEOUT + 1)
    shown = Client(app).get("/v2/images/" + image_id).json()
    assert shown["status"] == "queued"
    assert Client(app).upload(image_id, b"retry").status == 204


def test_an_upload_of_a_process_with_no_lease_is_released(app):
    image_id = add_image(app, "saving", claim())
    assert Client(app).get("/v2/images/" + image_id).json()["status"] == "queued"


def test_a_live_lease_keeps_the_claim(app, clock):
    image_id = add_image(app, "saving", claim())
    beat(app, clock, ago=TIMEOUT - 1)
    assert Client(app).get("/v2/images/" + image_id).json()["status"] == "saving"
    clock[0] += 2   # no heartbeat since: now it has expired
    assert Client(app).get("/v2/images/" + image_id).json()["status"] == "queued"


def test_an_import_of_a_dead_node_fails_its_task_and_keeps_the_staged_data(app, clock):
    worker = claim()
    image_id = add_image(app, "importing", worker, size=12)
    staged = stage_file(app, image_id)
    task_id = add_task(app, image_id, "glance-direct", worker)
    beat(app, clock, ago=TIMEOUT + 5)
    task = recovery.reap_task(app, app.tasks.get(task_id))
    assert task["status"] == "failure"
    assert "the process that ran it (%s) is gone" % worker in task["message"]
    image = app.images.get(image_id)
    assert (image["status"], image["worker"]) == ("uploading", None)
    assert app.staging.exists(staged)


def test_a_web_download_of_a_dead_node_is_released_at_start_up(app, clock, tmp_path):
    worker = claim()
    image_id = add_image(app, "importing", worker)
    task_id = add_task(app, image_id, "web-download", worker)
    beat(app, clock, ago=TIMEOUT + 5)
    restarted = app_mod.create_app(make_conf(tmp_path, DEFAULT__worker_lease_timeout=TIMEOUT))
    # The heartbeat above is dated by the test's clock, long before the real now.
    assert restarted.images.get(image_id)["status"] == "queued"
    assert restarted.tasks.get(task_id)["status"] == "failure"


def test_a_dead_process_on_this_host_is_noticed_at_once(app, clock):
    """The PID check stays the fast path on the claimant's own host: a fresh
    lease does not keep a process that is gone."""
    gone = "%s|999999999|1" % domain.worker_id().split("|")[0]
    image_id = add_image(app, "saving", claim(gone))
    beat(app, clock, process=gone)
    assert Client(app).get("/v2/images/" + image_id).json()["status"] == "queued"


def test_a_serving_process_renews_its_lease(tmp_path):
    app = app_mod.create_app(make_conf(tmp_path, DEFAULT__worker_lease_timeout=4))
    me = domain.worker_id()
    assert app.lease.workers.heartbeat_at(me) is None
    assert Client(app).get("/v2/images").status == 200
    first = app.lease.workers.heartbeat_at(me)
    assert first is not None and abs(first - time.time()) < 5
    deadline = time.monotonic() + 10
    while app.lease.workers.heartbeat_at(me) == first and time.monotonic() < deadline:
        time.sleep(0.1)
    assert app.lease.workers.heartbeat_at(me) > first
    assert app.lease.alive(claim(me))
