"""Why Glance's uWSGI reloads with a chain reload (glance-uwsgi.ini's
``master-fifo``, ``echo c > /run/glance/uwsgi.fifo``).

With ``lazy-apps = true`` each uWSGI worker imports Glance itself after the
fork, which takes seconds of CPU. ``uwsgi --reload`` stops every worker at
once and starts them again, so until a new worker has imported Glance no
request is answered. A chain reload replaces one worker at a time, the next
only once the previous one's replacement accepts requests: the others keep
answering. Both tests run Glance under the uwsgi-http pattern's files,
without Keystone (``Pattern.without_keystone``: the identity of every
request is given, as in the benchmarks), and tell which processes had
imported Glance by uWSGI's own log line ("WSGI app 0 ... ready ... pid:
N"), which each worker writes once it has. Collected only with
GLANCELET_GLANCE_TESTS=1 (conftest.py).
"""

import re
import sys
import time

from lab import launchers
from lab.client import Api
from lab.harness import LineEdit
from lab.patterns import GLANCE_UWSGI_INI, get

PIDFILE = "/run/glance/uwsgi.pid"
# uWSGI's line when a process has loaded the application (with lazy-apps,
# each worker once it has imported Glance).
READY = re.compile(r"WSGI app 0 \(mountpoint='[^']*'\) ready in \d+ seconds on interpreter "
                   r"\S+ pid: (\d+)")
WITHOUT_FIFO = {GLANCE_UWSGI_INI[0]: LineEdit(r"^master-fifo = ", remove=True)}


def glance_under_uwsgi_http(edits=None):
    pattern = get("uwsgi-http").serving("glance").without_keystone()
    return pattern.variant(edits) if edits else pattern


def ready_pids(server):
    """The processes of ``server`` that have logged loading Glance."""
    return {int(pid) for pid in READY.findall(server.log_since_start())}


def wait_for(what, predicate, timeout=300.0):
    """Poll ``predicate`` until it returns something true; return that."""
    end = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        assert time.monotonic() < end, "no %s within %.0f s" % (what, timeout)
        time.sleep(0.02)


def test_a_chain_reload_keeps_answering_while_a_worker_imports_glance(tmp_path):
    """As shipped: ``echo c`` into the master FIFO (``Deployment.reload``).
    A request sent once the first worker's replacement runs, and before it
    has imported Glance, is answered (by a worker of the old generation);
    the chain then replaces all four workers."""
    with glance_under_uwsgi_http().start(tmp_path) as dep:
        server = dep.workspace.servers["uwsgi"]
        api = Api(dep.base_url, dep.ca_file, timeout=60)
        before = wait_for("four workers with Glance imported", lambda: (
            len(server.children()) == 4 and server.children() <= ready_pids(server)
            and server.children()))
        dep.reload()
        started = time.monotonic()
        new = wait_for("replacement worker", lambda: server.children() - before)
        assert not new & ready_pids(server), "the replacement had already imported Glance"
        resp = api.request("GET", "/v2/images")
        answered = time.monotonic() - started
        assert resp.status == 200, resp
        assert not new & ready_pids(server), (
            "answered only after the replacement %s had imported Glance" % sorted(new))
        wait_for("end of the chain", lambda: launchers.CHAIN_COMPLETE in server.log_since_start())
        completed = time.monotonic() - started
        now = server.children()
        assert len(now) == 4 and not now & before and now <= ready_pids(server), (before, now)
        assert api.request("GET", "/v2/images").status == 200
    sys.stderr.write("\nchain reload: answered after %.1f s; all 4 workers replaced after %.1f s\n"
                     % (answered, completed))


def test_without_it_uwsgi_reload_answers_nothing_until_glance_is_imported(tmp_path):
    """Without ``master-fifo``, the reload is ``uwsgi --reload <pidfile>``.
    Once every old worker has exited, none of the new ones has imported
    Glance yet, and a request sent then is answered only after one has."""
    with glance_under_uwsgi_http(WITHOUT_FIFO).start(tmp_path) as dep:
        server = dep.workspace.servers["uwsgi"]
        assert not dep.workspace.path("/run/glance/uwsgi.fifo").exists()
        api = Api(dep.base_url, dep.ca_file, timeout=180)
        before = wait_for("four workers with Glance imported", lambda: (
            len(server.children()) == 4 and server.children() <= ready_pids(server)
            and server.children()))
        launchers.uwsgi_reload(dep.workspace, PIDFILE)
        started = time.monotonic()
        wait_for("exit of the old workers", lambda: not server.children() & before)
        gone = time.monotonic() - started
        assert not ready_pids(server) - before, "a new worker had already imported Glance"
        resp = api.request("GET", "/v2/images")
        answered = time.monotonic() - started
        assert resp.status == 200, resp
        assert ready_pids(server) - before, server.log_since_start()
        # Let the other new workers finish their import before the stop.
        wait_for("new workers", lambda: len(ready_pids(server) - before) == 4)
    sys.stderr.write("\nuwsgi --reload: old workers gone after %.1f s, the request answered "
                     "after %.1f s\n" % (gone, answered))
