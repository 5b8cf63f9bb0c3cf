"""The download offload behind Apache httpd (glancelet only):
apache-proxy-http with examples/apache-proxy-http/download-offload.conf and
glancelet-xsendfile.conf, set up as the latter says
(``apache_proxy_http.with_xsendfile``, which runs its usermod line while the
deployment runs).

glancelet checks each download and answers with ``X-Sendfile``;
mod_xsendfile sends the file. The client must see what it sees without the
offload: the same bytes, Glance's headers, ranges; the header itself never
reaches the client, and no URL serves the image directory.
"""

import hashlib

import pytest

from lab.client import MiB, Api, Source, auth_headers
from lab.patterns import apache_proxy_http

PATTERN = apache_proxy_http.PATTERNS[0]
OFFLOAD = apache_proxy_http.with_xsendfile(PATTERN)
SIZE = 8 * MiB + 12345


@pytest.fixture(scope="module")
def offloaded(tmp_path_factory):
    """(deployment, api, image id, Source) with one active image."""
    with OFFLOAD.start(tmp_path_factory.mktemp("xsendfile")) as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="offload")
        source = Source(SIZE, seed=26)
        assert api.upload_cl(image["id"], source).status == 204
        yield dep, api, image["id"], source


def get(dep, path, headers=None):
    """GET ``path`` (absolute, not under the API prefix) from Apache."""
    api = Api(dep.base_url)
    api.prefix = ""
    return api.request("GET", path, headers=headers)


def test_sent_by_apache_whole_with_glances_headers(offloaded):
    """The bytes and hashes are the image's; Content-Length is its size and
    Content-MD5 its checksum; the file's ETag shows Apache sent it (glancelet
    sends none); X-Sendfile does not reach the client."""
    dep, api, image_id, source = offloaded
    resp, size, md5, sha512 = api.download(image_id)
    assert resp.status == 200, resp
    assert (size, md5, sha512) == (SIZE, source.md5.hexdigest(), source.sha512.hexdigest())
    assert resp.header("Content-Length") == str(SIZE)
    assert resp.header("Content-MD5") == source.md5.hexdigest()
    assert resp.header("Content-Type") == "application/octet-stream"
    assert [v for k, v in resp.headers if k.lower() == "accept-ranges"] == ["bytes"]
    assert resp.header("X-Openstack-Request-Id", "").startswith("req-")
    assert resp.header("X-Sendfile") is None
    assert resp.header("ETag") is not None, resp.headers


@pytest.mark.parametrize("header,start,end", [
    ("bytes=1000-2999", 1000, 2999),
    ("bytes=-100", SIZE - 100, SIZE - 1),
    ("bytes=%d-" % (8 * MiB), 8 * MiB, SIZE - 1),
])
def test_range_is_206_with_the_right_bytes(offloaded, header, start, end):
    dep, api, image_id, source = offloaded
    data = Source(SIZE, seed=26).bytes()
    resp = api.request("GET", "/v2/images/%s/file" % image_id, headers={"Range": header})
    assert resp.status == 206, resp
    assert resp.body == data[start:end + 1]
    assert resp.header("Content-Range") == "bytes %d-%d/%d" % (start, end, SIZE)
    assert resp.header("Content-Length") == str(end - start + 1)
    assert resp.header("Content-MD5") == source.md5.hexdigest()
    assert [v for k, v in resp.headers if k.lower() == "accept-ranges"] == ["bytes"]


def test_unsatisfiable_range_is_glancelets_416(offloaded):
    dep, api, image_id, _ = offloaded
    resp = api.request("GET", "/v2/images/%s/file" % image_id,
                       headers={"Range": "bytes=%d-" % SIZE})
    assert resp.status == 416, resp
    assert resp.header("Content-Range") == "bytes */%d" % SIZE
    assert resp.json()["error"]["code"] == 416


def test_no_url_serves_the_image_directory(offloaded):
    """The data file, asked for by its path on the server or under /image
    (with or without a token, or through path tricks), is never sent: the
    image directory is not under any URL Apache serves, and an X-Sendfile a
    client sends is a request header, which mod_xsendfile ignores."""
    dep, api, image_id, _ = offloaded
    [data_path] = [p for p in dep.store_dir.iterdir() if p.name.startswith(image_id)]
    for path in (str(data_path), "/image/" + data_path.name,
                 "/image/../" + str(data_path).lstrip("/"), "/image/v2/" + data_path.name):
        for headers in ({}, auth_headers()):
            resp = get(dep, path, headers)
            assert resp.status in (401, 404), (path, resp)
            assert len(resp.body) < 2000, (path, resp)
    resp = api.request("GET", "/v2/images", headers={"X-Sendfile": str(data_path)})
    assert resp.status == 200 and resp.json()["images"], resp


def test_delete_during_an_offloaded_download(offloaded):
    """An image deleted while Apache sends it: the download in progress ends
    whole (Apache has the file open), the next one is glancelet's 404."""
    dep, api, _, _ = offloaded
    image = api.create_image(name="deleted")
    source = Source(32 * MiB, seed=27)
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
    """apache-proxy-http as shipped: glancelet sends the bytes (no ETag)."""
    with PATTERN.start(tmp_path) as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="plain")
        source = Source(MiB, seed=28)
        assert api.upload_cl(image["id"], source).status == 204
        resp, size, md5, _ = api.download(image["id"])
        assert (resp.status, size, md5) == (200, MiB, source.md5.hexdigest())
        assert resp.header("Content-MD5") == source.md5.hexdigest()
        assert resp.header("ETag") is None
