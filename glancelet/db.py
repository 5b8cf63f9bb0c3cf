"""Image metadata in SQL: an SQLite file, or a PostgreSQL or MySQL/MariaDB server.

``[database] connection`` is an SQLAlchemy URL. ``sqlite:///<path>`` (the
default) needs nothing but the standard library: SQLite runs in WAL mode
with a busy timeout, one connection per thread, so several server processes
(uWSGI ``processes = 4``) and threads (mod_wsgi ``threads = 15``) share one
file safely. ``postgresql+psycopg://`` and ``mysql+pymysql://`` go through
SQLAlchemy Core (an engine with its connection pool, READ COMMITTED
transactions, statements in the drivers' placeholder style): the optional extras
``glancelet[postgresql]`` and ``glancelet[mysql]``.

All SQL lives in this module, written once in portable SQL with ``?``
placeholders; a :class:`Dialect` holds the few pieces that differ (column
types, locking the row a transaction reads before it writes, JSON lookups,
NULL ordering, upsert). Concurrency rests on conditional updates: a status
changes only by an ``UPDATE ... WHERE status IN (...)``, which on every
backend one writer at a time applies to the row as it is then, so two
workers can never both move an image out of the same state. A transaction
that reads before it writes locks first: SQLite's ``BEGIN IMMEDIATE`` takes
the database's write lock, a server's ``SELECT ... FOR UPDATE`` the row's.

The schema is versioned (:data:`MIGRATIONS`, the ``glancelet_schema``
table): ``glancelet-manage db_sync`` (:mod:`glancelet.manage`) creates and
upgrades it. An SQLite file is upgraded when a server opens it, as before;
a database server must be synced first.
"""

import collections
import contextlib
import fcntl
import functools
import json
import os
import sqlite3
import threading

from glancelet import domain

# The schema glancelet made before versioned migrations: version 1. Markers:
# {key} a column that is a key or indexed, {big} a byte count, {table} the end
# of a CREATE TABLE (see Dialect). In SQLite it is exactly the old DDL.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS images (
    id {key} PRIMARY KEY,
    name TEXT,
    status {key} NOT NULL,
    visibility TEXT NOT NULL,
    protected INTEGER NOT NULL DEFAULT 0,
    os_hidden INTEGER NOT NULL DEFAULT 0,
    checksum TEXT,
    os_hash_algo TEXT,
    os_hash_value TEXT,
    size {big},
    virtual_size {big},
    min_disk INTEGER NOT NULL DEFAULT 0,
    min_ram INTEGER NOT NULL DEFAULT 0,
    disk_format TEXT,
    container_format TEXT,
    owner TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    properties TEXT NOT NULL DEFAULT '{{}}',
    worker TEXT,
    created_at {key} NOT NULL,
    updated_at TEXT NOT NULL,
    data_file TEXT,
    staged_file TEXT,
    version INTEGER NOT NULL DEFAULT 0,
    deleted_at TEXT
){table};
CREATE INDEX IF NOT EXISTS images_created ON images (created_at, id);
CREATE INDEX IF NOT EXISTS images_status ON images (status);
CREATE TABLE IF NOT EXISTS tasks (
    id {key} PRIMARY KEY,
    type TEXT NOT NULL,
    status {key} NOT NULL,
    image_id {key},
    owner TEXT,
    input TEXT NOT NULL DEFAULT '{{}}',
    result TEXT,
    message TEXT NOT NULL DEFAULT '',
    worker TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT,
    request_id TEXT,
    user_id TEXT
){table};
CREATE INDEX IF NOT EXISTS tasks_image ON tasks (image_id);
CREATE TABLE IF NOT EXISTS image_members (
    image_id {key} NOT NULL,
    member {key} NOT NULL,
    status {key} NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (image_id, member)
){table};
CREATE INDEX IF NOT EXISTS image_members_member ON image_members (member, status);
"""

# The schema's versions, in order: (version, what it changes, DDL). A change
# to the schema is a new step at the end, never an edit of an old one (its DDL
# may use the markers; a literal brace is doubled).
Migration = collections.namedtuple("Migration", "version summary ddl")
MIGRATIONS = (
    Migration(1, "images, tasks and image members (the schema before versioning)", SCHEMA_V1),
    Migration(2, "an index on tasks' status, which recovery reads at every start",
              "CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status);"),
    # Seconds since the epoch as a double: PostgreSQL's REAL (4 bytes) would
    # round today's times to minutes.
    Migration(3, "server processes' heartbeats, the leases recovery reads (glancelet.lease)",
              "CREATE TABLE IF NOT EXISTS workers (worker {key} PRIMARY KEY, "
              "host TEXT NOT NULL, heartbeat_at DOUBLE PRECISION NOT NULL){table};"),
)
LATEST = MIGRATIONS[-1].version
VERSION_TABLE = "glancelet_schema"
_VERSION_DDL = ("CREATE TABLE IF NOT EXISTS glancelet_schema (id INTEGER PRIMARY KEY, "
                "version INTEGER NOT NULL){table};")

COLUMNS = ("id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
           "os_hash_algo", "os_hash_value", "size", "virtual_size", "min_disk", "min_ram",
           "disk_format", "container_format", "owner", "tags", "properties", "worker",
           "created_at", "updated_at", "data_file", "staged_file", "version", "deleted_at")
# Columns that SQLite files made before the first versioned schema may lack,
# by table, with the statement that fills them in for rows written before:
# data was then stored under the image id.
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
# The sort keys that are never NULL: they sort with a plain ASC or DESC (not
# NULLS FIRST/LAST, which PostgreSQL cannot read off an index) and page by
# plain comparisons.
_NOT_NULL = frozenset(("id", "status", "visibility", "protected", "os_hidden", "min_disk",
                       "min_ram", "created_at", "updated_at"))
_BOOL_COLUMNS = ("protected", "os_hidden")

TASK_COLUMNS = ("id", "type", "status", "image_id", "owner", "input", "result", "message",
                "worker", "created_at", "updated_at", "expires_at", "request_id", "user_id")
MEMBER_COLUMNS = ("image_id", "member", "status", "created_at", "updated_at")


class Dialect(collections.namedtuple("Dialect", (
        "name types for_update null_safe_eq asc desc has_tag has_property upsert_tail "
        "upsert_value row_values"))):
    """The SQL that differs between backends; everything else is shared.

    ``types`` fills the DDL markers; ``for_update`` ends a SELECT whose rows
    the transaction then writes; ``null_safe_eq`` compares a column with a
    value that may be NULL; ``asc``/``desc`` sort NULLs first/last;
    ``has_tag``/``has_property`` test an image's JSON tags and properties;
    ``upsert_tail`` is what follows an INSERT to update a row already there,
    ``upsert_value`` the value a column was to be inserted with;
    ``row_values`` whether the planner turns ``(a, b) < (?, ?)`` into an
    index range (MariaDB's does not: it gets the same bound spelt with OR).
    """

    def statements(self, ddl):
        """The statements of a DDL script, rendered for this backend."""
        return [s.strip() for s in ddl.format(**self.types).split(";") if s.strip()]

    def upsert(self, table, columns, key):
        """INSERT of ``columns`` into ``table`` that updates the row with the same ``key``."""
        others = [c for c in columns if c != key]
        return "INSERT INTO %s (%s) VALUES (%s) %s" % (
            table, ", ".join(columns), ", ".join("?" for _ in columns),
            self.upsert_tail.format(key=key, updates=", ".join(
                "%s = %s" % (c, self.upsert_value % c) for c in others)))


_KEY = "VARCHAR(255)"   # MySQL cannot index TEXT; 255 as in Glance's schema
_ON_CONFLICT = "ON CONFLICT ({key}) DO UPDATE SET {updates}"
DIALECTS = {
    "sqlite": Dialect(
        "sqlite", {"key": "TEXT", "big": "INTEGER", "table": ""}, "", "%s IS ?",
        "ASC NULLS FIRST", "DESC NULLS LAST",
        "EXISTS (SELECT 1 FROM json_each(images.tags) WHERE value = ?)",
        # By key, not by a JSON path, which some names cannot spell.
        "EXISTS (SELECT 1 FROM json_each(images.properties) WHERE key = ? AND value = ?)",
        _ON_CONFLICT, "excluded.%s", True),
    "postgresql": Dialect(
        "postgresql", {"key": _KEY, "big": "BIGINT", "table": ""}, " FOR UPDATE",
        "%s IS NOT DISTINCT FROM ?", "ASC NULLS FIRST", "DESC NULLS LAST",
        "CAST(images.tags AS jsonb) @> jsonb_build_array(CAST(? AS text))",
        "CAST(images.properties AS jsonb) @> jsonb_build_object(CAST(? AS text), "
        "CAST(? AS text))", _ON_CONFLICT, "excluded.%s", True),
    # MySQL sorts NULLs first ascending and last descending, and has no NULLS FIRST.
    "mysql": Dialect(
        "mysql", {"key": _KEY, "big": "BIGINT",
                  "table": " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"},
        " FOR UPDATE", "%s <=> ?", "ASC", "DESC",
        "JSON_CONTAINS(images.tags, JSON_ARRAY(?))",
        "JSON_CONTAINS(images.properties, JSON_OBJECT(?, ?))",
        "ON DUPLICATE KEY UPDATE {updates}", "VALUES(%s)", False),
}
# The URL schemes [database] connection accepts: scheme -> (dialect, extra).
SCHEMES = {"sqlite": ("sqlite", None), "postgresql+psycopg": ("postgresql", "postgresql"),
           "mysql+pymysql": ("mysql", "mysql")}


# Most images have no tags or properties: their JSON needs no parser.
_EMPTY_JSON = {"[]": list, "{}": dict}


def _decode(row, columns=COLUMNS):
    if row is None:
        return None
    record = dict(zip(columns, row))
    for column in _JSON_COLUMNS:
        value = record.get(column)
        if value is not None:
            empty = _EMPTY_JSON.get(value)
            record[column] = empty() if empty else json.loads(value)
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
    """The database cannot be opened or set up (not a database, no access, no
    server, a schema to sync). The message names it and is one line."""


def scheme(url):
    """The scheme of a ``[database] connection`` URL, or ValueError saying which are known."""
    name = url.partition("://")[0]
    if name not in SCHEMES or "://" not in url or (name == "sqlite" and
                                                   not url.startswith("sqlite:///")):
        raise ValueError("expected an SQLAlchemy URL starting with sqlite:///, "
                         "postgresql+psycopg:// or mysql+pymysql://, got %r" % (url,))
    return name


def sqlite_path(url):
    """The file of a ``sqlite:///<path>`` URL."""
    return url[len("sqlite:///"):]


def connect(url, sync=True):
    """The database at ``url``, ready for the repos below.

    With ``sync``, an SQLite file is brought to the latest schema (created if
    new), and a server's schema must already be the latest (``db_sync``),
    else :class:`UnusableDatabase` names the command. Without, nothing is
    checked: :mod:`glancelet.manage` then reads or upgrades the schema.
    """
    if scheme(url) == "sqlite":
        database = SQLiteDatabase(sqlite_path(url))
        if sync:
            upgrade(database)
        return database
    database = ServerDatabase(url)
    if sync:
        with database.setting_up():
            version = schema_version(database)
        if version != LATEST:
            raise UnusableDatabase(
                "%s: the schema is at version %d, this glancelet needs %d: run "
                "glancelet-manage db_sync" % (database.name, version, LATEST))
    return database


def schema_version(database):
    """The schema version of ``database``; 0 without a version table. An
    SQLite file made before versioned migrations has none: step 1 is all
    ``IF NOT EXISTS``, so it adds what the file lacks (its missing columns
    are added first, see :class:`SQLiteDatabase`)."""
    if not database.has_table(VERSION_TABLE):
        return 0
    rows = database.query("SELECT version FROM glancelet_schema WHERE id = 1")
    return rows[0][0] if rows else 0


def upgrade(database, target=LATEST):
    """Run the migrations after the database's version, up to ``target``;
    return (version before, version after). Each step and its new version
    are one transaction (MySQL commits DDL at once, though)."""
    with database.setting_up():
        before = schema_version(database)
        if before > LATEST:
            raise UnusableDatabase("%s: the schema is at version %d, newer than this "
                                   "glancelet's %d" % (database.name, before, LATEST))
        if before >= target:
            return before, before
        dialect = database.dialect
        set_version = dialect.upsert(VERSION_TABLE, ("id", "version"), "id")
        with database.write() as conn:
            for statement in dialect.statements(_VERSION_DDL):
                conn.execute(statement)
            conn.execute(set_version, (1, before))
        for step in MIGRATIONS:
            if before < step.version <= target:
                with database.write() as conn:
                    for statement in dialect.statements(step.ddl):
                        conn.execute(statement)
                    conn.execute(set_version, (1, step.version))
    return before, min(target, LATEST)


class SQLiteDatabase:
    """One SQLite file; a connection per thread, opened on first use.

    The file is switched to WAL once, here, while this process holds an
    exclusive ``flock`` on a lock file beside it: when a server's workers
    start together, only one at a time switches the journal mode or (in
    :func:`upgrade`) migrates the schema; the others then find it done. WAL
    is a property of the file, so per-connection set-up never asks for it
    again (see :meth:`connection`).
    """

    dialect = DIALECTS["sqlite"]
    IntegrityError = sqlite3.IntegrityError

    def __init__(self, path):
        self.path = self.name = path
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self._local = threading.local()
        with self.setting_up():
            conn = self.connection()
            if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
                raise UnusableDatabase("%s: cannot be switched to WAL mode" % path)
            if not self.has_table(VERSION_TABLE) and self.has_table("images"):
                _add_columns(conn)

    @contextlib.contextmanager
    def setting_up(self):
        """While the schema is read or set up: hold the lock file's exclusive
        ``flock``; a database error is UnusableDatabase."""
        try:
            with open(self.path + ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
                yield
        except (sqlite3.DatabaseError, OSError) as exc:
            raise UnusableDatabase("%s: %s" % (self.path, exc)) from None

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

    def has_table(self, name):
        return bool(self.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                               (name,)))


def _add_columns(conn):
    """Bring a database made by an earlier release up to the first versioned schema."""
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


class ServerDatabase:
    """A PostgreSQL or MySQL/MariaDB database through an SQLAlchemy engine.

    Transactions are READ COMMITTED, so a conditional UPDATE that waited for
    another writer's row lock applies to the row that writer committed. On
    PostgreSQL a read outside a transaction runs in autocommit mode (psycopg
    switches it on the client): one statement, no BEGIN or ROLLBACK. PyMySQL
    would send a SET each way, so on MySQL a read is the SELECT and the
    ROLLBACK the pool resets a connection with.

    A pooled connection is not pinged before each read (``pool_pre_ping``, as
    oslo.db sets it, costs a round trip per request): a read that finds its
    connection dead (the server restarted, or dropped it) runs once more on
    a new one, and SQLAlchemy then discards every connection the pool held
    before. A write's transaction starts with a ``SELECT 1``, retried the
    same way, so a write is never retried after it may have written.

    The engine's pool is per process: after a fork (a server's master opened
    it first) the child drops the inherited connections without closing them.
    """

    def __init__(self, url):
        dialect, extra = SCHEMES[scheme(url)]
        self.dialect = DIALECTS[dialect]
        try:
            import sqlalchemy
            self._sa = sqlalchemy
            # A pool per process: 10 connections kept, up to 50 more at once.
            self.engine = sqlalchemy.create_engine(
                url, isolation_level="READ COMMITTED", pool_size=10, max_overflow=50)
        except ImportError as exc:
            raise UnusableDatabase("%s needs SQLAlchemy and its driver (pip install "
                                   "'glancelet[%s]'): %s" % (url.partition("://")[0], extra,
                                                             exc)) from None
        self.name = self.engine.url.render_as_string(hide_password=True)
        self.IntegrityError = sqlalchemy.exc.IntegrityError
        self._pid = os.getpid()
        self._read_options = {"isolation_level": "AUTOCOMMIT"} if dialect == "postgresql" else {}

    def _engine(self):
        if self._pid != os.getpid():
            self.engine.dispose(close=False)
            self._pid = os.getpid()
        return self.engine

    @contextlib.contextmanager
    def _errors(self):
        try:
            yield
        except self._sa.exc.OperationalError as exc:
            raise UnusableDatabase("%s: %s" % (self.name, str(exc.orig).strip().splitlines()[0])
                                   ) from None

    @contextlib.contextmanager
    def setting_up(self):
        """While the schema is read or set up (by one ``db_sync`` at a time):
        a server that cannot be reached is UnusableDatabase."""
        with self._errors():
            yield

    def _dead(self, exc, attempt):
        """Whether ``exc`` found a pooled connection dead, and is worth a new one."""
        return (attempt == 1 and isinstance(exc, self._sa.exc.DBAPIError)
                and exc.connection_invalidated)

    @contextlib.contextmanager
    def write(self):
        """``with db.write() as conn``: one transaction, committed if the block ends well."""
        for attempt in (1, 2):
            conn = self._engine().connect()
            try:
                conn.exec_driver_sql("SELECT 1").close()  # the ping; it begins the transaction
                break
            except Exception as exc:
                conn.close()
                if not self._dead(exc, attempt):
                    raise
        with conn:  # closing it rolls back what is not committed
            yield _ServerConnection(conn)
            conn.commit()

    def query(self, sql, params=()):
        """The rows of one statement."""
        for attempt in (1, 2):
            try:
                with self._engine().connect() as conn:
                    conn.execution_options(**self._read_options)
                    return _ServerConnection(conn).execute(sql, params).fetchall()
            except Exception as exc:
                if not self._dead(exc, attempt):
                    raise

    def has_table(self, name):
        with self._engine().connect() as conn:
            return self._sa.inspect(conn).has_table(name)


class _ServerConnection:
    """An SQLAlchemy connection that executes this module's ``?`` statements."""

    def __init__(self, conn):
        self.conn = conn

    def execute(self, sql, params=()):
        if params:
            return self.conn.exec_driver_sql(_driver_sql(sql), tuple(params))
        return self.conn.exec_driver_sql(sql)


@functools.lru_cache(maxsize=512)
def _driver_sql(sql):
    """``sql`` with its ``?`` placeholders in the drivers' ``%s`` style (both
    psycopg and PyMySQL take it; a literal ``%`` is doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class ImageRepo:
    """Image rows. Methods take and return plain dicts; none returns a tombstone."""

    def __init__(self, db):
        self.db = db

    def add(self, record):
        """Insert ``record``; False if its id is taken, now or by a deleted image."""
        try:
            self.add_all([record])
        except self.db.IntegrityError:
            if not self.db.query("SELECT 1 FROM images WHERE id = ?", (record["id"],)):
                raise
            return False
        return True

    def add_all(self, records):
        """Insert ``records`` (new ids) in one transaction: a bulk load, as
        benchmarks/growth.py fills a database with 100k images."""
        with self.db.write() as conn:
            for record in records:
                columns = [c for c in COLUMNS if c in record]
                conn.execute("INSERT INTO images (%s) VALUES (%s)"
                             % (", ".join(columns), ", ".join("?" for _ in columns)),
                             [_encode(c, record[c]) for c in columns])

    _GET = "SELECT %s FROM images WHERE id = ? AND %s" % (", ".join(COLUMNS), _LIVE)

    def get(self, image_id):
        rows = self.db.query(self._GET, (image_id,))
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
            rows = conn.execute("SELECT %s FROM images WHERE id = ? AND %s AND %s%s"
                                % (", ".join(COLUMNS), _LIVE, " AND ".join(where),
                                   self.db.dialect.for_update),
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
        dialect = self.db.dialect
        for op, name, value in filters:
            clause, values = _filter_sql(dialect, op, name, value)
            where.append(clause)
            params.extend(values)
        if marker is not None:
            clause, values = _keyset(dialect, sort, marker)
            where.append(clause)
            params.extend(values)
        order = ["%s %s" % (_column(key), _direction(dialect, key, direction))
                 for key, direction in sort]
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


def _filter_sql(dialect, op, name, value):
    """(SQL clause, parameters) of one list filter (see :meth:`ImageRepo.list`)."""
    if op == "tag":
        return dialect.has_tag, [value]
    if op == "property":
        return dialect.has_property, [name, value]
    column = _column(name)
    if op == "in":
        return "%s IN (%s)" % (column, ", ".join("?" for _ in value)), list(value)
    operator = {"eq": "=", "ge": ">=", "le": "<="}[op]
    return "%s %s ?" % (column, operator), [_sql_value(column, value)]


def _direction(dialect, key, direction):
    """ORDER BY's direction for ``key``: NULLs first ascending, last descending."""
    if key in _NOT_NULL:
        return direction.upper()
    return dialect.asc if direction == "asc" else dialect.desc


def _keyset(dialect, keys, marker):
    """SQL for "rows after ``marker`` in the order ``keys``" (NULLs sort first).

    The leading keys that are never NULL and share the first key's direction
    (the default sort: ``created_at``, ``id``, both descending) become one
    bound an index on them serves as a range: ``(created_at, id) < (?, ?)``,
    or on MariaDB the same bound spelt with OR. The keys after them, if any,
    are compared one by one (NULL-aware), within that bound.
    """
    names = [key for key, _ in keys]
    if "id" in names:  # the keys after the unique id never decide
        keys = keys[:names.index("id") + 1]
    lead = 0
    while (lead < len(keys) and keys[lead][0] in _NOT_NULL
           and keys[lead][1] == keys[0][1]):
        lead += 1
    if lead == len(keys):
        return _after(dialect, keys, marker, strict=True)
    clauses, params = _ordered_after(dialect, keys, marker)
    if lead:
        bound, values = _after(dialect, keys[:lead], marker, strict=False)
        return "(%s AND %s)" % (bound, clauses), values + params
    return clauses, params


def _after(dialect, keys, marker, strict):
    """Rows whose never-NULL ``keys`` (one direction) come after ``marker``'s
    (``strict``) or after or with them."""
    columns = [_column(key) for key, _ in keys]
    values = [_sql_value(key, marker[key]) for key, _ in keys]
    less = keys[0][1] == "desc"
    if len(keys) == 1 or dialect.row_values:
        operator = ("<" if less else ">") + ("" if strict else "=")
        if len(keys) == 1:
            return "%s %s ?" % (columns[0], operator), values
        marks = ", ".join("?" for _ in columns)
        return "(%s) %s (%s)" % (", ".join(columns), operator, marks), values
    if not strict:  # MariaDB: the first key's bound is enough for its range
        return "%s %s= ?" % (columns[0], "<" if less else ">"), values[:1]
    clauses, params = [], []
    for i, column in enumerate(columns):
        parts = ["%s = ?" % c for c in columns[:i]]
        parts.append("%s %s ?" % (column, "<" if less else ">"))
        clauses.append("(" + " AND ".join(parts) + ")")
        params.extend(values[:i + 1])
    return "(" + " OR ".join(clauses) + ")", params


def _ordered_after(dialect, keys, marker):
    """Rows after ``marker`` in any order ``keys``: one disjunct per key, NULL-aware."""
    clauses, params = [], []
    for i, (key, direction) in enumerate(keys):
        parts, part_params = [], []
        for prev, _ in keys[:i]:
            parts.append(("%s = ?" if prev in _NOT_NULL else dialect.null_safe_eq)
                         % _column(prev))
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
            column = _column(key)
            parts.append("%s < ?" % column if key in _NOT_NULL
                         else "(%s < ? OR %s IS NULL)" % (column, column))
            part_params.append(value)
        clauses.append("(" + " AND ".join(parts) + ")")
        params.extend(part_params)
    if not clauses:
        return "1 = 0", []
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
            # The image's row is locked (a server) or the database is (SQLite)
            # until the end: its member count cannot change meanwhile.
            if not conn.execute("SELECT 1 FROM images WHERE id = ? AND visibility = 'shared' "
                                "AND %s%s" % (_LIVE, self.db.dialect.for_update),
                                (record["image_id"],)).fetchall():
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
            conn.execute(self.db.dialect.upsert("workers", ("worker", "host", "heartbeat_at"),
                                                "worker"), (worker, host, now))

    def heartbeat_at(self, worker):
        """When ``worker`` last beat, or None if it never did (or was purged)."""
        rows = self.db.query("SELECT heartbeat_at FROM workers WHERE worker = ?", (worker,))
        return rows[0][0] if rows else None

    def purge(self, before):
        """Forget the processes that have not beaten since ``before``."""
        with self.db.write() as conn:
            conn.execute("DELETE FROM workers WHERE heartbeat_at < ?", (before,))
