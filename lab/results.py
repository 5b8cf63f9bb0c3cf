"""The examples results file (doc/source/_data/examples-results.json).

``source_digest(repo_root)`` (the whole tree) and ``pattern_digests`` (each
pattern's files) are imported by the docs build to tell whether the results
of each pattern were produced from the files it is building from.
``write`` is used by ``conftest.py`` to write the file.

``python -m lab.results merge PARTIAL [--into FILE]`` puts the whole
patterns of a partial run (``pytest tests/examples --pattern NAME``) into the
committed file; ``python -m lab.results add-pattern-digests FILE`` adds the
pattern digests to a file written before they existed, if it is of this tree.
"""

import datetime
import hashlib
import json
import os
import platform
from pathlib import Path

from lab import harness, servers

RESULTS_PATH = Path("doc/source/_data/examples-results.json")
# Where a partial run's results go (see conftest.py); doc/build/ is not committed.
PARTIAL_RESULTS_PATH = Path("doc/build/examples-results.partial.json")
# Symptoms the Keystone suite (tests/functional/test_keystone.py, tox -e
# keystone) captures; the docs' symptom index reads them beside the others.
KEYSTONE_SYMPTOMS_PATH = Path("doc/source/_data/keystone-symptoms.json")
DIGEST_DIRS = ("examples", "glancelet")


def results_path(service, complete=True):
    """Where a run of ``service`` writes its results: glancelet's file, or
    ``examples-results-<service>.json`` beside it (the partial file of a
    partial run likewise)."""
    path = RESULTS_PATH if complete else PARTIAL_RESULTS_PATH
    if service == "glancelet":
        return path
    stem, _, suffix = path.name.partition(".")
    return path.with_name("%s-%s.%s" % (stem, service, suffix))


def _tree_files(root, top):
    """The POSIX relative paths of the files under ``root/top`` (``__pycache__``
    directories and ``*.pyc`` skipped)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root / top):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        found.extend((Path(dirpath) / name).relative_to(root).as_posix()
                     for name in filenames if not name.endswith(".pyc"))
    return found


def _digest(root, rels, glance=None):
    """sha256 over ``rels`` sorted: for each, the path, a NUL, the bytes, a
    NUL; then, with ``glance``, ``glance==<version>`` and a NUL."""
    digest = hashlib.sha256()
    for rel in sorted(set(rels)):
        digest.update(rel.encode("utf-8"))
        digest.update(b"\0")
        digest.update((root / rel).read_bytes())
        digest.update(b"\0")
    if glance:
        digest.update(b"glance==%s\0" % glance.encode())
    return digest.hexdigest()


def tree_digest(repo_root, tops):
    """:func:`source_digest`'s algorithm over every file under the folders
    ``tops`` of the repository (the benchmark results' ``sources``)."""
    root = Path(repo_root)
    return _digest(root, [rel for top in tops for rel in _tree_files(root, top)])


def source_digest(repo_root, glance=None):
    """sha256 over every file under examples/ and glancelet/, and for a
    Glance run the Glance version ``glance`` (e.g. "33.0.0").

    Files are sorted by POSIX relative path (``__pycache__`` directories and
    ``*.pyc`` skipped); for each: the relative path, a NUL, the bytes, a NUL.
    Then, with ``glance``: ``glance==<version>`` and a NUL.
    """
    root = Path(repo_root)
    return _digest(root, [rel for top in DIGEST_DIRS for rel in _tree_files(root, top)], glance)


def pattern_examples(pattern):
    """Every examples/ file a deployment of ``pattern`` (as it serves its
    service) uses: its own (:attr:`Pattern.examples`, Glance's with them in
    a Glance run), and the shared ones: the run's Keystone (when the
    pattern is behind it: for glancelet with its authtoken.conf drop-in),
    for glancelet the import scenarios' drop-in, for Glance its
    glance-api.conf."""
    found = list(pattern.examples)
    if pattern.service == "glance":
        from lab import glance
        found.append(glance.API_CONF[0])
        if pattern.keystone:
            found.extend(example for example, _ in harness.KEYSTONE_EXAMPLES[:2])
    else:
        if pattern.keystone:
            found.extend(example for example, _ in harness.KEYSTONE_EXAMPLES)
        found.extend(example for example, _ in harness.IMPORT_EXAMPLES)
    return list(dict.fromkeys(found))


def pattern_digest(repo_root, pattern, glance=None):
    """The digest of what the cells of ``pattern`` (as it serves its
    service) were produced from, by :func:`source_digest`'s algorithm: for
    glancelet, every file under glancelet/ and :func:`pattern_examples`; for
    Glance (``glance``: its version), the Glance version and
    :func:`pattern_examples` (glancelet/ is not Glance's code)."""
    root = Path(repo_root)
    rels = pattern_examples(pattern)
    if pattern.service == "glance":
        assert glance, "a Glance pattern's digest needs the Glance version"
        return _digest(root, rels, glance)
    return _digest(root, rels + _tree_files(root, "glancelet"))


def pattern_digests(repo_root, service, names, glance=None):
    """{name: :func:`pattern_digest`} of the registered patterns ``names``
    serving ``service`` (a name no registered pattern of the service has is
    left out: nothing in this tree produced its cells)."""
    from lab.patterns import all_patterns
    return {p.name: pattern_digest(repo_root, p.serving(service), glance)
            for p in all_patterns() if p.name in names and (service == harness.SERVICES[0]
                                                            or p.glance)}


def versions():
    """Versions of everything the examples ran under."""
    found = {name: kind.version() for name, kind in servers.KINDS.items()}
    found["python"] = platform.python_version()
    try:
        import glancelet
        found["glancelet"] = glancelet.__version__
    except ImportError:
        found["glancelet"] = None
    try:
        from lab import apache
        found["mod_wsgi"] = apache.mod_wsgi_version()
    except Exception:  # the Apache module may not provide it (or not yet)
        found["mod_wsgi"] = None
    return {k: v for k, v in found.items() if v is not None}


def provenance(repo_root, complete, glance=None):
    """When, from which sources (digest; with Glance's version for a Glance
    run) and whether from a complete run: the first keys of a results file
    the docs render."""
    return {
        "generated_at": datetime.datetime.now(datetime.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source_digest": source_digest(repo_root, glance),
        "complete": bool(complete),
    }


def write(repo_root, services, patterns, scenarios, results, symptoms, complete,
          path=RESULTS_PATH, counts=(), complete_patterns=None):
    """Write the results file: each result row names its service, pattern and
    scenario (a pattern's expected failures are keyed the same way). ``counts``
    are what a test measured ({name, test, sent, failed, lost, ...}), such as
    the multi-node pattern's kill -9 and rolling-restart runs. Each pattern
    gets its :func:`pattern_digest` (``pattern_digests``); ``complete_patterns``
    names the patterns every scenario of which ran (all of them by default in
    a complete run), those :func:`merge` may take from a partial file."""
    glance = None
    if "glance" in services:
        from lab import glance as glance_mod
        glance = glance_mod.VERSION
    found = versions()
    if glance:
        found["glance"] = glance_mod.installed_version()
    if complete_patterns is None:
        complete_patterns = [p.name for p in patterns] if complete else []
    data = {
        **provenance(repo_root, complete, glance),
        "pattern_digests": {p.name: pattern_digest(repo_root, p, glance) for p in patterns},
        "complete_patterns": sorted(complete_patterns),
        "versions": found,
        "services": list(services),
        "patterns": {p.name: {"title": p.title, "examples": pattern_examples(p)}
                     for p in patterns},
        "scenarios": {sid: {"title": title} for sid, title in scenarios.items()},
        "results": sorted(results, key=_row_key),
        "symptoms": sorted(symptoms, key=_symptom_key),
        "counts": sorted(counts, key=_count_key),
    }
    return write_json(Path(repo_root) / path, data)


def _row_key(row):
    return row["service"], row["pattern"], row["scenario"], row["test"]


def _symptom_key(symptom):
    return symptom["id"], symptom["pattern"]


def _count_key(count):
    return count["name"], count["test"]


def write_json(path, data):
    """Write ``data`` to ``path`` as indented JSON, atomically; return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def merge_symptoms(repo_root, found, path=KEYSTONE_SYMPTOMS_PATH):
    """Write ``found`` symptoms into ``path``, replacing the entries with the
    same id and keeping the others (a run of some tests updates only theirs)."""
    path = Path(repo_root) / path
    kept = []
    if path.exists():
        ids = {s["id"] for s in found}
        kept = [s for s in json.loads(path.read_text())["symptoms"] if s["id"] not in ids]
    data = {"symptoms": sorted(kept + list(found), key=_symptom_key)}
    text = json.dumps(data, indent=2) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


class Refused(Exception):
    """Why a results file cannot be merged or upgraded (said to the user)."""


def _service(data, what):
    services = data.get("services") or [harness.SERVICES[0]]
    if len(services) != 1:
        raise Refused("%s: one service per results file, not %s" % (what, services))
    return services[0]


def _glance_version(service):
    from lab import glance
    return glance.VERSION if service == "glance" else None


def add_pattern_digests(repo_root, data):
    """``data`` (a results file written before files had ``pattern_digests``)
    with the :func:`pattern_digest` of each of its patterns; refused unless
    its whole-tree ``source_digest`` is this tree's."""
    service = _service(data, "the results file")
    glance = _glance_version(service)
    current = source_digest(repo_root, glance)
    if data.get("source_digest") != current:
        raise Refused("its source_digest %s is not this tree's (%s): the run was of other "
                      "examples/ or glancelet/ files" % (str(data.get("source_digest"))[:12],
                                                         current[:12]))
    digests = pattern_digests(repo_root, service, data["patterns"], glance)
    unknown = sorted(set(data["patterns"]) - set(digests))
    if unknown:
        raise Refused("no registered %s pattern is named %s" % (service, ", ".join(unknown)))
    from lab.patterns import get
    out = {}
    for key, value in data.items():
        out[key] = value
        if key == "source_digest":
            out["pattern_digests"] = digests
    for name, entry in out["patterns"].items():
        entry["examples"] = pattern_examples(get(name).serving(service))
    return out


def merge(repo_root, partial, committed, cells=False):
    """``committed`` with the patterns of ``partial`` (a partial run's file:
    those with a result row) replaced: their rows, ``patterns`` entries and
    digests, the symptoms and counts the partial run captured for them (by
    id and pattern, by name); return (the merged data, the symptoms of
    those patterns kept from ``committed``, not captured again). Refused
    unless each of them ran every scenario (``complete_patterns``), its
    digest is this tree's, and both files are of one service and versions.

    With ``cells``, only the partial run's cells (pattern, scenario) are
    replaced or added, for a re-run of some scenarios (a changed test);
    refused unless the committed file's digest of each of their patterns is
    this tree's too, so that every cell of a pattern stays a run of one set
    of files."""
    service = _service(partial, "the partial file")
    if _service(committed, "the committed file") != service:
        raise Refused("the partial file is of %s, the committed one of %s"
                      % (service, _service(committed, "the committed file")))
    if "pattern_digests" not in committed:
        raise Refused("the committed file has no pattern_digests (an older format): "
                      "upgrade it first (python -m lab.results add-pattern-digests)")
    names = sorted({r["pattern"] for r in partial["results"]})
    if not names:
        raise Refused("the partial file has no result rows")
    ran_all = set(partial.get("complete_patterns", ()))
    not_all = [n for n in names if n not in ran_all]
    if not_all and not cells:
        raise Refused("not every scenario of %s ran in the partial run (complete_patterns: "
                      "%s); re-run whole patterns: pytest tests/examples --pattern NAME"
                      % (", ".join(not_all), ", ".join(sorted(ran_all)) or "none"))
    current = pattern_digests(repo_root, service, names, _glance_version(service))
    recorded = partial.get("pattern_digests", {})
    differ = [n for n in names if n not in current or recorded.get(n) != current[n]]
    if differ:
        raise Refused("the digests of %s in the partial file are not this tree's: the run "
                      "was of other files (or the pattern is not registered)" % ", ".join(differ))
    if partial.get("versions") != committed.get("versions"):
        raise Refused("the partial run's versions %s differ from the committed file's %s"
                      % (partial.get("versions"), committed.get("versions")))
    if cells:
        stale = [n for n in names if committed["pattern_digests"].get(n) != current[n]]
        if stale:
            raise Refused("the committed results of %s are of other files: merge whole "
                          "patterns (re-run them: pytest tests/examples --pattern NAME)"
                          % ", ".join(stale))
    merged = dict(committed)
    ours = set(names)

    def take(key, keyof, belongs):
        new = [e for e in partial.get(key, []) if belongs(e) in ours]
        replaced = {keyof(e) for e in new}
        return [e for e in committed.get(key, []) if keyof(e) not in replaced] + new

    if cells:
        new_cells = {(r["pattern"], r["scenario"]) for r in partial["results"]}
        merged["results"] = sorted(
            [r for r in committed["results"] if (r["pattern"], r["scenario"]) not in new_cells]
            + partial["results"], key=_row_key)
    else:
        merged["results"] = sorted([r for r in committed["results"]
                                    if r["pattern"] not in ours]
                                   + partial["results"], key=_row_key)
    merged["symptoms"] = sorted(take("symptoms", _symptom_key, lambda s: s["pattern"]),
                                key=_symptom_key)
    merged["counts"] = sorted(take("counts", lambda c: c["name"], lambda c: c.get("pattern")),
                              key=_count_key)
    merged["patterns"] = dict(committed["patterns"], **{n: partial["patterns"][n]
                                                        for n in names})
    merged["pattern_digests"] = dict(committed["pattern_digests"], **current)
    merged["merged"] = committed.get("merged", []) + [
        {"generated_at": partial.get("generated_at"), "patterns": names}]
    if cells:
        merged["merged"][-1]["cells"] = sorted("%s/%s" % cell for cell in new_cells)
    captured = {_symptom_key(s) for s in partial.get("symptoms", [])}
    # (A cells merge keeps the pattern's other symptoms by design.)
    kept = [] if cells else [s for s in merged["symptoms"] if s["pattern"] in ours
                             and _symptom_key(s) not in captured]
    return merged, kept


def main(argv=None, repo_root=harness.REPO_ROOT, out=None):
    """``python -m lab.results merge PARTIAL [--into FILE]`` and
    ``python -m lab.results add-pattern-digests FILE``."""
    import argparse
    import sys
    out = out or sys.stderr
    parser = argparse.ArgumentParser(prog="python -m lab.results")
    sub = parser.add_subparsers(dest="command", required=True)
    merge_cmd = sub.add_parser("merge", help="merge a partial run's whole patterns into "
                               "the committed results file")
    merge_cmd.add_argument("partial", type=Path)
    merge_cmd.add_argument("--into", type=Path, help="default: the committed file of the "
                           "partial file's service")
    merge_cmd.add_argument("--cells", action="store_true", help="merge only the cells the "
                           "partial run has (a re-run of some scenarios of unchanged patterns)")
    add = sub.add_parser("add-pattern-digests", help="add pattern_digests to a results "
                         "file of this tree")
    add.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "merge":
            partial = json.loads(args.partial.read_text())
            into = args.into or Path(repo_root) / results_path(
                _service(partial, "the partial file"))
            merged, kept = merge(repo_root, partial, json.loads(into.read_text()),
                                 cells=args.cells)
            write_json(into, merged)
            last = merged["merged"][-1]
            print("%s: merged %s from %s" % (into, ", ".join(last.get("cells", last["patterns"])),
                                             args.partial), file=out)
            for symptom in kept:
                print("  kept, not captured by that run: symptom %s (%s) of %s" % (
                    symptom["id"], symptom["pattern"], symptom["test"]), file=out)
        else:
            write_json(args.file, add_pattern_digests(repo_root,
                                                      json.loads(args.file.read_text())))
            print("%s: pattern_digests added" % args.file, file=out)
    except (Refused, OSError, ValueError) as exc:   # ValueError: not JSON
        print("refused: %s" % exc, file=out)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
