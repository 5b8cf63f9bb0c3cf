"""Start and reload uWSGI, gunicorn, nginx and HAProxy the way the examples/
files document it (the server kinds of :mod:`lab.servers` call these).

Each function takes a :class:`~lab.harness.Workspace` in which the
files are already installed, and starts the server with the command line the
docs show (``/opt/glancelet/bin/...`` is the Python environment running the
tests, or :data:`lab.harness.SERVICE_VENV` on a pattern declared
``unit_user``). Each *_STOP_TIMEOUT is how long the tests let that server take to
exit after SIGTERM. Given its systemd unit (``unit=``, a
:class:`lab.units.Unit` read from the installed file), a server starts with
the unit's ``ExecStart=`` instead, and must stop within its
``TimeoutStopSec=`` (:func:`spawn`).
"""

import signal
import subprocess
import time

from lab import units
from lab.harness import signal_dispositions

# uWSGI: how long the tests allow for a graceful stop. uWSGI itself does not
# bound it (it waits for running requests); the uploads the tests run while
# stopping take under 10 s.
UWSGI_STOP_TIMEOUT = 75
# uWSGI: how long the tests wait for it to handle signals (uwsgi_signal_ready)
# before they send one. A chain reload of Glance's four workers imports
# Glance four times in a row: 20 s on 2 quiet cores, minutes on busy ones.
UWSGI_SIGNAL_READY_TIMEOUT = 300
# gunicorn: graceful_timeout (60 s) in the examples, plus time to exit.
GUNICORN_STOP_TIMEOUT = 75
# nginx: SIGTERM is a fast shutdown; it does not wait for requests.
NGINX_STOP_TIMEOUT = 10
# HAProxy: SIGTERM to the master stops every worker at once.
HAPROXY_STOP_TIMEOUT = 10


def uwsgi_signal_ready(server):
    """None once a uWSGI master and every worker have their signal handlers.

    uWSGI 2.0 starts with SIGHUP and SIGTERM ignored (``uwsgi_setup``:
    ``signal(SIGTERM, SIG_IGN)``). The master installs its handlers when it
    enters its loop, after it has forked the workers; each worker installs
    its own (SIGHUP: gracefully_kill, then SIGUSR2) only when it reaches
    ``uwsgi_worker_run``, after the post-fork hooks. A stop or reload signal
    the master gets earlier is ignored; one the master passes on (as SIGHUP)
    to a worker that is still starting is ignored by that worker, and the
    master then waits for it for ever ("graceful shutdown triggered..." and
    no "Gracefully killing worker"). A worker respawned later inherits the
    master's handlers rather than SIG_IGN, so SIGUSR2, which only a worker
    catches, is what says it is past that point. See
    ``test_symptoms.py::test_uwsgi_stop_while_workers_start_hangs``. A
    chain reload (:func:`uwsgi_chain_reload`) forks workers until uWSGI logs
    its end, so the server is not ready before that.
    """
    log = server.log_since_start()
    if log.count(CHAIN_STARTED) > log.count(CHAIN_COMPLETE):
        # The master stops one worker after another and forks its
        # replacement: a signal now can reach a worker still starting.
        return "master %d is in a chain reload" % server.pid
    caught, ignored = signal_dispositions(server.pid)
    missing = {signal.SIGTERM, signal.SIGHUP} - caught
    if missing:
        return "master %d does not handle %s yet" % (
            server.pid, ", ".join(sorted(signal.Signals(s).name for s in missing)))
    starting = []
    for pid in sorted(server.children()):
        caught, ignored = signal_dispositions(pid)
        if signal.SIGHUP in ignored or not {signal.SIGHUP, signal.SIGUSR2} <= caught:
            starting.append(pid)
    if starting:
        return "workers %s are still starting (no SIGHUP/SIGUSR2 handler)" % starting
    return None


def spawn(ws, name, argv, conf, unit=None, stop_timeout=30, **kwargs):
    """Start ``argv``, or the ``unit``'s ``ExecStart=`` (installed, so already
    rewritten), which must name the installed ``conf``; it must stop within
    ``stop_timeout`` seconds, or the unit's ``TimeoutStopSec=``. A
    ``Type=notify`` unit's server is started once it sends ``READY=1``; in
    a workspace with ``unit_user``, as the unit's ``User=``/``Group=``."""
    if unit is not None:
        argv = list(unit.exec_start)
        assert str(ws.path(conf)) in argv, "%s: ExecStart=%s does not name %s" % (
            unit.name, " ".join(argv), ws.path(conf))
        stop_timeout = unit.stop_timeout
        kwargs["notify"] = unit.type == "notify"
        if unit.user and ws.unit_user:
            kwargs["ids"] = units.ids(unit)
    return ws.spawn(name, argv, stop_timeout=stop_timeout, **kwargs)


def start_uwsgi(ws, ini, name="uwsgi", unit=None, env=None):
    """``/opt/glancelet/bin/uwsgi --ini <ini>`` (``env``: variables the
    service's environment adds)."""
    return spawn(ws, name, [ws.path("/opt/glancelet/bin/uwsgi"), "--ini", ws.path(ini)], ini,
                 unit, stop_timeout=UWSGI_STOP_TIMEOUT, signal_ready=uwsgi_signal_ready,
                 signal_ready_timeout=UWSGI_SIGNAL_READY_TIMEOUT, env=env)


def uwsgi_reload(ws, pidfile, name="uwsgi"):
    """``uwsgi --reload <pidfile>``: graceful reload of every worker, once the
    server ``name`` can act on it (see :func:`uwsgi_signal_ready`)."""
    ws.servers[name].wait_signal_ready()
    subprocess.run([str(ws.path("/opt/glancelet/bin/uwsgi")), "--reload",
                    str(ws.path(pidfile))], check=True, timeout=10)


# What uWSGI logs when its master starts a chain reload, and at its end.
CHAIN_STARTED = "chain reload starting..."
CHAIN_COMPLETE = "chain reloading complete"


def uwsgi_chain_reload(ws, fifo, name="uwsgi", timeout=30.0):
    """``echo c > <fifo>`` (the ini's ``master-fifo``): a chain reload, once
    the server ``name`` can act on it; return once uWSGI logs that the
    chain has started. The master stops one worker (gracefully: it finishes
    its request) and starts the next only once that worker's replacement
    accepts requests (with ``lazy-apps``, once it has imported the
    application). It does not wait for the end: a request a worker holds
    may be what the chain waits for. The server is not signal-ready
    (:func:`uwsgi_signal_ready`) until uWSGI logs the end."""
    server = ws.servers[name]
    server.wait_signal_ready()
    seen = server.log_since_start().count(CHAIN_STARTED)
    with open(ws.path(fifo), "w") as f:
        f.write("c")
    end = time.monotonic() + timeout
    while server.log_since_start().count(CHAIN_STARTED) == seen:
        if time.monotonic() > end:
            raise AssertionError("%s: no %r within %.0f s of writing c to %s" % (
                name, CHAIN_STARTED, timeout, ws.path(fifo)))
        time.sleep(0.05)


def start_nginx(ws, conf, name="nginx", unit=None):
    """``nginx -c <conf> -g 'daemon off;'`` (the foreground form of the service)."""
    return spawn(ws, name, ["/usr/sbin/nginx", "-c", ws.path(conf), "-g", "daemon off;"], conf,
                 unit, stop_timeout=NGINX_STOP_TIMEOUT)


def nginx_reload(ws, conf):
    """``nginx -c <conf> -s reload``: new workers take over, old ones finish."""
    subprocess.run(["/usr/sbin/nginx", "-c", str(ws.path(conf)), "-s", "reload"],
                   check=True, timeout=10, capture_output=True)


def start_gunicorn(ws, conf, name="gunicorn", unit=None):
    """``/opt/glancelet/bin/gunicorn -c <conf>``."""
    return spawn(ws, name, [ws.path("/opt/glancelet/bin/gunicorn"), "-c", ws.path(conf)], conf,
                 unit, stop_timeout=GUNICORN_STOP_TIMEOUT)


def gunicorn_reload(ws, pidfile, name="gunicorn"):
    """``kill -HUP $(cat <pidfile>)``: new workers with the configuration read
    again; the old ones finish their requests."""
    pid = int(ws.path(pidfile).read_text())
    assert pid == ws.servers[name].pid, (pid, ws.servers[name].pid)
    ws.servers[name].send_signal(signal.SIGHUP)


def start_haproxy(ws, cfg, name="haproxy", unit=None):
    """``haproxy -W -db -f <cfg>``: master-worker mode, in the foreground."""
    return spawn(ws, name, ["/usr/sbin/haproxy", "-W", "-db", "-f", ws.path(cfg)], cfg,
                 unit, stop_timeout=HAPROXY_STOP_TIMEOUT)


def haproxy_reload(ws, pidfile, name="haproxy"):
    """``kill -USR2 $(cat <pidfile>)``: the master starts new workers with the
    configuration read again; the old ones finish their connections."""
    pid = int(ws.path(pidfile).read_text().split()[0])
    assert pid == ws.servers[name].pid, (pid, ws.servers[name].pid)
    ws.servers[name].send_signal(signal.SIGUSR2)
