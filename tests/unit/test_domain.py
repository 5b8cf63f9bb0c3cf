"""Status transitions and worker liveness."""

import os
import subprocess
import sys

import pytest

from glancelet import domain


@pytest.mark.parametrize("current,target", [
    ("queued", "saving"), ("saving", "active"), ("saving", "queued"),
    ("queued", "uploading"), ("uploading", "importing"), ("importing", "active"),
    ("importing", "queued"), ("active", "deactivated"), ("deactivated", "active"),
])
def test_allowed_transitions(current, target):
    domain.check_transition(current, target)


@pytest.mark.parametrize("current,target", [
    ("active", "saving"), ("active", "queued"), ("saving", "uploading"),
    ("killed", "active"), ("uploading", "active"), ("deactivated", "saving"),
])
def test_refused_transitions(current, target):
    with pytest.raises(domain.InvalidTransition, match="from %s to %s" % (current, target)):
        domain.check_transition(current, target)


def test_every_target_is_a_status():
    for targets in domain.TRANSITIONS.values():
        assert targets <= set(domain.STATUSES) | {"deleted"}


def test_this_process_is_alive():
    assert domain.worker_alive(domain.worker_id())


def test_a_finished_process_is_not_alive():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    worker = domain.worker_id(proc.pid)
    proc.wait()
    assert not domain.worker_alive(worker)


def test_pid_reuse_is_detected_by_start_time():
    host, pid, started = domain.worker_id().split("|")
    assert not domain.worker_alive("%s|%s|%s" % (host, pid, "1"))


def test_other_hosts_are_assumed_alive():
    assert domain.worker_alive("elsewhere.example|%d|1" % os.getpid())


def test_no_worker_is_not_alive():
    assert not domain.worker_alive(None)
    assert not domain.worker_alive("garbage")
