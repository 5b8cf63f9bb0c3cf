"""The server kinds the patterns run, in one registry.

Each :class:`ServerKind` says where the server comes from (Debian packages,
listed in ``bindep.txt``, or pip packages installed into the environment
running the tests), which binary runs it, how it reports its version, and
its life cycle in a workspace: ``start`` (the command line the docs show;
the server's stop timeout and signal-readiness guard are set there, and
:meth:`lab.harness.Server.stop` is the one stop for every kind) and
``reload`` (the graceful reload the examples document).

``lab.provision`` checks and installs from it, ``lab.results`` and
``benchmarks.machine`` record versions from it, and each pattern declares the
servers it starts as :class:`Run` entries naming a kind.
"""

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

from lab import apache, launchers, units
from lab.harness import SERVICE_USER_DIRS


@dataclasses.dataclass(frozen=True)
class Node:
    """A host of a multi-node pattern: its name, its own address (a
    loopback address other than 127.0.0.1, which the address token of its
    files becomes) and the path tokens it shares with the other nodes (a
    filesystem they all mount). See :class:`lab.harness.NodeWorkspace`."""
    name: str
    address: str
    shared: tuple = ("/srv/glancelet", "/srv/glance")


@dataclasses.dataclass(frozen=True)
class Run:
    """One server a pattern starts, as data.

    ``conf`` is the operator path of the file it starts from, ``pidfile``
    the one its reload reads (uWSGI, gunicorn, HAProxy), ``port`` the port
    token it listens on when it is the front door (None: Apache's scaffold
    picks a free port), ``tls`` the operator paths of the certificate and
    key a throwaway CA signs (the front door is then https), ``unit`` its
    systemd unit in examples/systemd/ (:func:`lab.units.files`): the server
    starts with the unit's ``ExecStart=`` and ``TimeoutStopSec=``, after
    its ``RuntimeDirectory=`` has been created; in a workspace whose
    servers run as their units' users (``Pattern.unit_user``), as its
    ``User=``/``Group=``, which then owns :data:`lab.harness.SERVICE_USER_DIRS`.

    ``fifo`` (uWSGI) is the operator path of its ``master-fifo``: its reload
    is then the chain reload the file documents (``echo c > <fifo>``),
    not ``uwsgi --reload <pidfile>``.

    ``node`` (a :class:`Node`) runs it on a host of its own, with ``files``
    ((example, operator path) pairs) installed on that host only; the same
    kind can then run once per node, each from its own files (and its unit).
    """
    kind: str
    conf: str
    pidfile: str = None
    port: str = None
    tls: tuple = None
    unit: str = None
    # More installed files the same server loads (Apache: enabled with it).
    includes: tuple = ()
    node: Node = None
    files: tuple = ()
    fifo: str = None

    def unit_files(self):
        """The (example, operator path) pair of its unit file, if it has one."""
        if self.unit is None:
            return ()
        example, operator_path, _ = units.files(self.unit)
        return ((example, operator_path),)

    def load_unit(self, ws):
        """Its :class:`lab.units.Unit`, read from the installed (rewritten) file."""
        if self.unit is None:
            return None
        _, operator_path, instance = units.files(self.unit)
        return units.load(ws.path(operator_path), instance)

    @property
    def name(self):
        """The server's name in the workspace (``Workspace.servers``)."""
        name = KINDS[self.kind].server_name
        return name if self.node is None else "%s@%s" % (name, self.node.name)

    def workspace(self, ws):
        """Where it runs: ``ws``, or its node's workspace in ``ws``."""
        return ws if self.node is None else ws.node(self.node)

    def url(self, ws):
        """A node's own URL (``http://<its address>:<port>``), or None."""
        return None if self.node is None else "http://%s:%d" % (self.node.address,
                                                                ws.port(self.port))

    def start(self, ws):
        """Start it in ``ws`` (its node's workspace, if it has a node), as its
        unit says: its runtime directories first; return the port it listens
        on (or None)."""
        where = self.workspace(ws)
        unit = self.load_unit(where)
        for path in unit.runtime_paths() if unit else ():
            units.make_runtime_directory(where.path(path), unit)
        if unit and unit.user and where.unit_user:
            # What the service page has the operator run before the first start.
            for path in SERVICE_USER_DIRS:
                units.install_directory(where.path(path), unit, 0o750)
        return KINDS[self.kind].start(where, self, unit)

    def reload(self, ws):
        KINDS[self.kind].reload(self.workspace(ws), self)


def _by_conf(launcher):
    """start(ws, run, unit) for a kind that ``launcher(ws, conf, name=,
    unit=)`` starts; the port is the one of the run's token (its config file
    names it)."""
    def start(ws, run, unit):
        launcher(ws, run.conf, name=run.name, unit=unit)
        return ws.port(run.port) if run.port else None
    return start


def _by(reload, attribute, named=True):
    """reload(ws, run) that calls ``reload(ws, <the run's attribute>)``, with
    the run's server name if ``named``."""
    if named:
        return lambda ws, run: reload(ws, getattr(run, attribute), name=run.name)
    return lambda ws, run: reload(ws, getattr(run, attribute))


def _uwsgi_reload(ws, run):
    """uWSGI's documented reload: a chain reload through the run's master
    FIFO if it has one, else ``uwsgi --reload <pidfile>``."""
    if run.fifo:
        launchers.uwsgi_chain_reload(ws, run.fifo, name=run.name)
    else:
        launchers.uwsgi_reload(ws, run.pidfile, name=run.name)


@dataclasses.dataclass(frozen=True)
class ServerKind:
    name: str
    # The binary: an absolute path, or a name under the tests' environment's bin/.
    binary: str
    version_args: tuple
    # The version is group 1 of the first match in the command's output.
    version_regex: str
    # start(ws, run, unit) -> port or None; reload(ws, run).
    starter: object
    reloader: object
    # Debian packages it needs (each must be in bindep.txt's test profile).
    apt: tuple = ()
    # pip packages installed into the environment running the tests.
    pip: tuple = ()
    # Its name in a workspace, if not the kind's.
    spawn_name: str = None

    @property
    def server_name(self):
        return self.spawn_name or self.name

    def start(self, ws, run, unit=None):
        return self.starter(ws, run, unit)

    def reload(self, ws, run):
        self.reloader(ws, run)

    def path(self):
        binary = Path(self.binary)
        return binary if binary.is_absolute() else Path(sys.prefix) / "bin" / self.binary

    def version(self):
        """The version this machine runs, or None if the server is missing."""
        try:
            out = subprocess.run([str(self.path()), *self.version_args], capture_output=True,
                                 text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        match = re.search(self.version_regex, out.stdout + out.stderr, re.MULTILINE)
        return match.group(1) if match else None


# Start and reload, as the docs show them: uwsgi --ini, then uwsgi --reload
# <pidfile> (once its processes handle signals), or echo c > <master-fifo>
# (Glance's ini: a chain reload); gunicorn -c, then kill -HUP
# $(cat <pidfile>); nginx -c, then nginx -s reload; haproxy -W -f, then kill
# -USR2 $(cat <pidfile>); apache2 -f, then apache2 -k graceful. Apache's
# packages are lab.apache's (mod_wsgi, mod_ssl), and its start prepares
# mod_wsgi and TLS first (lab.apache.start_pattern).
KINDS = {kind.name: kind for kind in (
    ServerKind("uwsgi", "uwsgi", ("--version",), r"^(\S+)", _by_conf(launchers.start_uwsgi),
               _uwsgi_reload, pip=("uwsgi",)),
    ServerKind("gunicorn", "gunicorn", ("--version",), r"(\d+\.\d+[\w.]*)",
               _by_conf(launchers.start_gunicorn), _by(launchers.gunicorn_reload, "pidfile"),
               pip=("gunicorn",)),
    ServerKind("nginx", "/usr/sbin/nginx", ("-v",), r"nginx/(\S+)", _by_conf(launchers.start_nginx),
               _by(launchers.nginx_reload, "conf", named=False), apt=("nginx",)),
    ServerKind("haproxy", "/usr/sbin/haproxy", ("-v",), r"HAProxy version (\S+)",
               _by_conf(launchers.start_haproxy), _by(launchers.haproxy_reload, "pidfile"),
               apt=("haproxy",)),
    ServerKind("apache2", apache.APACHE2, ("-v",), r"Apache/(\S+)",
               lambda ws, run, unit: apache.start_pattern(
                   ws, run.conf, run.port, run.tls, run.includes),
               lambda ws, run: apache.graceful(ws),
               apt=apache.APT_PACKAGES, spawn_name=apache.APACHE_SERVER_NAME),
    # keystonemiddleware's shared token cache (tox -e keystone): no pattern
    # runs it, lab.memcached starts it.
    ServerKind("memcached", "/usr/bin/memcached", ("-V",), r"memcached (\S+)", None, None,
               apt=("memcached",)),
)}


def get(name):
    return KINDS[name]
