"""Check (and, as root, install) what a tox environment needs from the system.

``python -m lab.provision [--profile examples|docs|keystone|db|bench]``, the
first command of ``tox -e examples`` (default profile), ``tox -e docs``,
``tox -e keystone`` and ``tox -e db``, and run by ``benchmarks/run.py``:

* the system packages of the profile, read from ``bindep.txt``: as root,
  missing ones are installed with apt-get; otherwise it exits non-zero
  printing the exact command to run;
* the binaries those packages provide, and the Python servers (uWSGI,
  gunicorn) in the environment running it (tox installs them; here we only
  check); the servers are those of :mod:`lab.servers`;
* for ``examples`` and ``keystone`` (whose suites launch patterns), the
  system user ``glancelet`` that the systemd units of ``examples/systemd/``
  name (``User=``; the harness makes their runtime directories owned by it).
  ``www-data`` is put in its group only while a deployment needs it (the
  Apache download offload's ``usermod`` line, :data:`WWW_IN_GROUP`, run by
  :func:`www_in_service_group`);
* for ``examples``, the service venv (:func:`build_service_venv`): the
  Python environment ``/opt/glancelet`` stands for when a pattern's uWSGI
  or gunicorn runs as its unit's ``User=`` (``Pattern.unit_user``), then
  the Apache patterns' own provisioning, ``lab.apache.provision()`` (the
  mod_wsgi venv).

Profiles:

``examples``
    bindep's ``test`` profile, except chromium (only the docs' browser test
    uses it); PostgreSQL and MariaDB among them (haproxy-multinode's
    database servers, ``lab.dbservers``).
``docs``
    bindep's ``docs`` profile: apache2 and nginx (the "Tested versions" page
    runs ``apache2 -v`` and ``nginx -v``), chromium (the browser test), and
    the compiler and Python headers that building uWSGI from PyPI needs:
    ``tox -e docs`` installs ``doc/requirements.txt`` (uWSGI, gunicorn) with
    its next command, so nothing here checks them.
``keystone``
    bindep's ``keystone`` profile: memcached, the shared token cache the
    Keystone suite starts (``lab.memcached``).
``db``
    bindep's ``db`` profile: PostgreSQL and MariaDB, whose throwaway
    instances ``tox -e db`` starts (``lab.dbservers``).
``bench``
    bindep's ``bench`` profile: nginx (the static baseline), HAProxy and
    PostgreSQL (haproxy-uwsgi, and haproxy-multinode with its database
    server), for ``tox -e bench``.
"""

import argparse
import contextlib
import dataclasses
import grp
import importlib.metadata
import os
import pwd
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from lab import apache, servers
from lab.harness import SERVICE_VENV

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Profile:
    bindep_profile: str
    # bindep packages of that profile this environment does not need.
    not_needed: frozenset
    # Binaries that must exist once the packages are installed: name -> path
    # (absolute) or command name (looked up on PATH).
    binaries: dict
    # With the examples, the Apache patterns' mod_wsgi venv.
    apache: bool
    # Binaries of pip packages that must be in the environment running this.
    python_tools: tuple = ()
    # It launches patterns: their units' User= must exist (SERVICE_USER).
    service_user: bool = False
    # It runs patterns as their units' User= (SERVICE_VENV).
    service_venv: bool = False


SYSTEM_SERVERS = {name: kind.binary for name, kind in servers.KINDS.items() if kind.apt}
# The pip-installed servers (tox installs them into the environment).
PYTHON_TOOLS = tuple(kind.binary for kind in servers.KINDS.values() if kind.pip)
# initdb and postgres live in /usr/lib/postgresql/<version>/bin (lab.dbservers
# finds them); pg_ctlcluster, on PATH, comes with them.
DB_SERVERS = {"pg_ctlcluster": "pg_ctlcluster", "mariadbd": "/usr/sbin/mariadbd",
              "mariadb-install-db": "mariadb-install-db"}
PROFILES = {
    # haproxy-multinode's database servers too (lab.dbservers).
    "examples": Profile("test", frozenset({"chromium"}),
                        {**SYSTEM_SERVERS, **DB_SERVERS, "curl": "/usr/bin/curl"}, apache=True,
                        python_tools=PYTHON_TOOLS, service_user=True, service_venv=True),
    # Only the servers the docs run (not haproxy, which only the examples need).
    "docs": Profile("docs", frozenset(),
                    {name: SYSTEM_SERVERS[name] for name in ("apache2", "nginx")}
                    | {"chromium": "chromium"}, apache=False),
    # The Keystone and Tempest suites launch the uwsgi-http pattern.
    "keystone": Profile("keystone", frozenset(), {"memcached": servers.get("memcached").binary},
                        apache=False, service_user=True),
    "db": Profile("db", frozenset(), DB_SERVERS, apache=False),
    # haproxy-multinode's database servers: the growth figures use both
    # (benchmarks/growth.py).
    "bench": Profile("bench", frozenset(),
                     {"nginx": SYSTEM_SERVERS["nginx"], "haproxy": SYSTEM_SERVERS["haproxy"],
                      **DB_SERVERS}, apache=False),
}


def bindep_packages(profile, path=REPO_ROOT / "bindep.txt"):
    """Package names of bindep.txt's dpkg lines in bindep profile ``profile``."""
    pkgs = []
    for line in Path(path).read_text().splitlines():
        m = re.match(r"^([a-z0-9][a-z0-9.+-]*)\s+\[(.*)\]", line)
        if m and {profile, "platform:dpkg"} <= set(m.group(2).split()):
            pkgs.append(m.group(1))
    return pkgs


def dpkg_installed(pkg):
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True,
                             text=True, check=False).stdout
    except FileNotFoundError:
        return False
    return out.strip().endswith("install ok installed")


def apt_install_command(missing):
    return ["apt-get", "install", "-y", "--no-install-recommends", *missing]


def install_packages(profile, installed=dpkg_installed, is_root=None, run=subprocess.run,
                     err=sys.stderr):
    """Install the profile's missing packages (as root, with apt-get), or
    print the exact command to run; True when nothing is missing any more."""
    missing = [p for p in bindep_packages(profile.bindep_profile)
               if p not in profile.not_needed and not installed(p)]
    if not missing:
        return True
    cmd = apt_install_command(missing)
    root = os.geteuid() == 0 if is_root is None else is_root
    if root and shutil.which("apt-get"):
        print("provision: installing %s" % " ".join(missing), flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-q"], check=True, env=env)
        run(cmd, check=True, env=env)
        return True
    print("provision: missing system packages: %s\nRun as root:\n  %s"
          % (" ".join(missing), " ".join(cmd)), file=err)
    return False


def binary_missing(path_or_name):
    if os.path.isabs(path_or_name):
        return not os.access(path_or_name, os.X_OK)
    return shutil.which(path_or_name) is None


def python_tools_missing(tools):
    bindir = Path(sys.prefix) / "bin"
    return [tool for tool in tools if not (bindir / tool).exists()]


# The units' service user (examples/systemd/): the command the how-to shows.
SERVICE_USER = "glancelet"
USERADD = ["useradd", "--system", "--user-group", "--home-dir", "/var/lib/glancelet",
           "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER]


# Its home, made the user's as the service page shows: mod_wsgi's daemons
# (WSGIDaemonProcess user=glancelet) change to it at start, and exit without it.
INSTALL_HOME = ["install", "-d", "-o", SERVICE_USER, "-g", SERVICE_USER, "-m", "0750",
                "/var/lib/glancelet"]


def ensure_service_user(run=subprocess.run, is_root=None, err=sys.stderr):
    """Create the units' ``User=`` and its home (as root) or print the
    commands; True if both exist."""
    try:
        home = pwd.getpwnam(SERVICE_USER).pw_dir
        missing = [] if os.path.isdir(home) else [INSTALL_HOME]
    except KeyError:
        missing = [USERADD, INSTALL_HOME]
    if not missing:
        return True
    if os.geteuid() == 0 if is_root is None else is_root:
        for command in missing:
            print("provision: %s" % " ".join(command), flush=True)
            run(command, check=True)
        return True
    print("provision: no user %s or no home; run as root:\n%s" % (
        SERVICE_USER, "".join("  %s\n" % " ".join(command) for command in missing)),
        end="", file=err)
    return False


# Apache's workers in the service user's group, as
# examples/apache-proxy-http/glancelet-xsendfile.conf has the operator do: with
# the download offload they open the image files (mode 0640) themselves. The
# tests do it only for the deployments that need it (www_in_service_group):
# on a host where www-data is in glancelet's group, nginx's and Apache's
# workers may also enter /var/lib/glancelet (mode 0750), which other tests
# show they cannot.
WWW_USER = "www-data"
WWW_IN_GROUP = ["usermod", "-a", "-G", SERVICE_USER, WWW_USER]
WWW_OUT_OF_GROUP = ["gpasswd", "-d", WWW_USER, SERVICE_USER]


@contextlib.contextmanager
def www_in_service_group(run=subprocess.run, is_root=None, members=None):
    """Put Apache's User in the service user's group (:data:`WWW_IN_GROUP`)
    for the time of the block, and take it out after, unless it was a member
    already. Apache takes its user's groups when it starts its workers, so
    start it inside the block. Needs root (else AssertionError with the
    command)."""
    if members is None:
        members = grp.getgrnam(SERVICE_USER).gr_mem
    if WWW_USER in members:
        yield
        return
    if not (os.geteuid() == 0 if is_root is None else is_root):
        raise AssertionError("%s must be in group %s (the download offload's Apache "
                             "conf); run as root:\n  %s"
                             % (WWW_USER, SERVICE_USER, " ".join(WWW_IN_GROUP)))
    run(WWW_IN_GROUP, check=True)
    try:
        yield
    finally:
        run(WWW_OUT_OF_GROUP, check=True, capture_output=True)


# glancelet's extras in SERVICE_VENV: Keystone for every pattern, the
# database drivers for haproxy-multinode (PostgreSQL, MariaDB).
SERVICE_VENV_EXTRAS = ("keystone", "postgresql", "mysql")


def build_service_venv(log=print):
    """Create/refresh :data:`SERVICE_VENV` as root: uWSGI and gunicorn (the
    versions of the environment running this, so that the results record
    what ran) and glancelet[keystone,postgresql,mysql] from the checkout
    (haproxy-multinode's nodes use a database server), for the service
    user; the same build as the mod_wsgi venv (:func:`lab.apache.build_system_venv`).
    0 when done."""
    started = time.monotonic()
    pins = ["%s==%s" % (name, importlib.metadata.version(name))
            for kind in servers.KINDS.values() for name in kind.pip]
    try:
        apache.build_system_venv(SERVICE_VENV, pins, SERVICE_USER,
                                 log=lambda text: log("provision: " + text),
                                 extras=SERVICE_VENV_EXTRAS)
        apache.check_links_outside_root(SERVICE_VENV / "bin" / "uwsgi", SERVICE_USER)
    except apache.ProvisionError as exc:
        print("provision: %s" % exc, file=sys.stderr)
        return 1
    log("provision: %s ready in %.0f s" % (SERVICE_VENV, time.monotonic() - started))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.provision", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="examples")
    profile = PROFILES[parser.parse_args(argv).profile]
    if not install_packages(profile):
        return 1
    for name, path in profile.binaries.items():
        if binary_missing(path):
            print("provision: %s not found at %s after installing packages" % (name, path),
                  file=sys.stderr)
            return 1
    tools = python_tools_missing(profile.python_tools)
    if tools:
        print("provision: missing in %s: %s\nRun:\n  %s -m pip install %s"
              % (sys.prefix, " ".join(tools), sys.executable, " ".join(tools)), file=sys.stderr)
        return 1
    if profile.service_user and not ensure_service_user():
        return 1
    if profile.service_venv and build_service_venv():
        return 1
    if profile.apache:
        # The Apache patterns' own provisioning (the mod_wsgi venv), owned by lab.apache.
        rc = apache.provision()
        if rc:
            return rc
    print("provision: ok (system packages, %s)"
          % ", ".join([*profile.binaries, *profile.python_tools]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
