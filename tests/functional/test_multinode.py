"""Several API nodes: a shared database and store, a staging directory each.

Two uWSGI servers stand for two hosts: each listens on its own loopback
address (127.0.0.2, 127.0.0.3), stages on its own directory and names
itself with ``[DEFAULT] worker_self_reference_url``; both use one SQLite
file and one image directory (a database server and NFS, across hosts).
An import that reaches the node that did not stage the data is forwarded
to the one that did (``glancelet.stagehost``), as Glance does.
"""

import hashlib
import os

import pytest
import requests

from lab.harness import Server, free_port, wait_ready
from lab.launchers import uwsgi_signal_ready

from .test_import import MiB, OCTETS, rest, server_argv, wait_for, wait_status

ADDRESSES = {"a": "127.0.0.2", "b": "127.0.0.3"}


class Nodes:
    """Two nodes, ``a`` and ``b``, sharing a database and a store."""

    def __init__(self, tmp, data_port):
        self.tmp = tmp
        self.port = free_port()
        self.servers = {}
        for name, address in ADDRESSES.items():
            (tmp / name).mkdir()
            (tmp / name / "glancelet.conf").write_text(
                "[DEFAULT]\nworker_self_reference_url = http://%s:%d\n"
                "[database]\nconnection = sqlite:///%s\n"
                "[glance_store]\nfilesystem_store_datadir = %s\n"
                "[os_glance_staging_store]\nfilesystem_store_datadir = %s\n"
                "[import_filtering_opts]\nallowed_hosts = [127.0.0.1]\n"
                "allowed_ports = [%d]\n"
                % (address, self.port, tmp / "glancelet.sqlite", tmp / "images",
                   self.staging(name), data_port))

    def staging(self, name):
        return self.tmp / name / "staging"

    def start(self, name):
        server = Server(name, server_argv("uwsgi", self.port, address=ADDRESSES[name],
                                          graceful=True),
                        self.tmp / (name + ".log"),
                        env={"GLANCELET_CONFIG_FILE": str(self.tmp / name / "glancelet.conf")},
                        cwd=str(self.tmp), signal_ready=uwsgi_signal_ready)
        server.url = "http://%s:%d" % (ADDRESSES[name], self.port)
        server.start()
        self.servers[name] = server
        wait_ready(server.url + "/", [server])
        return server

    def stop(self, name):
        assert self.servers[name].stop() == 0, self.servers[name].log_text()


@pytest.fixture
def nodes(tmp_path, data_server):
    nodes = Nodes(tmp_path, data_server.port)
    try:
        nodes.a = nodes.start("a")
        nodes.b = nodes.start("b")
        yield nodes
    finally:
        for server in nodes.servers.values():
            if server.alive():
                server.stop()


def new_image(server, name):
    resp = rest(server, "POST", "/v2/images", json={
        "name": name, "disk_format": "raw", "container_format": "bare"})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def stage(server, image_id, data):
    resp = rest(server, "PUT", "/v2/images/%s/stage" % image_id, data=data, headers=OCTETS)
    assert resp.status_code == 204, resp.text


def do_import(server, image_id, method="glance-direct", **extra):
    return rest(server, "POST", "/v2/images/%s/import" % image_id,
                json={"method": dict({"name": method}, **extra)})


def staged_on(nodes, image_id):
    """{node name: names of its staged files of ``image_id``}."""
    return {name: sorted(p.name for p in nodes.staging(name).glob(image_id + ".*"))
            for name in ADDRESSES}


def test_stage_on_a_import_through_b(nodes):
    data = os.urandom(2 * MiB + 9)
    image_id = new_image(nodes.a, "a-then-b")
    stage(nodes.a, image_id, data)
    image = rest(nodes.b, "GET", "/v2/images/" + image_id).json()
    assert image["os_glance_stage_host"] == nodes.a.url
    assert [len(files) for files in staged_on(nodes, image_id).values()] == [1, 0]
    resp = do_import(nodes.b, image_id)
    assert resp.status_code == 202, resp.text
    request_id = resp.headers["x-openstack-request-id"]
    wait_status(nodes.b, image_id, "active")
    image = rest(nodes.a, "GET", "/v2/images/" + image_id).json()
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    # The stage host forgets the property once the staged copy is removed.
    wait_for(lambda: "os_glance_stage_host" not in rest(
        nodes.b, "GET", "/v2/images/" + image_id).json(), what="os_glance_stage_host removed")
    # Task status from every node; the staged copy is gone.
    tasks = [rest(s, "GET", "/v2/images/%s/tasks" % image_id).json() for s in (nodes.a, nodes.b)]
    assert tasks[0] == tasks[1] and tasks[0]["tasks"][0]["status"] == "success"
    task_id = tasks[0]["tasks"][0]["id"]
    for server in (nodes.a, nodes.b):
        task = rest(server, "GET", "/v2/tasks/" + task_id).json()
        # The task ran on a, under the id the client got from b.
        assert (task["status"], task["request_id"]) == ("success", request_id)
    assert staged_on(nodes, image_id) == {"a": [], "b": []}
    assert rest(nodes.b, "GET", "/v2/images/%s/file" % image_id).content == data


def test_web_download_on_either_node(nodes, data_server):
    for server in (nodes.a, nodes.b):
        image_id = new_image(server, "web")
        resp = do_import(server, image_id, "web-download", uri=data_server.url("/data"))
        assert resp.status_code == 202, resp.text
        wait_status(server, image_id, "active")
        image = rest(nodes.a, "GET", "/v2/images/" + image_id).json()
        assert image["os_hash_value"] == hashlib.sha512(data_server.payload).hexdigest()


def test_stage_host_down_is_a_clear_error_and_loses_nothing(nodes):
    """Staged on a, a stopped: an import through b is refused with 504 naming
    a; the image stays uploading with its data on a; once a is back, the
    same import through b works."""
    data = os.urandom(MiB + 3)
    image_id = new_image(nodes.a, "a-down")
    stage(nodes.a, image_id, data)
    nodes.stop("a")
    resp = do_import(nodes.b, image_id)
    assert resp.status_code == 504, resp.text
    message = resp.json()["error"]["message"]
    assert message.startswith("Stage host is unavailable: the image's data was staged on "
                              "%s, which cannot be reached" % nodes.a.url), message
    assert "retry the import once that node is back" in message
    image = rest(nodes.b, "GET", "/v2/images/" + image_id).json()
    assert image["status"] == "uploading" and image["size"] == len(data), image
    assert [len(files) for files in staged_on(nodes, image_id).values()] == [1, 0]
    nodes.a = nodes.start("a")
    resp = do_import(nodes.b, image_id)
    assert resp.status_code == 202, resp.text
    wait_status(nodes.b, image_id, "active")
    assert requests.get(nodes.b.url + "/v2/images/%s/file" % image_id,
                        timeout=30).content == data
