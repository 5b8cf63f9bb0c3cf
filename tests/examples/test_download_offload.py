"""The download offload behind nginx (glancelet only): nginx-proxy-http with
examples/nginx-uwsgi/download-offload.conf and nginx-offload-location.conf,
set up as the latter says (``nginx_uwsgi.with_offload``).

glancelet checks each download and answers with ``X-Accel-Redirect``; nginx
sends the file from its internal location. The client must see what it sees
without the offload: the same bytes, Glance's headers, ranges; and nobody
may reach the internal location directly.
"""

import hashlib

import pytest

from lab.client import MiB, Api, Source, auth_headers
from lab.patterns import nginx_uwsgi

PATTERN = nginx_uwsgi.PATTERNS[0]
OFFLOAD = nginx_uwsgi.with_offload(PATTERN)
SIZE = 8 * MiB + 12345


@pytest.fixture(scope="module")
def offloaded(tmp_path_factory):
    """(deployment, api, image id, Source) with one active image."""
    with OFFLOAD.start(tmp_path_factory.mktemp("offload")) as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="offload")
        source = Source(SIZE, seed=16)
        assert api.upload_cl(image["id"], source).status == 204
        yield dep, api, image["id"], source


def get(dep, path, headers=None):
    """GET ``path`` (absolute, not under the API prefix) from nginx."""
    api = Api(dep.base_url)
    api.prefix = ""
    return api.request("GET", path, headers=headers)


def test_offloaded_download_is_whole_with_glances_headers(offloaded):
    """The bytes and hashes are the image's; Content-Length is its size and
    Content-MD5 its checksum; the static file's ETag shows nginx sent it; the
    redirect itself does not reach the client."""
    dep, api, image_id, source = offloaded
    resp, size, md5, sha512 = api.download(image_id)
    assert resp.status == 200, resp
    assert (size, md5, sha512) == (SIZE, source.md5.hexdigest(), source.sha512.hexdigest())
    assert resp.header("Content-Length") == str(SIZE)
    assert resp.header("Content-MD5") == source.md5.hexdigest()
    assert resp.header("Content-Type") == "application/octet-stream"
    assert resp.header("Accept-Ranges") == "bytes"
    assert resp.header("X-Openstack-Request-Id", "").startswith("req-")
    assert resp.header("ETag") is not None, resp.headers
    assert resp.header("X-Accel-Redirect") is None


@pytest.mark.parametrize("header,start,end", [
    ("bytes=1000-2999", 1000, 2999),
    ("bytes=-100", SIZE - 100, SIZE - 1),
    ("bytes=%d-" % (8 * MiB), 8 * MiB, SIZE - 1),
])
def test_offloaded_range_is_206_with_the_right_bytes(offloaded, header, start, end):
    dep, api, image_id, _ = offloaded
    data = Source(SIZE, seed=16).bytes()
    resp = api.request("GET", "/v2/images/%s/file" % image_id, headers={"Range": header})
    assert resp.status == 206, resp
    assert resp.body == data[start:end + 1]
    assert resp.header("Content-Range") == "bytes %d-%d/%d" % (start, end, SIZE)
    assert resp.header("Content-Length") == str(end - start + 1)


def test_client_query_cannot_set_the_offloaded_headers(offloaded):
    """The internal location reads Content-MD5 and the request id from the
    redirect's query string; a client's query string is not that one."""
    dep, api, image_id, source = offloaded
    resp = api.request("GET", "/v2/images/%s/file?md5=forged&request_id=forged" % image_id,
                       headers={"Range": "bytes=0-9"})
    assert resp.status == 206, resp
    assert resp.header("Content-MD5") == source.md5.hexdigest()
    assert resp.header("X-Openstack-Request-Id", "").startswith("req-")


def test_unsatisfiable_range_is_glancelets_416(offloaded):
    dep, api, image_id, _ = offloaded
    resp = api.request("GET", "/v2/images/%s/file" % image_id,
                       headers={"Range": "bytes=%d-" % SIZE})
    assert resp.status == 416, resp
    assert resp.header("Content-Range") == "bytes */%d" % SIZE
    assert resp.json()["error"]["code"] == 416


def test_internal_location_is_404_from_outside(offloaded):
    """The redirect target, asked for by a client (with or without a token,
    by its exact path or through path tricks), is nginx's 404."""
    dep, api, image_id, _ = offloaded
    [data_file] = [p.name for p in dep.store_dir.iterdir() if p.name.startswith(image_id)]
    for path in ("/glancelet-offload/" + data_file, "/glancelet-offload/",
                 "/image/../glancelet-offload/" + data_file,
                 "//glancelet-offload/" + data_file,
                 "/%67lancelet-offload/" + data_file):
        for headers in ({}, auth_headers()):
            resp = get(dep, path, headers)
            assert resp.status == 404, (path, resp)
            assert len(resp.body) < 1000, (path, resp)


def test_delete_during_an_offloaded_download(offloaded):
    """An image deleted while nginx sends it: the download in progress ends
    whole (nginx has the file open), the next one is glancelet's 404."""
    dep, api, _, _ = offloaded
    image = api.create_image(name="deleted")
    source = Source(32 * MiB, seed=17)
    assert api.upload_cl(image["id"], source).status == 204
    deleted = []
    head, body = api.download_across(
        image["id"], lambda: deleted.append(api.delete_image(image["id"]).status))
    assert head.startswith(b"HTTP/1.1 200"), head
    assert deleted == [204]
    assert len(body) == source.size
    assert hashlib.md5(body).hexdigest() == source.md5.hexdigest()
    assert api.request("GET", "/v2/images/%s/file" % image["id"]).status == 404


def test_offload_off_by_default(tmp_path):
    """nginx-proxy-http as shipped: glancelet sends the bytes (no static
    file's ETag), and /glancelet-offload/ is nothing."""
    with PATTERN.start(tmp_path) as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="plain")
        source = Source(MiB, seed=18)
        assert api.upload_cl(image["id"], source).status == 204
        resp, size, md5, _ = api.download(image["id"])
        assert (resp.status, size, md5) == (200, MiB, source.md5.hexdigest())
        assert resp.header("Content-MD5") == source.md5.hexdigest()
        assert resp.header("ETag") is None
        assert get(dep, "/glancelet-offload/").status == 404
