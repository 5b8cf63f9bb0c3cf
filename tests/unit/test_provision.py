"""lab.provision: what it installs, or tells the user to install, per profile."""

import configparser
import io
import pwd

from lab import patterns, provision, servers


def _run_recorder():
    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd)
    return calls, run


def test_docs_profile_is_apache2_nginx_chromium_and_a_compiler():
    docs = provision.PROFILES["docs"]
    assert provision.bindep_packages(docs.bindep_profile) == [
        "apache2", "nginx", "python3-dev", "build-essential", "chromium"]
    examples = provision.PROFILES["examples"]
    packages = provision.bindep_packages(examples.bindep_profile)
    assert {"apache2", "apache2-dev", "nginx", "python3-venv", "curl"} <= set(packages)
    assert "chromium" in examples.not_needed


def test_keystone_profile_is_memcached():
    """tox -e keystone provisions memcached, the shared token cache, and only that."""
    keystone = provision.PROFILES["keystone"]
    assert provision.bindep_packages(keystone.bindep_profile) == ["memcached"]
    assert keystone.binaries == {"memcached": "/usr/bin/memcached"}
    assert not keystone.apache


def test_db_profile_is_postgresql_and_mariadb():
    """tox -e db provisions the two database servers lab.dbservers starts,
    which the examples (the test profile) have too."""
    db = provision.PROFILES["db"]
    assert provision.bindep_packages(db.bindep_profile) == [
        "postgresql", "mariadb-server", "mariadb-client"]
    assert set(provision.bindep_packages(db.bindep_profile)) <= set(
        provision.bindep_packages("test"))
    assert not db.apache


def test_bench_profile_is_nginx_haproxy_and_the_database_servers():
    """What tox -e bench starts besides uWSGI and gunicorn (the static
    baseline, haproxy-uwsgi, haproxy-multinode and its database servers:
    the growth figures run it on PostgreSQL and MariaDB); the test profile,
    which CI installs, has them too."""
    bench = provision.PROFILES["bench"]
    assert provision.bindep_packages(bench.bindep_profile) == [
        "nginx", "haproxy", "postgresql", "mariadb-server", "mariadb-client"]
    assert set(provision.bindep_packages(bench.bindep_profile)) <= set(
        provision.bindep_packages("test"))
    assert set(bench.binaries) == {"nginx", "haproxy", "pg_ctlcluster", "mariadbd",
                                   "mariadb-install-db"}
    assert not bench.apache and not bench.service_user


def test_docs_as_root_installs_a_missing_package_with_apt(monkeypatch):
    monkeypatch.setattr(provision.shutil, "which", lambda name: "/usr/bin/" + name)
    calls, run = _run_recorder()
    ok = provision.install_packages(provision.PROFILES["docs"],
                                    installed=lambda pkg: pkg != "nginx", is_root=True, run=run)
    assert ok
    assert calls == [["apt-get", "update", "-q"],
                     ["apt-get", "install", "-y", "--no-install-recommends", "nginx"]]


def test_docs_not_root_prints_the_exact_command_and_installs_nothing():
    calls, run = _run_recorder()
    err = io.StringIO()
    ok = provision.install_packages(provision.PROFILES["docs"],
                                    installed=lambda pkg: pkg == "apache2", is_root=False,
                                    run=run, err=err)
    assert not ok and calls == []
    assert err.getvalue().endswith(
        "Run as root:\n  apt-get install -y --no-install-recommends nginx python3-dev "
        "build-essential chromium\n")


def test_docs_checks_only_binaries_its_packages_install():
    """On a fresh machine the docs profile installs only its bindep packages,
    so every server it then requires must come from them (it once required
    HAProxy, which only the examples install)."""
    docs = provision.PROFILES["docs"]
    packages = set(provision.bindep_packages(docs.bindep_profile))
    assert set(docs.binaries) == {"apache2", "nginx", "chromium"}
    for name in ("apache2", "nginx"):
        assert name in packages and docs.binaries[name] == servers.KINDS[name].binary


def test_docs_env_installs_uwsgi_after_provisioning_its_compiler():
    """tox installs an env's deps before its commands, and pip builds uWSGI
    from source: the docs env must install doc/requirements.txt (uWSGI) only
    after `lab.provision --profile docs` has installed a compiler."""
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(provision.REPO_ROOT / "tox.ini")
    docs = tox["testenv:docs"]
    assert "doc/requirements.txt" not in docs["deps"] and "uwsgi" not in docs["deps"]
    commands = docs["commands"].split()
    assert commands.index("--profile") < commands.index("{toxinidir}/doc/requirements.txt") \
        < commands.index("sphinx-build")
    assert "uwsgi" in (provision.REPO_ROOT / "doc" / "requirements.txt").read_text()
    assert {"build-essential", "python3-dev"} <= set(provision.bindep_packages("docs"))
    assert provision.PROFILES["docs"].python_tools == ()


def test_nothing_missing_runs_nothing():
    calls, run = _run_recorder()
    assert provision.install_packages(provision.PROFILES["examples"], installed=lambda p: True,
                                      is_root=True, run=run)
    assert calls == []


def test_every_server_kind_is_provisioned():
    """The apt packages of each server kind are in bindep.txt (the examples
    profile installs them), its pip packages in test-requirements.txt (tox
    installs them), and every pattern starts only registered kinds."""
    test_profile = set(provision.bindep_packages("test"))
    requirements = (provision.REPO_ROOT / "test-requirements.txt").read_text()
    for kind in servers.KINDS.values():
        assert set(kind.apt) <= test_profile, kind.name
        for pip in kind.pip:
            assert any(line.startswith(pip) for line in requirements.splitlines()), pip
        if kind.apt:
            assert provision.PROFILES["examples"].binaries[kind.name] == kind.binary
        else:
            assert kind.binary in provision.PYTHON_TOOLS
    for pattern in patterns.all_patterns():
        assert pattern.kinds and set(pattern.kinds) <= set(servers.KINDS), pattern.name


def _no_user(name):
    raise KeyError(name)


def test_service_user_is_created_as_root_with_the_documented_command(monkeypatch):
    monkeypatch.setattr(provision.pwd, "getpwnam", _no_user)
    calls = []
    assert provision.ensure_service_user(run=lambda cmd, check: calls.append(cmd), is_root=True)
    assert calls == [["useradd", "--system", "--user-group", "--home-dir", "/var/lib/glancelet",
                      "--no-create-home", "--shell", "/usr/sbin/nologin", "glancelet"],
                     ["install", "-d", "-o", "glancelet", "-g", "glancelet", "-m", "0750",
                      "/var/lib/glancelet"]]
    # The service page shows the same command.
    page = (provision.REPO_ROOT / "doc/source/howto/service.rst").read_text()
    assert "useradd --system --user-group --home-dir /var/lib/glancelet \\\n" in page
    assert "# %s\n" % " ".join(provision.INSTALL_HOME) in page


def test_an_existing_user_without_its_home_gets_it(monkeypatch, tmp_path):
    """The user exists but its home does not (mod_wsgi's daemons would exit):
    only the install -d runs."""
    monkeypatch.setattr(provision.pwd, "getpwnam",
                        lambda name: pwd.struct_passwd(("glancelet", "x", 999, 995, "",
                                                        str(tmp_path / "missing"), "")))
    calls = []
    assert provision.ensure_service_user(run=lambda cmd, check: calls.append(cmd), is_root=True)
    assert calls == [provision.INSTALL_HOME]
    monkeypatch.setattr(provision.pwd, "getpwnam",
                        lambda name: pwd.struct_passwd(("glancelet", "x", 999, 995, "",
                                                        str(tmp_path), "")))
    assert provision.ensure_service_user(run=None, is_root=False)


def test_service_user_missing_not_root_prints_the_command(monkeypatch):
    monkeypatch.setattr(provision.pwd, "getpwnam", _no_user)
    err = io.StringIO()
    assert not provision.ensure_service_user(run=None, is_root=False, err=err)
    commands = (" ".join(provision.USERADD), " ".join(provision.INSTALL_HOME))
    assert err.getvalue().endswith("  %s\n  %s\n" % commands)


def test_service_venv_has_this_environments_servers(monkeypatch):
    """The service venv gets the uWSGI and gunicorn versions of the
    environment running provisioning (those the results record), for the
    service user, and its uwsgi must link a libpython outside /root."""
    calls = []
    monkeypatch.setattr(provision.importlib.metadata, "version",
                        {"uwsgi": "2.0.31", "gunicorn": "27.0.1"}.__getitem__)
    monkeypatch.setattr(provision.apache, "build_system_venv",
                        lambda venv, pins, user, log, extras: calls.append(
                            (venv, pins, user, extras)))
    monkeypatch.setattr(provision.apache, "check_links_outside_root",
                        lambda binary, user: calls.append((binary, user)))
    assert provision.build_service_venv(log=lambda text: None) == 0
    assert calls == [
        (provision.SERVICE_VENV, ["uwsgi==2.0.31", "gunicorn==27.0.1"], "glancelet",
         ("keystone", "postgresql", "mysql")),
        (provision.SERVICE_VENV / "bin" / "uwsgi", "glancelet")]
    assert provision.PROFILES["examples"].service_venv


def test_a_stale_service_venv_is_refused(monkeypatch, tmp_path):
    """The harness refuses a service venv whose glancelet is not the
    checkout's (it is installed non-editable: a change to glancelet/ needs
    provisioning again), naming the file that differs."""
    import shutil
    from lab import harness
    venv = tmp_path / "venv"
    monkeypatch.setattr(harness, "SERVICE_VENV", venv)
    assert harness.service_venv_stale() == "missing"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "uwsgi").touch()
    package = venv / "lib" / "python3.11" / "site-packages" / "glancelet"
    shutil.copytree(harness.REPO_ROOT / "glancelet", package)
    assert harness.service_venv_stale() is None
    (package / "store.py").write_text("# an older glancelet\n")
    assert harness.service_venv_stale() == (
        "its glancelet differs from the checkout's (store.py)")


def test_apaches_user_joins_the_service_group_only_while_the_offload_runs():
    """The download offload's Apache conf tells the operator to put www-data
    in glancelet's group; a deployment that needs it runs that command and,
    after, takes www-data out again (other tests show www-data cannot enter
    glancelet's 0750 directory). Already a member: nothing runs."""
    calls = []
    with provision.www_in_service_group(run=lambda cmd, **kw: calls.append(cmd),
                                        is_root=True, members=[]):
        assert calls == [["usermod", "-a", "-G", "glancelet", "www-data"]]
    assert calls[1:] == [["gpasswd", "-d", "www-data", "glancelet"]]
    conf = (provision.REPO_ROOT / "examples/apache-proxy-http/glancelet-xsendfile.conf")
    assert "#           %s\n" % " ".join(provision.WWW_IN_GROUP) in conf.read_text()
    with provision.www_in_service_group(run=None, is_root=False, members=["www-data"]):
        pass
    try:
        with provision.www_in_service_group(run=None, is_root=False, members=[]):
            raise RuntimeError("not reached")
    except AssertionError as exc:
        assert str(exc).endswith("  usermod -a -G glancelet www-data")
