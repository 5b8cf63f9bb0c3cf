"""Test ids cited in the prose name tests that exist.

The pages cite tests that are not in the examples results file as
``tests/<path>.py::test_name`` (optionally ``[param]``). Each such file must
exist and define that test function, so a renamed test cannot leave a
claim pointing at nothing.
"""

import re

from tests.docs.conftest import REPO_ROOT, rst_files

CITE_RE = re.compile(r"``(tests/[\w/]+\.py)::(test_\w+)(\[[^\]`]*\])?``")


def test_cited_tests_exist():
    bad = []
    cited = 0
    for path in rst_files():
        text = path.read_text(encoding="utf-8")
        for match in CITE_RE.finditer(text):
            cited += 1
            test_file, name = REPO_ROOT / match.group(1), match.group(2)
            if not test_file.is_file():
                bad.append("%s: %s does not exist" % (path, match.group(1)))
            elif not re.search(r"^def %s\(" % re.escape(name),
                               test_file.read_text(encoding="utf-8"), re.M):
                bad.append("%s: %s has no test %s" % (path, match.group(1), name))
    assert not bad, "\n".join(bad)
    assert cited, "no cited tests found; has the citation style changed?"
