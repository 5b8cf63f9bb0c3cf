"""Every claim sentence on the operator pages cites a test or says "not tested".

The how-to pages (import included), the symptom index and the claims page
are what an operator acts on. A sentence there that says an option is
"required", or that something "fails", "drains" or "cuts" off, must cite the
test that asserts it, or say that it is not tested (tests/docs/claimscan.py
says what counts).
"""

from tests.docs.claimscan import unbacked_claims
from tests.docs.conftest import DOC_SOURCE

PAGES = sorted((DOC_SOURCE / "howto").glob("*.rst")) + [
    DOC_SOURCE / "reference" / "symptoms.rst",
    DOC_SOURCE / "explanation" / "claims.rst",
]


def test_claim_sentences_cite_a_test_or_say_not_tested():
    bad = ["%s:%d: %s" % (path.relative_to(DOC_SOURCE), line, sentence)
           for path in PAGES
           for line, sentence in unbacked_claims(path.read_text(encoding="utf-8"))]
    assert not bad, "claims without a test:\n" + "\n".join(bad)


def test_the_scan_flags_a_bare_claim():
    text = "Intro.\n\nThe option is required. Nothing else here.\n"
    assert unbacked_claims(text) == [(3, "The option is required.")]


def test_the_scan_accepts_each_citation_form():
    for cite in ("(``tests/examples/test_x.py::test_y[a]``)",
                 "(:result:`uwsgi-http/client-abort`)",
                 "(:ref:`symptom-nginx-413`)",
                 "(:ref:`the 413 <symptom-nginx-413>`)",
                 "(not tested)"):
        assert unbacked_claims("An upload fails %s.\n" % cite) == [], cite
    # The citation may come in the next sentence of the same paragraph...
    assert unbacked_claims("It drains. Not tested.\n") == []
    # ...but not two sentences later, nor in another paragraph.
    assert len(unbacked_claims("It drains. So. Not tested.\n")) == 1
    assert len(unbacked_claims("It drains.\n\nNot tested.\n")) == 1
    # A full stop inside a literal does not end the sentence.
    assert unbacked_claims("It fails with ``a ... (b)`` here. Not tested.\n") == []


def test_the_scan_reads_a_table_row_as_one_claim():
    table = (".. list-table::\n\n"
             "   * - ``a``\n     - required\n     - Why.\n"
             "   * - ``b``\n     - required\n     - Why\n       (not tested).\n")
    assert [line for line, _ in unbacked_claims(table)] == [3]


def test_the_scan_skips_literals_code_and_titles():
    text = ("Required options\n================\n\n"
            "Set ``required = true``.\n\n"
            ".. code-block:: ini\n\n   # the upload fails\n\n"
            "Example::\n\n   it cuts\n")
    assert unbacked_claims(text) == []
