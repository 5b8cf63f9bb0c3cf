"""What the numbers were measured on: machine, kernel, server versions."""

import datetime
import os
import platform
import re
import subprocess
import time
from pathlib import Path

from lab import servers


def _run(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "unavailable (%s)" % exc
    return (out.stdout + out.stderr).strip()


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_mib():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return None


def _first_match(pattern, text):
    m = re.search(pattern, text)
    return m.group(1) if m else text.splitlines()[0] if text else "unknown"


def versions():
    """The servers' versions (lab.servers), Python's and mod_wsgi's."""
    mod_wsgi_venv = Path("/opt/glancelet-mod-wsgi-venv/bin/python")
    out = {name: kind.version() or "unavailable" for name, kind in servers.KINDS.items()}
    out["python"] = platform.python_version()
    if mod_wsgi_venv.exists():
        out["mod_wsgi"] = _run([str(mod_wsgi_venv), "-c",
                                "import importlib.metadata as m; print(m.version('mod_wsgi'))"])
        out["mod_wsgi_python"] = _run([str(mod_wsgi_venv), "-c",
                                       "import platform; print(platform.python_version())"])
    return out


def loadavg():
    """The 1, 5 and 15 minute load averages (other work on the machine skews numbers)."""
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def _cpu_times():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return idle, sum(fields[:8])


def idle_fraction(seconds=1.0):
    """Share of CPU time (all CPUs) spent idle over the next ``seconds``."""
    idle0, total0 = _cpu_times()
    time.sleep(seconds)
    idle1, total1 = _cpu_times()
    return (idle1 - idle0) / max(1, total1 - total0)


def wait_quiet(max_wait, threshold=0.85, needed=2):
    """Wait until the machine was >= ``threshold`` idle for ``needed`` 1 s
    samples in a row, at most ``max_wait`` s. Returns (seconds waited, last
    idle fraction). Other work on a shared machine skews every number."""
    start = time.monotonic()
    streak, last = 0, idle_fraction() if max_wait > 0 else None
    while last is not None:
        streak = streak + 1 if last >= threshold else 0
        if streak >= needed or time.monotonic() - start >= max_wait:
            break
        last = idle_fraction()
    return time.monotonic() - start, last


def describe():
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": os.cpu_count(),
        "memory_mib": memory_mib(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "os": _first_match(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text()
                           if Path("/etc/os-release").exists() else ""),
        "versions": versions(),
        "loadavg_at_end": loadavg(),
    }
