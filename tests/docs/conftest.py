"""Fixtures for the checks of the documentation site (tests/docs).

``built_html`` is the HTML build the checks read. ``tox -e docs`` builds the
site first and sets ``GLANCELET_DOCS_HTML`` to it; without that variable the
fixture builds the site itself, with ``-W``, into a temporary directory, so
the checks never read an old build.
"""

import os
import pathlib
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC_SOURCE = REPO_ROOT / "doc" / "source"


def sphinx_build(out_dir, *extra):
    """Run sphinx-build -W on doc/source; return the CompletedProcess."""
    argv = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q",
            "-b", "html", *extra, str(DOC_SOURCE), str(out_dir)]
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="session")
def built_html(tmp_path_factory):
    given = os.environ.get("GLANCELET_DOCS_HTML")
    if given:
        path = pathlib.Path(given)
        assert (path / "index.html").is_file(), (
            "GLANCELET_DOCS_HTML=%s has no index.html; build the site first "
            "(sphinx-build -W -b html doc/source %s)" % (given, given))
        return path
    out = tmp_path_factory.mktemp("html")
    proc = sphinx_build(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def rst_files():
    """Every reST source of the site, as paths."""
    return sorted(DOC_SOURCE.rglob("*.rst"))
