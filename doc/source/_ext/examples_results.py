"""Render the results of the last examples run (``tox -e examples``).

The examples suite writes ``doc/source/_data/examples-results.json`` (schema:
the "examples results file" contract). This extension reads it once per build
and provides:

``.. results-status::``
    An admonition that says where the results come from, and loudly when they
    are missing, unreadable, incomplete or stale. Staleness is per pattern:
    a pattern whose digest (``pattern_digests``: its examples/ files, and
    glancelet/ or the Glance version) differs from this checkout's has its
    cells marked stale, in the matrix and in ``:result:``; a file without
    ``pattern_digests`` (an older one) is stale as a whole when its
    ``source_digest`` (every file under examples/ and glancelet/) differs.
``.. support-matrix::``
    The pattern x scenario table, its rows grouped and ordered by the
    ``examples_scenario_groups`` setting. Each row names the test that decides
    it; a cell is the outcome, and an expected failure links to the symptom
    entry that shows it (a ``symptom-text`` with ``:results:`` naming the
    cell). With ``:pattern: NAME`` it renders one pattern's results as a list.
``.. tested-versions::``
    The server versions recorded by the run.
``.. symptom-text:: ID``
    The exact text of a captured symptom and the test that captured it
    (symptoms of the Keystone suite, ``tox -e keystone``, come from
    ``_data/keystone-symptoms.json`` beside the results file).
``.. measured-counts::``
    What the tests that count (the multi-node kill -9 and rolling restart)
    measured: requests sent, failed, images lost, from ``counts``.
``.. symptom-leftovers::``
    Symptoms in the results file that no ``symptom-text`` on the page shows.
``:result:`PATTERN/SCENARIO```
    Inline outcome plus test node id, or "not yet tested".

Each result row names its service, pattern and scenario; the pages show
the rows of :data:`SERVICE` (a row without a service is glancelet's). A
Glance run (``tox -e examples-glance``) writes ``_data/examples-results-
glance.json``; where it exists, the matrix shows Glance's outcome under
glancelet's in each cell of the patterns it covers, one pattern's list adds
Glance's, and ``:result:`glance:PATTERN/SCENARIO``` shows one. Its digest
adds the pinned Glance version (``tests/glance-requirements.txt``).

Missing or stale results are never a Sphinx warning (the build runs with
``-W``): they are shown on the page.
"""

import json
import os

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

LOG = logging.getLogger(__name__)

RESULTS_RELPATH = os.path.join("_data", "examples-results.json")
# The Glance run's file, beside it (lab.results.results_path("glance")).
GLANCE_RESULTS_FILE = "examples-results-glance.json"
# Where the pinned Glance version is ("glance==33.0.0").
GLANCE_PIN_RELPATH = os.path.join("tests", "glance-requirements.txt")
# The service whose results the pages show. Each result row names its
# service (rows of files written before rows did are glancelet's).
SERVICE = "glancelet"
KEYSTONE_SYMPTOMS_FILE = "keystone-symptoms.json"
OUTCOME_LABEL = {
    "pass": "pass",
    "expected-failure": "expected failure",
    "fail": "FAIL",
}
OUTCOME_MARK = {
    "pass": "\u2714",  # heavy check mark
    "expected-failure": "\u2718",  # heavy ballot x
    "fail": "\u26a0",  # warning sign
}


# --- source digest -----------------------------------------------------------

def source_digest(repo_root, glance=None):
    """The lab's whole-tree digest (``lab.results``: conf.py imports the lab,
    so the build has it) and where it comes from; with ``glance`` (a
    version), the digest of a Glance run."""
    from lab.results import source_digest as lab_digest
    return lab_digest(repo_root, glance), "lab/results.py"


def pattern_digests(repo_root, service, names, glance=None):
    """The lab's digest of each pattern's files (``lab.results``)."""
    from lab.results import pattern_digests as lab_digests
    return lab_digests(repo_root, service, names, glance)


def glance_pin(repo_root):
    """The Glance version the repository pins, or None."""
    path = os.path.join(repo_root, GLANCE_PIN_RELPATH)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("glance=="):
                return line.strip().split("==", 1)[1]
    return None


# --- loading -------------------------------------------------------------------

class Results:
    """The parsed results file and what is wrong with it, if anything."""

    def __init__(self, path, repo_root, glance=None):
        self.path = path
        self.repo_root = repo_root
        # A Glance run's file: its digest adds this Glance version.
        self.glance = glance
        self.data = None
        self.problems = []  # human readable, shown on the page
        self.state = "ok"  # ok | missing | invalid | incomplete | stale
        # Patterns whose cells are stale (their digest is not this tree's).
        self.stale_patterns = []
        # The state and problems of the file as a whole (not of stale patterns).
        self.file_state, self.file_problems = "ok", []
        self.current_digest = None
        self.digest_source = None
        self._load()

    def _load(self):
        rel = os.path.relpath(self.path, self.repo_root)
        env = "examples-glance" if self.glance else "examples"
        if not os.path.exists(self.path):
            self.state = "missing"
            self.problems.append(
                "There is no results file (%s). Run ``tox -e %s`` to "
                "create it; until then this site shows no test results." % (rel, env))
            return
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            for key in ("results", "patterns", "scenarios"):
                if not isinstance(data.get(key), (list, dict)):
                    raise ValueError("key %r is missing or of the wrong type"
                                     % key)
        except (OSError, ValueError) as exc:
            self.state = "invalid"
            self.problems.append("The results file %s cannot be read: %s."
                                 % (rel, exc))
            return
        self.data = data
        self.current_digest, self.digest_source = source_digest(
            self.repo_root, self.glance)
        if "pattern_digests" not in data and \
                data.get("source_digest") != self.current_digest:
            self.state = "stale"
            self.problems.append(
                "The results are stale: they were recorded for other versions "
                "of examples/ or glancelet/ (recorded digest %s, digest of "
                "this checkout %s). Re-run ``tox -e %s``."
                % (str(data.get("source_digest"))[:12],
                   self.current_digest[:12], env))
        if data.get("complete") is not True:
            if self.state == "ok":
                self.state = "incomplete"
            self.problems.append(
                "The results are incomplete: the last run covered only part "
                "of the suite (``complete`` is not true). Cells without a "
                "result say \"not run\".")
        failed = [r for r in self.all_results if r.get("outcome") == "fail"]
        if failed:
            self.problems.append(
                "%d result(s) are failures (outcome ``fail``): the examples "
                "suite was not green when this file was written." % len(failed))
        self.file_state, self.file_problems = self.state, list(self.problems)
        if "pattern_digests" in data:
            self._check_patterns(data["pattern_digests"])

    def _check_patterns(self, recorded):
        """Mark the patterns whose recorded digest is not this checkout's."""
        names = self.pattern_names
        current = pattern_digests(self.repo_root, "glance" if self.glance else SERVICE,
                                  names, self.glance)
        self.stale_patterns = [n for n in names
                               if n not in current or recorded.get(n) != current[n]]
        if self.stale_patterns:
            if self.state == "ok":
                self.state = "stale"
            self.problems.append(
                "The results of %d of %d patterns are stale: %s. What they "
                "were produced from (the pattern's examples/ files, and "
                "glancelet/ or the Glance version) changed since the run: the "
                "digest recorded for each differs from this checkout's. Their "
                "cells say \"(stale)\". Re-run them "
                "(``pytest tests/examples --pattern NAME``) and merge the "
                "results (``python -m lab.results merge``)."
                % (len(self.stale_patterns), len(names), ", ".join(self.stale_patterns)))

    def state_of(self, pattern):
        """What is wrong with the results of ``pattern``: "stale", the state of
        the whole file if it has problems, else None."""
        if pattern in self.stale_patterns:
            return "stale"
        return self.file_state if self.file_problems else None

    @property
    def ok(self):
        return self.data is not None and not self.problems

    @property
    def all_results(self):
        return (self.data or {}).get("results", [])

    @property
    def results(self):
        """The rows of :data:`SERVICE` (of Glance, in a Glance run's file)."""
        service = "glance" if self.glance else SERVICE
        return [r for r in self.all_results if r.get("service", SERVICE) == service]

    @property
    def patterns(self):
        return (self.data or {}).get("patterns", {})

    @property
    def pattern_names(self):
        """The patterns of the file, then those only its rows name."""
        return list(dict.fromkeys(list(self.patterns)
                                  + [r.get("pattern") for r in self.results]))

    @property
    def scenarios(self):
        return (self.data or {}).get("scenarios", {})

    @property
    def symptoms(self):
        return (self.data or {}).get("symptoms", []) + self.keystone_symptoms

    @property
    def keystone_symptoms(self):
        """Symptoms the Keystone suite captured (tox -e keystone), kept in a
        file of their own beside the results file."""
        path = os.path.join(os.path.dirname(self.path), KEYSTONE_SYMPTOMS_FILE)
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("symptoms", [])

    def lookup(self, pattern, scenario):
        for result in self.results:
            if (result.get("pattern") == pattern
                    and result.get("scenario") == scenario):
                return result
        return None

    def symptom(self, symptom_id):
        """Every captured entry with this id (one per pattern)."""
        return [s for s in self.symptoms if s.get("id") == symptom_id]


def _results_path(env):
    return os.path.join(env.app.confdir, env.config.examples_results_file)


def _results(env):
    cached = getattr(env.app, "_examples_results", None)
    if cached is None:
        path = os.path.abspath(_results_path(env))
        repo_root = os.path.abspath(
            os.path.join(env.app.confdir, os.pardir, os.pardir))
        cached = Results(path, repo_root)
        env.app._examples_results = cached
        LOG.info("examples results: %s (%s)", cached.state, path)
    return cached


def _glance_results(env):
    """The Glance run's results (a :class:`Results`), or None without a file."""
    if not hasattr(env.app, "_examples_glance_results"):
        path = os.path.join(os.path.dirname(os.path.abspath(_results_path(env))),
                            GLANCE_RESULTS_FILE)
        repo_root = os.path.abspath(
            os.path.join(env.app.confdir, os.pardir, os.pardir))
        found = None
        if os.path.exists(path):
            found = Results(path, repo_root, glance_pin(repo_root) or "unpinned")
            LOG.info("examples results (Glance): %s (%s)", found.state, path)
        env.app._examples_glance_results = found
    return env.app._examples_glance_results


def _glance_outcome(env, pattern, scenario):
    """"Glance: <outcome>" for a pattern the Glance run covers, else None;
    "(stale)" and the like when the Glance file is not good."""
    glance = _glance_results(env)
    if glance is None or glance.data is None or pattern not in glance.patterns:
        return None
    result = glance.lookup(pattern, scenario)
    para = _para(nodes.Text("Glance: "))
    if result is None:
        para += nodes.inline("", "not run", classes=["examples-outcome-none"])
    elif result.get("outcome") == "expected-failure":
        # Linked to the result on the pattern's page (its captured detail
        # and test), as glancelet's cells are to their symptom entries.
        cell = symptom_link("", "", key=_glance_key(pattern, scenario))
        cell += _outcome_nodes(result)
        para += cell
    else:
        para += _outcome_nodes(result)
    para += _state_nodes(glance.state_of(pattern))
    return para


def _glance_key(pattern, scenario):
    """The key of a Glance result's entry on its pattern's page, among the
    link targets of the expected-failure cells (examples_symptom_targets)."""
    return "glance/%s/%s" % (pattern, scenario)


def _mark_uses_results(env):
    docs = getattr(env, "examples_results_docs", None)
    if docs is None:
        docs = env.examples_results_docs = set()
    docs.add(env.docname)
    env.note_dependency(_results_path(env))
    glance = os.path.join(os.path.dirname(_results_path(env)), GLANCE_RESULTS_FILE)
    if os.path.exists(glance):
        env.note_dependency(glance)


# --- helpers that build nodes --------------------------------------------------

def _para(*children):
    para = nodes.paragraph()
    para.extend(children)
    return para


def _rst_text(text):
    """Plain text with ``literal`` spans turned into literal nodes."""
    out = []
    parts = text.split("``")
    for i, part in enumerate(parts):
        if not part:
            continue
        out.append(nodes.literal(part, part) if i % 2 else nodes.Text(part))
    return out


def _captured(text):
    """A block of text captured by a test, shown verbatim and wrapped."""
    block = nodes.literal_block(text, text, classes=["examples-captured"])
    block["language"] = "text"
    return block


def _outcome_nodes(result):
    outcome = result.get("outcome", "")
    label = OUTCOME_LABEL.get(outcome, outcome or "unknown")
    mark = OUTCOME_MARK.get(outcome, "?")
    return nodes.inline("", "%s %s" % (mark, label),
                        classes=["examples-outcome",
                                 "examples-outcome-%s" % (outcome or "none")])


def _state_nodes(state):
    """" (stale)" and the like after an outcome whose results are not good
    (:meth:`Results.state_of`), else nothing."""
    if state is None:
        return []
    return [nodes.Text(" "), nodes.inline("", "(%s)" % state,
                                          classes=["examples-state-%s" % state])]


def _test_literal(result):
    test = result.get("test") or "(no test named)"
    return nodes.literal(test, test, classes=["examples-test"])


def status_nodes(env, always=False):
    """The admonition about the state of the results, or nothing if ok.

    Shown at most once per page: the first directive that needs it shows it.
    """
    res = _results(env)
    if res.ok and not always:
        return []
    if env.temp_data.get("examples_status_shown"):
        return []
    env.temp_data["examples_status_shown"] = True
    if res.ok:
        data = res.data
        node = nodes.note()
        matched = ("the files of each pattern in this build (pattern digests; "
                   "whole-tree digest of this build %s" if "pattern_digests" in data
                   else "the examples/ and glancelet/ files of this build "
                   "(source digest %s")
        node += _para(nodes.Text(
            "These results come from the complete examples run of %s. "
            "They match %s, computed by %s)." % (
                data.get("generated_at", "an unknown time"),
                matched % res.current_digest[:12], res.digest_source)))
        return [node]
    node = nodes.warning()
    node += _para(nodes.strong("", "Test results: %s." % res.state))
    for problem in res.problems:
        node += _para(*_rst_text(problem))
    if res.data is not None:
        node += _para(nodes.Text(
            "File generated at %s." % res.data.get("generated_at", "?")))
    return [node]


# --- directives ----------------------------------------------------------------

class ResultsStatus(SphinxDirective):
    """Always say where the results come from; warn if they are not good."""

    has_content = False

    def run(self):
        _mark_uses_results(self.env)
        return status_nodes(self.env, always=True)


def _ordered_scenarios(config, ids):
    """(group title, [scenario id]) in the configured order; ids in no group
    come last, under "Other"."""
    groups, seen = [], set()
    for title, members in config.examples_scenario_groups:
        chosen = [sid for sid in members if sid in ids]
        seen.update(chosen)
        if chosen:
            groups.append((title, chosen))
    rest = [sid for sid in ids if sid not in seen]
    if rest:
        groups.append(("Other", rest))
    return groups


def _test_function(results):
    """The test id without its parameter, when every result shares it."""
    names = {(r.get("test") or "").split("[")[0] for r in results}
    return names.pop() if len(names) == 1 else None


class symptom_link(nodes.inline):
    """A cell whose link to its symptom entry is resolved once every page is
    read (:func:`_resolve_symptom_links`)."""


class SupportMatrix(SphinxDirective):
    has_content = False
    # :pattern: one pattern's results as a list; :scenarios: only these
    # scenario ids (space separated), as a matrix over every pattern.
    option_spec = {"pattern": directives.unchanged_required,
                   "scenarios": directives.unchanged_required}

    def run(self):
        _mark_uses_results(self.env)
        res = _results(self.env)
        out = status_nodes(self.env)
        if res.data is None:
            return out
        if "pattern" in self.options:
            return out + self._one_pattern(res, self.options["pattern"])
        only = self.options.get("scenarios", "").split() or None
        return out + self._matrix(res, only)

    def _one_pattern(self, res, pattern):
        rows = [r for r in res.results if r.get("pattern") == pattern]
        order = [sid for _, ids in _ordered_scenarios(
            self.config, list(res.scenarios)) for sid in ids]
        rows.sort(key=lambda r: (order.index(r.get("scenario"))
                                 if r.get("scenario") in order else len(order)))
        if not rows:
            note = nodes.important()
            note += _para(nodes.Text(
                "Not yet tested: the results file has no result for the "
                "pattern %s." % pattern))
            return [note]
        blist = nodes.bullet_list()
        stale = pattern in res.stale_patterns
        for result in rows:
            scenario = result.get("scenario", "")
            title = res.scenarios.get(scenario, {}).get("title", scenario)
            item = nodes.list_item()
            para = _para(_outcome_nodes(result), *_state_nodes("stale" if stale else None),
                         nodes.Text(" \u2014 "),
                         nodes.Text(title), nodes.Text(" \u2014 "),
                         _test_literal(result))
            item += para
            if result.get("detail"):
                item += _captured(result["detail"])
            blist += item
        out = [blist] + self._glance_list(pattern, order)
        if stale:
            note = nodes.warning()
            note += _para(nodes.Text(
                "These results are stale: the files of %s changed since the "
                "run of %s." % (pattern, res.data.get("generated_at", "?"))))
            out.insert(0, note)
        return out

    def _glance_list(self, pattern, order):
        """The Glance run's results for ``pattern``, as a second list."""
        glance = _glance_results(self.env)
        if glance is None or glance.data is None or pattern not in glance.patterns:
            return []
        rows = sorted((r for r in glance.results if r.get("pattern") == pattern),
                      key=lambda r: (order.index(r.get("scenario"))
                                     if r.get("scenario") in order else len(order)))
        intro = _para(nodes.Text(
            "OpenStack Glance %s with the Glance files of this pattern "
            "(tox -e examples-glance, run of %s%s):" % (
                glance.data.get("versions", {}).get("glance", "?"),
                glance.data.get("generated_at", "?"),
                "" if glance.state_of(pattern) is None
                else "; results %s" % glance.state_of(pattern))))
        blist = nodes.bullet_list()
        targets = self.env.__dict__.setdefault("examples_symptom_targets", {})
        for result in rows:
            scenario = result.get("scenario", "")
            item = nodes.list_item()
            anchor = nodes.make_id("glance-result-%s-%s" % (pattern, scenario))
            item["ids"].append(anchor)
            targets[_glance_key(pattern, scenario)] = (self.env.docname, anchor)
            item += _para(_outcome_nodes(result), nodes.Text(" \u2014 "),
                          nodes.Text(glance.scenarios.get(scenario, {}).get(
                              "title", scenario)),
                          nodes.Text(" \u2014 "), _test_literal(result))
            if result.get("detail"):
                item += _captured(result["detail"])
            blist += item
        return [intro, blist]

    def _pattern_ref(self, pattern):
        """The pattern id, linked to its how-to page when conf.py names one."""
        literal = nodes.literal(pattern, pattern)
        docname = self.config.examples_pattern_docs.get(pattern)
        if not docname:
            return literal
        ref = addnodes.pending_xref("", refdomain="std", reftype="doc",
                                    reftarget="/" + docname, refexplicit=True,
                                    refwarn=True)
        ref += literal
        return ref

    def _matrix(self, res, only=None):
        patterns = res.pattern_names
        if only is not None:
            # An id the results file does not know yet shows as "not run"
            # (status_nodes says the results are stale); tests/docs checks
            # the ids against lab/scenarios.py.
            scenarios = list(only)
        else:
            scenarios = list(res.scenarios)
            for result in res.results:
                if result.get("scenario") not in scenarios:
                    scenarios.append(result.get("scenario"))

        table = nodes.table(classes=["examples-support-matrix"])
        tgroup = nodes.tgroup(cols=len(patterns) + 1)
        table += tgroup
        for _ in range(len(patterns) + 1):
            tgroup += nodes.colspec(colwidth=1)
        thead = nodes.thead()
        tgroup += thead
        head = nodes.row()
        head += nodes.entry("", _para(nodes.Text("Scenario")))
        for pattern in patterns:
            entry = nodes.entry()
            entry += _para(self._pattern_ref(pattern))
            head += entry
        thead += head
        tbody = nodes.tbody()
        tgroup += tbody

        for group, ids in _ordered_scenarios(self.config, scenarios):
            row = nodes.row(classes=["examples-group"])
            head_entry = nodes.entry(morecols=len(patterns))
            head_entry += _para(nodes.strong("", group))
            row += head_entry
            tbody += row
            for scenario in ids:
                tbody += self._matrix_row(res, scenario, patterns)

        legend = nodes.bullet_list(classes=["examples-pattern-legend"])
        for pattern in patterns:
            title = res.patterns.get(pattern, {}).get("title", pattern)
            item = nodes.list_item()
            item += _para(self._pattern_ref(pattern), nodes.Text(": " + title))
            legend += item
        out = [_para(nodes.Text("Patterns (columns):")), legend]
        stale = [p for p in patterns if p in res.stale_patterns]
        if stale:
            out.append(_para(nodes.Text(
                "Stale columns: %s. Their files changed since the run, so "
                "each of their cells says \"(stale)\"." % ", ".join(stale))))
        glance = _glance_results(self.env)
        if glance is not None and glance.data is not None:
            out.append(_para(nodes.Text(
                "Where a pattern has Glance files, a cell shows glancelet's "
                "outcome, then OpenStack Glance %s's (tox -e examples-glance, "
                "run of %s%s)." % (glance.data.get("versions", {}).get("glance", "?"),
                                   glance.data.get("generated_at", "?"),
                                   "" if glance.ok else
                                   "; results %s: %s" % (glance.state,
                                                         " ".join(glance.problems))))))
        return out + [table]

    def _matrix_row(self, res, scenario, patterns):
        row = nodes.row()
        title = res.scenarios.get(scenario, {}).get("title", scenario)
        found = [r for r in (res.lookup(p, scenario) for p in patterns) if r]
        first = nodes.entry()
        first += _para(nodes.Text(title))
        first += _para(nodes.literal(scenario, scenario))
        test = _test_function(found)
        if test:
            first += _para(nodes.Text("Test: "),
                           nodes.literal(test, test, classes=["examples-test"]))
        row += first
        for pattern in patterns:
            entry = nodes.entry()
            result = res.lookup(pattern, scenario)
            if result is None:
                entry += _para(nodes.inline(
                    "", "not run", classes=["examples-outcome-none"]))
            elif result.get("outcome") == "expected-failure":
                cell = symptom_link("", "", key="%s/%s" % (pattern, scenario))
                cell += _outcome_nodes(result)
                entry += _para(cell)
            else:
                entry += _para(_outcome_nodes(result))
            if result is not None and pattern in res.stale_patterns:
                entry[-1] += _state_nodes("stale")
            glance = _glance_outcome(self.env, pattern, scenario)
            if glance is not None:
                entry += glance
            row += entry
        return row


def _resolve_symptom_links(app, doctree, fromdocname):
    """Link each expected-failure cell to the symptom entry that names it."""
    targets = getattr(app.env, "examples_symptom_targets", {})
    for node in list(doctree.findall(symptom_link)):
        target = targets.get(node["key"])
        if target is None:
            node.replace_self(node.children)
            continue
        docname, anchor = target
        ref = nodes.reference("", "", internal=True,
                              refuri=app.builder.get_relative_uri(
                                  fromdocname, docname) + "#" + anchor,
                              classes=["examples-cell-link"])
        ref.extend(node.children)
        node.replace_self(ref)


def _results_entry(env, key, empty):
    """(the status nodes, the results file's ``key``); when it has none, a
    note saying ``empty`` follows the status nodes."""
    _mark_uses_results(env)
    out = status_nodes(env)
    value = (_results(env).data or {}).get(key)
    if not value:
        note = nodes.important()
        note += _para(nodes.Text(empty))
        out = out + [note]
    return out, value


class TestedVersions(SphinxDirective):
    has_content = False

    def run(self):
        out, versions = _results_entry(self.env, "versions",
                                       "The results file records no versions.")
        if not versions:
            return out
        blist = nodes.bullet_list()
        for name in sorted(versions):
            item = nodes.list_item()
            item += _para(nodes.strong("", name), nodes.Text(": "),
                          nodes.literal(str(versions[name]),
                                        str(versions[name])))
            blist += item
        return out + [blist]


class MeasuredCounts(SphinxDirective):
    has_content = False

    def run(self):
        out, counts = _results_entry(self.env, "counts",
                                     "Not measured yet: the results file has no counts.")
        if not counts:
            return out
        blist = nodes.bullet_list()
        for entry in counts:
            measured = ", ".join("%s %s" % (key.replace("_", " "), entry[key])
                                 for key in sorted(entry) if key not in ("name", "test"))
            item = nodes.list_item()
            item += _para(nodes.strong("", entry["name"]), nodes.Text(": " + measured + " "),
                          nodes.literal(entry["test"], entry["test"]))
            blist += item
        return out + [blist]


class SymptomText(SphinxDirective):
    """The captured text of one symptom (``symptoms[].text``).

    ``:results: pattern/scenario, ...`` names expected-failure results whose
    captured ``detail`` (status line and body, asserted by the test) shows
    the same symptom; they are shown when the symptom id itself was not
    recorded.
    """

    required_arguments = 1
    has_content = False
    option_spec = {"results": directives.unchanged}

    def run(self):
        _mark_uses_results(self.env)
        symptom_id = self.arguments[0]
        targets = self.env.__dict__.setdefault("examples_symptom_targets", {})
        for ref in self.options.get("results", "").split(","):
            if ref.strip():
                targets[ref.strip()] = (self.env.docname, "symptom-" + symptom_id)
        shown = self.env.temp_data.setdefault("examples_symptoms_shown", set())
        shown.add(symptom_id)
        res = _results(self.env)
        found = res.symptom(symptom_id)
        if not found:
            found = self._from_results(res)
        if not found:
            note = nodes.important()
            note += _para(nodes.Text(
                "Not yet captured: the results file has no symptom %r, so "
                "its exact text is not shown here." % symptom_id))
            return status_nodes(self.env) + [note]
        out = status_nodes(self.env)
        for symptom in found:
            out.extend(self._render(symptom))
        return out

    def _from_results(self, res):
        found = []
        for ref in self.options.get("results", "").split(","):
            pattern, _, scenario = ref.strip().partition("/")
            result = res.lookup(pattern, scenario) if pattern else None
            if (result and result.get("outcome") == "expected-failure"
                    and result.get("detail")):
                found.append({"pattern": pattern, "text": result["detail"],
                              "test": result.get("test")})
        return found

    @staticmethod
    def _render(symptom):
        out = [_para(nodes.Text("What the operator sees (pattern "),
                     nodes.literal(symptom.get("pattern", "?"),
                                   symptom.get("pattern", "?")),
                     nodes.Text("):"))]
        text = symptom.get("text", "")
        block = nodes.literal_block(text, text,
                                    classes=["examples-captured"])
        block["language"] = "text"
        out.append(block)
        out.append(_para(nodes.Text("Captured by "),
                         _test_literal(symptom), nodes.Text(".")))
        return out


class SymptomLeftovers(SphinxDirective):
    """Every symptom of the results file that the page did not show."""

    has_content = False

    def run(self):
        _mark_uses_results(self.env)
        res = _results(self.env)
        shown = self.env.temp_data.get("examples_symptoms_shown", set())
        rest = [s for s in res.symptoms if s.get("id") not in shown]
        if not rest:
            return [_para(nodes.Text(
                "Every symptom in the results file has an entry above."))]
        out = [_para(nodes.Text(
            "These symptoms were captured by the tests but have no entry "
            "above yet:"))]
        for symptom in rest:
            section_para = _para(nodes.strong("", symptom.get("id", "?")))
            out.append(section_para)
            out.extend(SymptomText._render(symptom))
        return out


class ResultRole(SphinxRole):
    """``:result:`pattern/scenario``` -> outcome and test, inline;
    ``:result:`glance:pattern/scenario``` for the Glance run's."""

    def run(self):
        _mark_uses_results(self.env)
        service, _, cell = self.text.rpartition(":")
        pattern, _, scenario = cell.partition("/")
        res = _results(self.env)
        if service == "glance":
            res = _glance_results(self.env) or Results(
                os.path.join(os.path.dirname(res.path), GLANCE_RESULTS_FILE),
                res.repo_root, "unpinned")
        result = res.lookup(pattern.strip(), scenario.strip())
        if result is None:
            node = nodes.inline(
                "", "not yet tested (%s)" % self.text,
                classes=["examples-outcome-none"])
            return [node], []
        node = nodes.inline("", "", classes=["examples-result"])
        node += _outcome_nodes(result)
        node += nodes.Text(", ")
        node += _test_literal(result)
        state = res.state_of(pattern.strip())
        if state is not None:
            node += nodes.Text(" (results %s)" % state)
        return [node], []


# --- wiring --------------------------------------------------------------------

def _purge(app, env, docname):
    docs = getattr(env, "examples_results_docs", None)
    if docs:
        docs.discard(docname)
    targets = getattr(env, "examples_symptom_targets", {})
    for key in [k for k, (doc, _) in targets.items() if doc == docname]:
        del targets[key]


def _merge(app, env, docnames, other):
    docs = getattr(env, "examples_results_docs", set())
    docs |= getattr(other, "examples_results_docs", set())
    env.examples_results_docs = docs
    targets = getattr(env, "examples_symptom_targets", {})
    targets.update(getattr(other, "examples_symptom_targets", {}))
    env.examples_symptom_targets = targets


def _outdated(app, env, added, changed, removed):
    # The digest depends on files outside doc/: re-read these pages on
    # every build so that "stale" is never itself stale.
    return sorted(getattr(env, "examples_results_docs", set()) - set(removed))


def setup(app):
    app.add_config_value("examples_results_file", RESULTS_RELPATH, "env")
    app.add_config_value("examples_pattern_docs", {}, "env")
    app.add_config_value("examples_scenario_groups", [], "env")
    app.add_node(symptom_link, html=(lambda self, node: None, lambda self, node: None))
    app.add_directive("results-status", ResultsStatus)
    app.add_directive("support-matrix", SupportMatrix)
    app.add_directive("tested-versions", TestedVersions)
    app.add_directive("measured-counts", MeasuredCounts)
    app.add_directive("symptom-text", SymptomText)
    app.add_directive("symptom-leftovers", SymptomLeftovers)
    app.add_role("result", ResultRole())
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-get-outdated", _outdated)
    app.connect("doctree-resolved", _resolve_symptom_links)
    return {"version": "1", "parallel_read_safe": True,
            "parallel_write_safe": True, "env_version": 1}
