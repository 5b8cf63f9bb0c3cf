"""Where uWSGI builds glancelet in the shipped ini (no ``lazy-apps``)."""

import re

from lab.patterns import get


def test_uwsgi_builds_the_app_once_in_the_master(tmp_path):
    """The uwsgi-http example as shipped: uWSGI imports glancelet once, in
    the master (its pid), before it forks the workers; no worker imports it
    again (with ``lazy-apps`` each worker would log its own "ready" line)."""
    with get("uwsgi-http").start(tmp_path) as dep:
        server = dep.servers["uwsgi"]
        log = dep.log_text("uwsgi")
        workers = server.children()
    ready = re.findall(r"^WSGI app 0 \(mountpoint=''\) ready in .* pid: (\d+) ", log, re.M)
    assert ready == [str(server.pid)], log
    assert len(workers) == 4, workers
    assert log.index("WSGI app 0 (mountpoint='')") < log.index("spawned uWSGI worker 1 ")
