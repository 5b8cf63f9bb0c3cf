"""The service around the server (examples/systemd/), run for real.

systemd does not run here; the harness starts each server as its unit says
(lab/units.py): ``ExecStart=``, ``TimeoutStopSec=``, the ``RuntimeDirectory=``
created from nothing (owner ``User=``, mode 0755), and for ``Type=notify``
a ``$NOTIFY_SOCKET`` on which the server must send ``READY=1``.
"""

import pwd
import re
import stat
import subprocess
import time

import pytest

from lab.harness import REPO_ROOT, LineEdit, holding_open, http_get
from lab.patterns import get

UWSGI_UNIT = "examples/systemd/glancelet-uwsgi.service"
DROP_IN = "examples/systemd/apache2.service.d/glancelet.conf"
NO_RUNTIME_DIR = LineEdit(r"^RuntimeDirectory=glancelet$", remove=True)


def test_uwsgi_comes_up_from_an_empty_run_glancelet(tmp_path):
    """/run/glancelet does not exist before the start (as after a boot); the
    unit's RuntimeDirectory= creates it, owned by glancelet, mode 0755."""
    with get("uwsgi-http").start(tmp_path) as dep:
        run = dep.workspace.path("/run/glancelet")
        info = run.stat()
        assert (pwd.getpwuid(info.st_uid).pw_name, stat.S_IMODE(info.st_mode)) == (
            "glancelet", 0o755)
        assert (run / "uwsgi.pid").read_text().strip() == str(dep.app_server.pid)


def test_uwsgi_without_runtime_directory_does_not_start(tmp_path):
    """The same start without RuntimeDirectory= (no /run/glancelet): uWSGI
    cannot write its pid file and exits."""
    pattern = get("uwsgi-http").variant({UWSGI_UNIT: NO_RUNTIME_DIR})
    with pytest.raises(AssertionError) as failed:
        with pattern.start(tmp_path):
            pass
    assert "uwsgi exited with 1 while starting" in str(failed.value)
    assert "/run/glancelet/uwsgi.pid" in str(failed.value)


def test_mod_wsgi_without_the_drop_in_answers_503(tmp_path):
    """Apache without the drop-in's RuntimeDirectory= (an empty /run after a
    boot): mod_wsgi cannot make its daemon socket under WSGISocketPrefix
    /run/glancelet/wsgi and every request gets 503. With it, the
    apache-mod-wsgi scenarios pass (they start from an empty /run too)."""
    pattern = get("apache-mod-wsgi").variant({DROP_IN: NO_RUNTIME_DIR})
    with pytest.raises(AssertionError) as failed:
        with pattern.start(tmp_path):
            pass
    assert "HTTP 503" in str(failed.value), failed.value


@pytest.mark.parametrize("name", ["uwsgi-http", "gunicorn", "haproxy-uwsgi"])
def test_type_notify_servers_send_ready(name, tmp_path):
    """Each Type=notify unit's server sends READY=1 on $NOTIFY_SOCKET (the
    deployment is not ready before it does)."""
    with get(name).start(tmp_path) as dep:
        notify = [s for s in dep.servers.values() if s.notify_socket]
        assert [s.name for s in notify] == [s.name for s in dep.servers.values()]
        assert all("READY=1" in s.notified.split() for s in notify), [
            s.notified for s in notify]


def _get(base_url, path):
    status, _, _ = http_get(base_url + path)
    return status


def test_logrotate_reopens_nginx_logs(tmp_path):
    """logrotate on the installed glancelet-nginx file (forced): the old log
    is renamed, its postrotate sends SIGUSR1, and nginx writes the next
    request to a new nginx-access.log."""
    with get("nginx-proxy-http").start(tmp_path) as dep:
        ws = dep.workspace
        log_dir = ws.path("/var/log/glancelet")
        assert _get(dep.base_url, "/versions") == 200
        conf = ws.path("/etc/logrotate.d/glancelet-nginx")
        proc = subprocess.run(["/usr/sbin/logrotate", "--force", "--verbose",
                               "--state", str(tmp_path / "logrotate.state"), str(conf)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "GET /image/versions " in (log_dir / "nginx-access.log.1").read_text()
        # SIGUSR1 is handled asynchronously: the master reopens, then tells
        # its workers, each of which reopens in its own time. Wait until no
        # nginx process holds the renamed file open (bounded: 20 s).
        rotated = str(log_dir / "nginx-access.log.1")
        end = time.monotonic() + 20
        nginx = dep.servers["nginx"]
        while holding_open([nginx.pid, *nginx.children()], rotated) and time.monotonic() < end:
            time.sleep(0.1)
        assert not holding_open([nginx.pid, *nginx.children()], rotated), \
            "still writing to the rotated log"
        assert (log_dir / "nginx-access.log").exists()
        assert _get(dep.base_url, "/healthcheck") == 200
        assert "/healthcheck " in (log_dir / "nginx-access.log").read_text()
        assert "/healthcheck " not in (log_dir / "nginx-access.log.1").read_text()


def documented_start_up_lines():
    """{(pattern, server): [line regex]} from the code blocks named
    ``startup-<pattern>-<server>`` on the service page."""
    text = (REPO_ROOT / "doc" / "source" / "howto" / "service.rst").read_text()
    blocks = {}
    for match in re.finditer(r"^\.\. code-block:: text\n   :name: startup-(\S+)\n"
                             r"   :caption: .*\n\n((?:   .*\n)+)", text, re.MULTILINE):
        pattern, server = match.group(1).rsplit("-", 1)
        lines = [line[3:] for line in match.group(2).splitlines()]
        blocks[(pattern, server)] = [
            re.escape(line).replace(re.escape("<n>"), r"\d+").replace(re.escape("<v>"), r"\S+")
            + r"\s*$" for line in lines]
    return blocks


START_UP = documented_start_up_lines()


@pytest.mark.parametrize("pattern_name,server", sorted(START_UP))
def test_start_up_lines(pattern_name, server, tmp_path):
    """Every line the service page documents for this pattern's server is
    in the log of a real start (ports and paths shown as in examples/)."""
    with get(pattern_name).start(tmp_path) as dep:
        end = time.monotonic() + 30
        missing = START_UP[(pattern_name, server)]
        while missing and time.monotonic() < end:
            log = dep.workspace.operator_view(dep.log_text(server)).splitlines()
            missing = [rx for rx in missing if not any(re.search(rx, line) for line in log)]
            time.sleep(0.2)
        assert not missing, "\n".join(missing) + "\n---\n" + "\n".join(log)


def test_start_up_lines_are_documented():
    assert sorted(START_UP) == [("apache-mod-wsgi", "apache"), ("gunicorn", "gunicorn"),
                                ("haproxy-uwsgi", "haproxy"), ("uwsgi-http", "uwsgi")]
