"""Real clients against glancelet under a real WSGI server on 127.0.0.1.

python-glanceclient (its ``glance`` CLI and its library) and openstacksdk,
unchanged, talk to glancelet served by uWSGI in HTTP mode and by gunicorn.
glanceclient uploads files as ``Transfer-Encoding: chunked`` in 1 MiB chunks,
which is the body framing that broke Glance under uWSGI; openstacksdk sends
Content-Length. The deployment patterns in examples/ run the same clients
through every front end (tests/examples); this module proves the service
itself, with the servers' own command lines.
"""

import hashlib
import os

import pytest

from lab.harness import Server, data_files, free_port, wait_ready
from lab.launchers import uwsgi_signal_ready

from .conftest import field, which
from .conftest import glance as run_glance

MiB = 1024 * 1024


def _argv(kind, port):
    if kind == "uwsgi":
        return [which("uwsgi"), "--http-socket", "127.0.0.1:%d" % port,
                "--module", "glancelet.wsgi.api:application", "--master",
                "--processes", "2", "--enable-threads", "--die-on-term", "--need-app",
                "--chunked-input-limit", str(64 * MiB), "--chunked-input-timeout", "30",
                # http-socket closes the connection after each response without
                # saying so; clients that reuse it get a reset.
                "--add-header", "Connection: close"]
    return [which("gunicorn"), "--bind", "127.0.0.1:%d" % port, "--workers", "2",
            "--worker-class", "gthread", "--threads", "4",
            "glancelet.wsgi.api:application"]


@pytest.fixture(scope="module", params=["uwsgi", "gunicorn"])
def server(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    config = tmp / "glancelet.conf"
    config.write_text(
        "[database]\nconnection = sqlite:///%s\n"
        "[glance_store]\nfilesystem_store_datadir = %s\n"
        "[os_glance_staging_store]\nfilesystem_store_datadir = %s\n"
        % (tmp / "glancelet.sqlite", tmp / "images", tmp / "staging"))
    port = free_port()
    proc = Server(request.param, _argv(request.param, port), tmp / "server.log",
                  env={"GLANCELET_CONFIG_FILE": str(config)}, cwd=str(tmp),
                  signal_ready=uwsgi_signal_ready if request.param == "uwsgi" else None).start()
    url = "http://127.0.0.1:%d" % port
    try:
        wait_ready(url + "/", [proc])
        yield {"url": url, "tmp": tmp, "images": tmp / "images", "proc": proc}
    finally:
        assert proc.stop() == 0, proc.log_text()


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "disk.img"
    path.write_bytes(os.urandom(5 * MiB + 12345))  # several 1 MiB chunks, and a tail
    return path


def glance(server, *args):
    return run_glance(server["url"], *args)


def test_glance_cli_image_lifecycle(server, image_file, tmp_path):
    data = image_file.read_bytes()
    out = glance(server, "image-create", "--name", "cli-img", "--disk-format", "raw",
                 "--container-format", "bare", "--file", str(image_file),
                 "--property", "os_distro=cirros")
    image_id = field(out, "id")
    assert field(out, "status") == "active"
    assert field(out, "size") == str(len(data))
    assert field(out, "checksum") == hashlib.md5(data).hexdigest()

    target = tmp_path / "downloaded"
    glance(server, "image-download", "--file", str(target), image_id)  # verifies the hash
    assert target.read_bytes() == data

    assert image_id in glance(server, "image-list", "--property-filter", "os_distro=cirros")
    glance(server, "image-update", "--name", "renamed", "--min-ram", "64", image_id)
    glance(server, "image-tag-update", image_id, "golden")
    shown = glance(server, "image-show", image_id)
    assert field(shown, "name") == "renamed"
    assert field(shown, "min_ram") == "64"
    assert "golden" in field(shown, "tags")
    assert image_id in glance(server, "image-list", "--tag", "golden")
    glance(server, "image-tag-delete", image_id, "golden")
    glance(server, "image-delete", image_id)
    assert image_id not in glance(server, "image-list")
    assert data_files(server["images"], image_id) == []


def test_glance_cli_image_members(server):
    """Sharing with glanceclient's member commands (tests/functional/test_members.py
    has the API's rules)."""
    image_id = field(glance(server, "image-create", "--name", "shared"), "id")
    assert "pending" in glance(server, "member-create", image_id, "bob")
    assert "accepted" in glance(server, "member-update", image_id, "bob", "accepted")
    listed = glance(server, "member-list", "--image-id", image_id)
    assert "bob" in listed and "accepted" in listed
    glance(server, "member-delete", image_id, "bob")
    assert "bob" not in glance(server, "member-list", "--image-id", image_id)
    glance(server, "image-delete", image_id)


def test_glanceclient_library(server, image_file):
    from glanceclient import Client
    from glanceclient import exc

    client = Client("2", endpoint=server["url"], token="x")
    image = client.images.create(name="lib-img", disk_format="qcow2",
                                 container_format="bare", hw_disk_bus="scsi")
    with open(image_file, "rb") as fp:
        client.images.upload(image.id, fp)
    image = client.images.get(image.id)
    data = image_file.read_bytes()
    assert image.status == "active"
    assert image.os_hash_algo == "sha512"
    assert image.os_hash_value == hashlib.sha512(data).hexdigest()
    assert b"".join(client.images.data(image.id)) == data  # checks os_hash_value

    names = [i.name for i in client.images.list(filters={"name": "lib-img"})]
    assert names == ["lib-img"]
    paged = list(client.images.list(page_size=1))
    assert image.id in [i.id for i in paged]

    client.images.update(image.id, name="lib-renamed", remove_props=["hw_disk_bus"])
    updated = client.images.get(image.id)
    assert updated.name == "lib-renamed"
    assert "hw_disk_bus" not in updated

    with pytest.raises(exc.HTTPConflict) as info:
        with open(image_file, "rb") as fp:
            client.images.upload(image.id, fp)
    assert "not allowed" in str(info.value)
    client.images.delete(image.id)
    with pytest.raises(exc.HTTPNotFound) as info:
        client.images.get(image.id)
    assert "No image found with ID" in str(info.value)


def test_openstacksdk(server, image_file):
    import openstack

    conn = openstack.connection.Connection(
        auth_type="none", auth={"endpoint": server["url"]}, image_api_version="2")
    data = image_file.read_bytes()
    image = conn.image.create_image(name="sdk-img", filename=str(image_file),
                                    disk_format="raw", container_format="bare")
    image = conn.image.get_image(image.id)
    assert image.status == "active"
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert image.hash_value == hashlib.sha512(data).hexdigest()

    got = hashlib.md5()
    for chunk in conn.image.download_image(image, stream=True).iter_content(MiB):
        got.update(chunk)
    assert got.hexdigest() == image.checksum

    assert conn.image.find_image("sdk-img").id == image.id
    conn.image.update_image(image, name="sdk-renamed")
    conn.image.add_tag(image, "blue")
    again = conn.image.get_image(image.id)
    assert (again.name, again.tags) == ("sdk-renamed", ["blue"])
    assert image.id in [i.id for i in conn.image.images(tag="blue")]
    conn.image.delete_image(image)
    assert conn.image.find_image("sdk-renamed") is None
