"""Why uWSGI's ``add-header = Connection: close`` matters behind HAProxy.

HAProxy keeps the client's connection open and, between requests, reuses
its connection to uWSGI. uWSGI's ``http-socket`` closes that after every
response; without the header HAProxy does not know it will.
"""

import http.client
import time
from urllib.parse import urlsplit

import pytest

from lab.client import auth_headers
from lab.harness import LineEdit
from lab.patterns import get
from tests.examples.test_apache_proxy_http import SLOW_CLOSE

INI = "examples/uwsgi-http/glancelet-uwsgi.ini"
VARIANTS = {
    "shipped": SLOW_CLOSE,
    "without-connection-close": SLOW_CLOSE + [
        LineEdit(r"^add-header = Connection: close$", remove=True)],
}


def on_one_connection(base_url, count):
    """Up to ``count`` GETs on one client connection, opening a new one only
    after a failure: (statuses, errors)."""
    parts = urlsplit(base_url)
    statuses, errors = [], []
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        for _ in range(count):
            try:
                conn.request("GET", parts.path + "/v2/images?limit=1", headers=auth_headers())
                resp = conn.getresponse()
                resp.read()
                statuses.append(resp.status)
            except (http.client.HTTPException, OSError) as exc:
                errors.append(exc)
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    finally:
        conn.close()
    return statuses, errors


@pytest.mark.parametrize("which", list(VARIANTS))
def test_client_keepalive_through_haproxy(which, tmp_path):
    """40 GETs on one client connection, with uWSGI's close of each
    connection delayed (lab/slow_close.py) as in the Apache reuse test. As
    shipped all succeed; without the header HAProxy drops the client's
    connection without a response on about every other request."""
    with get("haproxy-uwsgi").variant({INI: VARIANTS[which]}).start(tmp_path) as dep:
        started = time.monotonic()
        statuses, errors = on_one_connection(dep.base_url, 40)
        assert time.monotonic() - started < 120
    if which == "shipped":
        assert (statuses, errors) == ([200] * 40, [])
    else:
        assert set(statuses) == {200}, statuses
        assert len(errors) >= 10, (statuses, errors)
        assert all(isinstance(e, http.client.RemoteDisconnected) for e in errors), errors
