"""Why examples/apache-mod-wsgi/glance-apache.conf runs Glance's mod_wsgi
daemon with one process and one thread.

Glance 33 on SQLite cannot take a write while another connection is in
the middle of one. Each image update reads the row and then writes it in
one transaction (oslo.db emits a deferred BEGIN; glance/db/sqlalchemy/
api.py ``_image_update``: ``_image_get``, then ``query.update``), and
SQLite refuses a reader's upgrade to writer while another connection holds
the write lock at once, without waiting for the busy timeout (its
deadlock rule). oslo.db does not map that "database is locked" to the
DBDeadlock on which Glance retries ``image_update``, so the request fails
with 500 (or, in an upload's cleanup, the image stays in ``saving``).
Apache answers a chunked upload with broken framing before the daemon has
finished with it, so a client's next request can overlap Glance's cleanup
(which upload-chunked-malformed therefore waits for: send_in_two in
test_scenarios.py). With one daemon thread,
Glance takes requests in turn and is the only writer.

Glance runs without Keystone here (``Pattern.without_keystone``).
Collected only with GLANCELET_GLANCE_TESTS=1 (conftest.py).
"""

import sqlite3
import time

from lab.client import Api, MiB
from lab.harness import LineEdit
from lab.patterns import get

CONF = "examples/apache-mod-wsgi/glance-apache.conf"
DATABASE = "/var/lib/glance/glance.sqlite"
# The daemon as glancelet-apache.conf runs glancelet's.
WITHOUT = {CONF: LineEdit(r"^WSGIDaemonProcess glance-api processes=1 threads=1 ",
                          replace="WSGIDaemonProcess glance-api processes=2 threads=4 "
                                  "display-name=%{GROUP}")}
# pysqlite's busy timeout (sqlite3.connect's default), which SQLite skips here.
BUSY_TIMEOUT = 5.0


def glance_under_mod_wsgi(edits=None):
    pattern = get("apache-mod-wsgi").serving("glance").without_keystone()
    return pattern.variant(edits) if edits else pattern


def image_status(dep, image_id):
    """The image's status as Glance's database holds it (read-only)."""
    db = sqlite3.connect("file:%s?mode=ro" % dep.workspace.path(DATABASE), uri=True)
    try:
        return db.execute("SELECT status FROM images WHERE id = ?", (image_id,)).fetchone()[0]
    finally:
        db.close()


def versions_during_upload(dep, api):
    """With an upload in Glance (its status ``saving``, its body still
    coming), GET /versions with a 3 s timeout: the Response, or None if
    none came; the upload is then dropped and the image back in queued."""
    image = api.create_image(name="held")
    conn = api._start_put(image["id"], {"Content-Length": str(64 * MiB)}, timeout=60)
    conn.send(b"\0" * 65536)
    deadline = time.monotonic() + 60
    while image_status(dep, image["id"]) != "saving":
        assert time.monotonic() < deadline, "the upload never reached Glance"
        time.sleep(0.2)
    try:
        answer = api.request("GET", "/versions", timeout=3)
    except TimeoutError:
        answer = None
    conn.close()
    api.wait_status(image["id"], "queued", deadline=60)
    api.delete_image(image["id"])
    return answer


def test_one_request_at_a_time(tmp_path):
    """As shipped, a request waits while an upload is in Glance. What that
    prevents: a write while another connection holds SQLite's write lock
    fails at once, long before the busy timeout, with 500."""
    with glance_under_mod_wsgi().start(tmp_path) as dep:
        api = Api(dep.base_url, dep.ca_file)
        assert versions_during_upload(dep, api) is None
        image = api.create_image(name="locked")
        # The other writer, as a second Glance thread would be. BEGIN
        # IMMEDIATE takes the write lock and writes nothing (no journal).
        writer = sqlite3.connect(str(dep.workspace.path(DATABASE)), isolation_level=None,
                                 timeout=0)
        try:
            writer.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            resp = api.request("DELETE", "/v2/images/%s" % image["id"])
            seconds = time.monotonic() - started
            writer.execute("ROLLBACK")
        finally:
            writer.close()
        log = dep.log_text(None)
        api.delete_image(image["id"])
    assert resp.status == 500 and seconds < BUSY_TIMEOUT - 1, (resp, seconds)
    assert "(sqlite3.OperationalError) database is locked" in log


def test_without_it_requests_overlap(tmp_path):
    """processes=2 threads=4: a second request runs while an upload is in
    Glance, so Glance's own writes can overlap."""
    with glance_under_mod_wsgi(WITHOUT).start(tmp_path) as dep:
        answer = versions_during_upload(dep, Api(dep.base_url, dep.ca_file))
    assert answer is not None and answer.status == 200, answer
