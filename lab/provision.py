"""Check (and, as root, install) what the examples suite needs.

``python -m lab.provision`` (the first command of
``tox -e examples``):

* the system packages of bindep.txt's ``test`` profile that the examples use
  (Apache httpd, nginx, ...): as root, missing ones are installed with
  apt-get; otherwise it exits non-zero printing the exact command to run;
* the Python servers (uWSGI, gunicorn) in the environment running the tests
  (tox installs them; here we only check);
* then the Apache patterns' own provisioning, ``lab.apache.provision()``
  (the mod_wsgi venv).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from lab import apache

REPO_ROOT = Path(__file__).resolve().parents[1]

# bindep packages this suite does not need (the docs' browser test uses chromium).
NOT_NEEDED_HERE = {"chromium"}

# Binaries that must exist once the packages are installed.
BINARIES = {"apache2": "/usr/sbin/apache2", "nginx": "/usr/sbin/nginx", "curl": "/usr/bin/curl"}


def bindep_test_packages(path=REPO_ROOT / "bindep.txt"):
    """Package names of bindep.txt lines in the dpkg/test profile."""
    pkgs = []
    for line in Path(path).read_text().splitlines():
        m = re.match(r"^([a-z0-9][a-z0-9.+-]*)\s+\[(.*)\]", line)
        if m and "test" in m.group(2).split() and "platform:dpkg" in m.group(2).split():
            pkgs.append(m.group(1))
    return [p for p in pkgs if p not in NOT_NEEDED_HERE]


def dpkg_installed(pkg):
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True,
                             text=True, check=False).stdout
    except FileNotFoundError:
        return False
    return out.strip().endswith("install ok installed")


def python_tools_missing():
    missing = []
    bindir = Path(sys.prefix) / "bin"
    for tool in ("uwsgi", "gunicorn"):
        if not (bindir / tool).exists():
            missing.append(tool)
    return missing


def main():
    missing = [p for p in bindep_test_packages() if not dpkg_installed(p)]
    apt_cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if missing:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            print("provision: installing %s" % " ".join(missing), flush=True)
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
            subprocess.run(apt_cmd, check=True, env=env)
        else:
            print("provision: missing system packages: %s\nRun as root:\n  %s"
                  % (" ".join(missing), " ".join(apt_cmd)), file=sys.stderr)
            return 1
    for name, path in BINARIES.items():
        if not os.access(path, os.X_OK):
            print("provision: %s not found at %s after installing packages" % (name, path),
                  file=sys.stderr)
            return 1
    tools = python_tools_missing()
    if tools:
        print("provision: missing in %s: %s\nRun:\n  %s -m pip install %s"
              % (sys.prefix, " ".join(tools), sys.executable, " ".join(tools)), file=sys.stderr)
        return 1
    # The Apache patterns' own provisioning (the mod_wsgi venv), owned by lab.apache.
    rc = apache.provision()
    if rc:
        return rc
    checked = ["system packages", *BINARIES, "uwsgi", "gunicorn"]
    print("provision: ok (%s)" % ", ".join(checked))
    return 0


if __name__ == "__main__":
    sys.exit(main())
