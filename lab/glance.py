"""OpenStack Glance itself as the service behind a pattern's server files.

``python -m lab.glance`` installs the pinned Glance
(``tests/glance-requirements.txt``) into the Python environment running it
(the one the tests run: every Python-environment token of
:data:`lab.harness.PYTHON_ENVS`, ``/opt/glance`` included, stands for it).
As root it runs pip; otherwise it exits non-zero with the exact command.

In a :class:`~lab.harness.Workspace`, :func:`install` puts Glance's files
where an operator does (``/etc/glance/...``, through the lab's one rewrite:
the Glance path tokens are in :data:`lab.rewrite.TOKENS`) and runs
``glance-manage db_sync``. :data:`TRUSTED_HEADERS` is the one variant the
tests use to run Glance without a Keystone.
"""

import importlib.metadata
import os
import subprocess
import sys
import time
from pathlib import Path

from lab.harness import REPO_ROOT, LineEdit

REQUIREMENTS = REPO_ROOT / "tests" / "glance-requirements.txt"
VERSION = "33.0.0"

# glance-api.conf is the same for every pattern (example, operator path).
API_CONF = ("examples/glance/glance-api.conf", "/etc/glance/glance-api.conf")
# Each pattern's Glance-side server files (example, operator path); a
# pattern's own server files are installed with it as for glancelet.
SERVER_FILES = {
    "uwsgi-http": (("examples/uwsgi-http/glance-uwsgi.ini", "/etc/glance/glance-uwsgi.ini"),),
}
# Every examples/ file of Glance's (tests/examples/test_examples_used.py).
EXAMPLES = (API_CONF,) + tuple(f for files in SERVER_FILES.values() for f in files)

# glance-api-paste.ini is Glance's own file: pip installs it under the
# environment's etc/glance/; operators copy it next to glance-api.conf.
PASTE_INI = "/etc/glance/glance-api-paste.ini"

# Tests only, never shown as an example: the flavor=keystone pipeline of
# glance-api-paste.ini without keystonemiddleware's authtoken. Glance's
# context middleware then trusts X-Identity-Status, X-Project-Id, X-User-Id
# and X-Roles as sent (what auth_token would have set), so the scenarios run
# without a Keystone; glance-api.conf is installed as shipped.
TRUSTED_HEADERS = LineEdit(
    r"^keystone = .* authtoken context rootapp$",
    replace="keystone = cors http_proxy_to_wsgi versionnegotiation osprofiler context rootapp")
# What a client sends through TRUSTED_HEADERS: one role only, since
# python-glanceclient URL-quotes header values ("admin,member" arrives as
# "admin%2Cmember").
IDENTITY_HEADERS = {"X-Identity-Status": "Confirmed", "X-Roles": "admin",
                    "X-User-Id": "0b7a51d0c4b54d5d8cd9bd4d4e0b7d01",
                    "X-Project-Id": "5f2c3e4c8e6c4a5b9d1f7a2b3c4d5e6f"}

MANAGE_TIMEOUT = 300


def installed_version():
    """The version of Glance in this Python environment, or None."""
    try:
        return importlib.metadata.version("glance")
    except importlib.metadata.PackageNotFoundError:
        return None


def install_command():
    return [sys.executable, "-m", "pip", "install", "-r", str(REQUIREMENTS)]


def provision(is_root=None, run=subprocess.run, err=sys.stderr):
    """Install the pinned Glance here (as root), else print the command; 0 when done."""
    if installed_version() == VERSION:
        return 0
    cmd = install_command()
    root = os.geteuid() == 0 if is_root is None else is_root
    if not root:
        print("glance: Glance %s is not installed in %s (found: %s)\nRun as root:\n  %s"
              % (VERSION, sys.prefix, installed_version(), " ".join(cmd)), file=err)
        return 1
    started = time.monotonic()
    run(cmd, check=True)
    print("glance: installed Glance %s in %.0f s" % (VERSION, time.monotonic() - started),
          file=err)
    return 0


def install(ws, pattern, trusted_headers=False):
    """Install Glance's files for ``pattern`` in workspace ``ws`` and create its
    database; return {operator path: installed path} and the db_sync seconds."""
    paste = Path(sys.prefix) / "etc" / "glance" / "glance-api-paste.ini"
    installed = {PASTE_INI: ws.install(str(paste), PASTE_INI,
                                       edits=[TRUSTED_HEADERS] if trusted_headers else [])}
    for example, operator_path in (API_CONF,) + SERVER_FILES[pattern]:
        installed[operator_path] = ws.install(example, operator_path)
    for sub in ("images", "staging", "tasks"):
        ws.path("/var/lib/glance/" + sub).mkdir(parents=True, exist_ok=True)
    return installed, db_sync(ws)


def db_sync(ws):
    """``glance-manage --config-file /etc/glance/glance-api.conf db_sync``; its seconds."""
    started = time.monotonic()
    proc = subprocess.run([str(ws.path("/opt/glance/bin/glance-manage")), "--config-file",
                           str(ws.path(API_CONF[1])), "db_sync"],
                          capture_output=True, text=True, timeout=MANAGE_TIMEOUT)
    assert proc.returncode == 0, "glance-manage db_sync:\n%s%s" % (proc.stdout, proc.stderr)
    return time.monotonic() - started


if __name__ == "__main__":
    sys.exit(provision())
