"""The metadata store under several processes and threads, as servers run it.

uWSGI runs ``processes = 4``; mod_wsgi runs ``threads = 15`` in each daemon
process. All share one database: an SQLite file (WAL), or a PostgreSQL or
MariaDB server (``db_url``; ``tox -e db``). These tests run that shape with
real processes and threads against one database and check that nothing is
lost and every state transition happens exactly once.
"""

import concurrent.futures
import multiprocessing
import os
import threading

import pytest

from glancelet import app as app_mod

from .conftest import Client, make_conf, race

PROCESSES = 4
THREADS = 15
PER_THREAD = 4


def _worker(tmp_path, db_url, worker_no, results):
    # Each process builds its own app from the shared config, as a server's
    # worker does after fork.
    app = app_mod.create_app(make_conf(tmp_path, database__connection=db_url))
    client = Client(app)

    def one_thread(thread_no):
        made = []
        for i in range(PER_THREAD):
            name = "p%d-t%d-%d" % (worker_no, thread_no, i)
            image = client.create(name=name, tags=["shared"])
            assert client.request("PUT", "/v2/images/%s/tags/w%d" % (
                image["id"], worker_no)).status == 204
            resp = client.patch("/v2/images/%s" % image["id"],
                                [{"op": "add", "path": "/thread", "value": str(thread_no)}])
            assert resp.status == 200, resp.body
            made.append(image["id"])
        return made

    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        ids = [i for made in pool.map(one_thread, range(THREADS)) for i in made]
    results.put(ids)


def test_processes_and_threads_share_one_database(tmp_path, db_url):
    conf = make_conf(tmp_path, database__connection=db_url)
    app_mod.create_app(conf)  # create the schema once, as a master would
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(tmp_path, db_url, n, results))
             for n in range(PROCESSES)]
    for proc in procs:
        proc.start()
    ids = []
    for _ in procs:
        ids += results.get(timeout=120)
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    assert len(ids) == len(set(ids)) == PROCESSES * THREADS * PER_THREAD

    client = Client(app_mod.create_app(conf))
    listed, url = [], "/v2/images?limit=100&tag=shared"
    for _ in range(20):
        doc = client.get(url).json()
        listed += doc["images"]
        url = doc.get("next")
        if not url:
            break
    assert sorted(i["id"] for i in listed) == sorted(ids)
    for image in listed:
        assert len(image["tags"]) == 2
        assert "thread" in image


@pytest.fixture
def client(tmp_path, db_url):
    """The in-process app on each backend."""
    return Client(app_mod.create_app(make_conf(tmp_path, database__connection=db_url)))


def test_concurrent_uploads_to_one_image_have_one_winner(client):
    app = client.app
    image = client.create()

    racers = 8
    barrier = threading.Barrier(racers, timeout=10)

    def upload(n):
        barrier.wait()  # all racers claim the image at once
        return client.upload(image["id"], b"%d" % n * 10).status

    with concurrent.futures.ThreadPoolExecutor(racers) as pool:
        statuses = list(pool.map(upload, range(racers)))
    assert statuses.count(204) == 1, statuses
    assert statuses.count(409) == racers - 1, statuses
    shown = client.get("/v2/images/%s" % image["id"]).json()
    assert (shown["status"], shown["size"]) == ("active", 10)
    assert os.listdir(app.store.directory) == [app.images.get(image["id"])["data_file"]]


# -- Finding 5 of issue 10: no lost update answered with 2xx ------------------------------

def test_parallel_tag_changes_are_all_kept(client):
    image_id = client.create()["id"]
    tags = ["t%d" % i for i in range(100)]
    statuses = race(100, 16, lambda i: client.request(
        "PUT", "/v2/images/%s/tags/%s" % (image_id, tags[i])).status)
    assert statuses == [204] * 100
    assert sorted(client.get("/v2/images/%s" % image_id).json()["tags"]) == sorted(tags)
    statuses = race(100, 16, lambda i: client.request(
        "DELETE", "/v2/images/%s/tags/%s" % (image_id, tags[i])).status)
    assert statuses == [204] * 100
    assert client.get("/v2/images/%s" % image_id).json()["tags"] == []


def _add_property(client, image_id, name):
    return client.patch("/v2/images/%s" % image_id,
                        [{"op": "add", "path": "/" + name, "value": "v"}]).status


def _patch_worker(tmp_path, db_url, image_id, worker_no, results):
    client = Client(app_mod.create_app(make_conf(tmp_path, database__connection=db_url)))
    try:
        statuses = race(40, 8, lambda i: _add_property(
            client, image_id, "x%d_%d" % (worker_no, i)))
        results.put(statuses)
    except BaseException as exc:  # report it to the parent, which asserts
        results.put(repr(exc))


def test_parallel_patches_from_processes_are_all_kept(tmp_path, db_url, client):
    """PROCESSES processes, 8 threads each, 40 PATCHes each, on one image."""
    image_id = client.create()["id"]
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=_patch_worker, args=(tmp_path, db_url, image_id, n, results))
             for n in range(PROCESSES)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
    assert outcomes == [[200] * 40] * PROCESSES
    image = client.get("/v2/images/%s" % image_id).json()
    assert sorted(k for k in image if k.startswith("x")) == sorted(
        "x%d_%d" % (n, i) for n in range(PROCESSES) for i in range(40))
