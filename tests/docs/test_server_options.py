"""The index of server options lists only options the examples set.

Each option named in the first column of the tables on
reference/server-options.rst (every ``literal`` there) must occur in some
file under examples/, so the index cannot describe an option nobody uses.
"""

import re

from tests.docs.conftest import DOC_SOURCE, REPO_ROOT

ROW_RE = re.compile(r"^   \* - (.*)$")
LITERAL_RE = re.compile(r"``([^`]+)``")
WORD_RE = re.compile(r"[A-Za-z][\w-]*")


def test_indexed_options_occur_in_examples():
    examples = "\n".join(p.read_text(encoding="utf-8")
                         for p in (REPO_ROOT / "examples").rglob("*") if p.is_file())
    page = (DOC_SOURCE / "reference" / "server-options.rst").read_text(encoding="utf-8")
    missing, seen = [], 0
    for line in page.splitlines():
        row = ROW_RE.match(line)
        if not row or row.group(1) == "Option":
            continue
        for literal in LITERAL_RE.findall(row.group(1)):
            for word in WORD_RE.findall(literal.split("=")[0].split(" ")[0]) or []:
                seen += 1
                if word not in examples:
                    missing.append("%s (from %r)" % (word, literal))
    assert seen > 40, "too few options found (%d); has the table format changed?" % seen
    assert not missing, "not set in any examples/ file: " + ", ".join(missing)
