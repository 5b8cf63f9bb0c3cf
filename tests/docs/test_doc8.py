"""Style of the reST sources: doc8 (line length, whitespace, valid reST)."""

import subprocess
import sys

from tests.docs.conftest import REPO_ROOT


def test_doc8_clean():
    argv = [sys.executable, "-m", "doc8", "--max-line-length", "100",
            "doc/source", "releasenotes/source"]
    proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Total files scanned" in proc.stdout, proc.stdout
