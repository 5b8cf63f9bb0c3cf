"""Every ``versionadded``/``versionchanged``/``deprecated`` agrees with reno.

The rule, for each such directive in doc/source:

1. Its version must be a version that has release notes. reno files each
   committed note under the version tag that first contains it. Notes not
   yet in a tagged release (reno calls their version ``0.0.0`` before the
   first tag, ``<tag>-<n>`` after one) belong to the release being prepared,
   whose number is ``glancelet.__version__``.
2. Its text must name its topic as at least one ``literal`` (double
   backquotes), and every such literal must appear in the text of at least
   one note of that version. So "versionadded 0.1.0: ``WSGIChunkedRequest``"
   needs a 0.1.0 note that mentions ``WSGIChunkedRequest``.

reno reads only committed notes, from git: a note that is written but not
committed does not count (commit it with the page that cites it).
"""

import re

import pytest

from tests.docs.conftest import REPO_ROOT, rst_files
from tests.docs.rstscan import scan

DIRECTIVES = {"versionadded", "versionchanged", "deprecated", "versionremoved"}
LITERAL_RE = re.compile(r"``(.+?)``")
UNRELEASED_RE = re.compile(r"^(0\.0\.0|.+-\d+)$")


def reno_notes():
    """{release version: [text of each note]} from reno's scanner."""
    from reno import config, loader

    import glancelet

    conf = config.Config(str(REPO_ROOT), "releasenotes")
    notes = {}
    with loader.Loader(conf) as ldr:
        for version in ldr.versions:
            release = glancelet.__version__ if UNRELEASED_RE.match(version) else version
            for filename, sha in ldr[version]:
                content = ldr.parse_note_file(filename, sha)
                text = "\n".join(_flatten(content))
                notes.setdefault(release, []).append(text)
    return notes


def _flatten(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _flatten(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _flatten(item)


def version_directives():
    for path in rst_files():
        for block in scan(path):
            if block.kind in DIRECTIVES:
                version, _, rest = block.argument.partition(" ")
                text = " ".join([rest] + [line.strip() for line in block.body])
                yield block, version, text


def check(directives, notes):
    """The rule; returns a list of problems (one line each)."""
    problems = []
    for block, version, text in directives:
        if version not in notes:
            problems.append("%s: %s %s, but there are no release notes for %s "
                            "(versions with notes: %s)" % (
                                block.where(), block.kind, version, version,
                                ", ".join(sorted(notes)) or "none"))
            continue
        topics = LITERAL_RE.findall(text)
        if not topics:
            problems.append("%s: %s %s names no ``topic``; quote the option, "
                            "module or pattern it is about" % (block.where(),
                                                               block.kind, version))
            continue
        for topic in topics:
            if not any(topic in note for note in notes[version]):
                problems.append("%s: no %s release note mentions %r" % (
                    block.where(), version, topic))
    return problems


def test_version_directives_match_release_notes():
    directives = list(version_directives())
    notes = reno_notes() if directives else {}
    problems = check(directives, notes)
    assert not problems, "\n".join(problems)


class _FakeBlock:
    kind = "versionadded"

    def where(self):
        return "x.rst:1"


@pytest.mark.parametrize("version,text,ok", [
    ("0.1.0", "Added ``chunked-input-limit`` to the example.", True),
    ("0.1.0", "Added something.", False),                    # no topic
    ("0.1.0", "Added ``nginx-413``.", False),                # topic in no note
    ("9.9.9", "Added ``chunked-input-limit``.", False),      # no such version
])
def test_rule(version, text, ok):
    """The rule itself, on made-up notes."""
    notes = {"0.1.0": ["uWSGI examples set ``chunked-input-limit`` to 64 MiB."]}
    problems = check([(_FakeBlock(), version, text)], notes)
    assert (not problems) is ok, problems
