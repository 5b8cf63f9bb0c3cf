"""Start uWSGI, nginx and gunicorn the way the examples/ files document it.

Each function takes a :class:`~tests.examples.harness.Workspace` in which the
files are already installed, and starts the server with the command line the
docs show (``/opt/glancelet/bin/...`` is the Python environment running the
tests). Each *_STOP_TIMEOUT is how long the tests let that server take to
exit after SIGTERM.
"""

import subprocess

# uWSGI: how long the tests allow for a graceful stop. uWSGI itself does not
# bound it (it waits for running requests); the uploads the tests run while
# stopping take under 10 s.
UWSGI_STOP_TIMEOUT = 75
# uWSGI ignores SIGTERM from startup until its master has installed its signal
# handlers, which happens after the workers are spawned and already serving
# (core/uwsgi.c: signal(SIGTERM, SIG_IGN)). The master logs this line right
# after installing them, when it runs the master-start hooks.
UWSGI_READY_MARKER = '(master-start)...'
# gunicorn: graceful_timeout (60 s) in the examples, plus time to exit.
GUNICORN_STOP_TIMEOUT = 75
# nginx: SIGTERM is a fast shutdown; it does not wait for requests.
NGINX_STOP_TIMEOUT = 10


def start_uwsgi(ws, ini, name="uwsgi"):
    """``/opt/glancelet/bin/uwsgi --ini <ini>``."""
    return ws.spawn(name, [ws.path("/opt/glancelet/bin/uwsgi"), "--ini", ws.path(ini)],
                    stop_timeout=UWSGI_STOP_TIMEOUT, ready_marker=UWSGI_READY_MARKER)


def uwsgi_reload(ws, pidfile):
    """``uwsgi --reload <pidfile>``: graceful reload of every worker."""
    subprocess.run([str(ws.path("/opt/glancelet/bin/uwsgi")), "--reload",
                    str(ws.path(pidfile))], check=True, timeout=10)


def start_nginx(ws, conf, name="nginx"):
    """``nginx -c <conf> -g 'daemon off;'`` (the foreground form of the service)."""
    return ws.spawn(name, ["/usr/sbin/nginx", "-c", ws.path(conf), "-g", "daemon off;"],
                    stop_timeout=NGINX_STOP_TIMEOUT)


def nginx_reload(ws, conf):
    """``nginx -c <conf> -s reload``: new workers take over, old ones finish."""
    subprocess.run(["/usr/sbin/nginx", "-c", str(ws.path(conf)), "-s", "reload"],
                   check=True, timeout=10, capture_output=True)


def start_gunicorn(ws, conf, name="gunicorn"):
    """``/opt/glancelet/bin/gunicorn -c <conf>``."""
    return ws.spawn(name, [ws.path("/opt/glancelet/bin/gunicorn"), "-c", ws.path(conf)],
                    stop_timeout=GUNICORN_STOP_TIMEOUT)
