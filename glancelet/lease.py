"""Leases: work a dead node left is released without that node.

A claim (the ``worker`` column of an image or a task) names the process
holding it: ``host|pid|start time|token``. On the claimant's own host a
process can tell at once whether it is gone (its PID no longer runs with
that start time: :func:`glancelet.domain.worker_alive`). A process on
another host cannot, so every server process keeps a lease instead: a row
of the ``workers`` table whose ``heartbeat_at`` a thread of the process
refreshes every quarter of ``[DEFAULT] worker_lease_timeout``. A claim of
another host's process is taken as abandoned once that process's heartbeat
is older than the timeout (or it has none), and :mod:`glancelet.recovery`
releases it as it does a dead local process's. The hosts' clocks must
agree (NTP) to well under the timeout.

A process starts its heartbeat when it serves its first request
(:meth:`Lease.hold`), before it can claim anything, and again in a process
forked from it afterwards.
"""

import logging
import os
import threading
import time
import weakref

from glancelet import domain
from glancelet.threads import block_server_signals

LOG = logging.getLogger(__name__)

# Leases not renewed for this long are deleted at start-up (their claims,
# if any are left, read as abandoned either way).
PURGE_AFTER = 86400.0


class Lease:
    """This process's heartbeat, and the liveness of other processes' claims."""

    def __init__(self, workers, timeout, now=time.time):
        self.workers = workers
        self.timeout = timeout
        self.now = now
        self._lock = threading.Lock()
        self._pid = None

    @property
    def interval(self):
        """Seconds between two heartbeats of a process."""
        return self.timeout / 4.0

    def hold(self):
        """Make sure this process has a fresh lease and a thread renewing it."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self.beat()
            self._pid = os.getpid()
            threading.Thread(target=_renew, args=(weakref.ref(self), self.interval),
                             name="glancelet-lease", daemon=True).start()

    def beat(self):
        """Renew this process's lease now."""
        worker = domain.worker_id()
        self.workers.beat(worker, worker.split("|", 1)[0], self.now())

    def alive(self, worker):
        """False only when ``worker`` surely names a process that is gone: on
        this host, by its PID; on another, by its lease."""
        if not domain.worker_alive(worker):
            return False
        if domain.on_this_host(worker):
            return True
        beat = self.workers.heartbeat_at("|".join(worker.split("|")[:3]))
        return beat is not None and self.now() - beat <= self.timeout

    def purge(self):
        """Forget the leases of processes gone for a long time."""
        self.workers.purge(self.now() - max(PURGE_AFTER, 10 * self.timeout))


def _renew(lease_ref, interval):
    """The renewing thread: beat every ``interval`` seconds while the lease
    (held weakly: an application thrown away ends its thread) exists."""
    block_server_signals()
    while True:
        time.sleep(interval)
        lease = lease_ref()
        if lease is None:
            return
        try:
            lease.beat()
        except Exception:  # the database may be back at the next beat
            LOG.exception("could not renew this process's lease")
        del lease
