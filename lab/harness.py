"""Run real servers for the examples suite, and the base classes for patterns.

What this module gives a test:

* :func:`free_port`: a port on 127.0.0.1 that nothing listens on.
* :class:`Server`: one server process (uWSGI, nginx, gunicorn, Apache) started
  in its own process group, its stdout and stderr captured to a log file.
  ``stop()`` sends SIGTERM to its PID and asserts it exits within a stated
  timeout; the group is only SIGKILLed as a last resort, after that failure.
* :func:`wait_ready`: readiness is a real ``GET /`` on the bound port that
  must answer glancelet's ``300 Multiple Choices`` version document, polled
  with a deadline. A server that dies while starting fails at once, with its log.
* :class:`Workspace`: a per-test directory that mirrors the operator's
  filesystem (``<root>/etc/glancelet``, ``<root>/var/lib/glancelet``, ...),
  installs ``examples/`` files into it through :mod:`lab.rewrite`,
  and hands out the free port behind each port token.
* :class:`Pattern` and :class:`Deployment`: what every deployment pattern
  provides (see ``lab/patterns/__init__.py`` for how to add one).
* :class:`ExpectedFailure`: how a pattern declares what it cannot do, with the
  exact status and body the scenario must observe.

Nothing here kills a process by name: only the PIDs and process groups this
module created.
"""

import configparser
import contextlib
import copy
import dataclasses
import http.client
import json
import os
import pwd
import re
import signal
import socket
import stat
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab import rewrite

REPO_ROOT = Path(__file__).resolve().parents[1]
# Where workspaces are created (see Workspace).
WORKSPACE_BASE = "/var/tmp"

# Path tokens that stand for a Python environment: they map to the one
# running the tests (sys.prefix), not into the workspace.
PYTHON_ENVS = ("/opt/glancelet", "/opt/keystone", "/opt/glance")
# What ``/opt/glancelet`` stands for instead when a pattern's uWSGI or
# gunicorn runs as its unit's User= (Pattern.unit_user): a venv made from
# Debian's python3 by ``python -m lab.provision``, owned by root and
# readable by every user (pyenv's Python under /root, mode 0700, is not).
SERVICE_VENV = Path("/opt/glancelet-service-venv")
# What a pattern's service user writes to, made its own before the start as
# the service page has the operator do (install -d -o glancelet -g glancelet
# -m 0750 /var/lib/glancelet), and the store every node of haproxy-multinode
# shares, as its page has the operator do; /run/glancelet is the unit's
# RuntimeDirectory=.
SERVICE_USER_DIRS = ("/var/lib/glancelet", "/srv/glancelet")

# The Keystone that tests/functional/test_keystone.py runs, and the drop-in
# that puts glancelet behind it (example, operator path).
KEYSTONE_EXAMPLES = (
    ("examples/keystone/keystone.conf", "/etc/keystone/keystone.conf"),
    ("examples/keystone/keystone-uwsgi.ini", "/etc/keystone/keystone-uwsgi.ini"),
    ("examples/keystone/authtoken.conf", "/etc/glancelet/glancelet.conf.d/authtoken.conf"),
)

# One Apache serving Keystone and glancelet in daemon groups of their own
# (tests/examples/test_apache_controller.py): (example, operator path).
CONTROLLER_EXAMPLES = (
    ("examples/apache-controller/controller.conf", "/etc/glancelet/controller.conf"),
    ("examples/apache-controller/keystone.wsgi", "/etc/keystone/keystone.wsgi"),
)

# Files from examples/ that the import scenarios install next to every
# pattern's own files (example, operator path); see examples/README.rst.
IMPORT_EXAMPLES = (
    ("examples/import/internal-mirror.conf",
     "/etc/glancelet/glancelet.conf.d/internal-mirror.conf"),
)

# The services a pattern can run (issue 13 adds Glance); a deployment runs
# one, and expected failures are declared per service.
SERVICES = ("glancelet", "glance")

# Where a TLS front door's throwaway CA certificate is, under a workspace's
# root (outside the operator's tree: it is the clients' side).
CLIENT_CA = "client-ca/ca.pem"

# Ports handed out in this process, so two calls never return the same one.
_GIVEN_PORTS = set()


def process_alive(pid):
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    try:
        with open("/proc/%d/stat" % pid) as fp:
            return fp.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def free_port():
    """A TCP port on 127.0.0.1 that is free now and not handed out before."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _GIVEN_PORTS:
            _GIVEN_PORTS.add(port)
            return port
    raise RuntimeError("no free port found on 127.0.0.1")


def _log_tail(path, limit=6000):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as exc:
        return "<no log: %s>" % exc
    return text if len(text) <= limit else "...\n" + text[-limit:]


def signal_dispositions(pid):
    """(caught, ignored): the sets of signal numbers process ``pid`` has a
    handler for and ignores, read from /proc (empty sets if it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as fp:
            fields = dict(line.split(":", 1) for line in fp if ":" in line)
    except OSError:
        return set(), set()

    def signals(mask):
        bits = int(mask, 16)
        return {n for n in range(1, 65) if bits & (1 << (n - 1))}
    return signals(fields["SigCgt"]), signals(fields["SigIgn"])


class Server:
    """One server process in its own process group, logging to a file.

    ``stop_timeout`` is the number of seconds this server is expected to take
    to exit after SIGTERM; ``stop()`` fails the test if it takes longer.
    """

    def __init__(self, name, argv, log_path, env=None, cwd=None, stop_timeout=30,
                 signal_ready=None, notify_socket=None, ids=None, signal_ready_timeout=30.0,
                 hostname=None):
        self.name = name
        # The host name of the host it runs on, when that is a node of a
        # multi-node pattern (see :meth:`_on_own_host`); None: this host's.
        self.hostname = hostname
        # (uid, gid) of the unit's User=/Group= it runs as, as systemd
        # starts it (None: as the tests' own user).
        self.ids = ids
        # A systemd Type=notify unit's server: the path of the datagram
        # socket it gets as $NOTIFY_SOCKET; it is started once it sends READY=1.
        self.notify_socket = notify_socket
        self.notified = ""
        # signal_ready(server) -> None once the server acts on the signals
        # the tests send it, else a text saying what is not ready yet.
        self.signal_ready = signal_ready
        # How long :meth:`wait_signal_ready` waits for it.
        self.signal_ready_timeout = signal_ready_timeout
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.env = env
        self.cwd = cwd
        self.stop_timeout = stop_timeout
        self.proc = None
        self.returncode = None

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(self.env or {})
        if self.notify_socket:
            self._listen_notify(env)
        as_user = self._as_user(env) if self.ids else {}
        argv = self.argv
        if self.hostname:
            argv, as_user = self._on_own_host(as_user)
        with open(self.log_path, "ab") as log:
            self.log_offset = log.tell()
            log.write(("### %s: %s\n" % (self.name, " ".join(self.argv))).encode())
            log.flush()
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True, **{"cwd": self.cwd, **as_user})
        return self

    def _on_own_host(self, as_user):
        """The command and Popen arguments that run :attr:`argv` as a host of
        its own named :attr:`hostname`: in a UTS namespace of its own (so
        ``gethostname()`` there is the node's, as on a separate machine;
        addresses, files and PIDs stay this host's), as the unit's user if
        it has one.

        ``unshare --uts`` needs root, so the switch to the unit's user comes
        after it, by ``setpriv`` (the same uid, gid and no supplementary
        groups as Popen's). Each program execs the next: the server's PID is
        the one started.
        """
        if os.geteuid() != 0:
            raise RuntimeError("%s: a node runs as a host of its own (unshare --uts), which "
                               "needs root: run the tests as root" % self.name)
        then = []
        if as_user:
            uid, gid = self.ids
            then = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups", "--"]
            as_user = {"cwd": as_user["cwd"]}
        argv = (["unshare", "--uts", "--", "/bin/sh", "-c", 'hostname "$0" && exec "$@"',
                 self.hostname] + then + self.argv)
        return argv, as_user

    def _as_user(self, env):
        """Popen's arguments and ``env``'s variables for a unit's ``User=``
        and ``Group=``, as systemd sets them: no supplementary groups,
        HOME, USER, LOGNAME and SHELL of the user, in ``/``."""
        uid, gid = self.ids
        entry = pwd.getpwuid(uid)
        env.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name,
                   SHELL=entry.pw_shell)
        return {"user": uid, "group": gid, "extra_groups": [], "cwd": self.cwd or "/"}

    def _listen_notify(self, env):
        """Listen on :attr:`notify_socket` as systemd does, and say so in ``env``."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.notify_socket)
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(self.notify_socket))
        # Anyone may send to it, as to systemd's own (a unit's User= does).
        os.chmod(self.notify_socket, 0o777)
        self._notify.setblocking(False)
        env["NOTIFY_SOCKET"] = str(self.notify_socket)

    def ready_notified(self):
        """True once the server has sent READY=1 on its $NOTIFY_SOCKET."""
        with contextlib.suppress(BlockingIOError):
            while True:
                self.notified += self._notify.recv(4096).decode(errors="replace") + "\n"
        return "READY=1" in self.notified.split()

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        """Signal this server's main process (not its group), once it can act
        on the signal (see :meth:`wait_signal_ready`)."""
        if self.alive():
            if sig != signal.SIGKILL:
                self.wait_signal_ready()
            os.kill(self.proc.pid, sig)

    def signal_pending(self):
        """None when the server acts on signals now, else what it still lacks."""
        if not self.alive():
            return None
        if self.notify_socket and not self.ready_notified():
            return "no READY=1 on $NOTIFY_SOCKET yet (systemd Type=notify)"
        return self.signal_ready(self) if self.signal_ready else None

    def wait_signal_ready(self, timeout=None):
        """Wait until the server's processes have their signal handlers.

        A server that gets a stop or reload signal while it is still setting
        them up can lose it (uWSGI does: see :func:`launchers.uwsgi_signal_ready`),
        and then hangs; the operator sees the same. Tests that want to show
        that pass ``early=True`` to :meth:`stop`.
        """
        timeout = self.signal_ready_timeout if timeout is None else timeout
        end = time.monotonic() + timeout
        pending = self.signal_pending()
        while pending is not None:
            if time.monotonic() > end:
                raise AssertionError("%s (pid %d): not ready for signals after %ss: %s\n%s" % (
                    self.name, self.proc.pid, timeout, pending, _log_tail(self.log_path)))
            time.sleep(0.05)
            pending = self.signal_pending()

    def wait(self, timeout):
        """Wait for the main process to exit; return its code, or None on timeout."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=None, early=False):
        """Send ``sig`` to the PID and assert exit within ``timeout`` seconds.

        The signal goes once the server can act on it, unless ``early``.
        Returns the exit code. On timeout the whole process group is killed
        (it is ours) and AssertionError is raised with the log tail.
        """
        timeout = self.stop_timeout if timeout is None else timeout
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if not early:
                self.wait_signal_ready()
            os.kill(self.proc.pid, sig)
        code = self.wait(timeout)
        if code is None:
            threads = self.group_report()
            self.kill_group()
            raise AssertionError("%s (pid %d) did not exit within %ss of %s\n%s\n"
                                 "--- its processes when it was killed:\n%s" % (
                                     self.name, self.proc.pid, timeout,
                                     signal.Signals(sig).name, _log_tail(self.log_path),
                                     threads))
        self._reap_group()
        return code

    def group_report(self):
        """What each thread of each process in our group is doing: its state,
        blocked and pending signals and kernel wait channel (for a hang)."""
        lines = []
        for entry in sorted(os.listdir("/proc"), key=lambda e: (len(e), e)):
            if not entry.isdigit():
                continue
            try:
                if os.getpgid(int(entry)) != self.proc.pid:
                    continue
                with open("/proc/%s/cmdline" % entry, "rb") as fp:
                    cmd = fp.read().replace(b"\0", b" ").decode(errors="replace")[:120]
                lines.append("pid %s: %s" % (entry, cmd))
                for tid in sorted(os.listdir("/proc/%s/task" % entry)):
                    base = "/proc/%s/task/%s/" % (entry, tid)
                    with open(base + "status") as fp:
                        fields = dict(line.split(":", 1) for line in fp if ":" in line)
                    with open(base + "wchan") as fp:
                        wchan = fp.read().strip()
                    lines.append("  thread %s %s state=%s SigBlk=%s SigIgn=%s SigCgt=%s "
                                 "SigPnd=%s ShdPnd=%s wchan=%s" % (
                                     tid, fields["Name"].strip(), fields["State"].split()[0],
                                     fields["SigBlk"].strip(), fields["SigIgn"].strip(),
                                     fields["SigCgt"].strip(), fields["SigPnd"].strip(),
                                     fields["ShdPnd"].strip(), wchan))
            except (OSError, KeyError, ValueError):
                continue
        return "\n".join(lines) or "(none left)"

    def kill_group(self):
        """SIGKILL our own process group (last resort, cleanup only)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def _reap_group(self, grace=5.0):
        # Workers left behind by a master that exited are a bug in the config;
        # give them a moment, then make sure nothing of ours is left running.
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def children(self):
        """PIDs of the direct children of the main process (its workers)."""
        found = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as fp:
                    fields = fp.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid and fields[0] != "Z":
                found.add(int(entry))
        return found

    def log_since_start(self):
        """The log written since this process was started (logs are appended)."""
        with open(self.log_path, "rb") as fp:
            fp.seek(getattr(self, "log_offset", 0))
            return fp.read().decode(errors="replace")

    def log_text(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def assert_refused(server, code, text):
    """``server`` exited because glancelet refused to start: one
    ``glancelet:`` line containing ``text`` (once per process that imported
    the app) and no traceback through glancelet's code; return the line.

    The exit status is glancelet's 3. gunicorn reads 3 as "worker failed to
    boot" and halts; when a second worker's 3 reaches the arbiter while it
    is halting, gunicorn 27 raises its own HaltServer again and exits 1 with
    a traceback of gunicorn's (a race between workers, not glancelet's).
    """
    log = server.log_text()
    lines = {ln for ln in log.splitlines() if "glancelet:" in ln}
    assert len(lines) == 1 and text in min(lines), log
    assert not re.search(r'File "[^"]*/glancelet/[\w/]+\.py"', log), log
    if code == 1 and "gunicorn" in server.name:
        assert "HaltServer: <HaltServer 'Worker failed to boot.' 3>" in log, log
    else:
        assert code == 3 and "Traceback" not in log, (code, log)
    return min(lines)


def http_get(url, timeout=5.0, ca_file=None):
    """GET ``url``: (status, headers dict with lower-case names, body bytes)."""
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    if parts.scheme == "https":
        import ssl
        ctx = ssl.create_default_context(cafile=ca_file)
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                           context=ctx)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/")
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def wait_ready(url, servers, deadline=30.0, ca_file=None):
    """Poll ``GET url`` until glancelet's 300 version document comes back.

    ``servers`` are checked on every round: if one has exited, fail at once
    with its log instead of waiting for the deadline. A server with a
    ``signal_ready`` check is ready only once that passes too: uWSGI's
    workers answer requests before its master handles SIGTERM (it ignores
    SIGTERM until then), so "answers HTTP" is not "can be stopped".
    """
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        for server in servers:
            if not server.alive():
                raise AssertionError("%s exited with %s while starting\n%s" % (
                    server.name, server.proc.poll(), _log_tail(server.log_path)))
        try:
            status, _, body = http_get(url, timeout=2.0, ca_file=ca_file)
        except (OSError, http.client.HTTPException) as exc:
            last = repr(exc)
        else:
            if status == 300 and b'"versions"' in body:
                waiting = ["%s: %s" % (s.name, s.signal_pending()) for s in servers
                           if s.signal_pending() is not None]
                if not waiting:
                    return json.loads(body)
                last = "; ".join(waiting)
            else:
                last = "HTTP %d %r" % (status, body[:300])
        time.sleep(0.1)
    logs = "\n".join("--- %s\n%s" % (s.name, _log_tail(s.log_path)) for s in servers)
    raise AssertionError("%s not ready within %ss (last: %s)\n%s" % (url, deadline, last, logs))


def _make_traversable(path):
    """chmod o+x ``path`` and its parents below /tmp (or /), so that workers
    running as nobody/www-data can reach temp files and data under it."""
    path = Path(path).resolve()
    for p in [path, *path.parents]:
        if p in (Path("/"), Path("/tmp")):
            break
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            p.chmod(stat.S_IMODE(mode) | stat.S_IXOTH | stat.S_IXGRP)


def _files(top):
    """{relative path: bytes} of the files under ``top`` (no bytecode)."""
    return {path.relative_to(top).as_posix(): path.read_bytes() for path in top.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts}


def service_venv_stale():
    """Why :data:`SERVICE_VENV` cannot run this checkout's glancelet (it is
    missing, or its glancelet package differs from ``glancelet/``: it is
    installed non-editable, and only provisioning reinstalls it), or None."""
    if not (SERVICE_VENV / "bin" / "uwsgi").exists():
        return "missing"
    installed = sorted(SERVICE_VENV.glob("lib/python3*/site-packages/glancelet"))
    if not installed:
        return "no glancelet installed"
    differ = set(_files(installed[0]).items()) ^ set(_files(REPO_ROOT / "glancelet").items())
    if differ:
        return "its glancelet differs from the checkout's (%s)" % ", ".join(
            sorted({path for path, _ in differ})[:5])
    return None


class Workspace:
    """A test's private copy of the operator's filesystem.

    Every path token of :data:`rewrite.TOKENS` maps to ``<root><token>``
    (``/var/lib/glancelet`` -> ``<root>/var/lib/glancelet``), except
    ``/opt/glancelet``, the Python environment, which maps to the environment
    running the tests (``sys.prefix``), or with ``unit_user`` to
    :data:`SERVICE_VENV`, from which the servers of units with a ``User=``
    then run as that user. Port tokens get a free port the first time they
    are asked for.
    """

    # Variables every server it starts gets (replaced, never changed in place).
    spawn_env = {}
    # The host name its servers see (a node's; None: this host's).
    hostname = None

    def __init__(self, tmp_path, unit_user=False):
        # The root lives outside pytest's tmp dirs: pytest makes
        # /tmp/pytest-of-<user> mode 0700 again whenever a session starts,
        # and workers running as www-data/nobody must reach this tree.
        # ``<tmp_path>/root`` links to it, for whoever reads a failed run.
        self.root = Path(tempfile.mkdtemp(prefix="glancelet-examples-", dir=WORKSPACE_BASE))
        self.root.chmod(0o755)
        link = Path(tmp_path) / "root"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(self.root)
        # The Python environments: the one running the tests has them all.
        envs = {env: sys.prefix for env in PYTHON_ENVS}
        self.unit_user = unit_user
        if unit_user:
            stale = service_venv_stale()
            if stale:
                raise LookupError("%s: %s; as root: python -m lab.provision"
                                  % (SERVICE_VENV, stale))
            envs[PYTHON_ENVS[0]] = str(SERVICE_VENV)
        self._setup(envs, "127.0.0.1")
        self.servers = {}
        self.nodes = {}
        # The database server its nodes share (lab.dbservers), if any.
        self.database = None

    def _setup(self, given, address):
        """Give each path token ``given`` leaves out a directory under the
        root, and the address token ``address``."""
        self.values = dict(given)
        # Port tokens of servers another workspace runs (use_port).
        self.external_ports = set()
        for token in rewrite.TOKENS["paths"]:
            if token not in self.values:
                self.values[token] = str(self.root) + token
                Path(self.values[token]).mkdir(parents=True, exist_ok=True)
                _make_traversable(self.values[token])
        for token in rewrite.TOKENS["addresses"]:
            self.values[token] = address

    def node(self, node):
        """The :class:`NodeWorkspace` of ``node`` (a :class:`lab.servers.Node`)."""
        if node.name not in self.nodes:
            self.nodes[node.name] = NodeWorkspace(self, node)
        return self.nodes[node.name]

    def port(self, token):
        """The free port standing in for port token ``token`` (e.g. "60999")."""
        if token not in rewrite.TOKENS["ports"]:
            raise ValueError("%s is not a port token in rewrite.TOKENS" % token)
        if token not in self.values:
            self.values[token] = str(free_port())
        return int(self.values[token])

    def use_port(self, token, port):
        """Make port token ``token`` stand for ``port``: a server another
        workspace runs (a second glancelet against the session's Keystone)."""
        if token not in rewrite.TOKENS["ports"] or token in self.values:
            raise ValueError("%s is not a port token, or is already given" % token)
        self.values[token] = str(port)
        self.external_ports.add(token)

    def path(self, operator_path):
        """Where operator path ``/var/lib/glancelet/x`` lives in this workspace."""
        return Path(self.rewrite(str(operator_path)))

    def rewrite(self, text):
        """``text`` with its ports and paths rewritten for this workspace
        (:func:`rewrite.rewrite_text`; a port token gets its free port)."""
        for token in rewrite.tokens_in(text):
            if token in rewrite.TOKENS["ports"]:
                self.port(token)
        return rewrite.rewrite_text(text, self.values)

    def install(self, example, operator_path, edits=()):
        """Install repo file ``example`` at ``operator_path`` (rewritten); return the path.

        ``edits`` (:class:`LineEdit`, for a variant) are applied to the file
        as shipped, before the rewrite."""
        text = (REPO_ROOT / example).read_text(encoding="utf-8")
        for edit in edits:
            text = edit.apply(text, example)
        return self.install_text(text, operator_path)

    def install_variant(self, example, operator_path, line_regex, *, remove=False,
                        replace=None, add_after=None):
        """Install ``example`` with the one line matching ``line_regex`` removed,
        replaced by ``replace`` or followed by ``add_after`` (see :class:`LineEdit`)."""
        return self.install(example, operator_path,
                            [LineEdit(line_regex, remove=remove, replace=replace,
                                      add_after=add_after)])

    def install_text(self, text, operator_path):
        """Write ``text`` at ``operator_path``, rewritten like an example; return the path."""
        dst = self.path(operator_path)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(self.rewrite(text), encoding="utf-8")
        return dst

    def operator_view(self, text):
        """``text`` (a log line, an error page) as the operator would see it:
        workspace paths and free ports turned back into the tokens of
        examples/ (the inverse of the rewrite, for captured symptoms)."""
        # Longest values first; the Python environment shows as /opt/glancelet
        # (every entry of PYTHON_ENVS stands for the same one).
        for token, value in sorted(self.values.items(),
                                   key=lambda kv: (-len(kv[1]), kv[0] != PYTHON_ENVS[0])):
            if token in rewrite.TOKENS["paths"]:
                text = text.replace(value, token)
            elif ":" not in token:   # not an "<address>:<port>" override
                text = re.sub(r"(?<![\w.])%s(?!\w)" % re.escape(value), token, text)
        return text

    def log(self, name):
        return self.path("/var/log/glancelet") / ("%s.out" % name)

    def spawn(self, name, argv, env=None, cwd=None, stop_timeout=30, signal_ready=None,
              notify=False, ids=None, signal_ready_timeout=30.0):
        """Start a :class:`Server` named ``name`` logging to ``<log dir>/<name>.out``
        (``notify``: with a $NOTIFY_SOCKET; ``ids``: as that uid and gid; see
        :class:`Server`), with :attr:`spawn_env` and ``env`` added to its environment."""
        server = Server(name, argv, self.log(name), env=dict(self.spawn_env, **(env or {})),
                        cwd=cwd, stop_timeout=stop_timeout, signal_ready=signal_ready,
                        notify_socket=self.root / ("notify-%s" % name) if notify else None,
                        ids=ids, signal_ready_timeout=signal_ready_timeout,
                        hostname=self.hostname).start()
        self.servers[name] = server
        return server

    def remove(self):
        """Delete the workspace tree (after its servers have stopped)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def stop_all(self):
        """Stop servers in reverse start order, then the database server;
        return the list of errors."""
        errors = []
        for server in reversed(list(self.servers.values())):
            try:
                server.stop()
            except AssertionError as exc:
                errors.append(str(exc))
        if self.database is not None:
            try:
                self.database.stop()
            except AssertionError as exc:
                errors.append(str(exc))
        return errors


class NodeWorkspace(Workspace):
    """One host of a multi-node pattern, inside a :class:`Workspace`.

    It has its own tree under ``<root>/nodes/<name>`` (its /etc/glancelet,
    /var/lib/glancelet, /run/glancelet, /var/log/glancelet) and its own
    address token, and shares with the other nodes what hosts share: the
    Python environment, the paths of ``node.shared`` (the store every node
    mounts) and the ports (each node listens on the same port at its own
    address). Its servers are the workspace's.
    """

    def __init__(self, parent, node):
        self.parent = parent
        self.root = parent.root / "nodes" / node.name
        shared = PYTHON_ENVS + tuple(node.shared)
        self.unit_user = parent.unit_user
        # Its servers run as a host of their own, named after the node
        # (:meth:`Server._on_own_host`): what tells glancelet's processes
        # which claims they can judge by PID (glancelet.lease).
        self.hostname = node.name
        self._setup({token: parent.values[token] for token in shared}, node.address)
        self.servers = parent.servers
        self.nodes = {}
        self.database = None

    def port(self, token):
        self.values[token] = str(self.parent.port(token))
        if token in self.parent.external_ports:
            # A server of another host (the session's Keystone, memcached):
            # "127.0.0.1:<token>" names that host, not this node.
            for address in rewrite.TOKENS["addresses"]:
                self.values["%s:%s" % (address, token)] = self.parent.values[address]
        return int(self.values[token])


@dataclasses.dataclass(frozen=True)
class LineEdit:
    """A variant's one change to an examples/ file: the one line that
    ``line_regex`` matches (``re.search``; it must match exactly one line)
    is removed, replaced by ``replace``, or followed by ``add_after``. The
    new text takes the matched line's indentation.

    Only the symptom and line-proof tests use variants (to show why a line
    is in an example), and haproxy-multinode's MariaDB variant (its one
    connection line); the scenarios run the examples as shipped (unless
    told ``--mariadb``), and the rewrite (:mod:`lab.rewrite`) changes only
    ports, addresses and paths.
    """
    line_regex: str
    remove: bool = False
    replace: str = None
    add_after: str = None

    def __post_init__(self):
        chosen = [self.remove, self.replace is not None, self.add_after is not None]
        assert sum(chosen) == 1, "LineEdit needs one of remove, replace, add_after: %r" % (self,)

    def apply(self, text, example="<text>"):
        lines = text.splitlines(keepends=True)
        hits = [i for i, line in enumerate(lines) if re.search(self.line_regex, line.rstrip("\n"))]
        assert len(hits) == 1, "%s: %r matches %d lines, not one" % (
            example, self.line_regex, len(hits))
        i = hits[0]
        indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
        if self.remove:
            del lines[i]
        elif self.replace is not None:
            lines[i] = indent + self.replace + "\n"
        else:
            lines.insert(i + 1, indent + self.add_after + "\n")
        return "".join(lines)

    def __str__(self):
        if self.remove:
            return "without /%s/" % self.line_regex
        if self.replace is not None:
            return "%r instead of /%s/" % (self.replace, self.line_regex)
        return "%r after /%s/" % (self.add_after, self.line_regex)


@dataclasses.dataclass(frozen=True)
class ExpectedFailure:
    """What a pattern cannot do, and exactly how it fails.

    ``status`` is the HTTP status the client gets; ``body`` is a text the
    response body must contain (the exact message the operator would see).
    ``log`` optionally names a server (None: the one that runs the service,
    every node of a multi-node pattern) and a text its log must contain.
    ``without_request_id`` (request-id only) lists the requests, as "METHOD
    path", whose answer carries no x-openstack-request-id. ``image_status``
    (upload-chunked-malformed, import-sigterm, import-kill-9) is the status
    the image is left in, ``task_status`` (the import ones) its task's.
    ``load`` (graceful-reload only) is another (status, body, text of the
    service's server log) that a request of the load around the reload may
    get instead.
    """
    status: int
    body: str
    reason: str
    log: tuple = None   # (server name, text)
    without_request_id: tuple = ()
    image_status: str = None
    task_status: str = None
    load: tuple = None


@dataclasses.dataclass
class Deployment:
    """A running pattern, as the scenario tests see it."""
    pattern: "Pattern"
    workspace: Workspace
    base_url: str
    store_dir: Path
    # One staging directory per node (one for a single-host pattern).
    staging_dirs: tuple
    # The SQLite file of [database] connection (None for a database server).
    db_path: Path = None
    ca_file: str = None
    service: str = SERVICES[0]
    # With the keystone flavor: the session's lab.identity.Identity, and the
    # catalog region whose image endpoints are this front door.
    identity: object = None
    region: str = None

    def token(self, user="alice"):
        """A token of ``user`` for this deployment (None in trusted-header mode)."""
        return self.identity.token(user) if self.identity is not None else None

    @property
    def staging_dir(self):
        """The staging directory of a single-host pattern."""
        [directory] = self.staging_dirs
        return directory

    def staged_files(self, image_id):
        """The files holding ``image_id``'s staged data, on every node."""
        return [f for directory in self.staging_dirs for f in data_files(directory, image_id)]

    @property
    def connection(self):
        """The service's ``[database] connection`` (on the first node)."""
        return self.pattern.connection(self.pattern.first_node(self.workspace))

    @property
    def node_urls(self):
        """{server name: the node's own URL} of a multi-node pattern."""
        return {run.name: run.url(self.workspace) for run in self.pattern.servers if run.node}

    def server_of(self, pid):
        """The server one of whose worker processes is ``pid``."""
        [server] = [s for s in self.servers.values() if pid in s.children()]
        return server

    @property
    def servers(self):
        return self.workspace.servers

    @property
    def pids(self):
        return {name: s.pid for name, s in self.servers.items()}

    @property
    def logs(self):
        return {name: s.log_path for name, s in self.servers.items()}

    @property
    def app_server(self):
        """The server process that runs glancelet."""
        return self.servers[self.pattern.app_server]

    def expected_failure(self, scenario):
        """What this pattern declares for ``scenario`` with this service."""
        return self.pattern.expected_failure(scenario, self.service)

    def signal(self, name, sig):
        self.servers[name].send_signal(sig)

    def restart(self, name):
        """Start server ``name``, which has exited, again with the same
        command; return it once the deployment is ready."""
        old = self.servers[name]
        assert not old.alive(), "%s is still running" % name
        new = Server(old.name, old.argv, old.log_path, env=old.env, cwd=old.cwd,
                     stop_timeout=old.stop_timeout, signal_ready=old.signal_ready,
                     notify_socket=old.notify_socket, ids=old.ids,
                     signal_ready_timeout=old.signal_ready_timeout,
                     hostname=old.hostname).start()
        self.servers[name] = new
        self.wait_ready()
        return new

    def reload(self):
        """Graceful reload, the way the example documents it."""
        self.pattern.reload(self)

    def wait_ready(self, deadline=None):
        """Ready through the front door, and each node on its own URL."""
        deadline = deadline or self.pattern.ready_deadline
        servers = list(self.servers.values())
        for url in self.node_urls.values():
            wait_ready(url + "/", servers, deadline)
        return wait_ready(self.base_url + "/", servers, deadline, ca_file=self.ca_file)

    def log_text(self, name=None):
        """Server ``name``'s log; None: the server that runs the service (on
        a multi-node pattern each node's, one after the other: the balancer
        may have sent the request to either)."""
        names = [name] if name else list(self.node_urls) or [self.pattern.app_server]
        return "".join(self.servers[n].log_text() for n in names)

    def all_logs(self):
        return "\n".join("===== %s (%s)\n%s" % (name, path, _log_tail(path, 20000))
                         for name, path in self.logs.items())


class Pattern:
    """A deployment pattern, declared as data: ``Pattern(name=..., ...)``.

    * ``name``: short id, used in test ids and the results file;
    * ``title``: a human title for the docs' results table;
    * ``doc``: the docname of its how-to page (the support matrix links it);
    * ``files``: the examples/ files it uses, as (repo path, operator path)
      pairs, in the order :meth:`install_files` installs them (``examples``
      lists the repo paths, with those of each node's ``Run.files``);
    * ``servers``: the servers it starts, in order, as
      :class:`lab.servers.Run` entries (a kind of :data:`lab.servers.KINDS`,
      the file it starts from, its pid file, port token or TLS pair). The
      first runs glancelet (``app_server``: SIGTERM scenarios signal it); the
      last is the front door; a reload goes from the front door back
      (``reloaded_servers``: each one's worker processes are replaced);
    * ``url_prefix``: path under which the front door serves the API ("" or
      "/image");
    * ``sigterm``: what SIGTERM does to an in-flight upload, "drain" (it
      completes) or "abort" (the client gets an error, the image stays queued);
    * ``import_sigterm``: what SIGTERM does to a running import, "drain" (the
      process finishes it before it exits) or "interrupt" (the process is
      gone before it finishes; the next start fails the task and releases
      the image for a retry);
    * ``expected_failures``: {service: {scenario id: ExpectedFailure}}, what
      the pattern cannot do with that service (:data:`SERVICES`), so that
      each is keyed by (service, pattern, scenario); what Glance cannot do
      in any pattern is declared once, in lab.glance.EXPECTED_FAILURES;
    * ``spools``: for a pattern with nginx in front, which uploads nginx
      writes to disk first, {"content-length": bool, "chunked": bool};
    * ``glance``: how the pattern runs OpenStack Glance instead, if it can:
      {"files": more (example, operator path) pairs, installed after
      ``files``; "servers": the ``servers`` it starts then; any other field
      that differs, e.g. "sigterm"} (see :meth:`serving`);
    * ``proxy``: the web server in front of the WSGI server ("nginx"), if any;
    * ``front_address``: the address the front door listens on (a
      multi-node pattern's balancer has a virtual IP of its own);
    * ``not_benchmarked``: why ``benchmarks/`` leaves it out, if it does;
    * ``database``: the database server its nodes share, a kind of
      :data:`lab.dbservers.SERVERS` ("postgresql"), started before the
      servers with the user, database and schema its ``[database]
      connection`` names (:func:`lab.dbservers.set_up`), stopped after them;
    * ``unit_user``: its servers whose unit has a ``User=`` (uWSGI, gunicorn)
      run as that user and group, from :data:`SERVICE_VENV` (which
      ``/opt/glancelet`` then stands for), with :data:`SERVICE_USER_DIRS`
      theirs; otherwise they run as the tests' user (root), from the
      environment running the tests (its Python is under /root).

    Launch, reload and stop are generic (:meth:`launch`, :meth:`reload`,
    :meth:`Server.stop`): the server kinds supply them. :meth:`variant`
    gives a copy that installs its files with single-line edits
    (:class:`LineEdit`), for the tests that show why a line is there.
    """
    name = None
    title = None
    doc = None
    files = ()
    servers = ()
    url_prefix = ""
    sigterm = "drain"
    import_sigterm = "drain"
    expected_failures = {}
    glance = None
    # The service this declaration runs (a copy from serving() may run another).
    service = SERVICES[0]
    # A Glance copy's: whether it runs behind Keystone (see keystone).
    _glance_keystone = False
    spools = None
    proxy = None
    front_address = "127.0.0.1"
    not_benchmarked = None
    database = None
    unit_user = False
    ready_deadline = 60.0

    # {example: [LineEdit, ...]}: empty except in a variant (see variant()).
    edits = {}

    def __init__(self, **fields):
        for key, value in fields.items():
            field = getattr(Pattern, key, None)
            if key.startswith("_") or key == "edits" or not hasattr(Pattern, key) \
                    or callable(field) or isinstance(field, property):
                raise TypeError("Pattern has no field %r" % key)
            setattr(self, key, value)
        unknown = set(self.expected_failures) - set(SERVICES)
        assert not unknown, "%s: expected failures for unknown services %s" % (self.name, unknown)

    @property
    def kinds(self):
        """The server kinds it starts (what provisioning installs for it)."""
        return tuple(run.kind for run in self.servers)

    @property
    def app_server(self):
        """The name of the server that runs glancelet."""
        return self.servers[0].name

    @property
    def reloaded_servers(self):
        return tuple(run.name for run in reversed(self.servers))

    def workspaces(self, ws):
        """``ws`` and the workspace of each node the pattern runs on."""
        return [ws] + [run.workspace(ws) for run in self.servers if run.node]

    def serving(self, service):
        """This pattern running ``service``: itself for glancelet, else a copy
        with the fields of :attr:`glance` (its files added to ``files``)."""
        assert service in SERVICES, service
        if service == self.service:
            return self
        assert self.service == SERVICES[0] and self.glance, "%s has no %s files" % (
            self.name, service)
        from lab import glance
        # Glance reads none of glancelet's drop-ins: behind Keystone (when
        # this pattern is) through glance-api.conf's own [keystone_authtoken].
        clone = self.without_keystone()
        clone._glance_keystone = self.keystone
        clone.ready_deadline = glance.START_DEADLINE
        for key, value in self.glance.items():
            setattr(clone, key, clone.files + tuple(value) if key == "files" else value)
        clone.service = service
        # Glance's uWSGI (no unit) runs from /opt/glance, the tests' environment,
        # and its binary /opt/glancelet/bin/uwsgi must be built for that Python.
        clone.unit_user = False
        return clone

    def launch(self, ws):
        """Install the files, start the servers in order; return the front
        door's (``scheme://<front_address>:port``, CA file or None)."""
        if self.keystone and "5000" not in ws.values:
            # Behind the run's Keystone and memcached (unless ``ws`` already
            # names a Keystone of its own: tests/functional, lab.tempest).
            from lab import identity
            identity.session().share_with(ws)
        if self.database:
            from lab import dbservers
            ws.database = dbservers.serve_pattern(self.database, ws)
        self.install_files(ws)
        # As after a boot: /run is empty until each unit's RuntimeDirectory=
        # (a directory a server of the workspace already uses stays).
        for where in self.workspaces(ws):
            for token in rewrite.TOKENS["paths"]:
                path = where.path(token)
                if token.startswith("/run/") and path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
        sync = {}
        if self.service == "glance":
            from lab import glance
            # On each host; with a database server, its schema once, below.
            for where in self.workspaces(ws)[1:] or [ws]:
                glance.install(where, paste_edits=() if self.keystone else
                               (glance.FAKE_AUTHTOKEN,), sync=not self.database)
            sync = {"sync": glance.db_sync_conf_d}
        if self.database:
            # On one node (the first), as the page has the operator do.
            where = self.first_node(ws)
            seconds = dbservers.set_up(ws.database, self.connection(where), where, **sync)
            sys.stderr.write("\n%s: %s\n" % (self.name, ", ".join(
                "%s %.1f s" % kv for kv in seconds.items())))
        for run in self.servers:
            port = run.start(ws)
        front = self.servers[-1]
        if front.tls:
            return "https://%s:%d" % (self.front_address, port), str(ws.root / CLIENT_CA)
        return "http://%s:%d" % (self.front_address, port), None

    def reload(self, deployment):
        """The documented graceful reload: each server's own, from the front
        door back to the server that runs glancelet."""
        for run in reversed(self.servers):
            run.reload(deployment.workspace)

    @property
    def all_files(self):
        """:attr:`files`, each run's own ``files`` and the systemd units of its
        servers (``Run.unit``)."""
        return self.files + tuple(pair for run in self.servers
                                  for pair in run.files + run.unit_files())

    @property
    def examples(self):
        return tuple(dict.fromkeys(example for example, _ in self.all_files))

    def example_with(self, line_regex):
        """The one example of this pattern that has a line matching
        ``line_regex`` (where a variant's :class:`LineEdit` of it goes)."""
        found = sorted({example for example in self.examples
                        if re.search(line_regex, (REPO_ROOT / example).read_text(),
                                     re.MULTILINE)})
        assert len(found) == 1, "%s: /%s/ is in %s" % (self.name, line_regex, found)
        return found[0]

    def install_files(self, ws):
        """Install :attr:`files` into ``ws``, and each run's ``files`` and unit
        on its node (with a variant's edits); return {operator path: installed
        path} (on the last node that has it)."""
        placed = [(ws, pair) for pair in self.files]
        placed += [(run.workspace(ws), pair) for run in self.servers
                   for pair in run.files + run.unit_files()]
        return {operator_path: where.install(example, operator_path,
                                             self.edits.get(example, ()))
                for where, (example, operator_path) in placed}

    @property
    def keystone(self):
        """True when it runs behind the run's Keystone: glancelet when its
        files have the authtoken.conf drop-in (every registered pattern);
        Glance (:meth:`serving`) when the pattern it serves for is
        (glance-api.conf's [keystone_authtoken], Glance's paste as shipped)."""
        if self.service != SERVICES[0]:
            return self._glance_keystone
        return KEYSTONE_EXAMPLES[2] in self.files

    def without_keystone(self):
        """A copy without the authtoken.conf drop-in: the trusted-header mode
        (a private network or development only), same name; for Glance,
        lab.glance.FAKE_AUTHTOKEN. Never registered."""
        clone = copy.copy(self)
        clone._glance_keystone = False
        clone.files = tuple(f for f in self.files if f != KEYSTONE_EXAMPLES[2])
        clone.servers = tuple(dataclasses.replace(
            run, files=tuple(f for f in run.files if f != KEYSTONE_EXAMPLES[2]))
            for run in self.servers)
        return clone

    def with_unit_user(self, unit_user):
        """A copy with :attr:`unit_user` set: False for the benchmarks, which
        run every pattern as root on the tests' one Python. Never registered."""
        clone = copy.copy(self)
        clone.unit_user = unit_user
        return clone

    def variant(self, edits):
        """A copy of this pattern that installs its files with ``edits``:
        {example: LineEdit or [LineEdit, ...]}. Never registered as a pattern."""
        unknown = set(edits) - set(self.examples)
        assert not unknown, "not files of %s: %s" % (self.name, unknown)
        clone = copy.copy(self)
        clone.edits = {k: list(v) if isinstance(v, (list, tuple)) else [v]
                       for k, v in edits.items()}
        clone.name = "%s (%s)" % (self.name, "; ".join(
            "%s %s" % (k.rsplit("/", 1)[-1], ", ".join(map(str, v)))
            for k, v in clone.edits.items()))
        return clone

    def expected_failure(self, scenario, service=None):
        """The :class:`ExpectedFailure` of (``service``, this pattern,
        ``scenario``), or None; ``service`` defaults to the one it runs. For
        Glance, one this pattern declares, else Glance's own in every
        pattern (lab.glance.EXPECTED_FAILURES)."""
        service = service or self.service
        found = self.expected_failures.get(service, {}).get(scenario)
        if found is None and service == "glance":
            from lab import glance
            found = glance.EXPECTED_FAILURES.get(scenario)
        return found

    def store_paths(self, ws):
        """(image dir, (each node's staging dir, ...), SQLite file or None) as
        the installed service's config (and its drop-ins) name them."""
        glance = self.service == "glance"
        store, staging, db_path = None, [], None
        for where in self.workspaces(ws)[1:] or [ws]:
            conf = _service_conf(where, self.service)
            store = Path(conf.get("fs" if glance else "glance_store",
                                  "filesystem_store_datadir"))
            staging.append(Path(conf.get("os_glance_staging_store",
                                         "filesystem_store_datadir")))
            connection = conf.get("database", "connection")
            if connection.startswith("sqlite:///") and not glance:
                db_path = Path(connection[len("sqlite:///"):])
        return store, tuple(staging), db_path

    def first_node(self, ws):
        """The workspace of its first node (``ws`` for a single host)."""
        return (self.workspaces(ws)[1:] or [ws])[0]

    def connection(self, ws):
        """The ``[database] connection`` of its service as installed in ``ws``."""
        return _service_conf(ws, self.service).get("database", "connection")

    @contextlib.contextmanager
    def start(self, tmp_path, extra=(), service=None):
        """Start the deployment of ``service`` (default: the one it runs,
        see :meth:`serving`); yield a ready :class:`Deployment`; stop it.

        ``extra`` lists more examples/ files to install first, as (example,
        operator path) pairs: :data:`IMPORT_EXAMPLES`, and nothing else.
        On exit every server gets SIGTERM and must exit within its stated
        timeout; on error the server logs are printed (pytest shows them).
        """
        if service not in (None, self.service):
            with self.serving(service).start(tmp_path, extra) as dep:
                yield dep
            return
        ws = Workspace(tmp_path, unit_user=self.unit_user)
        dep = None
        try:
            for example, operator_path in extra:
                assert (example, operator_path) in IMPORT_EXAMPLES, example
                for where in self.workspaces(ws):
                    where.install(example, operator_path)
            base, ca_file = self.launch(ws)
            from lab import identity as identity_mod
            identity = identity_mod.running() if self.keystone else None
            store, staging, db_path = self.store_paths(ws)
            dep = Deployment(self, ws, base + self.url_prefix, store, staging, db_path,
                             ca_file, self.service, identity)
            dep.wait_ready(self.ready_deadline)
            if identity is not None:
                identity.add_region(ws.root.name, dep.base_url)
                dep.region = ws.root.name
        except BaseException:
            ws.stop_all()
            sys.stdout.write("\n".join("===== %s\n%s" % (n, _log_tail(s.log_path, 20000))
                                       for n, s in ws.servers.items()))
            raise
        ok = False
        try:
            yield dep
            ok = True
        finally:
            errors = ws.stop_all()
            if dep.region is not None:
                dep.identity.remove_region(dep.region)
            if not ok:
                sys.stdout.write("\n%s\n(workspace kept: %s)\n" % (dep.all_logs(), ws.root))
        if errors:
            raise AssertionError("%s\n(workspace kept: %s)" % ("\n".join(errors), ws.root))
        ws.remove()

    def __repr__(self):
        return "<Pattern %s>" % self.name


# Each service's main config file; its drop-ins are in "<file>.d/*.conf".
SERVICE_CONFS = {"glancelet": "/etc/glancelet/glancelet.conf",
                 "glance": "/etc/glance/glance-api.conf"}


def _service_conf(ws, service):
    """``service``'s config file and its drop-ins as installed in ``ws``, parsed."""
    conf = configparser.RawConfigParser()
    main = ws.path(SERVICE_CONFS[service])
    conf.read([main] + sorted(Path(str(main) + ".d").glob("*.conf")))
    return conf


def _holds(name, image_id):
    """Whether file ``name`` holds ``image_id``'s data: glancelet names each
    write by the image id and a suffix, Glance by the image id alone."""
    return name == image_id or name.startswith(image_id + ".")


def holding_open(pids, path):
    """Those of ``pids`` that have ``path`` open (their /proc/PID/fd links)."""
    found = []
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:   # exited
            continue
        for fd in fds:
            with contextlib.suppress(OSError):   # closed meanwhile
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == str(path):
                    found.append(pid)
                    break
    return found


def data_files(directory, image_id):
    """The files holding ``image_id``'s data in a store or staging ``directory``."""
    return sorted(p for p in directory.glob(image_id + "*") if _holds(p.name, image_id))


def connected_to(pids, port, host="127.0.0.1"):
    """Those of ``pids`` with an established TCP connection to ``host``:``port``
    (IPv4), read from each process's own view of its network namespace."""
    remote = "%s:%04X" % (socket.inet_aton(host)[::-1].hex().upper(), port)
    found = []
    for pid in sorted(pids):
        try:
            with open("/proc/%d/net/tcp" % pid) as fp:
                rows = [line.split() for line in fp.readlines()[1:]]
            inodes = {"socket:[%s]" % f[9] for f in rows if f[2] == remote and f[3] == "01"}
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue   # gone meanwhile
        links = set()
        for fd in fds:
            with contextlib.suppress(OSError):   # closed meanwhile
                links.add(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        if inodes & links:
            found.append(pid)
    return found


def names_image(directory, image_id):
    """Whether a file in ``directory`` is named by ``image_id``: its data,
    Glance's while it writes, or glancelet's temp file (``.new-<id>-...``,
    ``.tmp-<id>-...``), which glancelet creates before it reads the body."""
    return any(image_id in p.name for p in directory.iterdir())


def stray_files(directory, keep=()):
    """The names in a store ``directory`` other than one data file for each
    image in ``keep``: temp files, partial or superseded data."""
    names = sorted(p.name for p in directory.iterdir())
    stray = list(names)
    for image_id in keep:
        own = [name for name in names if _holds(name, image_id)]
        if len(own) == 1:
            stray.remove(own[0])
    return stray


def settled_stray_files(directory, keep=(), deadline=30.0):
    """:func:`stray_files`, once a request glancelet may still be handling
    has ended, or whatever is left after ``deadline`` seconds.

    A proxy can answer the client before glancelet has even claimed the
    image (nginx refusing a malformed chunk, a client abort): glancelet then
    creates and removes its temp file after the client's last look. Such a
    file is not a leak; one that outlives the deadline is.
    """
    end = time.monotonic() + deadline
    stray = stray_files(directory, keep)
    while stray and time.monotonic() < end:
        time.sleep(0.2)
        stray = stray_files(directory, keep)
    return stray
