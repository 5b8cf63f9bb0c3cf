"""The multi-node pattern under failure and maintenance (issue 14 items 4, 5),
and its database server (issue 14 item 1).

The two load tests start their own ``haproxy-multinode`` deployment (on
PostgreSQL; on MariaDB with ``--mariadb``) and run a load
through HAProxy: client threads, each bounded by a number of operations and
stopped by the test, doing listings, uploads and glance-direct imports
(stage, then import, then wait for ``active``). Every operation is timed;
at the end every image the load was told is stored must be ``active`` with
its data's hash ("lost" counts those that are not). The counts (sent,
failed, lost) go into the results file (``record.counts``). Every run also
starts the pattern on MariaDB once (``test_on_mariadb``).
"""

import signal
import threading
import time
import urllib.parse

import pytest

from glancelet import conf, db
from lab import dbservers, glance, patterns, rewrite
from lab.client import MiB, Api, Source
from lab.harness import REPO_ROOT, LineEdit
from lab.patterns import haproxy_multinode
from tests.examples.conftest import multinode
from tests.examples.test_import_scenarios import worker_of

PATTERN = patterns.get("haproxy-multinode")
PAGE = REPO_ROOT / "doc/source/howto/haproxy-multinode.rst"
# haproxy.cfg: checks every 2 s, down after 3 failures, up after 2 passes;
# one more interval for the check running when the node changed.
FALL = 3 * 2 + 2
RISE = 2 * 2 + 2
DISABLE_FILE = "/var/lib/glancelet/healthcheck-disabled"


class Load:
    """Client threads through the front door (see the module docstring)."""

    def __init__(self, api, kinds, limit=500):
        self.api = api
        self.stop = threading.Event()
        self.done = []    # (start time, kind, ok, detail)
        self.kept = {}    # image id -> sha512 of the data the client stored
        self._threads = [threading.Thread(target=self._run, args=(kind, limit))
                         for kind in kinds]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self._threads:
            thread.join(120)
        assert not any(t.is_alive() for t in self._threads)

    def _run(self, kind, limit):
        for _ in range(limit):
            if self.stop.is_set():
                return
            started = time.monotonic()
            try:
                ok, detail = getattr(self, "_" + kind)()
            except Exception as exc:  # every failure counts, whatever its kind
                ok, detail = False, repr(exc)
            self.done.append((started, kind, ok, detail))
            time.sleep(0.02)

    def _list(self):
        resp = self.api.request("GET", "/v2/images?limit=5", timeout=60)
        return resp.status == 200, resp

    def _upload(self):
        image_id = self.api.create_image(name="load-upload")["id"]
        source = Source(4 * MiB + 1, seed=len(self.done))
        resp = self.api.upload_cl(image_id, source, timeout=60)
        if resp.status == 204:
            self.kept[image_id] = source.sha512.hexdigest()
        return resp.status == 204, resp

    def _import(self):
        image_id = self.api.create_image(name="load-import")["id"]
        source = Source(2 * MiB + 3, seed=len(self.done))
        resp = self.api.upload_cl(image_id, source, target="stage", timeout=60)
        if resp.status == 204:
            resp = self.api.import_image(image_id, "glance-direct")
        if resp.status != 202:
            return False, resp
        self.api.wait_status(image_id, "active", deadline=60)
        self.kept[image_id] = source.sha512.hexdigest()
        return True, resp

    def failed(self, since=0.0):
        return [op for op in self.done if not op[2] and op[0] >= since]

    def lost(self):
        """Images the load stored that are not active with their data's hash."""
        found = {image_id: self.api.get_image(image_id) for image_id in self.kept}
        return sorted(image_id for image_id, sha512 in self.kept.items()
                      if (found[image_id]["status"], found[image_id]["os_hash_value"])
                      != ("active", sha512))

    def counts(self):
        return {"sent": len(self.done), "failed": len(self.failed()), "lost": len(self.lost())}


def node_run(name):
    [run] = [run for run in PATTERN.servers if run.name == name]
    return run


def served_by(dep, name):
    """Image API requests the node's uWSGI logged since it (re)started."""
    return dep.servers[name].log_since_start().count(" /v2/images")


def wait_haproxy(dep, line, seen, deadline=30.0):
    """Wait until HAProxy's log has ``line`` more than ``seen`` times."""
    end = time.monotonic() + deadline
    while dep.log_text("haproxy").count(line) <= seen:
        assert time.monotonic() < end, "no new %r in HAProxy's log\n%s" % (
            line, dep.log_text("haproxy")[-3000:])
        time.sleep(0.2)


@pytest.fixture
def multinode_pattern(request):
    """haproxy-multinode, on MariaDB with --mariadb."""
    return multinode(request.config, PATTERN)


def test_kill_9_of_a_node_under_load(multinode_pattern, tmp_path, record):
    """An upload runs slowly; the node that has it is killed (kill -9 of all
    its processes) under load. The upload ends with an error; the other
    node, another host, releases its image once the dead process's lease
    has expired, and it can be uploaded; after the fall time no request
    fails; the node started again rejoins and serves requests."""
    with multinode_pattern.start(tmp_path) as dep:
        api = Api(dep.base_url)
        # More operations than the other test's: this one waits out a lease.
        with Load(api, ("list", "upload", "import"), limit=3000) as load:
            time.sleep(3)
            image_id = api.create_image(name="in-flight")["id"]
            outcome = {}

            def slow_upload():
                try:
                    outcome["resp"] = api.upload_cl(image_id, Source(64 * MiB, seed=77),
                                                    pace=8 * MiB, timeout=60)
                except OSError as exc:
                    outcome["error"] = exc
            uploader = threading.Thread(target=slow_upload)
            uploader.start()
            api.wait_status(image_id, "saving", deadline=10)
            worker, pid = worker_of(dep, image_id)
            victim = dep.server_of(pid)
            # Each node is a host of its own (lab.harness.NodeWorkspace):
            # the claim names the victim's host, which the other node's
            # processes cannot judge by PID.
            assert worker.split("|")[0] == victim.hostname, (worker, victim.hostname)
            # The lease timeout of the node's configuration, as installed.
            lease = conf.load(str(node_run(victim.name).workspace(dep.workspace).path(
                "/etc/glancelet/glancelet.conf"))).get("DEFAULT", "worker_lease_timeout")
            killed = time.monotonic()
            victim.kill_group()
            uploader.join(90)
            assert not uploader.is_alive()
            # A clear error for the client: HAProxy's 502, or a cut connection.
            assert "error" in outcome or outcome["resp"].status == 502, outcome
            # The other node releases the image once the dead process's lease
            # has expired: its last renewal was at most a quarter of the
            # timeout before the kill, so not before three quarters of it,
            # and by the timeout (and the next read).
            api.wait_status(image_id, "queued", deadline=lease + 30)
            released = time.monotonic() - killed
            assert lease * 3 / 4 - 1 <= released <= lease + 10, (lease, released)
            print("kill -9 of a node: the image was released after %.1f s" % released)
            retry = Source(MiB, seed=78)
            assert api.upload_cl(image_id, retry).status == 204
            time.sleep(FALL + 6)
            dep.restart(victim.name)
            time.sleep(RISE + 4)
        failed_late = load.failed(since=killed + FALL)
        counts = load.counts()
        assert failed_late == [], failed_late
        assert counts["lost"] == 0, load.lost()
        assert served_by(dep, victim.name) > 0, "the restarted node got no request"
        assert api.get_image(image_id)["os_hash_value"] == retry.sha512.hexdigest()
        counts["failed_after_fall"] = len(failed_late)
        print("kill -9 of a node:", counts)
        record.counts("kill-9-of-a-node", counts)


def test_rolling_restart_under_load(multinode_pattern, tmp_path, record):
    """Node by node: disable_by_file, HAProxy takes the node out, wait for
    the imports staged there, SIGTERM (uWSGI drains), start, enable, HAProxy
    puts it back. No request of the load fails and no image is lost."""
    with multinode_pattern.start(tmp_path) as dep:
        api = Api(dep.base_url)
        with Load(api, ("list", "upload", "import")) as load:
            time.sleep(3)
            for name in dep.node_urls:
                run = node_run(name)
                flag = run.workspace(dep.workspace).path(DISABLE_FILE)
                down, up = ("glancelet_api/%s is %s" % (run.node.name, state)
                            for state in ("DOWN", "UP"))
                seen = {line: dep.log_text("haproxy").count(line) for line in (down, up)}
                flag.touch()
                wait_haproxy(dep, down, seen[down])
                url = dep.node_urls[name]
                deadline = time.monotonic() + 60
                while any(i.get("os_glance_stage_host") == url for i in api.request(
                        "GET", "/v2/images?status=uploading&limit=1000").json()["images"]):
                    assert time.monotonic() < deadline, "imports staged on %s never ran" % name
                    time.sleep(0.2)
                assert dep.servers[name].stop(signal.SIGTERM) == 0
                dep.restart(name)
                flag.unlink()
                wait_haproxy(dep, up, seen[up])
                time.sleep(2)
        counts = load.counts()
        assert load.failed() == [], load.failed()
        assert counts["lost"] == 0, load.lost()
        assert counts["sent"] > 20, counts
        print("rolling restart:", counts)
        record.counts("rolling-restart", counts)


@pytest.mark.parametrize("pattern", [PATTERN, haproxy_multinode.on_mariadb()],
                         ids=lambda p: p.name)
def test_page_gives_the_database_setup(pattern):
    """The how-to page has the commands that create the user and database
    the pattern's connection names and run db_sync, exactly as the harness
    runs them (lab.dbservers.set_up), and MariaDB's connection line."""
    page = PAGE.read_text()
    text = (REPO_ROOT / haproxy_multinode.DIR / "multinode.conf").read_text()
    for edit in pattern.edits.get(haproxy_multinode.DIR + "multinode.conf", ()):
        text = edit.apply(text)
        assert "``%s``" % edit.replace in page
    assert_database_setup(page, pattern.database, text, dbservers.DB_SYNC)


@pytest.mark.parametrize("mariadb", [False, True], ids=["postgresql", "mariadb"])
def test_page_gives_glances_database_setup(mariadb):
    """The same for Glance on the pattern (its Glance tabs): the user and
    database of glance-multinode.conf's connection, Glance's drivers and
    glance-manage db_sync as the harness runs them (lab.glance.DB_SYNC_CONF_D)."""
    pattern = PATTERN.serving("glance")
    pattern = haproxy_multinode.on_mariadb(pattern) if mariadb else pattern
    page = PAGE.read_text()
    example = haproxy_multinode.DIR + "glance-multinode.conf"
    text = (REPO_ROOT / example).read_text()
    for edit in pattern.edits.get(example, ()):
        text = edit.apply(text)
        assert "``%s``" % edit.replace in page
    assert_database_setup(page, pattern.database, text, glance.DB_SYNC_CONF_D)
    assert "pip install %s" % " ".join(glance.DB_DRIVERS) in page


def assert_database_setup(page, database, conf_text, db_sync):
    """``page`` has the SQL that creates the user and database of the
    ``connection`` line in ``conf_text`` on a ``database`` server, and ``db_sync``."""
    [connection] = [ln.split(" = ", 1)[1] for ln in conf_text.splitlines()
                    if ln.startswith("connection = ")]
    url = urllib.parse.urlsplit(connection)
    assert url.port == int(dbservers.PORT_TOKENS[database])
    assert str(url.port) in rewrite.TOKENS["ports"]
    server = dbservers.SERVERS[database]
    for statement in server.user_sql + server.database_sql:
        sql = statement.format(user=url.username, password=url.password,
                               database=url.path.lstrip("/"))
        assert sql in page, sql
    assert db_sync in page


def test_on_mariadb(tmp_path):
    """The pattern on MariaDB: an upload through HAProxy, a stage on node1
    imported through node2, each image read back from the other node, and
    both rows are in MariaDB."""
    pattern = haproxy_multinode.on_mariadb()
    with pattern.start(tmp_path) as dep:
        assert dep.connection.startswith("mysql+pymysql://") and dep.db_path is None
        front = Api(dep.base_url)
        node1, node2 = (Api(url) for url in dep.node_urls.values())
        uploaded = front.create_image(name="on-mariadb")["id"]
        source = Source(3 * MiB + 5, seed=5)
        assert front.upload_cl(uploaded, source).status == 204
        imported = node1.create_image(name="on-mariadb-import")["id"]
        staged = Source(2 * MiB + 7, seed=6)
        assert node1.upload_cl(imported, staged, target="stage").status == 204
        assert node2.import_image(imported, "glance-direct").status == 202
        node2.wait_status(imported, "active", deadline=60)
        for api, image_id, data in ((node2, uploaded, source), (node1, imported, staged)):
            resp, size, _, sha512 = api.download(image_id)
            assert (resp.status, size, sha512) == (200, data.size, data.sha512.hexdigest())
            assert api.get_image(image_id)["os_hash_value"] == data.sha512.hexdigest()
        database = db.connect(dep.connection, sync=False)
        try:
            rows = database.query("SELECT id, status FROM images WHERE id IN (?, ?)",
                                  (uploaded, imported))
        finally:
            database.engine.dispose()
        assert sorted(tuple(row) for row in rows) == sorted(
            [(uploaded, "active"), (imported, "active")])


def test_without_worker_self_reference_url_an_import_elsewhere_fails(tmp_path, record):
    """Both nodes without ``worker_self_reference_url``: data staged on node1
    records no host, so an import that reaches node2 is not forwarded and its
    task fails (the data is on node1's disk, not node2's). node2 finds no
    staged data, so the image goes back to ``queued`` and the client must
    stage again: the staged data is lost to it (node1 removes the file it
    still holds as residue, at its next start). Staged again and imported
    through node1, the image becomes active."""
    no_url = LineEdit(r"^worker_self_reference_url = ", remove=True)
    variant = PATTERN.variant({haproxy_multinode.DIR + node.name + ".conf": no_url
                               for node in haproxy_multinode.NODES})
    with variant.start(tmp_path) as dep:
        node1, node2 = (Api(url) for url in dep.node_urls.values())
        image_id = node1.create_image(name="no-self-reference")["id"]
        staged = Source(2 * MiB + 3, seed=7)
        assert node1.upload_cl(image_id, staged, target="stage").status == 204
        assert "os_glance_stage_host" not in node1.get_image(image_id)
        resp = node2.import_image(image_id, "glance-direct")
        assert resp.status == 202, resp
        end = time.monotonic() + 60
        while True:
            [task] = node2.tasks_of(image_id)
            if task["status"] not in ("pending", "processing") or time.monotonic() > end:
                break
            time.sleep(0.2)
        assert task["status"] == "failure", task
        assert task["message"].startswith(
            "the staged data of image %s is missing from the staging directory; stage it "
            "again" % image_id), task["message"]
        assert node2.get_image(image_id)["status"] == "queued"
        record.symptom("multinode-no-self-reference-url", "haproxy-multinode",
                       "POST /v2/images/%s/import (glance-direct) through node2: %s\n"
                       "task %s: %s" % (image_id, resp.status_line, task["status"],
                                        task["message"]))
        staged = Source(2 * MiB + 3, seed=7)
        assert node1.upload_cl(image_id, staged, target="stage").status == 204
        assert node1.import_image(image_id, "glance-direct").status == 202
        node1.wait_status(image_id, "active", deadline=60)
        resp, size, _, sha512 = node2.download(image_id)
        assert (resp.status, size, sha512) == (200, staged.size, staged.sha512.hexdigest())
