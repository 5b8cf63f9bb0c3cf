"""``GET /v2/images`` pages on every backend (``db_url``): each page an index
range, however deep (issue 16, item 4), and every image listed once, in
order, for any sort the API accepts.

The plans are read with each backend's EXPLAIN (no timing). The paging
property is drawn by hypothesis (``derandomize``: the same examples every
run), on one database per test whose rows each example replaces.
"""

import functools
import types

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glancelet import db, domain
from glancelet.handlers.images import SORT_KEYS

ADMIN = types.SimpleNamespace(is_admin=True, project_id="p")
DEFAULT_SORT = [("created_at", "desc"), ("id", "desc")]
TAG = "one-in-ten"
# Enough that every planner prefers the index to a scan and a sort (with
# 2000, PostgreSQL sorts the tagged rows of a sequential scan).
ROWS = 20000


def _image_id(n):
    return "00000000-0000-4000-8000-%012d" % n


def _plan(database, sql, params):
    """The backend's plan of ``sql``, one string per line."""
    kind = database.dialect.name
    if kind == "sqlite":
        return [row[-1] for row in database.query("EXPLAIN QUERY PLAN " + sql, params)]
    if kind == "postgresql":
        return [row[0] for row in database.query("EXPLAIN " + sql, params)]
    names = ("id", "select_type", "table", "type", "possible_keys", "key", "key_len",
             "ref", "rows", "extra")
    return ["%s" % dict(zip(names, row)) for row in database.query("EXPLAIN " + sql, params)]


def _list_sql(database, **kw):
    """The SELECT ImageRepo.list runs for ``kw`` (and its parameters)."""
    seen = []
    repo = db.ImageRepo(types.SimpleNamespace(
        dialect=database.dialect, query=lambda sql, params=(): seen.append((sql, params)) or []))
    repo.list(ADMIN, None, [("eq", "os_hidden", False)] + kw.pop("filters", []), DEFAULT_SORT,
              limit=25, **kw)
    return seen[0]


def _assert_index_range(database, plan, ranged):
    """``plan`` walks images_created in order (``ranged``: from a bound, not
    from the start), with no full scan and no sort of the rows."""
    kind, text = database.dialect.name, "\n".join(plan)
    if kind == "sqlite":
        assert "USING INDEX images_created" in text and "TEMP B-TREE" not in text, text
        assert ("SEARCH images USING INDEX images_created ((created_at,id)<(?,?))" in text
                if ranged else "SCAN images USING INDEX images_created" in text), text
    elif kind == "postgresql":
        # From a bound, PostgreSQL may also collect the range's rows by a
        # bitmap and sort those few (with a filter it thinks rarer than it is).
        assert "Seq Scan" not in text, text
        assert ("Index Cond: (ROW((created_at)::text, (id)::text) < ROW(" in text) == ranged, text
        if not ranged:
            assert "Index Scan Backward using images_created" in text, text
            assert "Sort" not in text, text
    else:
        assert "'key': 'images_created'" in text and "filesort" not in text, text
        assert "'type': '%s'" % ("range" if ranged else "index") in text, text


def test_list_pages_are_index_ranges(db_url):
    """The first page, a deep ``marker`` page, and both with a ``tag`` filter:
    an ordered walk of images_created, a deep page from its bound."""
    database = db.connect(db_url)
    records = []
    for n in range(ROWS):
        record = domain.new_record(_image_id(n), "p", {"name": "n%d" % n},
                                   now="2026-11-30T16:%02d:%02dZ" % (n // 600, n // 10 % 60))
        record["tags"] = [TAG] if n % 10 == 0 else []
        records.append(record)
    db.ImageRepo(database).add_all(records)
    if database.dialect.name != "sqlite":
        with database.write() as conn:
            conn.execute("ANALYZE images" if database.dialect.name == "postgresql"
                         else "ANALYZE TABLE images")
    marker = records[ROWS // 20]
    for filters in ([], [("tag", "tags", TAG)]):
        for ranged in (False, True):
            sql, params = _list_sql(database, filters=list(filters),
                                    marker=marker if ranged else None)
            _assert_index_range(database, _plan(database, sql, params), ranged)


# -- Paging: every image once, in order -----------------------------------------------

NULLABLE = {"name": st.sampled_from([None, "a", "b", "ab"]),
            "size": st.sampled_from([None, 0, 7, 2 ** 40]),
            "virtual_size": st.sampled_from([None, 1, 2]),
            "owner": st.sampled_from([None, "p", "q"]),
            "disk_format": st.sampled_from([None, "raw", "qcow2"]),
            "container_format": st.sampled_from([None, "bare"])}
NEVER_NULL = {"status": st.sampled_from(["queued", "active"]),
              "visibility": st.sampled_from(["private", "public", "shared"]),
              "protected": st.booleans(), "os_hidden": st.booleans(),
              "min_disk": st.integers(0, 2), "min_ram": st.integers(0, 2),
              "created_at": st.sampled_from(["2026-01-01T00:00:0%dZ" % s for s in range(3)]),
              "updated_at": st.sampled_from(["2026-01-02T00:00:0%dZ" % s for s in range(3)])}
IMAGE = st.fixed_dictionaries({**NULLABLE, **NEVER_NULL, "tag": st.booleans()})
SORT = st.lists(st.tuples(st.sampled_from(SORT_KEYS), st.sampled_from(["asc", "desc"])),
                min_size=1, max_size=3, unique_by=lambda item: item[0])


def _expected(records, keys):
    """``records`` in the order ``keys``: NULLs first ascending, last descending."""
    def compare(a, b):
        for key, direction in keys:
            x, y = (a[key] is not None, a[key]), (b[key] is not None, b[key])
            if x != y:
                less = x < y if x[0] and y[0] else not x[0]
                return (-1 if less else 1) * (1 if direction == "asc" else -1)
        return 0
    return sorted(records, key=functools.cmp_to_key(compare))


def _sort_keys(sort):
    """The keys the API sorts by: as asked, then ``id`` in the last direction."""
    if any(key == "id" for key, _ in sort):
        return list(sort)
    return list(sort) + [("id", sort[-1][1])]


def test_paging_lists_every_image_once_in_order(db_url):
    """Any sort keys and directions the API accepts, NULLs and ties, with and
    without a tag filter: the pages, marker after marker, are the whole order."""
    database = db.connect(db_url)
    repo = db.ImageRepo(database)

    @settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(images=st.lists(IMAGE, max_size=14), sort=SORT, page=st.integers(1, 5),
           tagged=st.booleans())
    def check(images, sort, page, tagged):
        with database.write() as conn:
            conn.execute("DELETE FROM images")
        records = []
        for n, fields in enumerate(images):
            record = domain.new_record(_image_id(n), fields["owner"], dict(fields))
            record["tags"] = [TAG] if record.pop("tag") else []
            records.append(record)
        repo.add_all(records)
        keys = _sort_keys(sort)
        filters = [("tag", "tags", TAG)] if tagged else []
        wanted = [r["id"] for r in _expected(records, keys) if r["tags"] or not tagged]
        listed, marker = [], None
        for _ in range(len(records) + 2):
            rows = repo.list(ADMIN, "all", filters, keys, marker, page)
            listed += [row["id"] for row in rows]
            if len(rows) < page:
                break
            marker = rows[-1]
        assert listed == wanted, (keys, page)

    check()
