"""The SQLite database when several processes open it at once (issue 10, finding 11)."""

import multiprocessing
import sqlite3
import threading

from glancelet import db

PROCESSES = 6
FILES = 120


def _open_all(paths, barrier, results):
    """Open each new database in turn, as the workers of FILES servers starting."""
    failures = []
    barrier.wait()
    for path in paths:
        try:
            database = db.Database(path)
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
    database = db.Database(str(tmp_path / "one.sqlite"))
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
