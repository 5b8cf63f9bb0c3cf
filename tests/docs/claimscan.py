"""Find claim sentences in reST prose that name no test.

A claim sentence holds one of CLAIM_WORDS as a word outside ``literals``.
It is backed when it, or the sentence right after it in the same paragraph,
cites evidence (CITATION_RE): a test id (``tests/<path>.py::test_name``),
a ``:result:`` role, a symptom entry (whose captured text names the test
that asserts it), or the words "not tested". A row of a list-table is one
sentence: its cells together state one claim.

Code, configuration and generated blocks are not prose and are skipped, as
are section titles.
"""

import re

CLAIM_WORDS = ("required", "fails", "drains", "cuts")
CLAIM_RE = re.compile(r"\b(%s)\b" % "|".join(CLAIM_WORDS), re.I)
CITATION_RE = re.compile(
    r"``tests/[\w/]+\.py::test_\w+"
    r"|:result:`"
    r"|:ref:`(?:[^`<]*<)?symptom-"
    r"|\bnot tested\b", re.I)
# Directives whose body is not prose.
SKIPPED = {"code-block", "code", "literalinclude", "support-matrix",
           "symptom-text", "symptom-leftovers", "check-upload", "toctree",
           "glancelet-routes", "results-status", "tested-versions",
           "programoutput", "command-output", "bench-table", "bench-figure",
           "only", "raw", "image", "figure"}
DIRECTIVE_RE = re.compile(r"^(\s*)\.\.\s+([\w:-]+)::")
COMMENT_RE = re.compile(r"^(\s*)\.\.(\s|$)")
ITEM_RE = re.compile(r"^\s*(?:[*-]|#\.|\d+\.)\s")
ROW_RE = re.compile(r"^\s*\* - ")
CELL_RE = re.compile(r"^\s+- ")
TITLE_RE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")
SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(:`*])")


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _units(lines):
    """Yield (first line number, text) for each paragraph, list item and
    table row of the prose, skipping non-prose blocks and titles."""
    unit, start = [], 0
    skip_indent = None
    in_row = False

    def flush():
        if unit:
            yield start, " ".join(part.strip() for part in unit)

    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if skip_indent is not None:
            if not stripped or _indent(line) > skip_indent:
                continue
            skip_indent = None
        nxt = lines[number] if number < len(lines) else ""
        directive = DIRECTIVE_RE.match(line)
        if directive and directive.group(2) in SKIPPED or (
                COMMENT_RE.match(line) and not directive):
            yield from flush()
            unit, in_row = [], False
            skip_indent = _indent(line)
            continue
        if line.rstrip().endswith("::") and not directive:
            # A paragraph ending in "::" introduces a literal block.
            unit.append(line[:-1] if line.rstrip().endswith(" ::") else line)
            yield from flush()
            unit, in_row = [], False
            skip_indent = _indent(line)
            continue
        if not stripped or directive or TITLE_RE.match(stripped) or TITLE_RE.match(nxt.strip()):
            if in_row and not stripped:
                continue
            yield from flush()
            unit, in_row = [], False
            continue
        if ROW_RE.match(line):
            yield from flush()
            unit, start, in_row = [line], number, True
            continue
        if in_row and (CELL_RE.match(line) or _indent(line) > 2):
            unit.append(line)
            continue
        if ITEM_RE.match(line) or in_row:
            yield from flush()
            unit, start, in_row = [line], number, False
            continue
        if unit and not in_row and _indent(line) < _indent(unit[-1]):
            # Back out of an indented block: a new definition list term.
            yield from flush()
            unit = []
        if not unit:
            start = number
        unit.append(line)
    yield from flush()


def _sentences(text, is_row):
    """The sentences of a unit; a full stop inside a ``literal`` ends none."""
    if is_row:
        return [text]
    masked = re.sub(r"``.+?``", lambda m: "x" * len(m.group(0)), text)
    cuts = [(m.start(), m.end()) for m in SENTENCE_END_RE.finditer(masked)]
    starts = [0] + [end for _, end in cuts]
    ends = [start for start, _ in cuts] + [len(text)]
    return [text[a:b] for a, b in zip(starts, ends)]


def unbacked_claims(text):
    """(line number, sentence) for each claim sentence that cites nothing."""
    found = []
    for start, unit in _units(text.splitlines()):
        sentences = _sentences(unit, unit.startswith("* - "))
        for i, sentence in enumerate(sentences):
            if not CLAIM_RE.search(re.sub(r"``.+?``", "", sentence)):
                continue
            window = " ".join(sentences[i:i + 2])
            if not CITATION_RE.search(window):
                found.append((start, sentence))
    return found
