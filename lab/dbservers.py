"""Throwaway PostgreSQL and MariaDB servers for tests: ``[database] connection``.

Each is a fresh instance (``initdb``, ``mariadb-install-db``) in a temp
directory of its own, listening only on 127.0.0.1 on a free port, run as the
package's system user when the tests run as root (neither server runs as
root), with durability traded for speed (no fsync). The common interface:
``start()``, ``url(database)``, ``create_database(name)`` (returns its URL)
and ``stop()``, which signals the server's PID and waits for it. The
packages come from apt (bindep.txt, profiles ``db`` and ``test``; ``python -m
lab.provision --profile db``).

:func:`serve_pattern` is the database server of a multi-node pattern
(``Pattern.database``): the user and database its ``[database] connection``
names, created as its how-to page does, then ``glancelet-manage db_sync``
(Glance's ``glance-manage db_sync`` when the pattern serves Glance).
"""

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

from lab.harness import Server, free_port

ADDRESS = "127.0.0.1"
STOP_TIMEOUT = 60
# The one schema step an operator runs before the first node starts, on
# one node (doc/source/howto/haproxy-multinode.rst); rewritten like a file.
DB_SYNC = "/opt/glancelet/bin/glancelet-manage --config-file /etc/glancelet/glancelet.conf db_sync"


def _pg_bin(name):
    """A PostgreSQL server binary of the newest version installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name),
                   key=lambda p: int(p.split("/")[4]))
    if not found:
        raise FileNotFoundError("%s: install the postgresql package "
                                "(python -m lab.provision --profile db)" % name)
    return found[-1]


class _DBServer:
    """What both servers share: a temp directory, the user, the process."""

    kind = None
    system_user = None

    # The SQL that creates a login and a database it may use, as the how-to
    # page gives it ({user}, {password}, {database}).
    user_sql = ()
    database_sql = ()

    def __init__(self, user="glancelet", password="glancelet"):
        self.user, self.password = user, password
        self.root = Path(tempfile.mkdtemp(prefix="glancelet-%s-" % self.kind))
        self.port = free_port()
        self.server = None
        self.start_seconds = None
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self.system_user)
            self.root.chmod(0o755)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self._as_user = ["setpriv", "--reuid", str(entry.pw_uid), "--regid",
                             str(entry.pw_gid), "--init-groups", "--"]
        else:
            self._as_user = []

    def _run(self, argv):
        """Run a set-up command as the server's user; its output on failure."""
        result = subprocess.run(self._as_user + [str(a) for a in argv], cwd=self.root,
                                capture_output=True, text=True, timeout=120, check=False)
        if result.returncode:
            raise RuntimeError("%s failed (%d):\n%s%s" % (argv[0], result.returncode,
                                                          result.stdout, result.stderr))
        return result.stdout

    def start(self, deadline=60.0):
        """Create the instance, start it and wait until it answers SQL."""
        began = time.monotonic()
        self._init()
        self.server = Server(self.kind, self._as_user + self._argv(), self.root / "server.log",
                             cwd=str(self.root), stop_timeout=STOP_TIMEOUT).start()
        end = began + deadline
        while True:
            try:
                self.sql("SELECT 1")
                break
            except RuntimeError:
                if not self.server.alive() or time.monotonic() > end:
                    log = self.server.log_text()
                    self.stop()
                    raise AssertionError("%s did not start:\n%s" % (self.kind, log))
                time.sleep(0.2)
        self._each(self.user_sql)
        self.start_seconds = time.monotonic() - began
        return self

    def _each(self, statements, database=None):
        for statement in statements:
            self.sql(statement.format(user=self.user, password=self.password,
                                      database=database))

    def create_database(self, name):
        """A new, empty database ``name`` that the user owns; its URL."""
        self._each(self.database_sql, name)
        return self.url(name)

    def stop(self):
        """Stop the server by its PID (a fast shutdown) and remove its directory."""
        if self.server is not None and self.server.alive():
            self.server.stop(self.stop_signal)
        shutil.rmtree(self.root, ignore_errors=True)


class PostgreSQL(_DBServer):
    """``postgres`` from Debian's postgresql package: passwords on 127.0.0.1."""

    kind = "postgresql"
    system_user = "postgres"
    stop_signal = signal.SIGINT   # "fast" shutdown; SIGTERM waits for clients to leave

    # The superuser connects over the socket in the instance's directory
    # (trusted); everyone else over TCP, with a password.
    user_sql = ("CREATE ROLE {user} LOGIN PASSWORD '{password}'",)
    database_sql = ("CREATE DATABASE {database} OWNER {user}",)

    def _init(self):
        self._run([_pg_bin("initdb"), "-D", self.root / "data", "-U", "postgres",
                   "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                   "--locale=C"])

    def _argv(self):
        return [_pg_bin("postgres"), "-D", self.root / "data", "-h", ADDRESS,
                "-p", self.port, "-k", self.root, "-c", "fsync=off",
                "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=300"]

    def sql(self, statement, database="postgres"):
        """Run one statement in ``database`` with psql as the superuser; its output."""
        return self._run([_pg_bin("psql"), "-h", self.root, "-p", self.port, "-U", "postgres",
                          "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", statement])

    def url(self, database="postgres"):
        return "postgresql+psycopg://%s:%s@%s:%d/%s" % (self.user, self.password, ADDRESS,
                                                        self.port, database)


class MariaDB(_DBServer):
    """``mariadbd`` from Debian's mariadb-server package."""

    kind = "mariadb"
    system_user = "mysql"
    stop_signal = signal.SIGTERM
    user_sql = ("CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'",)
    database_sql = ("CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
                    "GRANT ALL ON {database}.* TO '{user}'@'%'")

    def _init(self):
        self._run(["mariadb-install-db", "--no-defaults", "--datadir=%s" % (self.root / "data"),
                   "--auth-root-authentication-method=normal", "--skip-test-db"])

    def _argv(self):
        return ["mariadbd", "--no-defaults", "--datadir=%s" % (self.root / "data"),
                "--bind-address=%s" % ADDRESS, "--port=%d" % self.port,
                "--socket=%s" % (self.root / "mariadb.sock"),
                "--pid-file=%s" % (self.root / "mariadb.pid"),
                "--log-error=%s" % (self.root / "error.log"),
                # No reverse DNS look-up of each client (seconds without DNS).
                "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=64M",
                "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
                "--max-connections=300"]

    def sql(self, statement):
        """Run one statement as root over the server's socket; its output."""
        return self._run(["mariadb", "--no-defaults", "--socket=%s" % (self.root / "mariadb.sock"),
                          "-u", "root", "-N", "-B", "-e", statement])

    def url(self, database="mysql"):
        return "mysql+pymysql://%s:%s@%s:%d/%s?charset=utf8mb4" % (
            self.user, self.password, ADDRESS, self.port, database)


SERVERS = {"postgresql": PostgreSQL, "mariadb": MariaDB}
# The port token (lab.rewrite) each listens on in examples/, and the URL
# schemes of [database] connection that name it (glancelet's psycopg,
# Glance's psycopg2: oslo.db's PostgreSQL driver).
PORT_TOKENS = {"postgresql": "5432", "mariadb": "3306"}
SCHEMES = {"postgresql": ("postgresql+psycopg", "postgresql+psycopg2"),
           "mariadb": ("mysql+pymysql",)}


def serve_pattern(kind, ws):
    """A :class:`PostgreSQL` or :class:`MariaDB` (``kind``) for the nodes of
    the pattern ``ws`` runs: the port token stands for its port on this
    host's address (the nodes' files name it; see :mod:`lab.rewrite`). Not
    started: :func:`set_up` does that once the files are installed."""
    server = SERVERS[kind]()
    ws.use_port(PORT_TOKENS[kind], server.port)
    return server


def db_sync(node_ws):
    """:data:`DB_SYNC` in ``node_ws``."""
    result = subprocess.run(node_ws.rewrite(DB_SYNC).split(), capture_output=True, text=True,
                            timeout=120, check=False)
    if result.returncode:
        raise AssertionError("db_sync failed (%d):\n%s%s" % (result.returncode, result.stdout,
                                                             result.stderr))


def set_up(server, connection, node_ws, sync=db_sync):
    """Start ``server`` and do what the how-to page has the operator do
    once: the user and database of ``connection`` (the nodes' ``[database]
    connection``), then the schema step ``sync(node_ws)`` on one node
    (``node_ws``; glancelet's :data:`DB_SYNC`, or Glance's
    ``lab.glance.db_sync_conf_d``); return {step: seconds}."""
    parts = urllib.parse.urlsplit(connection)
    assert parts.scheme in SCHEMES[server.kind], (server.kind, connection)
    assert parts.port == server.port, (server.port, connection)
    server.user = urllib.parse.unquote(parts.username)
    server.password = urllib.parse.unquote(parts.password)
    began = time.monotonic()
    server.start()
    server.create_database(parts.path.lstrip("/"))
    started = time.monotonic()
    sync(node_ws)
    return {server.kind: started - began, "db_sync": time.monotonic() - started}
