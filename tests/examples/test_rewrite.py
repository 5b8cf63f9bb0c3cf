"""The rewrite mechanism changes only the declared ports, paths and address.

For every file under examples/, rewrite it with distinctive values and check,
line by line, that the only differences are declared tokens replaced by their
values. Also unit-check the token boundaries.
"""

import re

import pytest

from lab import rewrite
from lab.harness import REPO_ROOT, LineEdit, Workspace
from lab.patterns import get

EXAMPLE_FILES = sorted(p for p in (REPO_ROOT / "examples").rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts)

VALUES = {token: str(40000 + i) for i, token in enumerate(rewrite.TOKENS["ports"])}
VALUES.update({token: "/tmp/pytest-of-x/run%d/root%s" % (i, token)
               for i, token in enumerate(rewrite.TOKENS["paths"])})
VALUES.update({token: "127.0.0.%d" % (9 + i)
               for i, token in enumerate(rewrite.TOKENS["addresses"])})


def only_tokens_changed(original, rewritten, values):
    """True when ``rewritten`` is ``original`` with declared tokens replaced
    by ``values``, and nothing else: each original line becomes a regex in
    which a token may only turn into its value."""
    old_lines = original.split("\n")
    new_lines = rewritten.split("\n")
    if len(old_lines) != len(new_lines):
        return False
    pattern = rewrite.token_pattern()
    for old, new in zip(old_lines, new_lines):
        regex, pos = "", 0
        for m in pattern.finditer(old):
            regex += re.escape(old[pos:m.start()]) + re.escape(values[m.group(0)])
            pos = m.end()
        regex += re.escape(old[pos:])
        if not re.fullmatch(regex, new):
            return False
    return True


def test_examples_exist():
    assert EXAMPLE_FILES, "examples/ is empty"


@pytest.mark.parametrize("path", EXAMPLE_FILES,
                         ids=[str(p.relative_to(REPO_ROOT)) for p in EXAMPLE_FILES])
def test_rewrite_touches_only_tokens(path):
    original = path.read_text(encoding="utf-8")
    rewritten = rewrite.rewrite_text(original, VALUES)
    assert only_tokens_changed(original, rewritten, VALUES)
    # Every token found was replaced: no real port or path is left behind.
    assert rewrite.tokens_in(rewritten) == set()


def test_checker_catches_other_changes():
    text = "http-socket = 127.0.0.1:60999\nprocesses = 4\n"
    good = rewrite.rewrite_text(text, VALUES)
    assert only_tokens_changed(text, good, VALUES)
    assert not only_tokens_changed(text, good.replace("processes = 4", "processes = 2"),
                                   VALUES)
    assert not only_tokens_changed(text, good + "extra = 1\n", VALUES)


@pytest.mark.parametrize("text,expected", [
    ("listen 127.0.0.1:60999;", "listen 127.0.0.9:40002;"),
    # The address only where it is bound or connected to, before a port token.
    ("allowed_hosts = [127.0.0.1] and 127.0.0.1:8080 and 127.0.0.12:60999",
     "allowed_hosts = [127.0.0.1] and 127.0.0.1:8080 and 127.0.0.12:40002"),
    ("port 160999 and 609990 and 60999.5", "port 160999 and 609990 and 60999.5"),
    ("connection = sqlite:////var/lib/glancelet/glancelet.sqlite",
     "connection = sqlite:////tmp/pytest-of-x/run1/root/var/lib/glancelet/glancelet.sqlite"),
    ("/var/lib/glancelet-old /var/lib/glanceletx", "/var/lib/glancelet-old /var/lib/glanceletx"),
    ("virtualenv = /opt/glancelet", "virtualenv = /tmp/pytest-of-x/run4/root/opt/glancelet"),
    ("/opt/glancelet-mod-wsgi-venv", "/opt/glancelet-mod-wsgi-venv"),
])
def test_token_boundaries(text, expected):
    assert rewrite.rewrite_text(text, VALUES) == expected


def test_missing_value_is_an_error():
    with pytest.raises(KeyError):
        rewrite.rewrite_text("bind = 127.0.0.1:60999", {})
    with pytest.raises(ValueError):
        rewrite.rewrite_text("x", {"8080": "1"})


# -- variants (lab.harness.LineEdit): the only other way a file may differ,
# used by the symptom and line-proof tests, never by the scenarios.

TEXT = "[a]\n  keep = 1\n  drop = 2\nlast = 3\n"


@pytest.mark.parametrize("edit, expected", [
    (LineEdit(r"^\s*drop =", remove=True), "[a]\n  keep = 1\nlast = 3\n"),
    (LineEdit(r"^\s*drop =", replace="drop = 9"), "[a]\n  keep = 1\n  drop = 9\nlast = 3\n"),
    (LineEdit(r"^\s*keep =", add_after="new = 0"),
     "[a]\n  keep = 1\n  new = 0\n  drop = 2\nlast = 3\n"),
    (LineEdit(r"^last", add_after="x = 1"), TEXT + "x = 1\n"),
])
def test_line_edit(edit, expected):
    assert edit.apply(TEXT) == expected


@pytest.mark.parametrize("regex", [r"^nothing", r"= \d$"])
def test_line_edit_must_match_exactly_one_line(regex):
    with pytest.raises(AssertionError, match="not one"):
        LineEdit(regex, remove=True).apply(TEXT)


def test_line_edit_takes_one_change():
    with pytest.raises(AssertionError):
        LineEdit(r"^last", remove=True, replace="x")
    with pytest.raises(AssertionError):
        LineEdit(r"^last")


def test_install_variant_edits_before_the_rewrite(tmp_path):
    """The edit applies to the file as shipped, then the usual rewrite."""
    ws = Workspace(tmp_path)
    try:
        path = ws.install_variant("examples/uwsgi-http/glancelet-uwsgi.ini",
                                  "/etc/glancelet/glancelet-uwsgi.ini", r"^master\s*=",
                                  add_after="hook-post-fork = exec:sleep 3")
        lines = path.read_text().splitlines()
        assert lines[lines.index("master = true") + 1] == "hook-post-fork = exec:sleep 3"
        assert "http-socket = 127.0.0.1:%d" % ws.port("60999") in lines
    finally:
        ws.remove()


def test_pattern_variant_names_its_edits():
    pattern = get("uwsgi-http")
    ini = "examples/uwsgi-http/glancelet-uwsgi.ini"
    variant = pattern.variant({ini: LineEdit(r"^need-app\s*=", remove=True)})
    assert variant.name == r"uwsgi-http (glancelet-uwsgi.ini without /^need-app\s*=/)"
    assert pattern.edits == {} and variant.edits == {ini: [LineEdit(r"^need-app\s*=",
                                                                    remove=True)]}
    with pytest.raises(AssertionError, match="not files of"):
        pattern.variant({"examples/gunicorn/gunicorn.conf.py": []})
