"""memcached, keystonemiddleware's shared token cache, for the Keystone suite.

Started as the Debian service runs it (``memcached -l <address> -p <port>``),
on the port that stands for 11211 (``lab.rewrite.TOKENS``), by PID through
:meth:`Workspace.spawn`, and stopped by PID. The helpers speak memcached's
text protocol, to read what the cache holds: ``stats`` and the keys and
values stored.
"""

import getpass
import os
import socket
import time
import urllib.parse

from lab import servers

MEMCACHED_STOP_TIMEOUT = 10
ADDRESS = "127.0.0.1"


def start_memcached(ws, name="memcached", deadline=10.0):
    """memcached on 127.0.0.1 and the workspace's port for 11211, ready."""
    argv = [str(servers.get("memcached").path()), "-l", ADDRESS, "-p", str(ws.port("11211")),
            "-U", "0", "-m", "64"]
    if os.geteuid() == 0:
        argv += ["-u", getpass.getuser()]   # memcached refuses to run as root without -u
    server = ws.spawn(name, argv, stop_timeout=MEMCACHED_STOP_TIMEOUT)
    end = time.monotonic() + deadline
    while True:
        try:
            stats(ws)
            return server
        except OSError:
            if not server.alive() or time.monotonic() > end:
                raise AssertionError("memcached did not start:\n%s"
                                     % server.log_path.read_text(errors="replace"))
            time.sleep(0.1)


def _command(ws, line, end=b"END\r\n"):
    """The raw answer to one text-protocol command, up to ``end``."""
    with socket.create_connection((ADDRESS, ws.port("11211")), timeout=5) as sock:
        sock.sendall(line.encode() + b"\r\n")
        data = b""
        while not data.endswith(end):
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("memcached closed the connection after %r" % data[-200:])
            data += chunk
    return data


def stats(ws):
    """``stats`` as a dict of str -> str."""
    lines = _command(ws, "stats").decode().splitlines()
    return {parts[1]: parts[2] for parts in (line.split(" ", 2) for line in lines)
            if parts[0] == "STAT"}


def items(ws):
    """Every (key, value) stored: ``lru_crawler metadump all``, then ``get``."""
    keys = []
    for line in _command(ws, "lru_crawler metadump all").decode().splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if "key" in fields:
            keys.append(urllib.parse.unquote(fields["key"]))   # metadump URL-encodes keys
    found = []
    for key in keys:
        answer = _command(ws, "get %s" % key)
        if answer.startswith(b"VALUE "):
            header, _, rest = answer.partition(b"\r\n")
            size = int(header.split()[3])
            found.append((key, rest[:size]))
    return found
