"""Render the results of the last Tempest run (``tox -e tempest``).

``python -m lab.tempest`` writes ``doc/source/_data/tempest-results.json``.
This extension reads it and provides:

``.. tempest-conformance::``
    Where the results come from (a warning box when the file is missing,
    unreadable, partial or stale), the totals per suite, and the table:
    test class, pass/fail/skip/not run, and why (skip reasons, the reason
    a test is not run, the failing tests).
``.. tempest-features::``
    The tempest.conf settings that say what glancelet supports, and why.
``.. tempest-patterns::``
    One row per deployment pattern Tempest ran against (``python -m
    lab.tempest --pattern NAME``; ``tempest-results.json`` is uwsgi-http's,
    ``tempest-results-NAME.json`` another pattern's): the totals per suite,
    and whether the results are current.

Staleness is the examples results' mechanism: the file records
``source_digest`` of examples/ and glancelet/, and the build compares it with
the digest of its checkout (``examples_results.source_digest``).
"""

import glob
import json
import os

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from bench_results import _table
from examples_results import source_digest

RESULTS_RELPATH = os.path.join("_data", "tempest-results.json")
COUNTS = (("pass", "Pass"), ("fail", "Fail"), ("skip", "Skip"), ("excluded", "Not run"))


def load(path, repo_root):
    """(data or None, problems): the results file and what is wrong with it."""
    rel = os.path.relpath(path, repo_root)
    if not os.path.exists(path):
        return None, ["There is no Tempest results file (%s). Run ``tox -e tempest`` "
                      "to create it." % rel]
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data.get("classes"), list):
            raise ValueError("key 'classes' is missing or not a list")
    except (OSError, ValueError) as exc:
        return None, ["The Tempest results file %s cannot be read: %s." % (rel, exc)]
    problems = []
    current, _ = source_digest(repo_root)
    if data.get("source_digest") != current:
        problems.append(
            "These results are stale: they were recorded for other versions of "
            "examples/ or glancelet/ (recorded digest %s, digest of this checkout %s). "
            "Re-run ``tox -e tempest``." % (
                str(data.get("source_digest"))[:12], current[:12]))
    if data.get("complete") is not True:
        problems.append("These results come from a partial run (``complete`` is not "
                        "true): some classes may be missing.")
    return data, problems


def _para(*children):
    para = nodes.paragraph()
    para.extend(children)
    return para


def _text(text):
    """Plain text with ``literal`` spans as literal nodes."""
    parts = text.split("``")
    return [nodes.literal(p, p) if i % 2 else nodes.Text(p)
            for i, p in enumerate(parts) if p]


class _ResultsDirective(SphinxDirective):
    has_content = False

    def results(self):
        path = os.path.abspath(os.path.join(self.env.app.confdir, RESULTS_RELPATH))
        self.env.note_dependency(path)
        docs = getattr(self.env, "tempest_results_docs", None)
        if docs is None:
            docs = self.env.tempest_results_docs = set()
        docs.add(self.env.docname)
        repo_root = os.path.abspath(os.path.join(self.env.app.confdir, os.pardir, os.pardir))
        return load(path, repo_root)


class Conformance(_ResultsDirective):
    """Status, totals and the per-class table."""

    def run(self):
        data, problems = self.results()
        if problems:
            box = nodes.warning()
            box += _para(nodes.strong("", "Tempest results: not current."))
            for problem in problems:
                box += _para(*_text(problem))
            out = [box]
        else:
            out = []
        if data is None:
            return out
        versions = data.get("versions", {})
        note = nodes.note()
        note += _para(*_text(
            "Recorded by ``tox -e tempest`` at %s (source digest %s), with %s." % (
                data.get("generated_at", "?"), str(data.get("source_digest"))[:12],
                ", ".join("%s %s" % kv for kv in sorted(versions.items())))))
        timings = data.get("timings", {})
        if timings:
            note += _para(nodes.Text("Time taken: %s." % ", ".join(
                "%s %d s" % kv for kv in timings.items())))
        out.append(note)
        totals = nodes.bullet_list()
        for suite, counts in data.get("totals", {}).items():
            item = nodes.list_item()
            item += _para(nodes.strong("", suite), nodes.Text(": %d tests: %s." % (
                counts.get("tests", 0), ", ".join(
                    "%d %s" % (counts.get(key, 0), label.lower()) for key, label in COUNTS))))
            totals += item
        out.append(totals)
        rows = [self._row(row) for row in data["classes"]]
        out.append(_table(["Test class", "Tests"] + [label for _, label in COUNTS] + ["Why"],
                          rows, classes=["tempest-conformance"]))
        return out

    @staticmethod
    def _row(row):
        why = nodes.container()
        why.extend(_para(*_text(reason)) for reason in row.get("reasons", []))
        failures = row.get("failures", [])
        if failures:
            blist = nodes.bullet_list()
            for failure in failures:
                item = nodes.list_item()
                item += _para(nodes.Text("fails: "),
                              nodes.literal(failure["test"], failure["test"]))
                blist += item
            why.append(blist)
        name = row["class"]
        return (_para(nodes.literal(name, name)), str(row.get("tests", 0))) + tuple(
            str(row.get(key, 0)) for key, _ in COUNTS) + (why,)


class Features(_ResultsDirective):
    """The feature flags of the run's tempest.conf."""

    def run(self):
        data, _ = self.results()
        if data is None:
            return []
        rows = [(_para(nodes.literal("[%s]" % f["section"], "[%s]" % f["section"])),
                 _para(nodes.literal(f["option"], f["option"])),
                 _para(nodes.literal(f["value"], f["value"])), f["why"])
                for f in data.get("features", [])]
        return [_table(["Section", "Option", "Value", "Why"], rows,
                       classes=["tempest-features"])]


def _totals_text(counts):
    return "%d of %d pass, %s" % (counts.get("pass", 0), counts.get("tests", 0), ", ".join(
        "%d %s" % (counts.get(key, 0), label.lower()) for key, label in COUNTS[1:]))


class Patterns(_ResultsDirective):
    """The totals of every pattern's run, one row each."""

    def run(self):
        data_dir = os.path.dirname(os.path.abspath(os.path.join(self.env.app.confdir,
                                                                RESULTS_RELPATH)))
        repo_root = os.path.abspath(os.path.join(self.env.app.confdir, os.pardir, os.pardir))
        self.results()  # registers this page for a re-read on every build
        rows = []
        for path in sorted(glob.glob(os.path.join(data_dir, "tempest-results*.json"))):
            self.env.note_dependency(path)
            data, problems = load(path, repo_root)
            if data is None:
                continue
            totals = data.get("totals", {})
            pattern = data.get("pattern", "uwsgi-http")
            rows.append((_para(nodes.literal(pattern, pattern)),
                         _totals_text(totals.get("tempest", {})),
                         _totals_text(totals.get("glance-tempest-plugin", {})),
                         "not current: %s" % " ".join(problems) if problems else
                         "current (%s)" % data.get("generated_at", "?")))
        return [_table(["Pattern", "Tempest image API", "Plugin RBAC", "Results"], rows,
                       classes=["tempest-patterns"])]


def _purge(app, env, docname):
    getattr(env, "tempest_results_docs", set()).discard(docname)


def _merge(app, env, docnames, other):
    env.tempest_results_docs = (getattr(env, "tempest_results_docs", set())
                                | getattr(other, "tempest_results_docs", set()))


def _outdated(app, env, added, changed, removed):
    # The digest depends on files outside doc/: re-read these pages every build.
    return sorted(getattr(env, "tempest_results_docs", set()) - set(removed))


def setup(app):
    app.add_directive("tempest-conformance", Conformance)
    app.add_directive("tempest-features", Features)
    app.add_directive("tempest-patterns", Patterns)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-get-outdated", _outdated)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True,
            "env_version": 1}
