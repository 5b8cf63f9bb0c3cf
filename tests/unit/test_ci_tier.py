"""CI's tier of the examples suite (tests/examples/ci_tier.py) and how the
examples conftest selects it."""

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from lab import glance
from lab.harness import REPO_ROOT
from lab.patterns import all_patterns, get
from lab.scenarios import SCENARIOS
from tests.examples import ci_tier, conftest

GLANCE_NAMES = {p.name for p in all_patterns() if p.glance}
# Issue 13 item 5: the least CI runs Glance under (once a pattern has Glance files).
ISSUE_13_GLANCE = ("uwsgi-http", "apache-mod-wsgi", "nginx-proxy-http")


def cells(service):
    """Every (pattern, scenario) a complete run of ``service`` covers."""
    names = GLANCE_NAMES if service == "glance" else {p.name for p in all_patterns()}
    return {(p, s) for p in names for s in conftest.scenarios_of(service)}


@pytest.mark.parametrize("service", ["glancelet", "glance"])
def test_the_full_tier_selects_every_cell(service):
    assert all(ci_tier.selected("full", service, p, s) for p, s in cells(service))


@pytest.mark.parametrize("service", ["glancelet", "glance"])
def test_the_ci_tier_leaves_cells_out_so_its_run_is_partial(service):
    """A tier run deselects cells, so it never writes the committed results
    file (conftest.py: a run with deselected cells is not complete)."""
    kept = {c for c in cells(service) if ci_tier.selected("ci", service, *c)}
    assert kept and kept < cells(service)


def test_glancelet_runs_slow_and_cli_scenarios_on_representative_patterns_only():
    assert ci_tier.selected("ci", "glancelet", "uwsgi-http", "upload-2gib")
    assert not ci_tier.selected("ci", "glancelet", "apache-mod-wsgi", "upload-2gib")
    assert not ci_tier.selected("ci", "glancelet", "nginx-uwsgi-pass", "glanceclient-cli")
    assert ci_tier.selected("ci", "glancelet", "nginx-uwsgi-pass", "image-crud")


def test_the_glance_tier_is_its_patterns_times_its_scenarios():
    kept = {c for c in cells("glance") if ci_tier.selected("ci", "glance", *c)}
    assert kept == {(p, s) for p in ci_tier.GLANCE_PATTERNS for s in ci_tier.GLANCE_SCENARIOS}


def test_the_glance_tier_names_patterns_with_glance_files_and_fast_scenarios():
    assert ci_tier.GLANCE_PATTERNS <= GLANCE_NAMES
    assert ci_tier.GLANCE_SCENARIOS <= set(SCENARIOS) - set(glance.NOT_RUN)
    assert not ci_tier.GLANCE_SCENARIOS & (ci_tier.SLOW | ci_tier.CLI)


def test_the_glance_tier_has_issue_13s_patterns_that_can_run_glance():
    assert all(get(name).glance for name in ISSUE_13_GLANCE)
    assert set(ISSUE_13_GLANCE) <= ci_tier.GLANCE_PATTERNS


def fake_config(service):
    options = {"service": service, "mariadb": False, "only_patterns": []}
    return SimpleNamespace(getoption=options.__getitem__, _examples={})


@pytest.mark.parametrize("service", ["glancelet", "glance"])
def test_patterns_of_gives_the_same_objects_at_every_call(service):
    """pytest keeps a module's deployment only while the next test's
    ``pattern`` compares equal; a new copy per test function started Glance
    again for every test."""
    config = fake_config(service)
    first, again = conftest.patterns_of(config), conftest.patterns_of(config)
    assert first and all(a is b for a, b in zip(first, again, strict=True))


def test_the_glance_ci_collection_is_the_declared_subset():
    """``pytest --service glance --tier ci`` (tox -e examples-glance-ci)
    collects the declared cells, grouped by pattern, and nothing else of
    the two scenario modules."""
    env = {k: v for k, v in os.environ.items() if k != "GLANCELET_GLANCE_TESTS"}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider",
         "--service", "glance", "--tier", "ci", "tests/examples/test_scenarios.py",
         "tests/examples/test_lifecycle.py"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    expected_tests = {"test_version_discovery", "test_image_crud",
                      "test_upload_content_length", "test_upload_chunked",
                      "test_upload_chunked_malformed", "test_request_id"}
    assert {i.split("::")[1].split("[")[0] for i in ids} == expected_tests
    # Two patterns, with upload-chunked's two chunk sizes each.
    assert len(ids) == len(ci_tier.GLANCE_PATTERNS) * len(ci_tier.GLANCE_SCENARIOS)
    patterns = [i.split("[")[1].split("-1MiB")[0].split("-16MiB")[0].rstrip("]") for i in ids]
    assert set(patterns) == ci_tier.GLANCE_PATTERNS
    # Grouped: one deployment per pattern.
    assert sum(a != b for a, b in zip(patterns, patterns[1:])) == len(set(patterns)) - 1
