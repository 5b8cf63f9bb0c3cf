"""lab.glance: installing the pinned Glance, and Glance's rewrite tokens."""

import hashlib
import io
import sys
import tarfile

import pytest

from lab import glance, rewrite


def _provision(monkeypatch, found, is_root, token_cache="1.62", db_driver="2.9.13"):
    versions = dict.fromkeys(glance.DB_DRIVERS, "1.2.4")
    versions.update({"glance": found, glance.TOKEN_CACHE: token_cache,
                     glance.DB_DRIVERS[0]: db_driver})
    monkeypatch.setattr(glance, "installed_version", lambda name="glance": versions[name])
    calls, err = [], io.StringIO()
    rc = glance.provision(is_root=is_root, run=lambda cmd, **kw: calls.append(cmd), err=err)
    return rc, calls, err.getvalue()


def test_not_root_prints_the_exact_command_and_installs_nothing(monkeypatch):
    rc, calls, err = _provision(monkeypatch, "32.0.0", is_root=False)
    assert (rc, calls) == (1, [])
    assert err.endswith("Run as root:\n  %s -m pip install -r %s\n"
                        % (sys.executable, glance.REQUIREMENTS))


def test_root_installs_the_requirements_file(monkeypatch):
    rc, calls, _ = _provision(monkeypatch, None, is_root=True)
    assert (rc, calls) == (0, [[sys.executable, "-m", "pip", "install", "-r",
                                str(glance.REQUIREMENTS)]])


def test_the_pinned_version_installed_runs_nothing(monkeypatch):
    assert _provision(monkeypatch, glance.VERSION, is_root=True)[:2] == (0, [])


def test_without_the_token_caches_client_the_requirements_are_installed(monkeypatch):
    """glance-api.conf's memcached_servers needs python-memcached, which
    Glance does not depend on: an environment with Glance but not it is
    not ready."""
    rc, calls, _ = _provision(monkeypatch, glance.VERSION, is_root=True, token_cache=None)
    assert (rc, calls) == (0, [glance.install_command()])


def test_without_the_database_driver_the_requirements_are_installed(monkeypatch):
    """haproxy-multinode's Glance connects to PostgreSQL with psycopg2 (and
    to MariaDB with PyMySQL), which Glance does not depend on either."""
    rc, calls, _ = _provision(monkeypatch, glance.VERSION, is_root=True, db_driver=None)
    assert (rc, calls) == (0, [glance.install_command()])


def test_the_requirements_file_pins_that_version_the_token_caches_client_and_the_driver():
    pins = [line for line in glance.REQUIREMENTS.read_text().splitlines()
            if line and not line.startswith("#")]
    assert pins == ["glance==%s" % glance.VERSION, glance.TOKEN_CACHE + ">=1.59",
                    glance.DB_DRIVERS[0] + ">=2.9", glance.DB_DRIVERS[1] + ">=1.1"]


def test_glance_paths_are_tokens_apart_from_glancelets():
    values = {"/etc/glance": "/w/etc/glance", "/etc/glancelet": "/w/etc/glancelet",
              "/opt/glance": "/venv"}
    assert rewrite.rewrite_text("ini = /etc/glancelet/a.ini\nenv = X=/etc/glance\n"
                                "virtualenv = /opt/glance\n", values) == (
        "ini = /w/etc/glancelet/a.ini\nenv = X=/w/etc/glance\nvirtualenv = /venv\n")


def test_the_mod_wsgi_venv_is_glances_own_and_not_root_prints_its_commands(monkeypatch):
    """Glance's mod_wsgi venv is apart from glancelet's (which is shared and
    never rebuilt here); without root nothing runs and the commands are shown."""
    from lab import apache
    assert glance.MOD_WSGI_VENV != apache.MOD_WSGI_VENV
    monkeypatch.setattr(glance, "MOD_WSGI_VENV", glance.MOD_WSGI_VENV.with_name("no-such-venv"))
    steps = glance.mod_wsgi_venv_steps(glance.MOD_WSGI_VENV)
    assert steps[0] == [apache.SYSTEM_PYTHON, "-m", "venv", str(glance.MOD_WSGI_VENV)]
    assert steps[2][-2:] == ["-r", str(glance.REQUIREMENTS)]
    calls, err = [], io.StringIO()
    monkeypatch.setattr(glance, "mod_wsgi_venv_steps", lambda: steps)
    assert glance.provision_mod_wsgi(is_root=False, run=lambda *a, **k: calls.append(a),
                                     err=err) == 1
    assert calls == []
    assert " ".join(steps[1]) in err.getvalue()


def _sdist_bytes(member, text):
    """A tar.gz holding ``text`` at ``member``."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        data = text.encode()
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_the_sample_ini_is_read_from_the_sdist_pip_downloads_once(tmp_path, monkeypatch):
    sdist = _sdist_bytes("glance-%s/httpd/glance-api-uwsgi.ini" % glance.VERSION,
                         "[uwsgi]\nplugins = python\n")
    monkeypatch.setattr(glance, "SDIST_SHA256", hashlib.sha256(sdist).hexdigest())
    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        (tmp_path / ("glance-%s.tar.gz" % glance.VERSION)).write_bytes(sdist)

    for _ in range(2):
        assert glance.upstream_sample_ini(tmp_path, run=run) == "[uwsgi]\nplugins = python\n"
    assert calls == [[sys.executable, "-m", "pip", "download", "-q",
                      "--disable-pip-version-check", "--no-deps", "--no-binary", ":all:",
                      "glance==%s" % glance.VERSION, "-d", str(tmp_path)]]


def test_an_sdist_that_is_not_pypis_is_refused(tmp_path):
    (tmp_path / ("glance-%s.tar.gz" % glance.VERSION)).write_bytes(_sdist_bytes(
        "glance-%s/httpd/glance-api-uwsgi.ini" % glance.VERSION, "[uwsgi]\n"))
    with pytest.raises(ValueError, match="not PyPI's %s" % glance.SDIST_SHA256):
        glance.upstream_sample_ini(tmp_path, run=None)
