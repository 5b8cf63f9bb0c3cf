"""The pattern declarations (lab/patterns/) are data the generic launch,
reload and stop, the docs and the results file rely on."""

import os
import pwd
import socket

import pytest

from lab import harness, patterns, servers
from lab.scenarios import SCENARIOS

PATTERNS = patterns.all_patterns()
IDS = [p.name for p in PATTERNS]


@pytest.mark.parametrize("pattern", PATTERNS, ids=IDS)
def test_a_declaration_names_its_page_files_servers_and_front_door(pattern):
    assert (harness.REPO_ROOT / "doc/source" / (pattern.doc + ".rst")).is_file(), pattern.doc
    for run in (None,) + pattern.servers:
        files = pattern.files + (run.files if run else ())
        for example, operator_path in files:
            assert (harness.REPO_ROOT / example).is_file(), example
            assert operator_path.startswith("/"), operator_path
        if run is not None:
            assert run.kind in servers.KINDS, run.kind
            # It starts from a file of the pattern's, or of its own node's.
            assert run.conf in {path for _, path in files}, (run.kind, run.conf)
    front = pattern.servers[-1]
    # The front door listens on a port token, or Apache's scaffold picks one.
    assert front.port or front.kind == "apache2", pattern.name


@pytest.mark.parametrize("pattern", PATTERNS, ids=IDS)
def test_expected_failures_are_keyed_by_service_and_known_scenario(pattern):
    for service, failures in pattern.expected_failures.items():
        assert service in harness.SERVICES, service
        for scenario, failure in failures.items():
            assert scenario in SCENARIOS, scenario
            assert isinstance(failure, harness.ExpectedFailure)
            assert pattern.expected_failure(scenario, service) is failure


def test_an_expected_failure_belongs_to_its_service():
    """The same pattern and scenario can fail for one service and not for
    another: the lookup goes by (service, pattern, scenario)."""
    failure = harness.ExpectedFailure(500, "boom", "a test")
    pattern = harness.Pattern(name="p", expected_failures={"glancelet": {"upload": failure}})
    assert pattern.expected_failure("upload") is failure
    assert pattern.expected_failure("upload", "glancelet") is failure
    assert pattern.expected_failure("download", "glancelet") is None
    with pytest.raises(AssertionError):
        harness.Pattern(name="q", expected_failures={"no-such-service": {"upload": failure}})


def test_a_declaration_has_only_known_fields():
    with pytest.raises(TypeError):
        harness.Pattern(name="p", lanuch=None)
    with pytest.raises(TypeError):
        harness.Pattern(name="p", launch=None)
    with pytest.raises(TypeError):
        harness.Pattern(name="p", app_server="derived from servers")


def test_reload_goes_from_the_front_door_back_and_glancelet_runs_in_the_first():
    pattern = patterns.get("nginx-gunicorn")
    assert pattern.app_server == "gunicorn"
    assert pattern.reloaded_servers == ("nginx", "gunicorn")
    assert patterns.get("apache-mod-wsgi").app_server == "apache"


def test_every_benchmark_exclusion_says_why():
    for pattern in PATTERNS:
        assert pattern.not_benchmarked is None or len(pattern.not_benchmarked) > 20


def test_the_benchmarks_take_their_patterns_from_the_registry():
    from benchmarks import run
    assert run.full_patterns() == [p.name for p in PATTERNS if p.not_benchmarked is None]
    assert "haproxy-uwsgi" in run.full_patterns()
    # Through HAProxy and at one node directly (benchmarks.measure.run_pattern).
    assert "haproxy-multinode" in run.full_patterns()
    assert "apache-tls" not in run.full_patterns()
    with pytest.raises(SystemExit, match="apache-tls .*plain HTTP"):
        run.load_patterns(["uwsgi-http", "apache-tls"])


GLANCE_PATTERNS = [p for p in PATTERNS if p.glance]


@pytest.mark.parametrize("pattern", GLANCE_PATTERNS, ids=[p.name for p in GLANCE_PATTERNS])
def test_a_glance_deployment_adds_glances_files_and_starts_from_them(pattern):
    """serving("glance"): the same name (results rows are keyed by it), the
    pattern's files but glancelet's authtoken.conf drop-in plus Glance's,
    servers started from Glance's files; behind the run's Keystone (through
    glance-api.conf) as the pattern is, and not in its without_keystone()
    copy (FAKE_AUTHTOKEN: the benchmarks)."""
    glance = pattern.serving("glance")
    assert (glance.name, glance.service, pattern.service) == (pattern.name, "glance", "glancelet")
    own = pattern.without_keystone().files
    assert pattern.keystone and own != pattern.files
    assert glance.files[:len(own)] == own and glance.keystone
    assert not pattern.without_keystone().serving("glance").keystone
    assert not glance.without_keystone().keystone
    # Glance's own files: on the host, or on each node (a multi-node pattern's).
    added = [pair for pair in glance.all_files if pair not in pattern.all_files]
    assert added and all(path.startswith("/etc/glance/") for _, path in added)
    operator_paths = {path for _, path in added}
    assert glance.servers[0].conf in operator_paths
    assert glance.expected_failure("upload-chunked-16mib") is \
        pattern.expected_failure("upload-chunked-16mib", "glance")
    assert pattern.serving("glancelet") is pattern


@pytest.mark.parametrize("pattern", GLANCE_PATTERNS, ids=[p.name for p in GLANCE_PATTERNS])
def test_glances_own_failures_hold_in_every_glance_pattern_unless_it_declares_its_own(pattern):
    from lab import glance
    for scenario, failure in glance.EXPECTED_FAILURES.items():
        own = pattern.expected_failures.get("glance", {}).get(scenario)
        assert pattern.serving("glance").expected_failure(scenario) is (own or failure)
        assert pattern.expected_failure(scenario) is \
            pattern.expected_failures.get("glancelet", {}).get(scenario)


def test_only_units_with_a_user_run_as_it_and_never_glance():
    """unit_user is declared on every pattern but apache-mod-wsgi (whose
    daemons Apache starts, with WSGIDaemonProcess's user=), each with a
    first server whose unit has User=glancelet; Glance's uWSGI (no unit,
    from /opt/glance) runs from the tests' Python, so its copy drops it."""
    declared = [p for p in PATTERNS if p.unit_user]
    assert sorted(p.name for p in PATTERNS if not p.unit_user) == ["apache-mod-wsgi"]
    for pattern in declared:
        example, _, instance = servers.units.files(pattern.servers[0].unit)
        unit = servers.units.load(harness.REPO_ROOT / example, instance)
        assert (unit.user, unit.group) == ("glancelet", "glancelet")
    assert not patterns.get("uwsgi-http").serving("glance").unit_user


def test_a_pattern_without_glance_files_cannot_serve_glance():
    with pytest.raises(AssertionError, match="no glance files"):
        harness.Pattern(name="p").serving("glance")


def test_data_files_are_named_by_the_image_id_alone_or_with_a_suffix(tmp_path):
    """glancelet names a write <id>.<suffix>, Glance <id>: both are the
    image's; another id's, or a longer id, is not."""
    image = "0f1e2d3c"
    for name in (image, image + ".data", image + "ff", "other." + image):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in harness.data_files(tmp_path, image)] == [image, image + ".data"]
    (tmp_path / (image + ".data")).unlink()
    assert harness.stray_files(tmp_path, keep={image}) == [image + "ff", "other." + image]
    assert harness.data_files(tmp_path / "missing", image) == []


def test_example_with_names_the_file_a_line_is_in():
    """The mod_wsgi <Location> settings live in one file both services include."""
    pattern = patterns.get("apache-mod-wsgi")
    assert pattern.example_with(r"^\s*LimitRequestBody 0$") == \
        "examples/apache-mod-wsgi/image-location.conf"
    assert pattern.serving("glance").example_with(r"^\s*WSGIChunkedRequest On$") == \
        "examples/apache-mod-wsgi/image-location.conf"
    with pytest.raises(AssertionError):
        pattern.example_with(r"^no such line$")


def test_a_glance_run_writes_its_own_results_file_with_glances_version_in_the_digest():
    from lab import glance, results
    assert str(results.results_path("glancelet")) == "doc/source/_data/examples-results.json"
    assert str(results.results_path("glance")) == \
        "doc/source/_data/examples-results-glance.json"
    assert str(results.results_path("glance", complete=False)) == \
        "doc/build/examples-results-glance.partial.json"
    root = harness.REPO_ROOT
    plain = results.source_digest(root)
    assert results.source_digest(root, glance.VERSION) not in (plain, results.source_digest(
        root, "32.0.0"))


def test_connected_to_finds_the_process_with_the_connection():
    """lab.harness.connected_to: the process whose socket is connected to the
    port (here this one), not a process without one, nor another port."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = server.accept()
            with accepted:
                assert harness.connected_to([os.getpid(), os.getppid()], port) == [os.getpid()]
                other = port + 1 if port < 65535 else port - 1
                assert harness.connected_to([os.getpid()], other) == []


def test_a_node_server_runs_as_a_host_of_its_own(tmp_path):
    """lab.harness.Server with a ``hostname`` (a multi-node pattern's node):
    its process sees that host name, as the unit's user with no
    supplementary groups, under the PID the harness started; this host's
    name is unchanged. Without root, it fails saying so."""
    nobody = pwd.getpwnam("nobody")
    report = ("import os, socket; print(socket.gethostname(), os.getpid(), os.getuid(), "
              "os.getgid(), os.getgroups())")
    server = harness.Server("node-x", ["/usr/bin/python3", "-c", report], tmp_path / "node-x.out",
                            ids=(nobody.pw_uid, nobody.pw_gid), hostname="node-x")
    if os.geteuid() != 0:
        with pytest.raises(RuntimeError, match="needs root"):
            server.start()
        return
    server.start()
    assert server.wait(30) == 0, server.log_path.read_text()
    last = server.log_path.read_text().splitlines()[-1]
    assert last == "node-x %d %d %d []" % (server.pid, nobody.pw_uid, nobody.pw_gid), last
    assert socket.gethostname() != "node-x"
