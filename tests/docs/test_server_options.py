"""Option tables name only options the examples set.

* reference/server-options.rst (the index): each option in the first column
  of its tables (every ``literal`` there) occurs in some file under
  examples/.
* Each how-to page: each option in the first column of its tables occurs in
  one of the files that page literalincludes.

So when an option is dropped from the examples, the page that still explains
it fails here instead of drifting.
"""

import re

import pytest

from tests.docs.conftest import DOC_SOURCE, REPO_ROOT
from tests.docs.rstscan import scan

ROW_RE = re.compile(r"^   \* - (.*)$")
LITERAL_RE = re.compile(r"``([^`]+)``")
WORD_RE = re.compile(r"[A-Za-z][\w-]*")


def table_options(page):
    """(word, literal) for every option word in the first column of the
    page's list-tables."""
    for line in page.read_text(encoding="utf-8").splitlines():
        row = ROW_RE.match(line)
        if not row or row.group(1) == "Option":
            continue
        for literal in LITERAL_RE.findall(row.group(1)):
            for word in WORD_RE.findall(literal.split("=")[0].split(" ")[0]):
                yield word, literal


def _missing(page, text):
    found = list(table_options(page))
    return len(found), ["%s (from %r)" % (w, lit) for w, lit in found if w not in text]


def test_indexed_options_occur_in_examples():
    examples = "\n".join(p.read_text(encoding="utf-8")
                         for p in (REPO_ROOT / "examples").rglob("*") if p.is_file())
    seen, missing = _missing(DOC_SOURCE / "reference" / "server-options.rst", examples)
    assert seen > 40, "too few options found (%d); has the table format changed?" % seen
    assert not missing, "not set in any examples/ file: " + ", ".join(missing)


# The pattern pages: those that show one pattern's results
# (``.. support-matrix::`` with ``:pattern:``).
PATTERN_PAGES = sorted(p for p in (DOC_SOURCE / "howto").glob("*.rst")
                       if re.search(r"\.\. support-matrix::[ \t]*\n\s+:pattern:",
                                    p.read_text(encoding="utf-8")))


def test_pattern_pages_found():
    assert len(PATTERN_PAGES) >= 7, PATTERN_PAGES


@pytest.mark.parametrize("page", PATTERN_PAGES, ids=lambda p: p.stem)
def test_howto_options_occur_in_the_pages_files(page):
    files = [(page.parent / b.argument).resolve() for b in scan(page)
             if b.kind == "literalinclude"]
    assert files, "%s includes no example file" % page.name
    text = "\n".join(f.read_text(encoding="utf-8") for f in files)
    seen, missing = _missing(page, text)
    assert seen > 5, "%s: too few options in its tables (%d)" % (page.name, seen)
    assert not missing, "%s explains options its files do not set: %s" % (
        page.name, ", ".join(missing))
