"""gunicorn's ``timeout`` against a long upload (examples/gunicorn/)."""

import time

import pytest

from lab.client import MiB, Api, Source
from lab.harness import LineEdit
from lab.patterns import get

CONF = "examples/gunicorn/gunicorn.conf.py"


@pytest.mark.parametrize("worker_class", ["gthread", "sync"])
def test_long_upload_against_timeout(worker_class, tmp_path):
    """With ``timeout = 3``, an upload paced to last about 8 s. The shipped
    gthread worker keeps reporting to the arbiter while one of its threads
    streams the body: the upload completes. A sync worker does not: the
    arbiter kills it (WORKER TIMEOUT) and the upload fails."""
    edits = [LineEdit(r"^timeout = 60$", replace="timeout = 3")]
    if worker_class == "sync":
        # gunicorn runs gthread anyway when threads > 1.
        edits += [LineEdit(r'^worker_class = "gthread"$', replace='worker_class = "sync"'),
                  LineEdit(r"^threads = 4$", replace="threads = 1")]
    with get("gunicorn").variant({CONF: edits}).start(tmp_path) as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="long")
        started = time.monotonic()
        try:
            resp = api.upload_cl(image["id"], Source(64 * MiB, seed=41), pace=8 * MiB,
                                 timeout=60)
        except OSError as exc:
            resp = exc
        elapsed = time.monotonic() - started
        log = dep.log_text("gunicorn")
    if worker_class == "gthread":
        assert getattr(resp, "status", None) == 204, resp
        assert elapsed > 6, elapsed
        assert "WORKER TIMEOUT" not in log, log
    else:
        assert getattr(resp, "status", None) != 204, resp
        assert "WORKER TIMEOUT" in log, log
