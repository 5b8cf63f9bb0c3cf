"""What nginx does with an upload before the WSGI server sees it.

For every pattern with nginx in front (``Pattern.spools`` declared), send a
Content-Length upload and a chunked one (1 MiB chunks) and read nginx's error
log (level warn): nginx logs "a client request body is buffered to a
temporary file" whenever it spools a body to client_body_temp_path. The
pattern declares which uploads it spools; both directions are asserted.
"""

import pytest

from lab.client import MiB, Api, Source
from lab.patterns import all_patterns

SPOOL_MESSAGE = "a client request body is buffered to a temporary file"
NGINX_PATTERNS = [p for p in all_patterns() if p.spools is not None]


def nginx_error_log(dep):
    return dep.workspace.path("/var/log/glancelet/nginx-error.log").read_text()


@pytest.mark.parametrize("pattern", NGINX_PATTERNS, ids=[p.name for p in NGINX_PATTERNS])
def test_upload_spooling(pattern, tmp_path, record):
    assert set(pattern.spools) == {"content-length", "chunked"}
    with pattern.start(tmp_path) as dep:
        api = Api(dep.base_url, dep.ca_file)
        for framing in ("content-length", "chunked"):
            before = nginx_error_log(dep).count(SPOOL_MESSAGE)
            image = api.create_image(name="spool-" + framing)
            source = Source(8 * MiB, seed=11)
            if framing == "chunked":
                resp = api.upload_chunked(image["id"], source, MiB)
            else:
                resp = api.upload_cl(image["id"], source)
            assert resp.status == 204, resp
            log = nginx_error_log(dep)
            spooled = log.count(SPOOL_MESSAGE) > before
            assert spooled == pattern.spools[framing], (framing, log)
            if spooled:
                line = [ln for ln in log.splitlines() if SPOOL_MESSAGE in ln][-1]
                # From the level on (no timestamp), with the operator's paths.
                record.symptom("nginx-chunked-spooled", pattern.name,
                               dep.workspace.operator_view(line[line.index("[warn]"):]))
            api.delete_image(image["id"])
