"""OpenStack Glance 33 on haproxy-multinode's two nodes (issue 14 item 6).

The pattern's Glance files (``Pattern.glance``: glance-uwsgi.ini on each
node, behind-proxy.conf, glance-multinode.conf and the node's
glance-node<N>.conf), behind the run's Keystone, on the PostgreSQL the
harness starts (a ``glance`` database, ``glance-manage db_sync`` once).
The scenario suite runs the same deployment through HAProxy
(``--service glance``); here each node is reached on its own address, to
show where an import runs. Collected only with GLANCELET_GLANCE_TESTS=1
(conftest.py).
"""

import os
import subprocess
import time

from lab import glance, patterns
from lab.client import MiB, Api, Source
from lab.harness import LineEdit, Workspace, data_files
from lab.patterns import haproxy_multinode

PATTERN = patterns.get("haproxy-multinode")
# What Glance 33 logs on the node that sends an import on (its
# _proxy_request_to_host in glance/api/v2/images.py).
PROXYING = "Proxying POST request to host %s which has image."


def stage_host(dep, image_id):
    """The os_glance_stage_host Glance recorded on the image, read from its
    database (Glance's API hides the property)."""
    return dep.workspace.database.sql(
        "SELECT value FROM image_properties WHERE image_id = '%s' AND "
        "name = 'os_glance_stage_host' AND NOT deleted" % image_id, database="glance").strip()


def staged_on(dep, image_id):
    """{node server name: the files holding the image's staged data there}."""
    return {name: data_files(staging, image_id)
            for name, staging in zip(dep.node_urls, dep.staging_dirs)}


def stage_on_node1(dep, name, seed):
    """A new image with data staged through node1: (image id, the Source)."""
    node1 = Api(dep.node_urls["uwsgi@node1"])
    image_id = node1.create_image(name=name)["id"]
    staged = Source(2 * MiB + 7, seed=seed)
    assert node1.upload_cl(image_id, staged, target="stage").status == 204
    return image_id, staged


def wait_task(api, image_id, deadline=60.0):
    """The image's one import task, once it has ended."""
    end = time.monotonic() + deadline
    while True:
        [task] = api.tasks_of(image_id)
        if task["status"] not in ("pending", "processing") or time.monotonic() > end:
            return task
        time.sleep(0.2)


def test_stage_on_node1_import_through_node2(tmp_path):
    """Data staged through node1 stays in node1's staging directory, and
    Glance records node1's worker_self_reference_url on the image. The
    import request sent to node2 is sent on by node2 to that URL (node2
    logs it), the task runs on node1, and the image becomes active in the
    shared store: node2 serves its data, node1's staged file is gone."""
    with PATTERN.serving("glance").start(tmp_path) as dep:
        assert dep.connection.startswith("postgresql+psycopg2://glance:")
        (name1, url1), (name2, url2) = dep.node_urls.items()
        node1, node2 = Api(url1), Api(url2)
        image_id, staged = stage_on_node1(dep, "glance-cross-node", seed=6)
        assert node2.get_image(image_id)["status"] == "uploading"
        assert stage_host(dep, image_id) == url1
        assert [len(files) for files in staged_on(dep, image_id).values()] == [1, 0]
        resp = node2.import_image(image_id, "glance-direct")
        assert resp.status == 202, resp
        assert PROXYING % url1 in dep.log_text(name2)
        assert PROXYING % url1 not in dep.log_text(name1)
        node2.wait_status(image_id, "active", deadline=60)
        assert wait_task(node2, image_id)["status"] == "success"
        resp, size, _, sha512 = node2.download(image_id)
        assert (resp.status, size, sha512) == (200, staged.size, staged.sha512.hexdigest())
        assert node1.get_image(image_id)["os_hash_value"] == staged.sha512.hexdigest()
        assert len(data_files(dep.store_dir, image_id)) == 1
        assert staged_on(dep, image_id) == {name1: [], name2: []}


def test_without_worker_self_reference_url_an_import_elsewhere_is_stuck(tmp_path):
    """Both nodes without ``worker_self_reference_url``: Glance records
    public_endpoint (the balancer's URL, the same on both nodes) as the
    stage host, so node2 runs the import itself instead of sending it on.
    Its task fails (the data is on node1's disk, not node2's) and the image
    stays ``importing``: a glance-direct import through node1, where the
    data still is, is refused with 409, so the image can only be deleted."""
    no_url = LineEdit(r"^worker_self_reference_url = ", remove=True)
    variant = PATTERN.serving("glance").variant(
        {haproxy_multinode.DIR + "glance-%s.conf" % node.name: no_url
         for node in haproxy_multinode.NODES})
    with variant.start(tmp_path) as dep:
        (name1, url1), (name2, url2) = dep.node_urls.items()
        node1, node2 = Api(url1), Api(url2)
        image_id, _ = stage_on_node1(dep, "glance-no-self-reference", seed=7)
        assert stage_host(dep, image_id) == dep.base_url
        resp = node2.import_image(image_id, "glance-direct")
        assert resp.status == 202, resp
        task = wait_task(node2, image_id)
        assert "Proxying" not in dep.log_text()
        assert (task["status"], task["message"]) == ("failure", "Task failed due to Internal Error")
        assert "No such file or directory: '%s'" % dep.staging_dirs[1].joinpath(image_id) \
            in dep.log_text(name2)
        time.sleep(10)
        assert node2.get_image(image_id)["status"] == "importing"
        assert [len(files) for files in staged_on(dep, image_id).values()] == [1, 0]
        again = node1.import_image(image_id, "glance-direct")
        assert again.status == 409, again
        assert "Image needs to be staged before 'glance-direct' method can be used" in again.text
        node1.delete_image(image_id)


def test_on_mariadb(tmp_path):
    """The pattern's Glance on MariaDB (glance-multinode.conf's connection
    line for MariaDB: haproxy_multinode.on_mariadb): an upload through
    HAProxy, and data staged through node1 imported through node2 (sent on
    to node1); both images are active in Glance's MariaDB database."""
    pattern = haproxy_multinode.on_mariadb(PATTERN.serving("glance"))
    with pattern.start(tmp_path) as dep:
        assert dep.connection.startswith("mysql+pymysql://glance:")
        (_, url1), (name2, url2) = dep.node_urls.items()
        front, node2 = Api(dep.base_url), Api(url2)
        uploaded = front.create_image(name="glance-on-mariadb")["id"]
        source = Source(3 * MiB + 5, seed=5)
        assert front.upload_cl(uploaded, source).status == 204
        imported, staged = stage_on_node1(dep, "glance-on-mariadb-import", seed=8)
        assert node2.import_image(imported, "glance-direct").status == 202
        node2.wait_status(imported, "active", deadline=60)
        assert PROXYING % url1 in dep.log_text(name2)
        for image_id, data in ((uploaded, source), (imported, staged)):
            resp, size, _, sha512 = node2.download(image_id)
            assert (resp.status, size, sha512) == (200, data.size, data.sha512.hexdigest())
        rows = dep.workspace.database.sql("SELECT id, status FROM glance.images WHERE id IN "
                                          "('%s', '%s')" % (uploaded, imported))
        assert sorted(line.split("\t") for line in rows.splitlines()) == sorted(
            [[uploaded, "active"], [imported, "active"]])


def test_db_sync_with_the_config_file_alone_misses_the_drop_in(tmp_path):
    """On a node with the pattern's Glance files and no database server
    running: glance-manage with ``--config-file glance-api.conf`` alone
    (lab.glance.DB_SYNC) reads glance-api.conf after the drop-ins, so its
    SQLite connection wins: it creates /var/lib/glance/glance.sqlite and
    succeeds. With ``--config-dir glance-api.conf.d`` after it
    (lab.glance.DB_SYNC_CONF_D) it tries the drop-in's PostgreSQL."""
    run = PATTERN.serving("glance").servers[0]
    ws = Workspace(tmp_path)
    node = run.workspace(ws)
    try:
        for example, operator_path in run.files:
            node.install(example, operator_path)
        glance.install(node, sync=False)
        sqlite = node.path("/var/lib/glance/glance.sqlite")
        assert not sqlite.exists()
        glance.db_sync(node)
        assert sqlite.stat().st_size > 0
        sqlite.unlink()
        proc = subprocess.run(node.rewrite(glance.DB_SYNC_CONF_D).split(), capture_output=True,
                              text=True, timeout=glance.MANAGE_TIMEOUT,
                              env=dict(os.environ, **node.spawn_env))
        assert proc.returncode != 0 and not sqlite.exists()
        assert 'port %d failed: Connection refused' % node.port("5432") in proc.stderr, \
            proc.stderr[-3000:]
    finally:
        ws.remove()
