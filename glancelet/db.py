"""Image metadata in SQLite.

SQLite runs in WAL mode with a busy timeout, one connection per thread, so
several server processes (uWSGI ``processes = 4``) and threads (mod_wsgi
``threads = 15``) share one database file safely. Writes that read before
they write take the write lock first (``BEGIN IMMEDIATE``), so two workers
can never both move an image out of the same state.

All SQL lives in this module and uses plain, portable statements (JSON
columns aside), so another DB-API backend such as PostgreSQL can replace it
behind the same ``ImageRepo`` methods.
"""

import fcntl
import json
import os
import sqlite3
import threading

from glancelet import domain

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    name TEXT,
    status TEXT NOT NULL,
    visibility TEXT NOT NULL,
    protected INTEGER NOT NULL DEFAULT 0,
    os_hidden INTEGER NOT NULL DEFAULT 0,
    checksum TEXT,
    os_hash_algo TEXT,
    os_hash_value TEXT,
    size INTEGER,
    virtual_size INTEGER,
    min_disk INTEGER NOT NULL DEFAULT 0,
    min_ram INTEGER NOT NULL DEFAULT 0,
    disk_format TEXT,
    container_format TEXT,
    owner TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    properties TEXT NOT NULL DEFAULT '{}',
    worker TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data_file TEXT,
    staged_file TEXT,
    version INTEGER NOT NULL DEFAULT 0,
    deleted_at TEXT
);
CREATE INDEX IF NOT EXISTS images_created ON images (created_at, id);
CREATE INDEX IF NOT EXISTS images_status ON images (status);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    image_id TEXT,
    owner TEXT,
    input TEXT NOT NULL DEFAULT '{}',
    result TEXT,
    message TEXT NOT NULL DEFAULT '',
    worker TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT,
    request_id TEXT,
    user_id TEXT
);
CREATE INDEX IF NOT EXISTS tasks_image ON tasks (image_id);
CREATE TABLE IF NOT EXISTS image_members (
    image_id TEXT NOT NULL,
    member TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (image_id, member)
);
CREATE INDEX IF NOT EXISTS image_members_member ON image_members (member, status);
CREATE TABLE IF NOT EXISTS workers (
    worker TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    heartbeat_at REAL NOT NULL
);
"""

COLUMNS = ("id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
           "os_hash_algo", "os_hash_value", "size", "virtual_size", "min_disk", "min_ram",
           "disk_format", "container_format", "owner", "tags", "properties", "worker",
           "created_at", "updated_at", "data_file", "staged_file", "version", "deleted_at")
# Columns added after the first release, by table, with the statement that
# fills them in for rows written before: data was then stored under the image id.
_ADDED_COLUMNS = (
    ("images", "data_file", "TEXT", "UPDATE images SET data_file = id WHERE status IN "
                                    "('active', 'deactivated')"),
    ("images", "staged_file", "TEXT", "UPDATE images SET staged_file = id WHERE status IN "
                                      "('uploading', 'importing')"),
    ("images", "version", "INTEGER NOT NULL DEFAULT 0", None),
    ("images", "deleted_at", "TEXT", None),
    ("tasks", "request_id", "TEXT", None),
    ("tasks", "user_id", "TEXT", None),
)
# A deleted image keeps its row (a tombstone, as in Glance), so that its id
# can never be taken again; every read below leaves tombstones out.
DELETED = "deleted"
_LIVE = "status != 'deleted'"
_JSON_COLUMNS = ("tags", "properties")
_BOOL_COLUMNS = ("protected", "os_hidden")

TASK_COLUMNS = ("id", "type", "status", "image_id", "owner", "input", "result", "message",
                "worker", "created_at", "updated_at", "expires_at", "request_id", "user_id")
MEMBER_COLUMNS = ("image_id", "member", "status", "created_at", "updated_at")


def _decode(row, columns=COLUMNS):
    if row is None:
        return None
    record = dict(zip(columns, row))
    for column in _JSON_COLUMNS:
        if column in record and record[column] is not None:
            record[column] = json.loads(record[column])
    for column in _BOOL_COLUMNS:
        if column in record:
            record[column] = bool(record[column])
    if "input" in record and columns is TASK_COLUMNS:
        record["input"] = json.loads(record["input"] or "{}")
        record["result"] = json.loads(record["result"]) if record["result"] else None
    return record


def _encode(column, value):
    if column in _JSON_COLUMNS or column in ("input", "result"):
        return None if value is None else json.dumps(value, sort_keys=True)
    if column in _BOOL_COLUMNS:
        return int(bool(value))
    return value


class UnusableDatabase(Exception):
    """The database file cannot be opened or set up (not a database, no
    access). The message names the file and is one line."""


class Database:
    """One SQLite file; a connection per thread, opened on first use.

    The file is switched to WAL once, here, while this process holds an
    exclusive ``flock`` on a lock file beside it: when a server's workers
    start together, only one at a time creates the schema and switches the
    journal mode; the others then find it done. WAL is a property of the
    file, so per-connection set-up never asks for it again (see
    :meth:`connection`).
    """

    def __init__(self, path):
        self.path = path
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self._local = threading.local()
        try:
            with open(path + ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
                conn = self.connection()
                if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
                    raise sqlite3.OperationalError("cannot be switched to WAL mode")
                conn.executescript(SCHEMA)
                _add_columns(conn)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise UnusableDatabase("%s: %s" % (path, exc)) from None

    def connection(self):
        """This thread's connection. The busy timeout is the first setting, so
        every later statement waits for a lock instead of failing at once."""
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=True)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def write(self):
        """``with db.write() as conn``: one IMMEDIATE transaction."""
        return _Transaction(self.connection())

    def query(self, sql, params=()):
        return self.connection().execute(sql, params).fetchall()


def _add_columns(conn):
    """Bring a database made by an earlier release up to date."""
    present = {table: {row[1] for row in conn.execute("PRAGMA table_info(%s)" % table)}
               for table in ("images", "tasks")}
    for table, column, declaration, fill in _ADDED_COLUMNS:
        if column not in present[table]:
            conn.execute("ALTER TABLE %s ADD COLUMN %s %s" % (table, column, declaration))
            if fill:
                conn.execute(fill)


class _Transaction:
    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
        return False


class ImageRepo:
    """Image rows. Methods take and return plain dicts; none returns a tombstone."""

    def __init__(self, db):
        self.db = db

    def add(self, record):
        """Insert ``record``; False if its id is taken, now or by a deleted image."""
        columns = [c for c in COLUMNS if c in record]
        try:
            with self.db.write() as conn:
                conn.execute("INSERT INTO images (%s) VALUES (%s)"
                             % (", ".join(columns), ", ".join("?" for _ in columns)),
                             [_encode(c, record[c]) for c in columns])
        except sqlite3.IntegrityError as exc:
            if "images.id" not in str(exc):
                raise
            return False
        return True

    def get(self, image_id):
        rows = self.db.query("SELECT %s FROM images WHERE id = ? AND %s"
                             % (", ".join(COLUMNS), _LIVE), (image_id,))
        return _decode(rows[0]) if rows else None

    def update(self, image_id, changes, expect_version=None):
        """Apply ``changes`` (not ``status``: see :meth:`transition`); return the
        new record, or None if it did not match.

        Every update adds one to ``version``; ``expect_version`` makes it a
        compare-and-swap on a record read before. A deleted image never matches.
        """
        if "status" in changes:
            raise ValueError("an image's status changes only by ImageRepo.transition")
        if not changes:
            return self.get(image_id)
        where, params = [], []
        if expect_version is not None:
            where.append("version = ?")
            params.append(expect_version)
        return self._update(image_id, changes, where, params)

    def transition(self, image_id, source, target, changes=None, worker=None,
                   idle=False):
        """Move the image from ``source`` to ``target`` status, with ``changes``;
        return the new record, or None if it was not in ``source`` (or not held
        as asked).

        The one way an image's status changes: ``source`` (a status or a
        tuple of them) to ``target`` must be allowed by
        :data:`glancelet.domain.TRANSITIONS`, or
        :class:`glancelet.domain.InvalidTransition` is raised before anything
        is written, and the update is conditional on the current status, so
        of two processes moving an image out of one status only one can. A
        ``source`` equal to ``target`` changes no status: the update is made
        only while the image is still in it. ``worker`` requires that the
        image is claimed by that worker, ``idle`` that no worker claims it.
        """
        where, params = _status_condition(source, target)
        if worker is not None:
            where.append("worker = ?")
            params.append(worker)
        if idle:
            where.append("worker IS NULL")
        return self._update(image_id, dict(changes or {}, status=target), where, params)

    def _update(self, image_id, changes, where, params):
        assignments = ", ".join("%s = ?" % _column(c) for c in changes)
        with self.db.write() as conn:
            cursor = conn.execute(
                "UPDATE images SET %s, version = version + 1 WHERE %s"
                % (assignments, " AND ".join(["id = ?", _LIVE] + where)),
                [_encode(c, v) for c, v in changes.items()] + [image_id] + params)
            if cursor.rowcount != 1:
                return None
        return self.get(image_id)

    def delete(self, image_id, deleted_at):
        """Make the image a tombstone, without members; return it as it was, or
        None if already gone.

        The tombstone keeps the names of its files until :meth:`files_removed`
        says they are gone, so a reaper can retry what a delete could not do.
        """
        where, params = _status_condition(None, DELETED)
        with self.db.write() as conn:
            rows = conn.execute("SELECT %s FROM images WHERE id = ? AND %s AND %s"
                                % (", ".join(COLUMNS), _LIVE, " AND ".join(where)),
                                [image_id] + params).fetchall()
            if not rows:
                return None
            conn.execute("UPDATE images SET status = ?, worker = NULL, deleted_at = ?, "
                         "updated_at = ?, version = version + 1 WHERE id = ?",
                         (DELETED, deleted_at, deleted_at, image_id))
            conn.execute("DELETE FROM image_members WHERE image_id = ?", (image_id,))
        return _decode(rows[0])

    def files_removed(self, image_id, column, name):
        """Forget ``name`` as the ``column`` file of ``image_id`` (a deleted image)."""
        with self.db.write() as conn:
            conn.execute("UPDATE images SET %s = NULL WHERE id = ? AND %s = ? AND status = ?"
                         % (_file_column(column), _file_column(column)),
                         (image_id, name, DELETED))

    def deleted_with_files(self):
        """Tombstones whose files are still to be removed."""
        rows = self.db.query("SELECT %s FROM images WHERE status = ? AND (data_file IS NOT "
                             "NULL OR staged_file IS NOT NULL)" % ", ".join(COLUMNS),
                             (DELETED,))
        return [_decode(row) for row in rows]

    def files_in_use(self, column):
        """The names live images have as their ``column`` file."""
        return {row[0] for row in self.db.query(
            "SELECT %s FROM images WHERE %s IS NOT NULL AND %s"
            % (_file_column(column), column, _LIVE))}

    def file_in_use(self, column, name):
        """Whether a live image has ``name`` as its ``column`` file."""
        return bool(self.db.query("SELECT 1 FROM images WHERE %s = ? AND %s"
                                  % (_file_column(column), _LIVE), (name,)))

    def list(self, ctx, visibility, filters, sort, marker=None, limit=None,
             member_status="accepted"):
        """The live images ``ctx`` may list, as ``GET /v2/images`` pages them.

        ``visibility`` is the query's ``visibility`` (None, "all" or one of
        the four); ``filters`` are ``(op, column or property, value)`` with op
        one of eq, in, ge, le, tag, property; ``sort`` is ``[(column, "asc"
        or "desc")]`` ending in ``id``; ``marker`` the image the page starts
        after. Glance's rule: a non-admin lists its project's images, public
        and community ones, and the shared images its project is a member of
        with ``member_status`` ("all" for any); an admin lists every image.
        Without a visibility filter, community images are left out but for
        the caller's own.
        """
        where, params = [_LIVE], []
        if not ctx.is_admin:
            membership = ("SELECT 1 FROM image_members WHERE image_members.image_id = "
                          "images.id AND image_members.member = ?")
            params.extend([ctx.project_id, ctx.project_id])
            if member_status != "all":
                membership += " AND image_members.status = ?"
                params.append(member_status)
            where.append("(visibility IN ('public', 'community') OR owner = ? OR "
                         "(visibility = 'shared' AND EXISTS (%s)))" % membership)
        if visibility is None:
            where.append("(owner = ? OR visibility != 'community')")
            params.append(ctx.project_id)
        elif visibility != "all":
            where.append("visibility = ?")
            params.append(visibility)
        for op, name, value in filters:
            clause, values = _filter_sql(op, name, value)
            where.append(clause)
            params.extend(values)
        if marker is not None:
            clause, values = _keyset(sort, marker)
            where.append(clause)
            params.extend(values)
        order = ["%s %s" % (_column(key), "ASC NULLS FIRST" if direction == "asc"
                            else "DESC NULLS LAST") for key, direction in sort]
        sql = "SELECT %s FROM images WHERE %s ORDER BY %s" % (
            ", ".join(COLUMNS), " AND ".join(where), ", ".join(order))
        if limit is not None:
            sql += " LIMIT %d" % int(limit)
        return [_decode(row) for row in self.db.query(sql, params)]

    def in_states(self, statuses):
        sql = "SELECT %s FROM images WHERE status IN (%s)" % (
            ", ".join(COLUMNS), ", ".join("?" for _ in statuses))
        return [_decode(row) for row in self.db.query(sql, tuple(statuses))]


def _status_condition(source, target):
    """(SQL conditions, parameters) that an image may move from ``source`` to
    ``target`` now; ``source`` None means every status TRANSITIONS lets reach
    ``target``. Raises InvalidTransition for a move TRANSITIONS forbids."""
    if source is None:
        sources = domain.sources_of(target)
    else:
        sources = (source,) if isinstance(source, str) else tuple(source)
        for status in sources:
            if status != target:
                domain.check_transition(status, target)
    return ["status IN (%s)" % ", ".join("?" for _ in sources)], list(sources)


def _column(name):
    """``name`` if it is a column of images (it goes into SQL text), else ValueError."""
    if name not in COLUMNS:
        raise ValueError("not a column of images: %r" % (name,))
    return name


def _filter_sql(op, name, value):
    """(SQL clause, parameters) of one list filter (see :meth:`ImageRepo.list`)."""
    if op == "tag":
        return "EXISTS (SELECT 1 FROM json_each(images.tags) WHERE value = ?)", [value]
    if op == "property":
        # By key, not by a JSON path, which some names cannot spell.
        return ("EXISTS (SELECT 1 FROM json_each(images.properties) "
                "WHERE key = ? AND value = ?)", [name, value])
    column = _column(name)
    if op == "in":
        return "%s IN (%s)" % (column, ", ".join("?" for _ in value)), list(value)
    operator = {"eq": "=", "ge": ">=", "le": "<="}[op]
    return "%s %s ?" % (column, operator), [_sql_value(column, value)]


def _keyset(keys, marker):
    """SQL for "rows after ``marker`` in the order ``keys``" (NULLs sort first)."""
    clauses, params = [], []
    for i, (key, direction) in enumerate(keys):
        parts, part_params = [], []
        for prev, _ in keys[:i]:
            parts.append("%s IS ?" % _column(prev))
            part_params.append(_sql_value(prev, marker[prev]))
        value = _sql_value(key, marker[key])
        if direction == "asc":
            if value is None:
                parts.append("%s IS NOT NULL" % _column(key))
            else:
                parts.append("%s > ?" % _column(key))
                part_params.append(value)
        else:
            if value is None:
                continue  # nothing sorts below NULL in descending order
            parts.append("(%s < ? OR %s IS NULL)" % (_column(key), key))
            part_params.append(value)
        clauses.append("(" + " AND ".join(parts) + ")")
        params.extend(part_params)
    if not clauses:
        return "0", []
    return "(" + " OR ".join(clauses) + ")", params


def _sql_value(key, value):
    if key in ("protected", "os_hidden") and value is not None:
        return int(value)
    return value


def _file_column(column):
    if column not in ("data_file", "staged_file"):
        raise ValueError("not a file column: %r" % (column,))
    return column


class TaskRepo:
    """Task rows (interoperable import)."""

    def __init__(self, db):
        self.db = db

    def add(self, record):
        columns = [c for c in TASK_COLUMNS if c in record]
        with self.db.write() as conn:
            conn.execute("INSERT INTO tasks (%s) VALUES (%s)"
                         % (", ".join(columns), ", ".join("?" for _ in columns)),
                         [_encode(c, record[c]) for c in columns])

    def get(self, task_id):
        rows = self.db.query("SELECT %s FROM tasks WHERE id = ?" % ", ".join(TASK_COLUMNS),
                             (task_id,))
        return _decode(rows[0], TASK_COLUMNS) if rows else None

    def update(self, task_id, changes, expect_status=None):
        assignments = ", ".join("%s = ?" % c for c in changes)
        params = [_encode(c, v) for c, v in changes.items()] + [task_id]
        where = "id = ?"
        if expect_status is not None:
            statuses = (expect_status,) if isinstance(expect_status, str) else expect_status
            where += " AND status IN (%s)" % ", ".join("?" for _ in statuses)
            params.extend(statuses)
        with self.db.write() as conn:
            if conn.execute("UPDATE tasks SET %s WHERE %s" % (assignments, where),
                            params).rowcount != 1:
                return None
        return self.get(task_id)

    def finish(self, task_id, changes, image_id=None, image_changes=None,
               image_status=None, image_worker=None):
        """End a running task and, in the same transaction, update its image.

        The task is updated if it is still ``pending`` or ``processing``. The
        image moves from ``image_status`` to ``image_changes["status"]`` (a
        transition TRANSITIONS must allow, as in
        :meth:`ImageRepo.transition`), only if it is held by
        ``image_worker``; if not, nothing changes and the result is False.
        One transaction, so no reader sees the image settled while its task
        still runs.
        """
        with self.db.write() as conn:
            if image_id is not None:
                where, params = _status_condition(image_status, image_changes["status"])
                params = ([_encode(c, v) for c, v in image_changes.items()]
                          + [image_id, image_worker] + params)
                cursor = conn.execute(
                    "UPDATE images SET %s, version = version + 1 WHERE id = ? AND worker = ? "
                    "AND %s" % (", ".join("%s = ?" % _column(c) for c in image_changes),
                                " AND ".join(where)), params)
                if cursor.rowcount != 1:
                    return False
            params = [_encode(c, v) for c, v in changes.items()] + [task_id]
            conn.execute("UPDATE tasks SET %s WHERE id = ? AND status IN "
                         "('pending', 'processing')"
                         % ", ".join("%s = ?" % c for c in changes), params)
        return True

    def for_image(self, image_id):
        rows = self.db.query("SELECT %s FROM tasks WHERE image_id = ? ORDER BY created_at"
                             % ", ".join(TASK_COLUMNS), (image_id,))
        return [_decode(row, TASK_COLUMNS) for row in rows]

    def in_states(self, statuses):
        rows = self.db.query("SELECT %s FROM tasks WHERE status IN (%s)" % (
            ", ".join(TASK_COLUMNS), ", ".join("?" for _ in statuses)), tuple(statuses))
        return [_decode(row, TASK_COLUMNS) for row in rows]


class MemberRepo:
    """Image members: the projects a ``shared`` image is shared with."""

    def __init__(self, db):
        self.db = db

    def add(self, record, limit):
        """Insert ``record``, a member of a live ``shared`` image with fewer
        than ``limit`` members; None if added, else why not: "duplicate",
        "full", or "gone" (the image is deleted or no longer shared)."""
        with self.db.write() as conn:
            if not conn.execute("SELECT 1 FROM images WHERE id = ? AND visibility = "
                                "'shared' AND %s" % _LIVE, (record["image_id"],)).fetchall():
                return "gone"
            if conn.execute("SELECT 1 FROM image_members WHERE image_id = ? AND member = ?",
                            (record["image_id"], record["member"])).fetchall():
                return "duplicate"
            count = conn.execute("SELECT COUNT(*) FROM image_members WHERE image_id = ?",
                                 (record["image_id"],)).fetchone()[0]
            if count >= limit:
                return "full"
            conn.execute("INSERT INTO image_members (%s) VALUES (%s)"
                         % (", ".join(MEMBER_COLUMNS), ", ".join("?" for _ in MEMBER_COLUMNS)),
                         [record[c] for c in MEMBER_COLUMNS])
        return None

    def get(self, image_id, member):
        rows = self.db.query("SELECT %s FROM image_members WHERE image_id = ? AND member = ?"
                             % ", ".join(MEMBER_COLUMNS), (image_id, member))
        return dict(zip(MEMBER_COLUMNS, rows[0])) if rows else None

    def list(self, image_id):
        """The image's members, oldest first."""
        rows = self.db.query("SELECT %s FROM image_members WHERE image_id = ? "
                             "ORDER BY created_at, member" % ", ".join(MEMBER_COLUMNS),
                             (image_id,))
        return [dict(zip(MEMBER_COLUMNS, row)) for row in rows]

    def update(self, image_id, member, status, now):
        """Set the member's status; the member as written, or None if it is gone."""
        with self.db.write() as conn:
            conn.execute("UPDATE image_members SET status = ?, updated_at = ? "
                         "WHERE image_id = ? AND member = ?", (status, now, image_id, member))
        return self.get(image_id, member)

    def delete(self, image_id, member):
        """Remove the member; False if it was not there."""
        with self.db.write() as conn:
            return conn.execute("DELETE FROM image_members WHERE image_id = ? AND member = ?",
                                (image_id, member)).rowcount == 1


class WorkerRepo:
    """Server processes' heartbeats (:mod:`glancelet.lease`): one row per
    process (``host|pid|start time``), with the time it last beat, in
    seconds since the epoch."""

    def __init__(self, db):
        self.db = db

    def beat(self, worker, host, now):
        """Record that ``worker`` is alive at ``now``."""
        with self.db.write() as conn:
            if conn.execute("UPDATE workers SET heartbeat_at = ? WHERE worker = ?",
                            (now, worker)).rowcount == 0:
                conn.execute("INSERT INTO workers (worker, host, heartbeat_at) "
                             "VALUES (?, ?, ?)", (worker, host, now))

    def heartbeat_at(self, worker):
        """When ``worker`` last beat, or None if it never did (or was purged)."""
        rows = self.db.query("SELECT heartbeat_at FROM workers WHERE worker = ?", (worker,))
        return rows[0][0] if rows else None

    def purge(self, before):
        """Forget the processes that have not beaten since ``before``."""
        with self.db.write() as conn:
            conn.execute("DELETE FROM workers WHERE heartbeat_at < ?", (before,))
