"""The support-matrix extension (doc/source/_ext/examples_results.py).

Each state of the results file (missing, unreadable, incomplete, stale, good)
must be said on the page, never as a Sphinx warning: the site builds with -W.
"""

import json
import sys

from tests.docs.conftest import DOC_SOURCE, REPO_ROOT, sphinx_build

sys.path.insert(0, str(DOC_SOURCE / "_ext"))
import examples_results  # noqa: E402


def _repo(tmp_path):
    (tmp_path / "examples" / "p").mkdir(parents=True)
    (tmp_path / "examples" / "p" / "a.ini").write_text("[x]\n")
    (tmp_path / "glancelet").mkdir()
    (tmp_path / "glancelet" / "__init__.py").write_text("")
    pyc = tmp_path / "glancelet" / "__pycache__"
    pyc.mkdir()
    (pyc / "x.pyc").write_bytes(b"ignored")
    return tmp_path


def _data(digest, complete=True, outcome="pass"):
    return {
        "generated_at": "2026-11-21T23:59:00Z", "source_digest": digest,
        "complete": complete, "versions": {"uwsgi": "2.0.31"},
        "patterns": {"p": {"title": "P", "examples": ["examples/p/a.ini"]}},
        "scenarios": {"s": {"title": "S"}},
        "results": [{"pattern": "p", "scenario": "s", "outcome": outcome,
                     "detail": "", "test": "tests/examples/t.py::test_s[p]"}],
        "symptoms": [],
    }


def _load(tmp_path, data):
    path = tmp_path / "results.json"
    if data is not None:
        path.write_text(data if isinstance(data, str) else json.dumps(data))
    return examples_results.Results(str(path), str(tmp_path))


def _digest(repo):
    return examples_results.source_digest(str(repo))[0]


def test_digest_matches_contract(tmp_path):
    import hashlib
    repo = _repo(tmp_path)
    expected = hashlib.sha256()
    for rel in ["examples/p/a.ini", "glancelet/__init__.py"]:
        expected.update(rel.encode() + b"\0" + (repo / rel).read_bytes() + b"\0")
    assert _digest(repo) == expected.hexdigest()


def test_missing(tmp_path):
    res = _load(_repo(tmp_path), None)
    assert res.state == "missing" and not res.ok
    assert "tox -e examples" in res.problems[0]


def test_a_glance_file_names_the_glance_env(tmp_path):
    repo = _repo(tmp_path)
    missing = examples_results.Results(str(tmp_path / "none.json"), str(repo), glance="33.0.0")
    assert "``tox -e examples-glance``" in missing.problems[0]
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"source_digest": "0" * 64, "complete": True, "results": [],
                                "patterns": {}, "scenarios": {}}))
    stale = examples_results.Results(str(path), str(repo), glance="33.0.0")
    assert stale.state == "stale" and "``tox -e examples-glance``" in stale.problems[0]


def test_unreadable(tmp_path):
    res = _load(_repo(tmp_path), "{not json")
    assert res.state == "invalid" and not res.ok


def test_stale(tmp_path):
    res = _load(_repo(tmp_path), _data("0" * 64))
    assert res.state == "stale" and not res.ok
    assert "stale" in res.problems[0]


def test_incomplete(tmp_path):
    repo = _repo(tmp_path)
    digest = _digest(repo)
    res = _load(repo, _data(digest, complete=False))
    assert res.state == "incomplete" and not res.ok


def test_failures_are_reported(tmp_path):
    repo = _repo(tmp_path)
    digest = _digest(repo)
    res = _load(repo, _data(digest, outcome="fail"))
    assert not res.ok
    assert any("failures" in p for p in res.problems)


def test_good(tmp_path):
    repo = _repo(tmp_path)
    digest = _digest(repo)
    res = _load(repo, _data(digest))
    assert res.ok and res.state == "ok"
    assert res.lookup("p", "s")["outcome"] == "pass"
    assert res.lookup("p", "nope") is None


def test_each_row_names_its_service_and_the_pages_show_glancelets(tmp_path):
    """Rows are keyed by (service, pattern, scenario): another service's row
    for the same cell does not replace glancelet's, and a row without a
    service (a file written before rows named one) is glancelet's."""
    repo = _repo(tmp_path)
    data = _data(_digest(repo))
    data["results"][0]["service"] = "glancelet"
    data["results"].insert(0, dict(data["results"][0], service="glance",
                                   outcome="expected-failure"))
    res = _load(repo, data)
    assert res.ok
    assert res.lookup("p", "s")["outcome"] == "pass"
    assert [r["service"] for r in res.results] == ["glancelet"]
    del data["results"][1]["service"]
    assert _load(repo, data).lookup("p", "s")["outcome"] == "pass"


def test_the_lab_writes_the_service_of_each_row(tmp_path):
    from lab import results as lab_results
    from lab.patterns import get
    row = {"service": "glancelet", "pattern": "uwsgi-http", "scenario": "image-crud",
           "test": "t", "outcome": "pass"}
    path = lab_results.write(str(REPO_ROOT), ["glancelet"], [get("uwsgi-http")],
                             {"image-crud": "CRUD"}, [row], [], True,
                             path=tmp_path / "r.json")
    data = json.loads(path.read_text())
    assert data["services"] == ["glancelet"]
    assert data["results"] == [row]
    # Each pattern's digest, and the patterns a merge may take (every one).
    assert data["pattern_digests"] == lab_results.pattern_digests(
        str(REPO_ROOT), "glancelet", ["uwsgi-http"])
    assert data["complete_patterns"] == ["uwsgi-http"]
    assert examples_results.Results(str(path), str(REPO_ROOT)).ok


def test_missing_results_build_clean_with_visible_warning(tmp_path):
    """No results file: the -W build passes and the page says so."""
    out = tmp_path / "html"
    proc = sphinx_build(out, "-D", "examples_results_file=%s" % (tmp_path / "none.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = (out / "reference" / "support-matrix.html").read_text()
    assert "Test results: missing." in page
    assert "There is no results file" in page


# --- staleness per pattern (pattern_digests) ---------------------------------

PATTERNS = ["gunicorn", "uwsgi-http"]
SCENARIOS = ["image-crud", "import-sigterm"]


def _per_pattern(stale=(), missing=()):
    """A results file of this checkout's uwsgi-http and gunicorn cells, with
    the pattern digests of this tree except ``stale`` (another digest) and
    ``missing`` (none); its whole-tree digest is another tree's."""
    from lab.results import pattern_digests
    digests = pattern_digests(str(REPO_ROOT), "glancelet", PATTERNS)
    digests.update(dict.fromkeys(stale, "0" * 64))
    for name in missing:
        del digests[name]
    return {
        "generated_at": "2026-11-30T12:00:00Z", "source_digest": "1" * 64,
        "pattern_digests": digests, "complete": True, "versions": {"uwsgi": "2.0.31"},
        "services": ["glancelet"],
        "patterns": {n: {"title": n.upper(), "examples": []} for n in PATTERNS},
        "scenarios": {s: {"title": s.upper()} for s in SCENARIOS},
        "results": [{"service": "glancelet", "pattern": n, "scenario": s, "outcome": "pass",
                     "test": "tests/examples/t.py::test_%s[%s]" % (s.replace("-", "_"), n)}
                    for n in PATTERNS for s in SCENARIOS],
        "symptoms": [],
    }


def test_one_stale_pattern(tmp_path):
    res = _load_here(tmp_path, _per_pattern(stale=["gunicorn"]))
    assert res.stale_patterns == ["gunicorn"]
    assert res.state == "stale" and not res.ok
    assert (res.state_of("gunicorn"), res.state_of("uwsgi-http")) == ("stale", None)
    assert "The results of 1 of 2 patterns are stale: gunicorn." in res.problems[0]


def test_a_pattern_without_a_digest_is_stale(tmp_path):
    res = _load_here(tmp_path, _per_pattern(missing=["uwsgi-http"]))
    assert res.stale_patterns == ["uwsgi-http"]


def test_pattern_digests_decide_not_the_whole_tree_digest(tmp_path):
    res = _load_here(tmp_path, _per_pattern())
    assert res.ok and res.state == "ok" and res.stale_patterns == []


def test_an_older_file_is_stale_as_a_whole(tmp_path):
    """Without pattern_digests, the whole-tree digest decides, as before."""
    res = _load(_repo(tmp_path), _data("0" * 64))
    assert res.state == "stale" and res.stale_patterns == []
    assert res.state_of("p") == "stale"


def _load_here(tmp_path, data):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    return examples_results.Results(str(path), str(REPO_ROOT))


def _build(tmp_path, data):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(data))
    out = tmp_path / "html"
    proc = sphinx_build(out, "-D", "examples_results_file=%s" % results)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_the_site_marks_the_cells_of_a_stale_column(tmp_path):
    out = _build(tmp_path, _per_pattern(stale=["gunicorn"]))
    matrix = (out / "reference" / "support-matrix.html").read_text()
    assert "The results of 1 of 2 patterns are stale: gunicorn." in matrix
    assert "Stale columns: gunicorn." in matrix
    # One mark per cell of the gunicorn column, none in uwsgi-http's.
    assert matrix.count('class="examples-state-stale">(stale)</span>') == len(SCENARIOS)
    assert "These results are stale: the files of gunicorn changed" in \
        (out / "howto" / "gunicorn.html").read_text()
    assert "These results are stale" not in (out / "howto" / "uwsgi-http.html").read_text()
    roles = (out / "howto" / "import.html").read_text()
    assert "test_import_sigterm[gunicorn]</span></code> (results stale)</span>" in roles
    assert "test_import_sigterm[uwsgi-http]</span></code></span>" in roles


def test_the_site_shows_an_older_stale_file_as_before(tmp_path):
    data = _per_pattern()
    del data["pattern_digests"]
    out = _build(tmp_path, data)
    matrix = (out / "reference" / "support-matrix.html").read_text()
    assert "Test results: stale." in matrix
    assert "The results are stale: they were recorded for other versions" in matrix
    assert "examples-state-stale" not in matrix
    roles = (out / "howto" / "import.html").read_text()
    assert "test_import_sigterm[uwsgi-http]</span></code> (results stale)" in roles
