"""The service around the server (examples/systemd/), run for real.

systemd does not run here; the harness starts each server as its unit says
(lab/units.py): ``ExecStart=``, ``TimeoutStopSec=``, the ``RuntimeDirectory=``
created from nothing (owner ``User=``, mode 0755), and for ``Type=notify``
a ``$NOTIFY_SOCKET`` on which the server must send ``READY=1``. On the
patterns of :data:`AS_SERVICE_USER` (``Pattern.unit_user``) the server runs
as the unit's ``User=``/``Group=``, from the service venv.
"""

import errno
import os
import pwd
import re
import stat
import subprocess
import time

import pytest

from lab.apache import MOD_WSGI_VENV
from lab.client import MiB, Api, Source
from lab.harness import REPO_ROOT, SERVICE_VENV, LineEdit, data_files, holding_open, http_get
from lab.patterns import get

UWSGI_UNIT = "examples/systemd/glancelet-uwsgi.service"
DROP_IN = "examples/systemd/apache2.service.d/glancelet.conf"
NO_RUNTIME_DIR = LineEdit(r"^RuntimeDirectory=glancelet$", remove=True)
# The patterns whose uWSGI/gunicorn run as their unit's User= (Pattern.unit_user).
AS_SERVICE_USER = ["uwsgi-http", "gunicorn", "nginx-proxy-http", "nginx-uwsgi-pass",
                   "nginx-gunicorn", "apache-proxy-http", "apache-proxy-uwsgi", "apache-tls",
                   "haproxy-uwsgi", "haproxy-multinode"]
NGINX_UWSGI_PASS = "examples/nginx-uwsgi/nginx-uwsgi-pass.conf"


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
        # nginx logs a request after it has sent the response, so the client
        # can be faster than the log line (the full run of 2e691f8 read an
        # empty new log). Bounded: 10 s.
        new_log = log_dir / "nginx-access.log"
        end = time.monotonic() + 10
        while "/healthcheck " not in new_log.read_text() and time.monotonic() < end:
            time.sleep(0.1)
        assert "/healthcheck " in new_log.read_text()
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


def _ids(pid):
    """((real, effective, saved, fs uid), (the same gids), supplementary
    groups) of process ``pid``, from /proc/PID/status."""
    with open("/proc/%d/status" % pid) as fp:
        fields = dict(line.rstrip("\n").split(":\t", 1) for line in fp if ":\t" in line)
    return (tuple(map(int, fields["Uid"].split())), tuple(map(int, fields["Gid"].split())),
            fields["Groups"].split())


def _unit_user_servers(dep):
    """The servers of ``dep`` whose unit has a ``User=`` (each node's uWSGI
    on haproxy-multinode)."""
    return [dep.servers[run.name] for run in dep.pattern.servers
            if run.unit and run.load_unit(run.workspace(dep.workspace)).user]


@pytest.mark.parametrize("name", AS_SERVICE_USER)
def test_server_runs_as_the_units_user(name, tmp_path):
    """The master and every worker of each server with a unit User= run as
    User=glancelet and Group=glancelet (real, effective, saved and
    filesystem ids), with no other group; a round trip works as that user
    through the front door (create, upload 3 MiB, download byte for byte),
    and the image file is the user's. uWSGI does not log its warning about
    running as root."""
    user = pwd.getpwnam("glancelet")
    expected = ((user.pw_uid,) * 4, (user.pw_gid,) * 4, [])
    with get(name).start(tmp_path) as dep:
        servers = _unit_user_servers(dep)
        assert [s.name for s in servers][:1] == [dep.app_server.name]
        for server in servers:
            workers = sorted(server.children())
            assert len(workers) == 4, (server.name, workers)
            assert {pid: _ids(pid) for pid in [server.pid, *workers]} == {
                pid: expected for pid in [server.pid, *workers]}, server.name
            assert "you are running uWSGI as root" not in dep.log_text(server.name)
        _round_trip_as(dep, user)


def _round_trip_as(dep, user):
    """Create, upload 3 MiB, download byte for byte through the front door;
    the image file is owned by ``user`` (a pwd entry) and its group."""
    api = Api(dep.base_url, dep.ca_file)
    image = api.create_image(name="as-glancelet")
    source = Source(3 * MiB + 7, seed=15)
    assert api.upload_cl(image["id"], source).status == 204
    resp, size, _, sha512 = api.download(image["id"])
    assert (resp.status, size, sha512) == (200, source.sent, source.sha512.hexdigest())
    [data_file] = data_files(dep.store_dir, image["id"])
    assert (data_file.stat().st_uid, data_file.stat().st_gid) == (user.pw_uid, user.pw_gid)


def _try_write(pid, python, code):
    """Run ``python -c code`` as the uid and gid process ``pid`` runs as; its
    exit status and output."""
    (uid, *_), (gid, *_), _ = _ids(pid)
    proc = subprocess.run([python, "-c", code], user=uid, group=gid, extra_groups=[], cwd="/",
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


WRITE_INTO = """
import errno, os, sys
import glancelet
for where in (os.path.dirname(glancelet.__file__), sys.prefix, sys.argv[1]):
    path = os.path.join(where, "written-by-the-service-user")
    try:
        open(path, "x").close()
    except PermissionError as exc:
        print(where, exc.errno)
    else:
        os.remove(path)
        print(where, "written")
"""


@pytest.mark.parametrize("name", AS_SERVICE_USER)
def test_service_user_cannot_write_the_code_or_config(name, tmp_path):
    """As the user the server's master runs as, with the Python of the venv
    its ExecStart= names (the service venv, /opt/glancelet in the unit),
    creating a file in the glancelet package it imports, in the venv, or in
    /etc/glancelet fails with EACCES."""
    with get(name).start(tmp_path) as dep:
        server = dep.app_server
        with open("/proc/%d/cmdline" % server.pid, "rb") as fp:
            argv0 = fp.read().split(b"\0")[0].decode()
        python = os.path.join(os.path.dirname(argv0), "python3")
        assert os.path.dirname(argv0) == str(SERVICE_VENV / "bin"), argv0
        _cannot_write(dep, server.pid, python, SERVICE_VENV)


def _cannot_write(dep, pid, python, venv):
    """As the user process ``pid`` runs as, with ``python`` (of ``venv``),
    creating a file in the glancelet package, the venv or /etc/glancelet
    fails with EACCES."""
    etc = str(dep.workspace.path("/etc/glancelet"))
    status, out = _try_write(pid, python, WRITE_INTO.replace("sys.argv[1]", repr(etc)))
    assert status == 0, out
    package = out.splitlines()[0].rsplit(" ", 1)[0]
    assert package.startswith(str(venv) + "/lib/"), out
    assert [line.rsplit(" ", 1)[1] for line in out.splitlines()] == [
        str(errno.EACCES)] * 3, out


def _daemons(server, display_name):
    """The pids of ``server``'s children whose command line starts with
    ``display_name`` (mod_wsgi's display-name, padded)."""
    found = []
    for pid in server.children():
        with open("/proc/%d/cmdline" % pid, "rb") as fp:
            if fp.read().startswith(display_name.encode()):
                found.append(pid)
    return sorted(found)


def test_mod_wsgi_daemons_run_as_glancelet(tmp_path):
    """apache-mod-wsgi: both daemon processes run as WSGIDaemonProcess's
    user=glancelet group=glancelet (real, effective, saved and filesystem
    ids; the user's own group only), /var/lib/glancelet is theirs with mode
    0750, a round trip works (upload 3 MiB, download byte for byte, the
    image file glancelet's), and as that user, with the daemons' Python,
    creating a file in the glancelet package they import, in their
    virtualenv or in /etc/glancelet fails with EACCES."""
    user = pwd.getpwnam("glancelet")
    expected = ((user.pw_uid,) * 4, (user.pw_gid,) * 4, [str(user.pw_gid)])
    with get("apache-mod-wsgi").start(tmp_path) as dep:
        daemons = _daemons(dep.app_server, "(wsgi:glancelet)")
        assert len(daemons) == 2, daemons
        assert {pid: _ids(pid) for pid in daemons} == {pid: expected for pid in daemons}
        data = dep.workspace.path("/var/lib/glancelet").stat()
        assert (data.st_uid, data.st_gid, stat.S_IMODE(data.st_mode)) == (
            user.pw_uid, user.pw_gid, 0o750)
        _round_trip_as(dep, user)
        _cannot_write(dep, daemons[0], str(MOD_WSGI_VENV / "bin" / "python3"), MOD_WSGI_VENV)


def _spooled_upload(dep):
    """A chunked upload of 3 MiB through nginx-uwsgi-pass (nginx spools it to
    client_body_temp_path first): (response, image id, source)."""
    api = Api(dep.base_url)
    image = api.create_image(name="spooled")
    source = Source(3 * MiB + 5, seed=16)
    return api.upload_chunked(image["id"], source, MiB), image["id"], source


def test_nginx_spools_outside_the_0750_data_dir(tmp_path):
    """nginx-uwsgi-pass, uWSGI as glancelet with /var/lib/glancelet its own,
    mode 0750: nginx's temp paths are Debian's /var/lib/nginx/*, which
    nginx's master creates owned by its workers' user (www-data, 0700; the
    group stays the master's), so
    the chunked upload nginx spools there goes through and comes back byte
    for byte."""
    www = pwd.getpwnam("www-data")
    with get("nginx-uwsgi-pass").start(tmp_path) as dep:
        ws = dep.workspace
        data = ws.path("/var/lib/glancelet").stat()
        assert (pwd.getpwuid(data.st_uid).pw_name, stat.S_IMODE(data.st_mode)) == (
            "glancelet", 0o750)
        body = ws.path("/var/lib/nginx/body").stat()
        assert (body.st_uid, stat.S_IMODE(body.st_mode)) == (www.pw_uid, 0o700)
        resp, image_id, source = _spooled_upload(dep)
        assert resp.status == 204, resp
        down, size, _, sha512 = Api(dep.base_url).download(image_id)
        assert (down.status, size, sha512) == (200, source.sent, source.sha512.hexdigest())
        error_log = ws.operator_view(ws.path("/var/log/glancelet/nginx-error.log").read_text())
        assert re.search(r"\[warn\] .* a client request body is buffered to a temporary file "
                         r"/var/lib/nginx/body/\d+", error_log), error_log


def test_temp_path_under_the_0750_data_dir_gives_500(tmp_path, record):
    """The trap the examples' temp paths avoid: nginx-uwsgi-pass with its
    client_body_temp_path under /var/lib/glancelet (glancelet's, mode 0750)
    as the examples had it. nginx's workers (www-data) cannot enter it: the
    chunked upload nginx spools gets 500, the image stays queued, and nginx
    logs EACCES on the temp file."""
    old = "client_body_temp_path /var/lib/glancelet/nginx-client_body;"
    pattern = get("nginx-uwsgi-pass").variant(
        {NGINX_UWSGI_PASS: LineEdit(r"^\s*client_body_temp_path ", replace=old)})
    with pattern.start(tmp_path) as dep:
        resp, image_id, _ = _spooled_upload(dep)
        assert resp.status == 500, resp
        assert Api(dep.base_url).get_image(image_id)["status"] == "queued"
        ws = dep.workspace
        error_log = ws.operator_view(ws.path("/var/log/glancelet/nginx-error.log").read_text())
        found = re.search(r'\[crit\] .* open\(\) "/var/lib/glancelet/nginx-client_body/\d+" '
                          r'failed \(13: Permission denied\).*', error_log)
        assert found, error_log
        # From the level on (no timestamp), with the operator's paths.
        record.symptom("nginx-temp-path-eacces", "nginx-uwsgi-pass", found.group(0))
