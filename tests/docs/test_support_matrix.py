"""The support matrix reads well: grouped rows, short cells.

Rows follow ``examples_scenario_groups`` (conf.py), which holds every
scenario of lab/scenarios.py once; cells are an outcome, never captured
text; an expected failure links to its symptom entry (Glance's, to its
result on the pattern's page).
"""

import ast
import html
import re

from tests.docs.conftest import DOC_SOURCE
from tests.docs.test_results_refs import _known


def _groups():
    tree = ast.parse((DOC_SOURCE / "conf.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (isinstance(node, ast.Assign)
                and getattr(node.targets[0], "id", None) == "examples_scenario_groups"):
            return ast.literal_eval(node.value)
    raise AssertionError("conf.py sets no examples_scenario_groups")


def _matrix(built_html):
    page = (built_html / "reference" / "support-matrix.html").read_text(encoding="utf-8")
    start = page.index('<table class="examples-support-matrix')
    return page[start:page.index("</table>", start)]


def test_every_scenario_is_in_exactly_one_group():
    _, scenarios = _known()
    grouped = [sid for _, ids in _groups() for sid in ids]
    assert sorted(grouped) == sorted(scenarios)


def test_rows_follow_the_groups(built_html):
    table = _matrix(built_html)
    order = [sid for _, ids in _groups() for sid in ids]
    shown = [sid for sid in re.findall(r'<span class="pre">([\w-]+)</span></code></p>', table)
             if sid in order]
    assert shown == order
    groups = re.findall(r'<tr class="examples-group[^"]*"><td colspan="\d+"><p><strong>'
                        r'([^<]+)</strong>', table)
    assert groups == [title for title, _ in _groups()]


def test_cells_are_short_and_expected_failures_link_to_symptoms(built_html):
    table = _matrix(built_html)
    assert "DOCTYPE" not in table and "&lt;html" not in table
    assert not re.search(r"\[T\d+\]", table)
    # glancelet's outcome is a cell's first paragraph ("Glance: ..." follows
    # where the pattern has Glance results).
    firsts = [re.match(r"<p>(.*?)</p>", cell, re.S) for cell in
              re.findall(r"<td>(.*?)</td>", table, re.S)]
    failures = [m.group(1) for m in firsts
                if m and "examples-outcome-expected-failure" in m.group(1)]
    assert failures, "no expected failure in the matrix"
    unlinked = [cell for cell in failures
                if not re.search(r'href="symptoms\.html#symptom-[\w-]+"', cell)]
    assert not unlinked, unlinked


def test_glance_expected_failures_link_to_their_result(built_html):
    """A cell's "Glance: expected failure" links to that result on the
    pattern's how-to page (its test and what it captured), and the anchor
    is there."""
    table = _matrix(built_html)
    glance = re.findall(r"<p>Glance: (.*?)</p>", table)
    failures = [cell for cell in glance if "examples-outcome-expected-failure" in cell]
    assert failures, "no Glance expected failure in the matrix"
    for cell in failures:
        link = re.search(r'href="\.\./(howto/[\w-]+\.html)#(glance-result-[\w-]+)"', cell)
        assert link, cell
        page = (built_html / link.group(1)).read_text(encoding="utf-8")
        assert 'id="%s"' % link.group(2) in page, link.group(0)


def test_a_pattern_page_lists_scenarios_in_group_order(built_html):
    """The per-pattern list on a how-to page follows the same order (it used
    to be alphabetical: "16mib" before "1mib")."""
    page = html.unescape((built_html / "howto" / "uwsgi-http.html").read_text(encoding="utf-8"))
    # As Sphinx's smartquotes render them ("--" and an apostrophe).
    titles = {sid: title.replace("--", "\u2013").replace("'", "\u2019")
              for sid, title in _known_titles().items()}
    order = [sid for _, ids in _groups() for sid in ids]
    positions = [page.index(titles[sid]) for sid in order if titles[sid] in page]
    assert len(positions) == len(order)
    assert positions == sorted(positions)


def _known_titles():
    tree = ast.parse((DOC_SOURCE.parents[1] / "lab" / "scenarios.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "SCENARIOS":
            return ast.literal_eval(node.value)
    raise AssertionError("no SCENARIOS in lab/scenarios.py")
