"""The systemd units of examples/systemd/: ``systemd-analyze verify``
accepts each one, the harness reads them as systemd does (lab/units.py),
and their TimeoutStopSec= covers the servers' drain settings."""

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lab import units
from lab.harness import REPO_ROOT
from lab.patterns import all_patterns

SYSTEMD_DIR = REPO_ROOT / "examples" / "systemd"
APT = "apt-get install -y --no-install-recommends systemd"


def unit_names():
    """Every unit a pattern starts with, once (instances of a template too)."""
    return sorted({run.unit for p in all_patterns() for run in p.servers if run.unit})


def analyze():
    found = shutil.which("systemd-analyze")
    assert found, "systemd-analyze is missing (bindep.txt); run as root: %s" % APT
    return found


def _stub_binaries(text, root):
    """``text`` with each absolute command of an Exec*= line pointing at an
    executable stub under ``root`` (same path below it): verify checks that
    commands exist, and this environment need not have the servers."""
    def stub(match):
        path = root / match.group(2).lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
        return match.group(1) + str(path)
    return re.sub(r"^(Exec\w+=[-@+!:]*)(/\S+)", stub, text, flags=re.MULTILINE)


def _verify(files, tmp_path):
    """Run ``systemd-analyze verify`` on ``files`` ({unit file name: text},
    drop-ins as ``x.service.d/y.conf``); return its rc and output."""
    for name, text in files.items():
        path = tmp_path / "units" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_stub_binaries(text, tmp_path / "stubs"))
    targets = [str(tmp_path / "units" / name) for name in files if ".service.d/" not in name]
    proc = subprocess.run([analyze(), "verify", "--man=no", *targets], capture_output=True,
                          text=True, timeout=60)
    return proc.returncode, (proc.stdout + proc.stderr).replace(str(tmp_path), "<tmp>")


@pytest.mark.parametrize("name", unit_names())
def test_systemd_analyze_verify_accepts_unit(name, tmp_path):
    example, operator_path, instance = units.files(name)
    text = (REPO_ROOT / example).read_text()
    if ".service.d/" in name:
        # A drop-in is checked on the unit it extends: Debian's, as installed.
        service = name.split(".service.d/")[0] + ".service"
        distro = Path("/lib/systemd/system") / service
        assert distro.is_file(), "%s is missing: apt-get install %s" % (
            distro, service.split(".")[0])
        files = {service: distro.read_text(), name: text}
    else:
        # The instance's own file name (a template is verified as an instance).
        files = {operator_path.rsplit("/", 1)[-1].replace("@.", "@%s." % instance)
                 if instance else operator_path.rsplit("/", 1)[-1]: text}
    rc, out = _verify(files, tmp_path)
    assert (rc, out) == (0, ""), out


def test_systemd_analyze_verify_can_fail(tmp_path):
    """The check above can fail: a misspelt key is reported."""
    text = (SYSTEMD_DIR / "glancelet-uwsgi.service").read_text()
    rc, out = _verify({"glancelet-uwsgi.service": text.replace("TimeoutStopSec=",
                                                               "TimeoutStopSecs=")}, tmp_path)
    assert "Unknown key 'TimeoutStopSecs' in section [Service]" in out, out


def test_units_parse_as_systemd_reads_them():
    uwsgi = units.load(SYSTEMD_DIR / "glancelet-uwsgi.service")
    assert uwsgi.exec_start == ("/opt/glancelet/bin/uwsgi", "--ini",
                                "/etc/glancelet/glancelet-uwsgi.ini")
    assert (uwsgi.type, uwsgi.user, uwsgi.group) == ("notify", "glancelet", "glancelet")
    assert uwsgi.runtime_paths() == ("/run/glancelet",)
    assert (uwsgi.runtime_directory_mode, uwsgi.stop_timeout) == (0o755, 75.0)
    nginx = units.load(SYSTEMD_DIR / "glancelet-nginx@.service", "proxy-http")
    assert nginx.name == "glancelet-nginx@proxy-http.service"
    assert nginx.exec_start == ("/usr/sbin/nginx", "-c", "/etc/glancelet/nginx-proxy-http.conf",
                                "-g", "daemon off;")
    assert nginx.user is None and units.ids(nginx) == (0, 0)
    drop_in = units.load(SYSTEMD_DIR / "apache2.service.d" / "glancelet.conf")
    assert drop_in.runtime_paths() == ("/run/glancelet",) and drop_in.exec_start == ()


def test_time_spans():
    assert [units._seconds(v) for v in ("75", "75s", "2min", "1min 30s")] == [75, 75, 120, 90]


def _ini_seconds(path, key):
    conf = configparser.RawConfigParser(strict=False)
    conf.read(path)
    return int(conf.get("uwsgi", key))


def test_uwsgi_stop_timeout_covers_worker_reload_mercy():
    """TimeoutStopSec= of glancelet-uwsgi.service is above every uWSGI ini's
    worker-reload-mercy, the longest a request may finish in on a reload."""
    stop = units.load(SYSTEMD_DIR / "glancelet-uwsgi.service").stop_timeout
    inis = {example for p in all_patterns() if "glancelet-uwsgi.service" in
            [run.unit for run in p.servers] for example in p.examples if example.endswith(".ini")}
    assert len(inis) == 5, inis
    mercies = {ini: _ini_seconds(REPO_ROOT / ini, "worker-reload-mercy") for ini in inis}
    assert all(stop > mercy for mercy in mercies.values()), (stop, mercies)


def test_gunicorn_stop_timeout_covers_graceful_timeout():
    stop = units.load(SYSTEMD_DIR / "glancelet-gunicorn.service").stop_timeout
    conf = (REPO_ROOT / "examples" / "gunicorn" / "gunicorn.conf.py").read_text()
    graceful = int(re.search(r"^graceful_timeout = (\d+)$", conf, re.MULTILINE).group(1))
    assert stop > graceful, (stop, graceful)


def test_every_unit_file_is_used():
    used = {units.files(name)[0] for name in unit_names()}
    shipped = {p.relative_to(REPO_ROOT).as_posix() for p in SYSTEMD_DIR.rglob("*")
               if p.suffix in (".service", ".conf")}
    assert used == shipped
