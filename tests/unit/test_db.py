"""The SQLite database when several processes open it at once (issue 10, finding 11)."""

import multiprocessing
import sqlite3
import sys
import threading

import pytest

from glancelet import db, domain, tasks

PROCESSES = 6
FILES = 120
# The DDL of the schema glancelet made before versioned migrations (version 1).
V1_SQLITE = ";\n".join(db.DIALECTS["sqlite"].statements(db.SCHEMA_V1)) + ";\n"


def _open_all(paths, barrier, results):
    """Open each new database in turn, as the workers of FILES servers starting."""
    failures = []
    barrier.wait()
    for path in paths:
        try:
            database = db.connect("sqlite:///" + path)
            db.ImageRepo(database).add({
                "id": str(multiprocessing.current_process().pid), "status": "queued",
                "visibility": "shared", "created_at": "t", "updated_at": "t"})
        except Exception as exc:  # report any failure to the parent
            failures.append(repr(exc))
    results.put(failures)


def test_processes_opening_a_new_database_at_once(tmp_path):
    """PROCESSES processes open the same FILES new databases, in the same order,
    starting at the same moment, and each writes a row in each. Before the
    fix, a few of these opens failed with "database is locked" at the WAL
    switch."""
    paths = [str(tmp_path / ("db-%d.sqlite" % n)) for n in range(FILES)]
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(PROCESSES, timeout=30), ctx.Queue()
    procs = [ctx.Process(target=_open_all, args=(paths, barrier, results))
             for _ in range(PROCESSES)]
    for proc in procs:
        proc.start()
    failures = [f for _ in procs for f in results.get(timeout=120)]
    for proc in procs:
        proc.join(30)
    assert failures == []
    for path in paths:
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT count(*) FROM images").fetchone() == (PROCESSES,)
        conn.close()


def test_a_new_connection_does_not_ask_for_wal(tmp_path, monkeypatch):
    """WAL is switched on once, when the database is opened; a thread's own
    connection sets its busy timeout first, and never asks for WAL."""
    database = db.connect("sqlite:///%s" % (tmp_path / "one.sqlite"))
    statements = []
    original = sqlite3.connect

    def traced(*args, **kwargs):
        conn = original(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(db.sqlite3, "connect", traced)
    thread = threading.Thread(target=lambda: database.connection().execute("SELECT 1"))
    thread.start()
    thread.join(10)
    assert statements[0] == "PRAGMA busy_timeout=30000"
    assert not any("journal_mode" in s for s in statements)
    assert statements[-1] == "SELECT 1"


# -- The image state machine (issue 10, where the fixes live) ---------------------------

def _repos(tmp_path):
    database = db.connect("sqlite:///%s" % (tmp_path / "glancelet.sqlite"))
    images = db.ImageRepo(database)
    images.add(domain.new_record("0b6b3c40-3c1f-4b4e-9d3f-000000000001", "p", {}))
    return images, db.TaskRepo(database), "0b6b3c40-3c1f-4b4e-9d3f-000000000001"


def test_a_status_changes_only_by_a_transition_that_transitions_allows(tmp_path):
    images, _, image_id = _repos(tmp_path)
    with pytest.raises(ValueError):
        images.update(image_id, {"status": "active"})
    with pytest.raises(domain.InvalidTransition):
        images.transition(image_id, "queued", "deactivated")
    with pytest.raises(domain.InvalidTransition):   # one forbidden source is enough
        images.transition(image_id, ("queued", "killed"), "active")
    assert images.get(image_id)["status"] == "queued"
    assert images.transition(image_id, "saving", "queued") is None  # not in the source
    assert images.transition(image_id, "queued", "saving", {"worker": "w"})["status"] \
        == "saving"
    assert images.transition(image_id, "saving", "active", worker="other") is None
    assert images.transition(image_id, "saving", "saving", {"size": 1}, worker="w")["size"] \
        == 1
    assert images.transition(image_id, "saving", "active", {"worker": None},
                             worker="w")["status"] == "active"


def test_a_task_cannot_move_its_image_where_transitions_forbid(tmp_path):
    images, task_repo, image_id = _repos(tmp_path)
    images.transition(image_id, "queued", "importing", {"worker": "w"})
    task = tasks.new_task(image_id, "p", {"method": {"name": "web-download"}}, "w")
    task_repo.add(task)
    with pytest.raises(domain.InvalidTransition):
        task_repo.finish(task["id"], domain.final_task(domain.utcnow(), "failure"),
                         image_id, {"status": "saving", "worker": None}, "importing", "w")
    assert images.get(image_id)["status"] == "importing"
    assert task_repo.get(task["id"])["status"] == "pending"
    assert task_repo.finish(task["id"], domain.final_task(domain.utcnow(), "success"),
                            image_id, {"status": "active", "worker": None}, "importing", "w")
    assert images.get(image_id)["status"] == "active"


def test_every_live_status_can_be_deleted(tmp_path):
    assert set(domain.sources_of(db.DELETED)) == set(domain.STATUSES)


def test_a_database_from_before_task_request_ids_gains_them(tmp_path):
    """Tasks written before keep no request id; new ones record theirs."""
    path = str(tmp_path / "old.sqlite")
    conn = sqlite3.connect(path)
    conn.executescript(V1_SQLITE.replace("    request_id TEXT,\n    user_id TEXT\n", "")
                       .replace("expires_at TEXT,\n", "expires_at TEXT\n"))
    conn.execute("INSERT INTO tasks (id, type, status, created_at, updated_at) "
                 "VALUES ('old', 'api_image_import', 'success', 't', 't')")
    conn.commit()
    conn.close()
    task_repo = db.TaskRepo(db.connect("sqlite:///" + path))
    assert (task_repo.get("old")["request_id"], task_repo.get("old")["user_id"]) == (None, None)
    task = tasks.new_task("i", "p", {}, "w", request_id="req-1", user_id="u")
    task_repo.add(task)
    assert (task_repo.get(task["id"])["request_id"], task_repo.get(task["id"])["user_id"]) \
        == ("req-1", "u")


@pytest.mark.parametrize("url, extra", [("postgresql+psycopg://u:pw@127.0.0.1/g", "postgresql"),
                                        ("mysql+pymysql://u:pw@127.0.0.1/g", "mysql")])
def test_a_server_url_without_its_extra_says_which_to_install(monkeypatch, url, extra):
    """glancelet itself needs only the standard library; a server URL names its extra."""
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)   # import sqlalchemy fails
    with pytest.raises(db.UnusableDatabase) as refused:
        db.connect(url)
    assert "pip install 'glancelet[%s]'" % extra in str(refused.value)
    assert "pw" not in str(refused.value)


def test_the_sql_is_rendered_per_dialect():
    """Version 1 on SQLite is the DDL of before (TEXT keys, no table options);
    the servers get indexable keys, 64-bit sizes and, on MySQL, InnoDB utf8mb4_bin."""
    sqlite, postgresql, mysql = (db.DIALECTS[name].statements(db.SCHEMA_V1)
                                 for name in ("sqlite", "postgresql", "mysql"))
    assert "    id TEXT PRIMARY KEY," in sqlite[0] and sqlite[0].endswith(")")
    assert "    size BIGINT," in postgresql[0] and "id VARCHAR(255) PRIMARY KEY" in postgresql[0]
    assert mysql[0].endswith(") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
    assert "properties TEXT NOT NULL DEFAULT '{}'" in mysql[0]
    assert len(sqlite) == len(postgresql) == len(mysql) == 7
