"""The results file's digests per pattern, and merging a partial run of
whole patterns into the committed file (lab/results.py)."""

import json
import shutil

import pytest

from lab import glance, harness, patterns, results

GLANCELET = [p.name for p in patterns.all_patterns()]
GLANCE = [p.name for p in patterns.all_patterns() if p.glance]


@pytest.fixture
def tree(tmp_path):
    """A copy of this checkout's examples/ and glancelet/ to change."""
    for top in results.DIGEST_DIRS:
        shutil.copytree(harness.REPO_ROOT / top, tmp_path / top,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _digests(root):
    return (results.pattern_digests(root, "glancelet", GLANCELET),
            results.pattern_digests(root, "glance", GLANCE, glance.VERSION))


def _changed(before, after):
    return sorted(name for name in before if before[name] != after[name])


def _touch(root, rel):
    with open(root / rel, "a") as f:
        f.write("\n# changed\n")


def test_every_registered_pattern_has_a_digest_per_service(tree):
    own, theirs = _digests(tree)
    assert sorted(own) == sorted(GLANCELET) and sorted(theirs) == sorted(GLANCE)
    assert GLANCE, "no pattern runs Glance"
    assert len(set(own.values())) == len(own)


def test_a_file_of_one_pattern_changes_its_digest_only(tree):
    before = _digests(tree)
    _touch(tree, "examples/gunicorn/gunicorn.conf.py")
    own, theirs = _digests(tree)
    # gunicorn.conf.py is the gunicorn and the nginx-gunicorn patterns' file,
    # for glancelet and for Glance (glance-gunicorn.conf.py starts from it).
    assert _changed(before[0], own) == ["gunicorn", "nginx-gunicorn"]
    assert _changed(before[1], theirs) == ["gunicorn", "nginx-gunicorn"]


def test_a_glance_file_of_one_pattern_changes_its_glance_digest_only(tree):
    before = _digests(tree)
    _touch(tree, "examples/glance/glance-uwsgi.ini")
    own, theirs = _digests(tree)
    assert _changed(before[0], own) == []
    assert _changed(before[1], theirs) == sorted(
        p.name for p in patterns.all_patterns()
        if p.glance and patterns.GLANCE_UWSGI_INI[0] in p.serving("glance").examples)


@pytest.mark.parametrize("rel", ["examples/haproxy-multinode/glance-multinode.conf",
                                 "examples/haproxy-multinode/glance-node2.conf"])
def test_a_glance_file_of_a_node_changes_that_patterns_glance_digest_only(tree, rel):
    """haproxy-multinode's Glance files are installed on its nodes (its
    Glance servers' files), and count for its Glance column alone."""
    before = _digests(tree)
    _touch(tree, rel)
    own, theirs = _digests(tree)
    assert _changed(before[0], own) == []
    assert _changed(before[1], theirs) == ["haproxy-multinode"]


def test_glancelet_code_changes_every_glancelet_column_and_no_glance_column(tree):
    before = _digests(tree)
    _touch(tree, "glancelet/__init__.py")
    own, theirs = _digests(tree)
    assert _changed(before[0], own) == sorted(GLANCELET)
    assert _changed(before[1], theirs) == []


def test_shared_files_count_for_the_patterns_that_use_them(tree):
    """Keystone's count for every column (Glance's run behind it too), the
    import drop-in for every glancelet column, glance-api.conf for every
    Glance column."""
    before = _digests(tree)
    for rel, glance_columns in (("examples/keystone/keystone.conf", sorted(GLANCE)),
                                ("examples/import/internal-mirror.conf", [])):
        _touch(tree, rel)
        own, theirs = _digests(tree)
        assert (_changed(before[0], own), _changed(before[1], theirs)) == (
            sorted(GLANCELET), glance_columns)
        before = own, theirs
    _touch(tree, glance.API_CONF[0])
    own, theirs = _digests(tree)
    assert (_changed(before[0], own), _changed(before[1], theirs)) == ([], sorted(GLANCE))


def test_the_glance_version_counts_for_glance_columns():
    one = results.pattern_digests(harness.REPO_ROOT, "glance", GLANCE, "33.0.0")
    other = results.pattern_digests(harness.REPO_ROOT, "glance", GLANCE, "32.0.0")
    assert _changed(one, other) == sorted(GLANCE)


def test_the_examples_listed_are_every_file_the_deployment_uses():
    pattern = patterns.get("uwsgi-http")
    listed = results.pattern_examples(pattern)
    assert set(pattern.examples) < set(listed)
    assert {e for e, _ in harness.KEYSTONE_EXAMPLES + harness.IMPORT_EXAMPLES} <= set(listed)
    served = results.pattern_examples(pattern.serving("glance"))
    assert glance.API_CONF[0] in served and patterns.GLANCE_UWSGI_INI[0] in served
    assert harness.IMPORT_EXAMPLES[0][0] not in served
    # Glance runs behind the run's Keystone, through its own glance-api.conf.
    keystone = [example for example, _ in harness.KEYSTONE_EXAMPLES]
    assert keystone[:2] == [e for e in served if e in keystone]
    assert not set(keystone) & set(results.pattern_examples(
        pattern.without_keystone().serving("glance")))
    for name in GLANCELET:
        for example in results.pattern_examples(patterns.get(name)):
            assert (harness.REPO_ROOT / example).is_file(), example


# --- merge ------------------------------------------------------------------

def _row(pattern, scenario, outcome="pass"):
    return {"service": "glancelet", "pattern": pattern, "scenario": scenario,
            "test": "tests/examples/test_scenarios.py::test_%s[%s]" % (scenario, pattern),
            "outcome": outcome}


def _file(root, names, outcome="pass", when="2026-11-30T12:00:00Z"):
    """A results file of ``names`` as a run of ``root`` writes it."""
    return {
        "generated_at": when, "source_digest": results.source_digest(root),
        "pattern_digests": results.pattern_digests(root, "glancelet", names),
        "complete": False, "complete_patterns": list(names),
        "versions": {"uwsgi": "2.0.31"}, "services": ["glancelet"],
        "patterns": {n: {"title": n.upper(), "examples": []} for n in names},
        "scenarios": {"s1": {"title": "S1"}, "s2": {"title": "S2"}},
        "results": [_row(n, s, outcome) for n in names for s in ("s1", "s2")],
        "symptoms": [{"id": "sym", "pattern": n, "text": "%s %s" % (n, outcome), "test": "t"}
                     for n in names] + [{"id": "only-old", "pattern": n, "text": "old",
                                         "test": "t2"} for n in names if outcome == "pass"],
        "counts": [{"name": "count-" + n, "test": "t", "sent": 1, "pattern": n}
                   for n in names],
    }


def test_merge_replaces_the_patterns_of_the_partial_run(tree):
    committed = _file(tree, ["gunicorn", "uwsgi-http"])
    for count in committed["counts"]:
        del count["pattern"]   # a full run written before counts named theirs
    committed["pattern_digests"]["gunicorn"] = "0" * 64   # stale
    partial = _file(tree, ["gunicorn"], outcome="expected-failure", when="2026-11-30T13:00:00Z")
    partial["symptoms"] = partial["symptoms"][:1]
    merged, kept = results.merge(tree, partial, committed)
    assert [r["outcome"] for r in merged["results"] if r["pattern"] == "gunicorn"] == \
        ["expected-failure"] * 2
    assert [r["outcome"] for r in merged["results"] if r["pattern"] == "uwsgi-http"] == \
        ["pass"] * 2
    assert merged["pattern_digests"] == results.pattern_digests(
        tree, "glancelet", ["gunicorn", "uwsgi-http"])
    assert {(s["id"], s["pattern"]): s["text"] for s in merged["symptoms"]} == {
        ("sym", "gunicorn"): "gunicorn expected-failure", ("sym", "uwsgi-http"): "uwsgi-http pass",
        ("only-old", "gunicorn"): "old", ("only-old", "uwsgi-http"): "old"}
    assert [(s["id"], s["pattern"]) for s in kept] == [("only-old", "gunicorn")]
    assert [c.get("pattern") for c in merged["counts"]] == ["gunicorn", None]
    assert merged["merged"] == [{"generated_at": "2026-11-30T13:00:00Z",
                                 "patterns": ["gunicorn"]}]
    # The rest is the committed file's.
    assert merged["source_digest"] == committed["source_digest"]
    assert merged["generated_at"] == committed["generated_at"]


def test_merge_refuses_a_pattern_that_did_not_run_every_scenario(tree):
    committed = _file(tree, ["gunicorn", "uwsgi-http"])
    partial = _file(tree, ["gunicorn", "uwsgi-http"])
    partial["complete_patterns"] = ["uwsgi-http"]
    with pytest.raises(results.Refused, match="not every scenario of gunicorn ran"):
        results.merge(tree, partial, committed)
    del partial["complete_patterns"]   # a partial file written before it said
    with pytest.raises(results.Refused, match="not every scenario of gunicorn, uwsgi-http"):
        results.merge(tree, partial, committed)


def test_merge_cells_replaces_only_the_cells_of_the_partial_run(tree):
    committed = _file(tree, ["gunicorn", "uwsgi-http"])
    partial = _file(tree, ["gunicorn"], outcome="fail", when="2026-11-30T13:00:00Z")
    partial["complete_patterns"] = []
    partial["results"] = [r for r in partial["results"] if r["scenario"] == "s2"]
    with pytest.raises(results.Refused, match="not every scenario of gunicorn ran"):
        results.merge(tree, partial, committed)
    merged, _ = results.merge(tree, partial, committed, cells=True)
    assert {(r["pattern"], r["scenario"]): r["outcome"] for r in merged["results"]} == {
        ("gunicorn", "s1"): "pass", ("gunicorn", "s2"): "fail",
        ("uwsgi-http", "s1"): "pass", ("uwsgi-http", "s2"): "pass"}
    assert merged["merged"] == [{"generated_at": "2026-11-30T13:00:00Z",
                                 "patterns": ["gunicorn"], "cells": ["gunicorn/s2"]}]
    # The other cells of the pattern must be of this tree's files too.
    committed["pattern_digests"]["gunicorn"] = "0" * 64
    with pytest.raises(results.Refused, match="committed results of gunicorn are of other"):
        results.merge(tree, partial, committed, cells=True)


def test_merge_refuses_results_of_other_files(tree):
    committed = _file(tree, ["gunicorn", "uwsgi-http"])
    partial = _file(tree, ["gunicorn"])
    _touch(tree, "examples/gunicorn/glancelet.conf")
    with pytest.raises(results.Refused, match="digests of gunicorn .* not this tree's"):
        results.merge(tree, partial, committed)


def test_merge_refuses_an_unupgraded_file_other_versions_and_services(tree):
    committed = _file(tree, ["gunicorn", "uwsgi-http"])
    partial = _file(tree, ["gunicorn"])
    with pytest.raises(results.Refused, match="versions"):
        results.merge(tree, partial, dict(committed, versions={"uwsgi": "2.0.30"}))
    with pytest.raises(results.Refused, match="partial file is of glancelet"):
        results.merge(tree, partial, dict(committed, services=["glance"]))
    del committed["pattern_digests"]
    with pytest.raises(results.Refused, match="add-pattern-digests"):
        results.merge(tree, partial, committed)


def test_merge_command_writes_the_file_or_refuses_with_a_message(tree, capsys):
    into, partial = tree / "committed.json", tree / "partial.json"
    committed = _file(tree, ["gunicorn", "uwsgi-http"])
    into.write_text(json.dumps(committed))
    partial.write_text(json.dumps(dict(_file(tree, ["gunicorn"]), complete_patterns=[])))
    argv = ["merge", str(partial), "--into", str(into)]
    assert results.main(argv, repo_root=tree) == 1
    assert "refused: not every scenario of gunicorn ran" in capsys.readouterr().err
    assert json.loads(into.read_text()) == committed
    partial.write_text(json.dumps(_file(tree, ["gunicorn"], outcome="fail")))
    assert results.main(argv, repo_root=tree) == 0
    assert "merged gunicorn" in capsys.readouterr().err
    assert {r["outcome"] for r in json.loads(into.read_text())["results"]
            if r["pattern"] == "gunicorn"} == {"fail"}


def test_add_pattern_digests_to_a_file_of_this_tree_only(tree, capsys):
    path = tree / "committed.json"
    old = _file(tree, ["gunicorn", "uwsgi-http"])
    del old["pattern_digests"]
    path.write_text(json.dumps(old))
    assert results.main(["add-pattern-digests", str(path)], repo_root=tree) == 0
    data = json.loads(path.read_text())
    assert list(data)[:3] == ["generated_at", "source_digest", "pattern_digests"]
    assert data["pattern_digests"] == results.pattern_digests(
        tree, "glancelet", ["gunicorn", "uwsgi-http"])
    assert data["patterns"]["uwsgi-http"]["examples"] == results.pattern_examples(
        patterns.get("uwsgi-http"))
    _touch(tree, "examples/apache-controller/controller.conf")   # no pattern's file
    path.write_text(json.dumps(old))
    assert results.main(["add-pattern-digests", str(path)], repo_root=tree) == 1
    assert "refused: its source_digest" in capsys.readouterr().err
    assert json.loads(path.read_text()) == old


def test_a_partial_run_names_the_patterns_that_ran_every_scenario():
    """conftest.py's complete_patterns: a pattern with a scenario test not
    run (deselected, interrupted) or a scenario without a row is not one."""
    from lab.scenarios import SCENARIOS
    from tests.examples.conftest import ran_every_scenario
    both = [patterns.get("gunicorn"), patterns.get("uwsgi-http")]
    every = {("glancelet", p.name, s) for p in both for s in SCENARIOS}
    state = {"items": {"a": ("glancelet", "uwsgi-http", "image-crud"),
                       "b": ("glancelet", "gunicorn", "image-crud")},
             "reports": {"a": [("call", "passed")]}}
    assert ran_every_scenario(state, "glancelet", both, every) == ["uwsgi-http"]
    state["reports"]["b"] = [("call", "failed")]
    assert ran_every_scenario(state, "glancelet", both, every) == ["gunicorn", "uwsgi-http"]
    assert ran_every_scenario(state, "glancelet", both,
                              every - {("glancelet", "gunicorn", "auth-401")}) == ["uwsgi-http"]
    # A Glance run needs no row for the scenarios it does not cover.
    served = [p.serving("glance") for p in patterns.all_patterns() if p.glance]
    seen = {("glance", p.name, s) for p in served for s in SCENARIOS if s not in glance.NOT_RUN}
    assert ran_every_scenario({"items": {}, "reports": {}}, "glance", served, seen) == GLANCE
