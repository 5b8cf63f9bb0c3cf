"""The pattern declarations (lab/patterns/) are data the generic launch,
reload and stop, the docs and the results file rely on."""

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
    assert "apache-tls" not in run.full_patterns()
    with pytest.raises(SystemExit, match="apache-tls .*plain HTTP"):
        run.load_patterns(["uwsgi-http", "apache-tls"])
