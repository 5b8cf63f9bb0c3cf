"""References from the pages to the examples suite name real ids.

Pages cite results as ``:result:`PATTERN/SCENARIO``` and
``.. support-matrix:: :pattern: PATTERN`` (or ``:scenarios: ID ...``).
A typo would render as "not yet tested" forever, so every pattern must be
registered in lab/patterns and every scenario listed in
lab/scenarios.py.
"""

import ast
import re

from tests.docs.conftest import REPO_ROOT, rst_files
from tests.docs.rstscan import scan

ROLE_RE = re.compile(r":result:`([^`]+)`")


def _known():
    """Pattern names and scenario ids, read from the sources without importing
    them (the docs environment does not install the examples suite's deps)."""
    patterns = set()
    for path in (REPO_ROOT / "lab" / "patterns").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if (isinstance(stmt, ast.Assign)
                            and any(getattr(t, "id", None) == "name" for t in stmt.targets)
                            and isinstance(stmt.value, ast.Constant)
                            and isinstance(stmt.value.value, str)):
                        patterns.add(stmt.value.value)
    tree = ast.parse((REPO_ROOT / "lab" / "scenarios.py").read_text())
    scenarios = set()
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                and any(getattr(t, "id", None) == "SCENARIOS" for t in node.targets)):
            scenarios = {k.value for k in node.value.keys}
    assert patterns and scenarios, "cannot read the lab's ids"
    return patterns, scenarios


def test_result_roles_name_registered_patterns_and_scenarios():
    patterns, scenarios = _known()
    bad = []
    for path in rst_files():
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            # A role shown as a literal (``:result:`...```) is not a reference.
            for ref in ROLE_RE.findall(re.sub(r"``.+?``", "", line)):
                pattern, _, scenario = ref.partition("/")
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
