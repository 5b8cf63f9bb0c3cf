"""The scenario suite: one contract, run against every registered pattern.

Every test goes through the pattern's front door (``deployment.base_url``,
which includes the URL prefix where the pattern has one). Where a pattern
declares that it cannot do a scenario (``Pattern.expected_failures``), the
test asserts that exact failure instead: nothing is skipped.
"""

import re
import time
import uuid
from urllib.parse import urljoin, urlsplit

import pytest

from lab.client import (CA_BUNDLE_VARIABLES, MiB, Api, Response, Source, answered, glance_cli,
                        openstack_cli)
from lab.harness import data_files, names_image, settled_stray_files, stray_files
from lab.keystone import token_with_expiry


@pytest.fixture(scope="module")
def api(deployment):
    return Api(deployment.base_url, deployment.ca_file)


def expect(deployment, scenario, resp, record):
    """If ``scenario`` is an expected failure of this pattern, assert it
    exactly and return True; otherwise return False (the test checks success)."""
    failure = deployment.expected_failure(scenario)
    if failure is None:
        return False
    assert isinstance(resp, Response), resp
    assert resp.status == failure.status, resp
    assert failure.body in resp.text, resp
    if failure.log:
        server, text = failure.log
        assert text in deployment.log_text(server)
    record.expected_failure("%s\n%s" % (resp.status_line, resp.text))
    return True


def source_file(tmp_path, name, size, seed):
    """(Source, path of a file holding its bytes) for the client scenarios."""
    source = Source(size, seed=seed)
    path = tmp_path / name
    path.write_bytes(source.bytes())
    return source, path


def user_connection(deployment, user="alice"):
    """An openstacksdk connection of ``user``: a password, the catalog of the
    deployment's region, the deployment's CA (a TLS front door)."""
    return deployment.identity.connection(user, region=deployment.region,
                                          cacert=deployment.ca_file)


def assert_no_stray_files(deployment, keep=()):
    """The store holds only the data of the images in ``keep``: no temp file,
    no partial upload."""
    assert stray_files(deployment.store_dir, keep) == []


def assert_download(api, image_id, source):
    resp, size, md5, sha512 = api.download(image_id)
    assert resp.status == 200, resp
    assert size == source.size
    assert md5 == source.md5.hexdigest()
    assert sha512 == source.sha512.hexdigest()
    image = api.get_image(image_id)
    assert image["status"] == "active"
    assert image["size"] == source.size
    assert image["checksum"] == md5
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == sha512


@pytest.mark.scenario("version-discovery")
def test_version_discovery(deployment, api, record):
    resp = api.request("GET", "/")
    if expect(deployment, "version-discovery", resp, record):
        return
    assert resp.status == 300, resp
    versions = resp.json()["versions"]
    assert versions
    current = [v for v in versions if v["status"] == "CURRENT"]
    assert len(current) == 1, versions
    for version in versions:
        href = [link["href"] for link in version["links"] if link["rel"] == "self"][0]
        # The href points back through the front door, prefix included...
        assert href.startswith(deployment.base_url + "/v2"), (href, deployment.base_url)
        # ...and a client that appends a path to it (keystoneauth does) gets there.
        path = urlsplit(urljoin(href if href.endswith("/") else href + "/", "images")).path
        listing = api.request("GET", path[len(api.prefix):])
        assert listing.status == 200, (href, listing)
        assert "images" in listing.json()


@pytest.mark.scenario("image-crud")
def test_image_crud(deployment, api, record):
    image = api.create_image(name="crud", tags=["scenario"])
    assert image["status"] == "queued"
    shown = api.get_image(image["id"])
    assert shown["name"] == "crud" and shown["tags"] == ["scenario"]
    assert image["id"] in [i["id"] for i in api.list_images()]
    api.delete_image(image["id"])
    gone = api.request("GET", "/v2/images/%s" % image["id"])
    assert gone.status == 404, gone
    assert image["id"] not in [i["id"] for i in api.list_images()]


def _token_of(deployment, user):
    """Headers that authenticate as ``user`` (alice: project-a, bob: project-b)."""
    return {"X-Auth-Token": deployment.token(user)}


def _image_ids(resp):
    assert resp.status == 200, resp
    return [image["id"] for image in resp.json()["images"]]


@pytest.mark.scenario("image-members")
def test_image_members(deployment, api, record):
    owner, member = _token_of(deployment, "alice"), _token_of(deployment, "bob")
    member_id = deployment.identity.projects["bob"]
    resp = api.request("POST", "/v2/images", headers=owner, json_body={
        "name": "shared", "visibility": "shared", "disk_format": "raw",
        "container_format": "bare"})
    if expect(deployment, "image-members", resp, record):
        return
    assert resp.status == 201, resp
    image_id = resp.json()["id"]
    members = "/v2/images/%s/members" % image_id
    resp = api.request("POST", members, headers=owner,
                       json_body={"member": member_id})
    assert resp.status == 200, resp
    assert (resp.json()["member_id"], resp.json()["status"]) == (member_id, "pending")
    resp = api.request("GET", members, headers=owner)
    assert resp.status == 200, resp
    assert [m["member_id"] for m in resp.json()["members"]] == [member_id]
    assert image_id in _image_ids(api.request("GET", "/v2/images?member_status=pending",
                                              headers=member))
    resp = api.request("PUT", members + "/" + member_id, headers=member,
                       json_body={"status": "accepted"})
    assert resp.status == 200 and resp.json()["status"] == "accepted", resp
    assert image_id in _image_ids(api.request("GET", "/v2/images?visibility=shared",
                                              headers=member))
    resp = api.request("GET", members + "/" + member_id, headers=member)
    assert resp.status == 200 and resp.json()["status"] == "accepted", resp
    resp = api.request("DELETE", members + "/" + member_id, headers=owner)
    assert resp.status == 204, resp
    assert api.request("GET", "/v2/images/%s" % image_id, headers=member).status == 404
    assert api.request("DELETE", "/v2/images/%s" % image_id, headers=owner).status == 204


REQUEST_ID = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.mark.scenario("request-id")
def test_request_id(deployment, api, record):
    image = api.create_image(name="request-id")
    # A client's mistake: a JSON list where an image's fields go. A declared
    # failure is asserted exactly (Glance's 500), and it must carry an id too.
    bad = api.request("POST", "/v2/images", json_body=[])
    failure = deployment.expected_failure("request-id")
    if not expect(deployment, "request-id", bad, record):
        assert bad.status == 400, bad
    answers = {"%s %s" % (method, path): api.request(method, path) for method, path in (
        ("GET", "/"), ("GET", "/versions"), ("GET", "/v2/images"),
        ("GET", "/v2/images/%s" % image["id"]),
        ("GET", "/v2/images/%s" % uuid.UUID(int=0)),    # 404
        ("DELETE", "/v2/schemas/image"))}                # 405
    answers["POST /v2/images []"] = bad
    answers["DELETE /v2/images/<id>"] = api.delete_image(image["id"])     # 204
    assert sorted({resp.status for resp in answers.values()}) == sorted(
        {200, 204, 300, 404, 405, bad.status}), answers
    # Which answers carry no id: none, or exactly those the failure declares.
    unmarked = [asked for asked, resp in answers.items()
                if not resp.header("x-openstack-request-id")]
    assert unmarked == list(failure.without_request_id if failure else ()), unmarked
    if unmarked:
        record.expected_failure("no x-openstack-request-id on: %s" % ", ".join(unmarked))
    ids = [resp.header("x-openstack-request-id") for asked, resp in answers.items()
           if asked not in unmarked]
    assert all(REQUEST_ID.fullmatch(rid) for rid in ids), ids
    assert len(set(ids)) == len(ids), ids
    # A global request id, as keystoneauth sends it, comes back as the request's id.
    mine = "req-%s" % uuid.uuid4()
    resp = api.request("GET", "/v2/images", headers={"X-Openstack-Request-Id": mine})
    assert resp.status == 200 and resp.header("x-openstack-request-id") == mine, resp


@pytest.mark.scenario("upload-content-length")
def test_upload_content_length(deployment, api, record):
    image = api.create_image(name="cl")
    source = Source(32 * MiB + 12345, seed=1)
    resp = api.upload_cl(image["id"], source)
    if not expect(deployment, "upload-content-length", resp, record):
        assert resp.status == 204, resp
        assert_download(api, image["id"], source)
    api.delete_image(image["id"])


@pytest.mark.parametrize("chunk", [
    pytest.param(MiB, marks=pytest.mark.scenario("upload-chunked-1mib"), id="1MiB"),
    pytest.param(16 * MiB, marks=pytest.mark.scenario("upload-chunked-16mib"), id="16MiB"),
])
def test_upload_chunked(deployment, api, record, chunk, request):
    scenario = request.node.get_closest_marker("scenario").args[0]
    image = api.create_image(name="chunked")
    source = Source(3 * chunk + 777, seed=2)
    resp = api.upload_chunked(image["id"], source, chunk)
    if expect(deployment, scenario, resp, record):
        assert api.get_image(image["id"])["status"] == "queued"
    else:
        assert resp.status == 204, resp
        assert_download(api, image["id"], source)
    api.delete_image(image["id"])


# Chunked bodies with broken framing, and the bytes uWSGI's lenient parser
# makes of each (see the uwsgi-http pattern's expected failure). Each starts
# with one well-formed 64 KiB chunk, WELL_FORMED_START: more than Apache's
# mod_proxy_http reads before it connects upstream (16 KiB).
_START_DATA = b"G" * 65536
WELL_FORMED_START = b"10000\r\n" + _START_DATA + b"\r\n"
MALFORMED_CHUNKED = [
    (what, WELL_FORMED_START + rest, _START_DATA + lenient) for what, rest, lenient in [
        ("size line not hex", b"4\r\nGOOD\r\nxyz\r\nMORE\r\n0\r\n\r\n", b"GOOD"),
        ("no CRLF after a chunk", b"4\r\nGOODxx2\r\nOK\r\n0\r\n\r\n", b"GOODOK"),
        ("junk after the size", b"4\r\nGOOD\r\n5zz\r\nMORE!\r\n0\r\n\r\n",
         b"GOODMORE!"),
    ]]


def send_in_two(deployment, conn, image_id, body, deadline=30.0):
    """Send ``body``'s well-formed start, then its rest once the service is
    writing ``image_id``'s data (a file named by the id in its store) or the
    front door has answered. Return whether the service got the upload.

    The order is then the same on every run. Sent at once, the body reaches
    the service or not depending on how a front door's reads fall: HAProxy
    refuses the whole of it before it connects upstream when it comes with
    the headers in one read, and forwards the start when it does not. And
    when the service has it, the front door answers while the service is
    still in the upload: the client's next request can overlap the
    service's cleanup, which Glance on SQLite cannot take ("database is
    locked", test_glance_sqlite.py). A front door that spools chunked bodies
    (``Pattern.spools``) forwards nothing before the end: the rest goes at
    once.
    """
    assert body.startswith(WELL_FORMED_START), body
    rest = body[len(WELL_FORMED_START):]
    spools = (deployment.pattern.spools or {}).get("chunked", False)
    began = False
    try:
        conn.send(WELL_FORMED_START)
        end = time.monotonic() + deadline
        while not spools:
            if names_image(deployment.store_dir, image_id):
                began = True
                break
            if answered(conn):
                break   # the front door answers the headers
            assert time.monotonic() < end, (
                "%s: after %ss the service writes no data for image %s and the front door "
                "has not answered" % (deployment.pattern.name, deadline, image_id))
        conn.send(rest)
    except OSError:
        pass    # refused before the whole body was sent: read the answer
    return began


@pytest.mark.scenario("upload-chunked-malformed")
def test_upload_chunked_malformed(deployment, api, record):
    images = []
    for what, body, lenient in MALFORMED_CHUNKED:
        image = api.create_image(name="malformed")
        images.append(image["id"])
        conn = api._start_put(image["id"], {"Transfer-Encoding": "chunked"}, timeout=60)
        began = send_in_two(deployment, conn, image["id"], body)
        resp = api._finish(conn)
        failure = deployment.expected_failure("upload-chunked-malformed")
        if expect(deployment, "upload-chunked-malformed", resp, record):
            # The declared failure, exactly: the image's status, and an
            # active image holds what the parser made of the body.
            got = api.get_image(image["id"])
            assert got["status"] == failure.image_status, (what, got)
            if failure.image_status == "active":
                assert got["size"] == len(lenient), (what, got)
                assert api.download(image["id"])[1] == len(lenient), what
            else:
                assert got["size"] is None, (what, got)
        else:
            assert 400 <= resp.status < 500, (what, resp)
            if began:
                # A proxy answers before the service has seen the upstream
                # request end: the image is saving until its cleanup ends.
                api.wait_status(image["id"], "queued", deadline=30)
            else:
                got = api.get_image(image["id"])
                assert got["status"] == "queued" and got["size"] is None, (what, got)
    if failure is None or failure.image_status == "queued":
        # ...and glancelet may claim the image only after the client's last
        # look, so its temp file can still come and go (ci, nginx-gunicorn:
        # a ".new-" file listed between its creation and its rename).
        assert settled_stray_files(deployment.store_dir) == []
    for image_id in images:
        api.delete_image(image_id)


@pytest.mark.scenario("glanceclient-library")
def test_glanceclient_library(deployment, api, record, tmp_path, monkeypatch):
    for name in CA_BUNDLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    import glanceclient
    from glanceclient import exc as gexc
    # A password, and the image endpoint from the catalog of the deployment's region.
    sess = user_connection(deployment).session
    client = glanceclient.Client("2", session=sess, region_name=deployment.region,
                                 interface="public")
    image = client.images.create(name="glanceclient", disk_format="raw",
                                 container_format="bare")
    source, path = source_file(tmp_path, "image.raw", 5 * MiB + 3, 3)
    failure = deployment.expected_failure("glanceclient-library")
    with open(path, "rb") as fp:
        if failure is not None:
            with pytest.raises(gexc.HTTPException) as info:
                client.images.upload(image["id"], fp)
            # glanceclient has no class for some statuses (411): the status
            # is only in the message, "HTTP 411 Length Required: ...".
            assert ("HTTP %d " % failure.status) in str(info.value)
            assert failure.body in str(info.value)
            record.expected_failure("%s: %s" % (type(info.value).__name__, info.value))
            client.images.delete(image["id"])
            return
        client.images.upload(image["id"], fp)   # chunked, 1 MiB chunks
    got = client.images.get(image["id"])
    assert got["status"] == "active" and got["size"] == source.size
    assert got["os_hash_value"] == source.sha512.hexdigest()
    # data() verifies os_hash_value (then checksum) while streaming.
    data = b"".join(client.images.data(image["id"]))
    assert len(data) == source.size
    assert image["id"] in [i["id"] for i in client.images.list()]
    client.images.delete(image["id"])
    with pytest.raises(gexc.HTTPNotFound):
        client.images.get(image["id"])


@pytest.mark.scenario("glanceclient-cli")
def test_glance_cli(deployment, api, record, tmp_path):
    source, path = source_file(tmp_path, "cli.raw", 3 * MiB + 5, 4)
    out = glance_cli(deployment, "image-create", "--name", "cli-image", "--disk-format",
                     "raw", "--container-format", "bare", "--file", str(path))
    failure = deployment.expected_failure("glanceclient-cli")
    if failure is not None:
        assert out.returncode == 1, out
        assert failure.body in out.stderr, out
        record.expected_failure(out.stderr.strip())
        return
    assert out.returncode == 0, out
    image_id = [line.split("|")[2].strip() for line in out.stdout.splitlines()
                if line.startswith("| id ")][0]
    image = api.get_image(image_id)
    assert image["status"] == "active"
    assert image["os_hash_value"] == source.sha512.hexdigest()
    dest = tmp_path / "downloaded.raw"
    out = glance_cli(deployment, "image-download", "--file", str(dest), image_id)
    assert out.returncode == 0, out
    assert dest.read_bytes() == path.read_bytes()
    out = glance_cli(deployment, "image-list")
    assert out.returncode == 0 and image_id in out.stdout, out
    out = glance_cli(deployment, "image-delete", image_id)
    assert out.returncode == 0, out
    assert api.request("GET", "/v2/images/%s" % image_id).status == 404


@pytest.mark.scenario("openstacksdk")
def test_openstacksdk(deployment, api, record, tmp_path):
    # A password, and the image endpoint from the catalog of the deployment's region.
    conn = user_connection(deployment)
    source, path = source_file(tmp_path, "sdk.raw", 4 * MiB + 9, 5)
    image = conn.image.create_image(name="sdk-image", filename=str(path), disk_format="raw",
                                    container_format="bare", wait=True, timeout=120,
                                    validate_checksum=True)
    assert image.status == "active"
    assert image.size == source.size
    assert image.hash_value == source.sha512.hexdigest()
    assert image.checksum == source.md5.hexdigest()
    data = conn.image.download_image(image)
    assert data.content == path.read_bytes()
    assert image.id in [i.id for i in conn.image.images()]
    conn.image.delete_image(image)
    assert api.request("GET", "/v2/images/%s" % image.id).status == 404


@pytest.mark.scenario("openstackclient-cli")
def test_openstack_cli(deployment, api, record, tmp_path):
    source, path = source_file(tmp_path, "osc.raw", 2 * MiB + 11, 7)
    out = openstack_cli(deployment, "image", "create", "--disk-format", "raw",
                        "--container-format", "bare", "--file", str(path), "-f", "value",
                        "-c", "id", "osc-image")
    assert out.returncode == 0, out
    image_id = out.stdout.strip()
    image = api.get_image(image_id)
    assert image["status"] == "active"
    assert image["owner"] == deployment.identity.projects["alice"]
    assert image["os_hash_value"] == source.sha512.hexdigest()
    dest = tmp_path / "saved.raw"
    out = openstack_cli(deployment, "image", "save", "--file", str(dest), image_id)
    assert out.returncode == 0, out
    assert dest.read_bytes() == path.read_bytes()
    out = openstack_cli(deployment, "image", "delete", image_id)
    assert out.returncode == 0, out
    assert api.request("GET", "/v2/images/%s" % image_id).status == 404


# The 2 GiB upload's token: made with Keystone's keys to expire this many
# seconds after it is made (Keystone issues tokens for [token] expiration,
# an hour), and the least time it must have left once validated.
SHORT_TOKEN_LIFETIME = 25.0
SHORT_TOKEN_MARGIN = 8.0
# The upload is paced to last this many times the token's remaining life, so
# that it expires well inside the upload (asserted), at ~30 s per pattern.
UPLOAD_OUTLIVES_TOKEN = 1.25


def short_lived_token(deployment, lifetime):
    """(token of alice expiring ``lifetime`` s from now, its expiry as a
    time.time() value), validated and cached by auth_token already."""
    identity = deployment.identity
    alice = identity.admin.identity.find_user("alice", domain_id="default")
    expires = time.time() + lifetime
    token = token_with_expiry(identity.keystone, alice.id, identity.projects["alice"],
                              time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(expires)))
    resp = Api(deployment.base_url, deployment.ca_file, user=None).request(
        "GET", "/v2/images", headers={"X-Auth-Token": token})
    assert resp.status == 200, resp
    return token, expires


@pytest.mark.slow
@pytest.mark.scenario("upload-2gib")
def test_upload_2gib(deployment, api, record):
    """2 GiB with Content-Length, generated and hashed on the fly: it passes
    every size limit and timeout on the path; the server's hashes must match.
    The token expires mid-upload (the upload is paced to outlast the token's
    remaining life): auth_token checks it once, at the start."""
    image = api.create_image(name="two-gib")
    source = Source(2 * 1024 * MiB, seed=6)
    token, expires = short_lived_token(deployment, SHORT_TOKEN_LIFETIME)
    left = expires - time.time()
    assert left > SHORT_TOKEN_MARGIN, "validating the token took too long: %.1f s left" % left
    started = time.time()
    resp = api.upload_cl(image["id"], source, piece=4 * MiB, timeout=600,
                         pace=source.size / (UPLOAD_OUTLIVES_TOKEN * left),
                         headers={"X-Auth-Token": token})
    finished = time.time()
    if not expect(deployment, "upload-2gib", resp, record):
        assert resp.status == 204, resp
        assert started < expires < finished, (started, expires, finished)
        expired = Api(deployment.base_url, deployment.ca_file, user=None).request(
            "GET", "/v2/images", headers={"X-Auth-Token": token})
        assert expired.status == 401, expired
        got = api.get_image(image["id"])
        assert got["status"] == "active"
        assert got["size"] == source.size
        assert got["checksum"] == source.md5.hexdigest()
        assert got["os_hash_value"] == source.sha512.hexdigest()
        [data_file] = data_files(deployment.store_dir, image["id"])
        assert data_file.stat().st_size == source.size
    api.delete_image(image["id"])
    assert_no_stray_files(deployment)


# -- authentication (keystonemiddleware's auth_token, through the front door) --

PATCH_TYPE = "application/openstack-images-v2.1-json-patch"


def assert_401_names_keystone(deployment, resp):
    assert resp.status == 401, resp
    assert resp.header("WWW-Authenticate") == 'Keystone uri="%s"' % deployment.identity.url, \
        resp.headers


@pytest.mark.scenario("auth-401")
def test_auth_401(deployment, record):
    anonymous = Api(deployment.base_url, deployment.ca_file, user=None)
    assert_401_names_keystone(deployment, anonymous.request("GET", "/v2/images"))
    bad = anonymous.request("GET", "/v2/images", headers={"X-Auth-Token": "not-a-token"})
    assert_401_names_keystone(deployment, bad)
    # Signed with Keystone's own keys; only the expiry differs between the two.
    identity = deployment.identity
    alice = identity.admin.identity.find_user("alice", domain_id="default")
    for expires_at, status in (("2020-01-01T00:00:00.000000Z", 401),
                               ("2099-01-01T00:00:00.000000Z", 200)):
        token = token_with_expiry(identity.keystone, alice.id, identity.projects["alice"],
                                  expires_at)
        resp = anonymous.request("GET", "/v2/images", headers={"X-Auth-Token": token})
        if status == 401:
            assert_401_names_keystone(deployment, resp)
        else:
            assert resp.status == 200, resp


@pytest.mark.scenario("auth-public-paths")
def test_auth_public_paths(deployment, record):
    anonymous = Api(deployment.base_url, deployment.ca_file, user=None)
    for path, status in (("/", 300), ("/versions", 200), ("/healthcheck", 200)):
        resp = anonymous.request("GET", path)
        assert resp.status == status, (path, resp)


@pytest.mark.scenario("auth-forged-headers")
def test_auth_forged_headers(deployment, api, record):
    forged = {"X-Project-Id": deployment.identity.projects["bob"], "X-Roles": "admin",
              "X-Identity-Status": "Confirmed", "X-User-Id": "someone-else"}
    resp = api.request("POST", "/v2/images", headers=forged,
                       json_body={"name": "forged", "visibility": "public"})
    assert resp.status == 403, resp
    resp = api.request("POST", "/v2/images", headers=forged, json_body={"name": "mine"})
    assert resp.status == 201, resp
    assert resp.json()["owner"] == deployment.identity.projects["alice"]
    api.delete_image(resp.json()["id"])


@pytest.mark.scenario("auth-private-image")
def test_auth_private_image(deployment, api, record):
    image = api.create_image(name="a-private", visibility="private")
    bob = Api(deployment.base_url, deployment.ca_file, user="bob")
    assert bob.request("GET", "/v2/images/%s" % image["id"]).status == 404
    assert image["id"] not in [i["id"] for i in bob.list_images()]
    assert bob.request("DELETE", "/v2/images/%s" % image["id"]).status == 404
    assert api.get_image(image["id"])["visibility"] == "private"
    api.delete_image(image["id"])


@pytest.mark.scenario("auth-publicize")
def test_auth_publicize(deployment, api, record):
    image = api.create_image(name="to-publish")
    patch = [{"op": "replace", "path": "/visibility", "value": "public"}]
    admin = Api(deployment.base_url, deployment.ca_file, user="admin")
    for who, status in ((api, 403), (admin, 200)):
        resp = who.request("PATCH", "/v2/images/%s" % image["id"], json_body=patch,
                           headers={"Content-Type": PATCH_TYPE})
        assert resp.status == status, (who.user, resp)
    assert api.get_image(image["id"])["visibility"] == "public"
    admin.delete_image(image["id"])


@pytest.mark.scenario("auth-keystone-down")
def test_auth_keystone_down(deployment, record):
    """Stops the run's Keystone, then starts it again. A token glancelet has
    not validated yet gets 503 (or the declared failure) and changes nothing;
    one cached in memcached keeps working; what was stored before is intact
    afterwards."""
    source = Source(MiB + 5, seed=8)
    # alice's own new token, validated (and cached, for token_cache_time, 300 s)
    # by the next requests: the run's shared token may have been cached so long
    # ago that its entry expires during the outage.
    api = Api(deployment.base_url, deployment.ca_file, user=None,
              token=deployment.identity.connection("alice").session.get_token())
    image = api.create_image(name="before-the-outage")
    assert api.upload_cl(image["id"], source).status == 204
    # bob's new token, never validated by glancelet (not cached), sent as is.
    bob = Api(deployment.base_url, deployment.ca_file, user=None)
    fresh = deployment.identity.connection("bob").session.get_token()
    keystone = deployment.identity.keystone
    keystone.server.stop()
    try:
        for method, body in (("GET", None), ("POST", {"name": "during-the-outage"})):
            resp = bob.request(method, "/v2/images", json_body=body,
                               headers={"X-Auth-Token": fresh})
            if not expect(deployment, "auth-keystone-down", resp, record):
                assert resp.status == 503, resp
                assert "Keystone" in resp.text, resp
        assert Api(deployment.base_url, deployment.ca_file, user=None).request(
            "GET", "/healthcheck").status == 200
        assert api.get_image(image["id"])["status"] == "active"   # alice: cached
    finally:
        keystone.start()
    resp = bob.request("GET", "/v2/images", headers={"X-Auth-Token": fresh})
    assert resp.status == 200, resp
    assert "during-the-outage" not in resp.text
    assert_download(api, image["id"], source)
    api.delete_image(image["id"])
