"""The server kinds the patterns run, in one registry.

Each :class:`ServerKind` says where the server comes from (Debian packages,
listed in ``bindep.txt``, or pip packages installed into the environment
running the tests), which binary runs it, and how it reports its version.
``lab.provision`` checks and installs from it, ``lab.results`` and
``benchmarks.machine`` record versions from it, and each pattern names the
kinds it starts (``Pattern.servers``).
"""

import dataclasses
import re
import subprocess
import sys
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class ServerKind:
    name: str
    # The binary: an absolute path, or a name under the tests' environment's bin/.
    binary: str
    version_args: tuple
    # The version is group 1 of the first match in the command's output.
    version_regex: str
    # Debian packages it needs (each must be in bindep.txt's test profile).
    apt: tuple = ()
    # pip packages installed into the environment running the tests.
    pip: tuple = ()

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


KINDS = {kind.name: kind for kind in (
    ServerKind("uwsgi", "uwsgi", ("--version",), r"^(\S+)", pip=("uwsgi",)),
    ServerKind("gunicorn", "gunicorn", ("--version",), r"(\d+\.\d+[\w.]*)", pip=("gunicorn",)),
    ServerKind("nginx", "/usr/sbin/nginx", ("-v",), r"nginx/(\S+)", apt=("nginx",)),
    # apache2-dev builds mod_wsgi; the mod_wsgi venv is made from Debian's
    # python3 (see lab.apache); ssl-cert and openssl for mod_ssl.
    ServerKind("haproxy", "/usr/sbin/haproxy", ("-v",), r"HAProxy version (\S+)",
               apt=("haproxy",)),
    # keystonemiddleware's shared token cache (tox -e keystone; lab.memcached).
    ServerKind("memcached", "/usr/bin/memcached", ("-V",), r"memcached (\S+)",
               apt=("memcached",)),
    ServerKind("apache2", "/usr/sbin/apache2", ("-v",), r"Apache/(\S+)",
               apt=("apache2", "apache2-dev", "ssl-cert", "openssl", "python3", "python3-venv",
                    "python3-dev", "build-essential")),
)}


def get(name):
    return KINDS[name]
