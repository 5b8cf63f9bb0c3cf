"""The metadata store's guarantees on every backend (``db_url``: SQLite, and
under ``tox -e db`` PostgreSQL and MariaDB too): one winner when workers race
for a row, nothing lost, the dialect's SQL (JSON filters, NULL ordering,
keyset pages), and the versioned schema (``glancelet-manage db_sync``).

Races are threads, each with its own connection (SQLite: per thread; a
server: from the pool), released together by a barrier; every round is
bounded in count and time (``race``).
"""

import sqlite3

import pytest

from glancelet import app as app_mod
from glancelet import db, domain, manage, tasks

from .conftest import Client, make_conf, new_database, race

ROUNDS = 10
RACERS = 8


def _repos(url):
    database = db.connect(url)
    return db.ImageRepo(database), db.TaskRepo(database), db.MemberRepo(database)


def _new_image(images, n, **fields):
    record = domain.new_record("0b6b3c40-3c1f-4b4e-9d3f-%012d" % n, "p", {})
    record.update(fields)
    assert images.add(record)
    return record["id"]


def test_one_worker_moves_an_image_out_of_a_state(db_url):
    images, _, _ = _repos(db_url)
    for n in range(ROUNDS):
        image_id = _new_image(images, n)
        won = race(RACERS, RACERS, lambda i: images.transition(
            image_id, "queued", "saving", {"worker": "w%d" % i}))
        winners = [r for r in won if r is not None]
        assert len(winners) == 1, won
        assert images.get(image_id)["worker"] == winners[0]["worker"]


def test_one_compare_and_swap_wins_per_version(db_url):
    images, _, _ = _repos(db_url)
    image_id = _new_image(images, 1)
    for n in range(ROUNDS):
        version = images.get(image_id)["version"]
        won = race(RACERS, RACERS, lambda i: images.update(
            image_id, {"name": "r%d-%d" % (n, i)}, expect_version=version))
        assert sum(r is not None for r in won) == 1, won
        assert images.get(image_id)["version"] == version + 1


def test_one_insert_takes_an_id(db_url):
    images, _, _ = _repos(db_url)
    for n in range(ROUNDS):
        record = domain.new_record("0b6b3c40-3c1f-4b4e-9d3f-%012d" % n, "p", {})
        assert sorted(race(RACERS, RACERS, lambda i: images.add(dict(record)))) \
            == [False] * (RACERS - 1) + [True]


def test_one_delete_and_no_transition_after_it(db_url):
    images, _, _ = _repos(db_url)
    for n in range(ROUNDS):
        image_id = _new_image(images, n)
        now = domain.utcnow()
        outcomes = race(RACERS, RACERS, lambda i: (
            images.delete(image_id, now) if i % 2 else
            images.transition(image_id, "queued", "saving", {"worker": "w%d" % i})))
        deletes = [r for i, r in enumerate(outcomes) if i % 2 and r is not None]
        assert len(deletes) == 1, outcomes
        assert images.get(image_id) is None
        assert images.transition(image_id, ("queued", "saving"), "queued") is None


def test_members_never_exceed_the_limit(db_url):
    images, _, members = _repos(db_url)
    for n in range(3):
        image_id = _new_image(images, n, visibility="shared")
        now = domain.utcnow()
        answers = race(3 * RACERS, RACERS, lambda i: members.add(
            {"image_id": image_id, "member": "m%d" % i, "status": "pending",
             "created_at": now, "updated_at": now}, limit=5))
        assert (answers.count(None), answers.count("full")) == (5, 3 * RACERS - 5), answers
        assert len(members.list(image_id)) == 5


def test_a_task_and_its_image_end_together_once(db_url):
    images, task_repo, _ = _repos(db_url)
    for n in range(ROUNDS):
        image_id = _new_image(images, n)
        images.transition(image_id, "queued", "importing", {"worker": "w"})
        task = tasks.new_task(image_id, "p", {"method": {"name": "web-download"}}, "w")
        task_repo.add(task)
        done = race(RACERS, RACERS, lambda i: task_repo.finish(
            task["id"], domain.final_task(domain.utcnow(), "success"), image_id,
            {"status": "active" if i % 2 else "queued", "worker": None}, "importing", "w"))
        assert done.count(True) == 1, done
        assert task_repo.get(task["id"])["status"] == "success"


def test_list_filters_sorts_and_pages_alike(db_url, tmp_path):
    """Tags and properties (the JSON lookups), NULLs sorting first ascending
    and last descending, and keyset pages, through the API."""
    client = Client(app_mod.create_app(make_conf(tmp_path, database__connection=db_url)))
    made = []
    for n in range(7):
        props = {"name": "n%d" % (n % 3) if n % 4 else None, "tags": ["t%d" % (n % 2), "all"],
                 "os_distro": "d%d" % (n % 3), "min_disk": n % 3}
        made.append(client.create(**props))
    by_id = {image["id"]: image for image in made}

    def listed(query):
        ids, url = [], "/v2/images?limit=2&" + query
        for _ in range(10):
            doc = client.get(url).json()
            ids += [image["id"] for image in doc["images"]]
            url = doc.get("next")
            if not url:
                return ids
        raise AssertionError("more than 10 pages")

    assert sorted(listed("tag=t1")) == sorted(i for i, m in by_id.items() if "t1" in m["tags"])
    assert sorted(listed("os_distro=d2")) == sorted(
        i for i, m in by_id.items() if m["os_distro"] == "d2")
    assert listed("tag=nope") == [] and listed("os_distro=nope") == []
    for direction in ("asc", "desc"):
        ids = listed("sort_key=name&sort_dir=%s" % direction)
        names = [by_id[i]["name"] for i in ids]
        nulls = [name is None for name in names]
        assert nulls == sorted(nulls, reverse=direction == "asc"), names
        present = [name for name in names if name is not None]
        assert present == sorted(present, reverse=direction == "desc")
        assert sorted(ids) == sorted(by_id)
    ids = listed("sort=min_disk:desc,name:asc")
    assert [by_id[i]["min_disk"] for i in ids] == sorted(
        (m["min_disk"] for m in made), reverse=True)


# -- The versioned schema: glancelet-manage db_sync ------------------------------------

def _sync(tmp_path, url, *args):
    config = tmp_path / "sync.conf"
    config.write_text("[database]\nconnection = %s\n" % url)
    return manage.main(["--config-file", str(config), *args])


def test_db_sync_upgrades_version_1_and_keeps_the_data(request, db_url, tmp_path, capsys):
    """A database at version 1 (db_sync 1) with rows, then db_sync: every row
    is kept and the version moves to the latest."""
    backend = request.node.callspec.params["db_url"]
    url = new_database(request, backend, tmp_path / "v1", sync=False)
    assert _sync(tmp_path, url, "db_sync", "1") == 0
    assert "schema version 0 -> 1" in capsys.readouterr().out
    database = db.connect(url, sync=False)
    images, task_repo, members = (db.ImageRepo(database), db.TaskRepo(database),
                                  db.MemberRepo(database))
    image_id = _new_image(images, 1, visibility="shared", tags=["kept"])
    task = tasks.new_task(image_id, "p", {"method": {"name": "glance-direct"}}, "w")
    task_repo.add(task)
    now = domain.utcnow()
    assert members.add({"image_id": image_id, "member": "bob", "status": "accepted",
                        "created_at": now, "updated_at": now}, limit=10) is None
    assert _sync(tmp_path, url, "db_version") == 0
    assert capsys.readouterr().out == "1\n"

    assert _sync(tmp_path, url, "db_sync") == 0
    assert "schema version 1 -> %d" % db.LATEST in capsys.readouterr().out
    images, task_repo, members = _repos(url)
    assert images.get(image_id)["tags"] == ["kept"]
    assert task_repo.get(task["id"])["input"] == task["input"]
    assert members.get(image_id, "bob")["status"] == "accepted"
    assert db.schema_version(db.connect(url)) == db.LATEST
    assert _sync(tmp_path, url, "db_sync") == 0
    assert "schema version %d -> %d" % (db.LATEST, db.LATEST) in capsys.readouterr().out


def test_db_sync_upgrades_an_sqlite_file_from_before_versioning(tmp_path, capsys):
    """A file as glancelet made it before versioned migrations (version 1's
    DDL, no version table), with rows: db_sync keeps them and versions it."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(";\n".join(db.DIALECTS["sqlite"].statements(db.SCHEMA_V1)) + ";")
    conn.execute("INSERT INTO images (id, status, visibility, tags, created_at, updated_at) "
                 "VALUES ('old', 'active', 'private', '[\"t\"]', 'c', 'u')")
    conn.commit()
    conn.close()
    assert _sync(tmp_path, "sqlite:///%s" % path, "db_sync") == 0
    assert "schema version 0 -> %d" % db.LATEST in capsys.readouterr().out
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM glancelet_schema").fetchall() == [(db.LATEST,)]
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'tasks_status'").fetchall()
    conn.close()
    assert _repos("sqlite:///%s" % path)[0].get("old")["tags"] == ["t"]


def test_db_sync_refuses_a_bad_version_and_a_bad_url(tmp_path, capsys):
    url = "sqlite:///%s" % (tmp_path / "g.sqlite")
    with pytest.raises(SystemExit) as exited:
        _sync(tmp_path, url, "db_sync", str(db.LATEST + 1))
    assert exited.value.code == 2
    assert "version must be between 1 and %d" % db.LATEST in capsys.readouterr().err
    assert _sync(tmp_path, "mysql://x/y", "db_sync") == 1
    assert "glancelet-manage: [database] connection: expected an SQLAlchemy URL" \
        in capsys.readouterr().err
