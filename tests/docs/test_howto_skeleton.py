"""Every pattern page has the same sections, in the same order.

A reader who knows one how-to page finds the same thing in the same place on
the others: when to choose it, the files, required and tuning options,
start/stop/reload, limits and timeouts, what the tests show, known mistakes.
"""

import re

import pytest

from tests.docs.test_server_options import PATTERN_PAGES

SKELETON = [
    "When to choose it",
    "The files",
    "Required and tuning options",
    "Start, stop, reload",
    "Limits and timeouts on the path",
    "What the tests show",
    "Known mistakes",
]


def section_titles(text):
    lines = text.splitlines()
    return [lines[i - 1].strip() for i in range(1, len(lines))
            if re.fullmatch(r"=+", lines[i]) and lines[i - 1].strip()
            and not re.fullmatch(r"=+", lines[i - 1]) and (i < 2 or not re.fullmatch(
                r"=+", lines[i - 2].strip() or "x"))]


@pytest.mark.parametrize("page", PATTERN_PAGES, ids=lambda p: p.stem)
def test_pattern_page_skeleton(page):
    assert section_titles(page.read_text(encoding="utf-8")) == SKELETON
