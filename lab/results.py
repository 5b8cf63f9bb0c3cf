"""The examples results file (doc/source/_data/examples-results.json).

``source_digest(repo_root)`` is imported by the docs build to tell whether the
results were produced from the examples/ and glancelet/ files it is building
from. The rest of this module is used by ``conftest.py`` to write the file.
"""

import datetime
import hashlib
import json
import os
import platform
from pathlib import Path, PurePosixPath

from lab import servers

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


def source_digest(repo_root, glance=None):
    """sha256 over every file under examples/ and glancelet/, and for a
    Glance run the Glance version ``glance`` (e.g. "33.0.0").

    Files are sorted by POSIX relative path (``__pycache__`` directories and
    ``*.pyc`` skipped); for each: the relative path, a NUL, the bytes, a NUL.
    Then, with ``glance``: ``glance==<version>`` and a NUL.
    """
    root = Path(repo_root)
    files = []
    for top in DIGEST_DIRS:
        base = root / top
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in filenames:
                if name.endswith(".pyc"):
                    continue
                path = Path(dirpath) / name
                files.append((PurePosixPath(path.relative_to(root).as_posix()).as_posix(), path))
    digest = hashlib.sha256()
    for rel, path in sorted(files):
        digest.update(rel.encode("utf-8"))
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    if glance:
        digest.update(b"glance==%s\0" % glance.encode())
    return digest.hexdigest()


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
          path=RESULTS_PATH, counts=()):
    """Write the results file: each result row names its service, pattern and
    scenario (a pattern's expected failures are keyed the same way). ``counts``
    are what a test measured ({name, test, sent, failed, lost, ...}), such as
    the multi-node pattern's kill -9 and rolling-restart runs."""
    glance = None
    if "glance" in services:
        from lab import glance as glance_mod
        glance = glance_mod.VERSION
    found = versions()
    if glance:
        found["glance"] = glance_mod.installed_version()
    data = {
        **provenance(repo_root, complete, glance),
        "versions": found,
        "services": list(services),
        "patterns": {p.name: {"title": p.title, "examples": list(p.examples)}
                     for p in patterns},
        "scenarios": {sid: {"title": title} for sid, title in scenarios.items()},
        "results": sorted(results, key=lambda r: (r["service"], r["pattern"], r["scenario"],
                                                  r["test"])),
        "symptoms": sorted(symptoms, key=lambda s: (s["id"], s["pattern"])),
        "counts": sorted(counts, key=lambda c: (c["name"], c["test"])),
    }
    return write_json(Path(repo_root) / path, data)


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
    data = {"symptoms": sorted(kept + list(found), key=lambda s: (s["id"], s["pattern"]))}
    text = json.dumps(data, indent=2) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path
