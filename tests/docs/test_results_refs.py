"""References from the pages to the examples suite name real ids.

Pages cite results as ``:result:`PATTERN/SCENARIO``` (a Glance run's as
``:result:`glance:PATTERN/SCENARIO```) and
``.. support-matrix:: :pattern: PATTERN`` (or ``:scenarios: ID ...``).
A typo would render as "not yet tested" forever, so every pattern must be
registered in lab/patterns and every scenario listed in
lab/scenarios.py.
"""

import re

from tests.docs.conftest import rst_files
from tests.docs.rstscan import scan

ROLE_RE = re.compile(r":result:`([^`]+)`")


def _known():
    """Pattern names and scenario ids, from the lab's registries (the docs
    environment installs the lab: conf.py reads the declarations too)."""
    from lab.patterns import all_patterns
    from lab.scenarios import SCENARIOS
    patterns, scenarios = {p.name for p in all_patterns()}, set(SCENARIOS)
    assert patterns and scenarios, "cannot read the lab's ids"
    return patterns, scenarios


def test_result_roles_name_registered_patterns_and_scenarios():
    patterns, scenarios = _known()
    bad = []
    for path in rst_files():
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            # A role shown as a literal (``:result:`...```) is not a reference.
            for ref in ROLE_RE.findall(re.sub(r"``.+?``", "", line)):
                service, _, cell = ref.rpartition(":")
                pattern, _, scenario = cell.partition("/")
                if service not in ("", "glance"):
                    bad.append("%s:%d: unknown service %r" % (path, lineno, service))
                if pattern not in patterns:
                    bad.append("%s:%d: unknown pattern %r" % (path, lineno, pattern))
                if scenario not in scenarios:
                    bad.append("%s:%d: unknown scenario %r" % (path, lineno, scenario))
    assert not bad, "\n".join(bad) + "\nknown patterns: %s" % sorted(patterns)


def test_support_matrix_patterns_and_scenarios_are_registered():
    patterns, scenarios = _known()
    bad = []
    for path in rst_files():
        for block in scan(path):
            if block.kind == "support-matrix" and "pattern" in block.options:
                if block.options["pattern"] not in patterns:
                    bad.append("%s: unknown pattern %r" % (
                        block.where(), block.options["pattern"]))
            if block.kind == "support-matrix" and "scenarios" in block.options:
                for scenario in block.options["scenarios"].split():
                    if scenario not in scenarios:
                        bad.append("%s: unknown scenario %r" % (block.where(), scenario))
    assert not bad, "\n".join(bad)
