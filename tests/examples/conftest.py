"""pytest wiring for the examples suite.

* ``--service``: what every deployment serves, glancelet (the default) or
  glance (OpenStack Glance itself, on the patterns that have Glance files:
  ``Pattern.glance``; ``tox -e examples-glance``).
* ``pattern``: every registered pattern (lab/patterns/) that can run the
  service, module scoped, so a module's tests for one pattern share its
  deployment.
* ``deployment``: the pattern started once per test module.
* ``record``: lets a test record an expected failure (the exact status and
  body it asserted) or a symptom (exact text an operator sees) for the docs.
* ``--tier ci``: only the subset CI runs (tests/examples/ci_tier.py;
  ``tox -e examples-ci``, and with ``--service glance``
  ``tox -e examples-glance-ci``).
* ``--pattern NAME`` (repeatable): only the tests of these patterns (those
  parametrized by ``pattern``); a partial run whose results file says which
  patterns ran every scenario (``complete_patterns``), for
  ``python -m lab.results merge``.
* ``--mariadb``: haproxy-multinode runs on MariaDB instead of PostgreSQL
  (``lab.patterns.haproxy_multinode.on_mariadb``), under the name
  ``haproxy-multinode-mariadb``; the results file is then a partial one.
* At the end of the session the results file is written
  (doc/source/_data/examples-results.json, see results-schema.md) when the
  run covered every pattern and scenario; a partial run (-k, -m, node ids,
  an interrupted run) writes doc/build/examples-results.partial.json instead,
  with ``complete`` false, and leaves the committed file alone. A Glance run
  writes its own file (``lab.results.results_path``).
"""

import os
from pathlib import Path

import pytest

from lab import identity
from lab import results as results_mod
from lab.harness import REPO_ROOT, SERVICES, Pattern
from lab.patterns import all_patterns, haproxy_multinode
from lab.scenarios import SCENARIOS
from tests.examples import ci_tier

ALL_PATTERNS = all_patterns()

# The test_glance_*.py modules run OpenStack Glance itself
# (tests/glance-requirements.txt): `tox -e examples-glance` sets this;
# `tox -e examples` leaves the modules out.
if not os.environ.get("GLANCELET_GLANCE_TESTS"):
    collect_ignore = sorted(p.name for p in Path(__file__).parent.glob("test_glance_*.py"))


def pytest_addoption(parser):
    parser.addoption("--service", choices=SERVICES, default=SERVICES[0],
                     help="the service every deployment serves (default: %(default)s)")
    parser.addoption("--tier", choices=ci_tier.TIERS, default="full",
                     help="full: every test; ci: the subset CI runs, declared in "
                          "tests/examples/ci_tier.py (default: %(default)s)")
    parser.addoption("--pattern", action="append", default=[], metavar="NAME",
                     dest="only_patterns",
                     help="only the tests of this pattern (repeatable); the results "
                          "file is partial, to merge with python -m lab.results merge")
    parser.addoption("--mariadb", action="store_true",
                     help="run haproxy-multinode on MariaDB instead of PostgreSQL "
                          "(haproxy_multinode.on_mariadb); the results file is partial")


def service_of(config):
    return config.getoption("service")


def patterns_of(config):
    """The registered patterns that can run the run's service, each running
    it (haproxy-multinode on MariaDB with --mariadb); with --pattern, those.
    The same objects at every call: pytest keeps a module's ``deployment``
    only while the next test's ``pattern`` compares equal to it, and patterns
    compare by identity (``serving`` and ``on_mariadb`` return a new copy
    each time)."""
    state = config._examples
    if "patterns" not in state:
        service = service_of(config)
        only = config.getoption("only_patterns")
        state["patterns"] = [multinode(config, p.serving(service)) for p in ALL_PATTERNS
                             if (service == SERVICES[0] or p.glance)
                             and (not only or p.name in only)]
    return state["patterns"]


def multinode(config, pattern):
    """``pattern``, or its MariaDB variant (haproxy_multinode.on_mariadb) if
    it is haproxy-multinode and the run has --mariadb."""
    if config.getoption("mariadb") and pattern.name == haproxy_multinode.PATTERNS[0].name:
        return haproxy_multinode.on_mariadb(pattern)
    return pattern


def scenarios_of(service):
    """The scenario ids a complete run of ``service`` covers."""
    from lab import glance
    skipped = glance.NOT_RUN if service == "glance" else {}
    return [s for s in SCENARIOS if s not in skipped]


def pytest_configure(config):
    unknown = sorted(set(config.getoption("only_patterns")) - {p.name for p in ALL_PATTERNS})
    if unknown:
        raise pytest.UsageError("--pattern: no pattern is named %s" % ", ".join(unknown))
    config.addinivalue_line("markers", "scenario(id): the scenario id a test checks")
    config.addinivalue_line("markers", "slow: long-running (still run in CI)")
    config.addinivalue_line("markers", "full_only: waits out a real timeout of a minute "
                            "or more; not in CI's tier (tests/examples/ci_tier.py)")
    config._examples = {"items": {}, "reports": {}, "deselected": 0, "props": {}}


@pytest.fixture(scope="session", autouse=True)
def identity_session(request):
    """Stops the run's Keystone and memcached (lab.identity), which the first
    deployment behind Keystone started, at the end of the run; says what
    starting them cost."""
    yield
    keystone_start(request.config)
    errors = identity.stop_session()
    assert not errors, errors


def keystone_start(config):
    """What starting the run's Keystone and memcached cost, kept for the summary."""
    running = identity.running()
    if running is not None:
        config._examples["keystone_start"] = "%.1f s (%s)" % (
            running.start_seconds, ", ".join(
                "%s %.1f" % kv for kv in running.keystone.timings.items()))


def pytest_generate_tests(metafunc):
    """``pattern``: each pattern of the run's service (unless the test
    parametrizes it itself)."""
    if "pattern" not in metafunc.fixturenames or any(
            "pattern" in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize")):
        return
    patterns = patterns_of(metafunc.config)
    metafunc.parametrize("pattern", patterns, ids=[p.name for p in patterns], scope="module")


@pytest.fixture(scope="module")
def deployment(pattern, tmp_path_factory):
    with pattern.start(tmp_path_factory.mktemp(pattern.name)) as dep:
        yield dep


class Recorder:
    def __init__(self, node):
        self.node = node

    def expected_failure(self, detail):
        self.node.user_properties.append(("expected_failure", detail))

    def counts(self, name, counts):
        """Counts a test measured (requests sent, failed, images lost), for the
        results file's ``counts`` entries."""
        self.node.user_properties.append(("counts", dict(counts, name=name)))

    def symptom(self, symptom_id, pattern, text):
        self.node.user_properties.append(("symptom", {"id": symptom_id,
                                                      "pattern": pattern, "text": text}))


@pytest.fixture
def record(request):
    return Recorder(request.node)


def _scenario_of(item):
    mark = item.get_closest_marker("scenario")
    if mark is None or not hasattr(item, "callspec"):
        return None
    pattern = item.callspec.params.get("pattern")
    if pattern is None:
        return None
    return pattern.service, pattern.name, mark.args[0]


def _pattern_param(item):
    """The pattern a test is parametrized with, or None."""
    return getattr(item, "callspec", None) and item.callspec.params.get("pattern")


def _other_pattern(config, item):
    """Whether --pattern leaves ``item`` out: it is not parametrized with a
    chosen pattern (or a variant of one)."""
    only = config.getoption("only_patterns")
    pattern = _pattern_param(item)
    return bool(only) and not (pattern is not None and any(
        pattern.name == name or pattern.name.startswith(name + " (") for name in only))


def pytest_collection_modifyitems(session, config, items):
    tier = config.getoption("tier")
    kept, dropped = [], []
    for item in items:
        if _other_pattern(config, item):
            dropped.append(item)
            continue
        key = _scenario_of(item)
        if key is None and tier == "ci" and item.get_closest_marker("full_only"):
            dropped.append(item)
            continue
        if key is not None:
            if key[2] not in SCENARIOS:
                raise pytest.UsageError("%s: unknown scenario id %r" % (item.nodeid, key[2]))
            if not ci_tier.selected(tier, *key):
                dropped.append(item)
                continue
            config._examples["items"][item.nodeid] = key
        kept.append(item)
    if dropped:
        # Counted as deselected: the run is partial and leaves the committed
        # results file alone.
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_deselected(items):
    if items:
        items[0].config._examples["deselected"] += len(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    # A failed test that used the shared deployment gets its server logs
    # attached (deployments started inside a test print their own).
    dep = getattr(item, "funcargs", {}).get("deployment")
    if report.failed and dep is not None:
        report.sections.append(("server logs", dep.all_logs()))
    state = item.config._examples
    symptoms = [v for k, v in item.user_properties if k == "symptom"]
    if symptoms and report.when == "call" and report.passed:
        # Symptoms from any test (scenario or not) reach the results file.
        state.setdefault("symptoms", {})[item.nodeid] = symptoms
    counts = [v for k, v in item.user_properties if k == "counts"]
    if counts and report.when == "call" and report.passed:
        # Each count names the pattern the test deployed (merge keys on it).
        pattern = next((v.name for v in item.funcargs.values() if isinstance(v, Pattern)), None)
        state.setdefault("counts", {})[item.nodeid] = [dict(c, pattern=pattern) for c in counts]
    if item.nodeid in state["items"]:
        outcomes = state["reports"].setdefault(item.nodeid, [])
        outcomes.append((report.when, report.outcome))
        state["props"][item.nodeid] = list(item.user_properties)
    return report


def ran_every_scenario(state, service, patterns, seen):
    """The names of ``patterns`` that ran every scenario of ``service``: each
    of their collected scenario tests ran (none deselected, none left), and
    ``seen`` has a (service, pattern, scenario) for every scenario."""
    unrun = {key[1] for nodeid, key in state["items"].items() if not state["reports"].get(nodeid)}
    return [p.name for p in patterns if p.name not in unrun and all(
        (service, p.name, s) in seen for s in scenarios_of(service))]


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    state = getattr(config, "_examples", None)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    keystone_start(config)   # if the session fixture is not torn down yet
    if state and "keystone_start" in state and reporter is not None:
        reporter.write_line("Keystone and memcached start: %s" % state["keystone_start"])
    if not state or not state["reports"]:
        return   # no scenario ran (e.g. only test_rewrite.py): leave the file alone
    rows, symptoms, seen = [], [], set()
    for nodeid, (service, pattern, scenario) in state["items"].items():
        phases = state["reports"].get(nodeid)
        if not phases:
            continue   # not run (interrupted): the run is incomplete
        props = state["props"].get(nodeid, [])
        ok = all(outcome == "passed" for _, outcome in phases) and \
            any(when == "call" for when, _ in phases)
        expected = [v for k, v in props if k == "expected_failure"]
        row = {"service": service, "pattern": pattern, "scenario": scenario, "test": nodeid}
        if not ok:
            row["outcome"] = "fail"
        elif expected:
            row["outcome"] = "expected-failure"
            row["detail"] = "\n".join(expected)
        else:
            row["outcome"] = "pass"
        rows.append(row)
        seen.add((service, pattern, scenario))
    for nodeid, found in state.get("symptoms", {}).items():
        symptoms.extend(dict(value, test=nodeid) for value in found)
    counts = [dict(value, test=nodeid) for nodeid, found in state.get("counts", {}).items()
              for value in found]
    service = service_of(config)
    patterns = patterns_of(config)
    wanted = {(service, p.name, s) for p in patterns for s in scenarios_of(service)}
    finished = exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    # A run of named patterns (--pattern) is partial even when nothing was
    # deselected: the other patterns' cells were never generated.
    complete = (not state["deselected"] and seen >= wanted and not config.getoption("mariadb")
                and not config.getoption("only_patterns") and finished)
    complete_patterns = ran_every_scenario(state, service, patterns, seen) if finished else []
    # A partial run (-k, -m, some files or node ids, an interrupted run) must
    # not replace the committed results of a full run, which other people's
    # docs builds read while they iterate: it goes to doc/build/ instead.
    path = results_mod.write(REPO_ROOT, [service], patterns, SCENARIOS, rows, symptoms,
                             complete, path=results_mod.results_path(service, complete),
                             counts=counts, complete_patterns=complete_patterns)
    if reporter is not None:
        counts = {}
        for row in rows:
            counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
        reporter.write_line("examples results: %s (%s, complete=%s)" % (
            path.relative_to(REPO_ROOT), ", ".join("%s=%d" % kv for kv in sorted(counts.items())),
            complete))
