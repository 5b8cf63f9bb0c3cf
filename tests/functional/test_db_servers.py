"""glancelet on a database server it does not set up itself (``tox -e db`` only).

A server database gets its schema from ``glancelet-manage db_sync``, never
from a starting server: one without the schema, or with an older one, or
one that cannot be reached, stops the server with one line that says what
to do, and no password.
"""

import logging

import pytest

from glancelet import app as app_mod
from glancelet import db
from lab.harness import free_port

from .conftest import Client, make_conf, new_database
from .test_db_backends import _sync

SERVERS = ["postgresql", "mariadb"]


@pytest.fixture(autouse=True)
def glancelet_logger():
    """init_application gives glancelet's logger a handler on sys.stderr (here
    the test's capture, closed after it) and stops propagation: undo both."""
    logger = logging.getLogger("glancelet")
    saved = list(logger.handlers), logger.propagate, logger.level
    yield
    logger.handlers[:] = saved[0]
    logger.propagate, logger.level = saved[1], saved[2]


def _start(tmp_path, url, capsys):
    """Start glancelet as a server does; its refusal line, or None if it started."""
    config = tmp_path / "glancelet.conf"
    config.write_text("[database]\nconnection = %s\n[glance_store]\nfilesystem_store_datadir"
                      " = %s\n[os_glance_staging_store]\nfilesystem_store_datadir = %s\n"
                      % (url, tmp_path / "images", tmp_path / "staging"))
    try:
        app_mod.init_application({"GLANCELET_CONFIG_FILE": str(config)})
    except SystemExit as exc:
        assert exc.code == app_mod.REFUSED
        line = capsys.readouterr().err.splitlines()[-1]
        return line
    return None


@pytest.mark.parametrize("kind", SERVERS)
def test_a_server_database_needs_db_sync_first(request, tmp_path, capsys, kind):
    url = new_database(request, kind, tmp_path, sync=False)
    line = _start(tmp_path, url, capsys)
    assert line.startswith("glancelet: cannot use the database %s://glancelet:***@"
                           % db.scheme(url)), line
    assert line.endswith("the schema is at version 0, this glancelet needs %d: run "
                         "glancelet-manage db_sync" % db.LATEST), line
    assert _sync(tmp_path, url, "db_sync", "1") == 0
    assert _start(tmp_path, url, capsys).endswith(
        "the schema is at version 1, this glancelet needs %d: run glancelet-manage db_sync"
        % db.LATEST)
    assert _sync(tmp_path, url, "db_sync") == 0
    capsys.readouterr()
    assert _start(tmp_path, url, capsys) is None


@pytest.mark.parametrize("kind", SERVERS)
def test_an_unreachable_server_refuses_to_start(request, tmp_path, capsys, kind):
    url = new_database(request, kind, tmp_path).replace(
        ":%d/" % request.getfixturevalue("db_server")(kind).port, ":%d/" % free_port())
    line = _start(tmp_path, url, capsys)
    assert line.startswith("glancelet: cannot use the database %s://glancelet:***@"
                           % db.scheme(url)), line
    assert "refused" in line.lower(), line


class _Statements:
    """Counts what a driver sends its server: PyMySQL's commands (COM_QUERY,
    COM_PING...); psycopg's statements (pings included) and the BEGIN, COMMIT
    and ROLLBACK it sends itself."""

    def __init__(self, kind, monkeypatch):
        self.count = 0
        if kind == "mariadb":
            import pymysql.connections
            self._count(monkeypatch, pymysql.connections.Connection, "_execute_command")
        else:
            import psycopg
            self._count(monkeypatch, psycopg.Cursor, "execute")
            self._count(monkeypatch, psycopg.Connection, "_exec_command")

    def _count(self, monkeypatch, cls, name):
        send = getattr(cls, name)

        def counted(*args, **kwargs):
            self.count += 1
            return send(*args, **kwargs)
        monkeypatch.setattr(cls, name, counted)


@pytest.mark.parametrize("kind,trips", [("postgresql", 1), ("mariadb", 2)])
def test_a_get_by_id_is_one_statement(request, tmp_path, monkeypatch, kind, trips):
    """GET /v2/images/{id} sends its SELECT, no ping, no isolation level set
    or reset; on PostgreSQL nothing else, on MariaDB the ROLLBACK the pool
    resets a connection with."""
    url = new_database(request, kind, tmp_path)
    app = app_mod.create_app(make_conf(tmp_path, database__connection=url))
    client = Client(app)
    image_id = client.create(name="one")["id"]
    # A warm connection: psycopg has prepared the statement (on its fifth run).
    for _ in range(6):
        assert client.get("/v2/images/" + image_id).status == 200
    sent = _Statements(kind, monkeypatch)
    assert client.get("/v2/images/" + image_id).status == 200
    assert sent.count == trips


def _drop_connections(server, kind):
    """Make the server close every glancelet connection, as a restart would."""
    if kind == "postgresql":
        server.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE usename = 'glancelet'")
    else:
        for pid in server.sql("SELECT id FROM information_schema.processlist "
                              "WHERE user = 'glancelet'").split():
            server.sql("KILL %s" % pid)


@pytest.mark.parametrize("kind", SERVERS)
def test_dropped_connections_are_replaced_without_an_error(request, tmp_path, kind):
    """The server dropped every pooled connection: the next read and the next
    write each get a new connection and succeed (no 5xx)."""
    url = new_database(request, kind, tmp_path)
    app = app_mod.create_app(make_conf(tmp_path, database__connection=url))
    client = Client(app)
    image_id = client.create(name="before")["id"]
    assert client.get("/v2/images/" + image_id).status == 200
    server = request.getfixturevalue("db_server")(kind)
    _drop_connections(server, kind)
    resp = client.get("/v2/images/" + image_id)
    assert resp.status == 200, resp.body
    _drop_connections(server, kind)
    resp = client.patch("/v2/images/" + image_id, [{"op": "replace", "path": "/name",
                                                    "value": "after"}])
    assert resp.status == 200, resp.body
    assert client.get("/v2/images/" + image_id).json()["name"] == "after"
