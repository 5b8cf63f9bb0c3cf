"""The SQLite database when several processes open it at once."""

import multiprocessing

from glancelet import db


def _open(path, barrier, results):
    barrier.wait()
    try:
        db.Database(path)
        results.put(None)
    except Exception as exc:  # report any failure to the parent
        results.put(repr(exc))


def test_processes_opening_a_new_database_at_once(tmp_path):
    """Four processes create the same new database at the same moment, 20
    times over (a server's workers starting). Without a wait around the
    switch to WAL, about a third of the rounds failed with "database is
    locked"."""
    ctx = multiprocessing.get_context("fork")
    failures = []
    for round_ in range(20):
        path = str(tmp_path / ("round-%d.sqlite" % round_))
        barrier, results = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_open, args=(path, barrier, results)) for _ in range(4)]
        for proc in procs:
            proc.start()
        failures += [r for r in (results.get(timeout=60) for _ in procs) if r]
        for proc in procs:
            proc.join(30)
    assert failures == []
