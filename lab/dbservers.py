"""Throwaway PostgreSQL and MariaDB servers for tests: ``[database] connection``.

Each is a fresh instance (``initdb``, ``mariadb-install-db``) in a temp
directory of its own, listening only on 127.0.0.1 on a free port, run as the
package's system user when the tests run as root (neither server runs as
root), with durability traded for speed (no fsync). The common interface:
``start()``, ``url(database)``, ``create_database(name)`` (returns its URL)
and ``stop()``, which signals the server's PID and waits for it. The
packages come from apt (bindep.txt, profile ``db``; ``python -m
lab.provision --profile db``).
"""

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from lab.harness import Server, free_port

ADDRESS = "127.0.0.1"
STOP_TIMEOUT = 60


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

    def __init__(self):
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
        self._setup()
        self.start_seconds = time.monotonic() - began
        return self

    def create_database(self, name):
        """A new, empty database ``name``; its URL."""
        self.sql("CREATE DATABASE %s" % name)
        return self.url(name)

    def stop(self):
        """Stop the server by its PID (a fast shutdown) and remove its directory."""
        if self.server is not None and self.server.alive():
            self.server.stop(self.stop_signal)
        shutil.rmtree(self.root, ignore_errors=True)


class PostgreSQL(_DBServer):
    """``postgres`` from Debian's postgresql package, trust authentication on 127.0.0.1."""

    kind = "postgresql"
    system_user = "postgres"
    stop_signal = signal.SIGINT   # "fast" shutdown; SIGTERM waits for clients to leave

    def _init(self):
        self._run([_pg_bin("initdb"), "-D", self.root / "data", "-U", "postgres",
                   "--auth=trust", "-E", "UTF8", "--locale=C"])

    def _argv(self):
        return [_pg_bin("postgres"), "-D", self.root / "data", "-h", ADDRESS,
                "-p", self.port, "-k", self.root, "-c", "fsync=off",
                "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=300"]

    def _setup(self):
        self.sql("CREATE ROLE glancelet LOGIN PASSWORD 'glancelet' CREATEDB")

    def sql(self, statement):
        """Run one statement with psql as the superuser; its output."""
        return self._run([_pg_bin("psql"), "-h", ADDRESS, "-p", self.port, "-U", "postgres",
                          "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-Atc", statement])

    def create_database(self, name):
        self.sql("CREATE DATABASE %s OWNER glancelet" % name)
        return self.url(name)

    def url(self, database="postgres"):
        return "postgresql+psycopg://glancelet:glancelet@%s:%d/%s" % (ADDRESS, self.port,
                                                                      database)


class MariaDB(_DBServer):
    """``mariadbd`` from Debian's mariadb-server package."""

    kind = "mariadb"
    system_user = "mysql"
    stop_signal = signal.SIGTERM

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

    def _setup(self):
        self.sql("CREATE USER 'glancelet'@'%' IDENTIFIED BY 'glancelet'")

    def sql(self, statement):
        """Run one statement as root over the server's socket; its output."""
        return self._run(["mariadb", "--no-defaults", "--socket=%s" % (self.root / "mariadb.sock"),
                          "-u", "root", "-N", "-B", "-e", statement])

    def create_database(self, name):
        self.sql("CREATE DATABASE %s CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" % name)
        self.sql("GRANT ALL ON %s.* TO 'glancelet'@'%%'" % name)
        return self.url(name)

    def url(self, database="mysql"):
        return "mysql+pymysql://glancelet:glancelet@%s:%d/%s?charset=utf8mb4" % (
            ADDRESS, self.port, database)


SERVERS = {"postgresql": PostgreSQL, "mariadb": MariaDB}
