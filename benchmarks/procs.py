"""Find the processes running glancelet and sample their resident memory.

A deployment's servers are the processes its pattern started (uWSGI master,
gunicorn arbiter, Apache parent, nginx master). The *workers* are their
descendants that have imported glancelet: the ones that map Python's
``_sqlite3`` extension (glancelet keeps its metadata in SQLite, and
``glancelet/db.py`` imports it on a database server too). nginx and
Apache's own children never load it; a uWSGI master that loaded the app
before forking is a server PID, not a descendant, so it is not counted.
OpenStack Glance's workers (on SQLite, as the benchmarks run it) map it too:
each opens its database when it imports Glance.
"""

import os
import threading
import time


def _ppid_map():
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as f:
                data = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces and parentheses.
        rest = data[data.rfind(b")") + 2:].split()
        parents[int(entry)] = int(rest[1])
    return parents


def descendants(root_pids):
    parents = _ppid_map()
    children = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], list(root_pids)
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def runs_glancelet(pid):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "_sqlite3" in f.read()
    except OSError:
        return False


def workers(root_pids):
    """PIDs of the glancelet workers below ``root_pids``."""
    return [pid for pid in descendants(root_pids) if runs_glancelet(pid)]


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def vmrss_kib(pid):
    """VmRSS of ``pid`` in KiB, or None if it has gone."""
    try:
        with open("/proc/%d/status" % pid, "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def pss_mib(pid):
    """Proportional set size of ``pid`` in MiB (pages shared with the master or
    other workers count in part), or None."""
    try:
        with open("/proc/%d/smaps_rollup" % pid, "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def rss_mib(pids):
    """{pid: VmRSS MiB} of those still alive."""
    out = {}
    for pid in pids:
        kib = vmrss_kib(pid)
        if kib is not None:
            out[pid] = kib / 1024.0
    return out


class RssSampler(threading.Thread):
    """Every ``interval`` s read VmRSS of every glancelet worker below ``root_pids``.

    The worker list is refreshed every second (a server may start new
    workers). ``peaks`` holds the highest value seen per worker, in MiB.
    """

    def __init__(self, root_pids, interval=0.05):
        super().__init__(name="rss-sampler", daemon=True)
        self.root_pids = list(root_pids)
        self.interval = interval
        self.peaks = {}
        self.samples = 0
        self._stop_event = threading.Event()
        self._pids = workers(self.root_pids)

    def run(self):
        last_scan = time.monotonic()
        while not self._stop_event.is_set():
            now = time.monotonic()
            if now - last_scan >= 1.0:
                self._pids = workers(self.root_pids)
                last_scan = now
            for pid, mib in rss_mib(self._pids).items():
                if mib > self.peaks.get(pid, 0.0):
                    self.peaks[pid] = mib
            self.samples += 1
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join(10)
        return self.peaks

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
