"""The conformance extension (doc/source/_ext/tempest_results.py).

Each state of the Tempest results file (missing, unreadable, partial,
stale, current) is said on the page, never as a Sphinx warning; the
committed file has a row for every class with counts that add up.
"""

import json
import sys

from tests.docs.conftest import DOC_SOURCE, REPO_ROOT

sys.path.insert(0, str(DOC_SOURCE / "_ext"))
import examples_results  # noqa: E402
import tempest_results  # noqa: E402


def _repo(tmp_path):
    (tmp_path / "glancelet").mkdir()
    (tmp_path / "glancelet" / "__init__.py").write_text("")
    return tmp_path


def _load(tmp_path, data):
    path = tmp_path / "tempest-results.json"
    if data is not None:
        path.write_text(data if isinstance(data, str) else json.dumps(data))
    return tempest_results.load(str(path), str(tmp_path))


def _data(repo, **over):
    data = {"source_digest": examples_results.source_digest(str(repo))[0],
            "complete": True, "classes": []}
    data.update(over)
    return data


def test_missing(tmp_path):
    data, problems = _load(_repo(tmp_path), None)
    assert data is None and "tox -e tempest" in problems[0]


def test_unreadable(tmp_path):
    data, problems = _load(_repo(tmp_path), "{not json")
    assert data is None and "cannot be read" in problems[0]


def test_current(tmp_path):
    repo = _repo(tmp_path)
    data, problems = _load(repo, _data(repo))
    assert data is not None and problems == []


def test_stale_and_partial(tmp_path):
    repo = _repo(tmp_path)
    data, problems = _load(repo, _data(repo, source_digest="0" * 64, complete=False))
    assert data is not None
    assert any("stale" in p for p in problems) and any("partial" in p for p in problems)


def test_committed_file_adds_up():
    with open(REPO_ROOT / "doc" / "source" / tempest_results.RESULTS_RELPATH) as f:
        data = json.load(f)
    assert data["classes"]
    for row in data["classes"]:
        counted = sum(row[key] for key, _ in tempest_results.COUNTS)
        assert counted >= row["tests"], row["class"]
        assert not row["skip"] or row["reasons"], row["class"]
        assert bool(row["failures"]) == bool(row["fail"]), row["class"]
