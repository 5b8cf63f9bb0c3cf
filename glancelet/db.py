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

import json
import os
import sqlite3
import threading

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
    updated_at TEXT NOT NULL
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
    expires_at TEXT
);
CREATE INDEX IF NOT EXISTS tasks_image ON tasks (image_id);
"""

COLUMNS = ("id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
           "os_hash_algo", "os_hash_value", "size", "virtual_size", "min_disk", "min_ram",
           "disk_format", "container_format", "owner", "tags", "properties", "worker",
           "created_at", "updated_at")
_JSON_COLUMNS = ("tags", "properties")
_BOOL_COLUMNS = ("protected", "os_hidden")

TASK_COLUMNS = ("id", "type", "status", "image_id", "owner", "input", "result", "message",
                "worker", "created_at", "updated_at", "expires_at")


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


class Database:
    """One SQLite file; a connection per thread, opened on first use."""

    def __init__(self, path):
        self.path = path
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self._local = threading.local()
        self.connection().executescript(SCHEMA)

    def connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def write(self):
        """``with db.write() as conn``: one IMMEDIATE transaction."""
        return _Transaction(self.connection())

    def query(self, sql, params=()):
        return self.connection().execute(sql, params).fetchall()


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
    """Image rows. Methods take and return plain dicts."""

    def __init__(self, db):
        self.db = db

    def add(self, record):
        columns = [c for c in COLUMNS if c in record]
        with self.db.write() as conn:
            conn.execute("INSERT INTO images (%s) VALUES (%s)"
                         % (", ".join(columns), ", ".join("?" for _ in columns)),
                         [_encode(c, record[c]) for c in columns])

    def get(self, image_id):
        rows = self.db.query("SELECT %s FROM images WHERE id = ?" % ", ".join(COLUMNS),
                             (image_id,))
        return _decode(rows[0]) if rows else None

    def update(self, image_id, changes, expect_status=None, expect_worker=None,
               expect_idle=False):
        """Apply ``changes``; return the new record, or None if it did not match.

        ``expect_status`` (a str or a tuple of str) makes the update conditional
        on the current status, so a state transition is atomic across processes.
        ``expect_idle`` requires that no process is working on the image
        (``worker`` is NULL).
        """
        if not changes:
            return self.get(image_id)
        assignments = ", ".join("%s = ?" % c for c in changes)
        params = [_encode(c, v) for c, v in changes.items()]
        where = "id = ?"
        params.append(image_id)
        if expect_status is not None:
            statuses = (expect_status,) if isinstance(expect_status, str) else expect_status
            where += " AND status IN (%s)" % ", ".join("?" for _ in statuses)
            params.extend(statuses)
        if expect_worker is not None:
            where += " AND worker = ?"
            params.append(expect_worker)
        if expect_idle:
            where += " AND worker IS NULL"
        with self.db.write() as conn:
            cursor = conn.execute("UPDATE images SET %s WHERE %s" % (assignments, where),
                                  params)
            if cursor.rowcount != 1:
                return None
        return self.get(image_id)

    def delete(self, image_id):
        with self.db.write() as conn:
            return conn.execute("DELETE FROM images WHERE id = ?", (image_id,)).rowcount == 1

    def list(self, where, params, order_by, limit):
        sql = "SELECT %s FROM images" % ", ".join(COLUMNS)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY " + ", ".join(order_by)
        if limit is not None:
            sql += " LIMIT %d" % int(limit)
        return [_decode(row) for row in self.db.query(sql, params)]

    def in_states(self, statuses):
        sql = "SELECT %s FROM images WHERE status IN (%s)" % (
            ", ".join(COLUMNS), ", ".join("?" for _ in statuses))
        return [_decode(row) for row in self.db.query(sql, tuple(statuses))]


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
        image is updated only if it is in ``image_status`` and held by
        ``image_worker``; if not, nothing changes and the result is False.
        One transaction, so no reader sees the image settled while its task
        still runs.
        """
        with self.db.write() as conn:
            if image_id is not None:
                params = [_encode(c, v) for c, v in image_changes.items()]
                params += [image_id, image_status, image_worker]
                cursor = conn.execute(
                    "UPDATE images SET %s WHERE id = ? AND status = ? AND worker = ?"
                    % ", ".join("%s = ?" % c for c in image_changes), params)
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
