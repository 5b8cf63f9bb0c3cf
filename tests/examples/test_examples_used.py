"""Every examples/ file is used by a pattern and shown in the docs.

A file nobody runs rots (Glance's httpd/ samples did); a file the docs do not
show is dead weight. This check fails for either.
"""

import re

from lab import glance
from lab.harness import CONTROLLER_EXAMPLES, IMPORT_EXAMPLES, KEYSTONE_EXAMPLES, REPO_ROOT
from lab.patterns import all_patterns, apache_proxy_http, nginx_uwsgi

DOC_SOURCE = REPO_ROOT / "doc" / "source"


def example_files():
    return sorted(p.relative_to(REPO_ROOT).as_posix()
                  for p in (REPO_ROOT / "examples").rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts
                  and p.name != "README.rst")


def literalincluded():
    """Repo-relative paths of every literalinclude under doc/source."""
    found = set()
    for page in DOC_SOURCE.rglob("*.rst"):
        for m in re.finditer(r"^\s*\.\. literalinclude::\s*(\S+)", page.read_text(),
                             re.MULTILINE):
            target = m.group(1)
            path = (DOC_SOURCE / target.lstrip("/")) if target.startswith("/") \
                else (page.parent / target)
            try:
                found.add(path.resolve().relative_to(REPO_ROOT).as_posix())
            except ValueError:
                pass
    return found


def test_every_example_is_used_by_a_pattern():
    used = {f for p in all_patterns() for f in p.examples}
    used.update(example for example, _ in IMPORT_EXAMPLES + KEYSTONE_EXAMPLES + glance.EXAMPLES
                + CONTROLLER_EXAMPLES + nginx_uwsgi.OFFLOAD_EXAMPLES
                + apache_proxy_http.XSENDFILE_EXAMPLES)
    missing = [f for f in example_files() if f not in used]
    assert missing == [], "examples/ files no pattern runs: %s" % missing
    absent = sorted(f for f in used if not (REPO_ROOT / f).is_file())
    assert absent == [], "patterns name files that do not exist: %s" % absent


def test_every_example_is_in_the_docs():
    shown = literalincluded()
    missing = [f for f in example_files() if f not in shown]
    assert missing == [], "examples/ files no doc page literalincludes: %s" % missing
