"""glancelet with [paste_deploy] flavor = keystone against a real Keystone.

One Keystone for the session, from PyPI (tests/keystone-requirements.txt;
``tox -e keystone``), served by uWSGI from examples/keystone/, and glancelet
under uWSGI from examples/uwsgi-http/ plus the examples/keystone/authtoken.conf
drop-in. Collected only with GLANCELET_KEYSTONE_TESTS=1 (conftest.py), which
tox -e keystone sets. Nothing is installed at test time: without keystone
the session fixture fails at once with the command to run.
"""

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request

import pytest

from lab import memcached, results
from lab.harness import KEYSTONE_EXAMPLES, REPO_ROOT, LineEdit, Workspace, wait_ready
from lab.keystone import (ADMIN_PASSWORD, USER_PASSWORD, Keystone, connect, credentials,
                          populate, token_with_expiry)
from lab.patterns import uwsgi_http


@pytest.fixture(scope="session")
def deployment(tmp_path_factory, request):
    if importlib.util.find_spec("keystone") is None:
        pytest.fail("keystone is not installed: pip install -r tests/keystone-requirements.txt "
                    "(or run tox -e keystone)")
    ws = Workspace(tmp_path_factory.mktemp("keystone"))
    keystone = Keystone(ws)
    try:
        started = time.monotonic()
        keystone.setup()
        keystone.start()
        keystone.timings["total"] = time.monotonic() - started
        memcached.start_memcached(ws)
        glance_url, _ = uwsgi_http.PATTERNS[0].launch(ws)
        wait_ready(glance_url + "/", list(ws.servers.values()), deadline=60)
        _, projects = populate(keystone, glance_url)
        sys.stderr.write("\nKeystone start (seconds): %s\n" % ", ".join(
            "%s %.1f" % kv for kv in keystone.timings.items()))
        yield {"keystone": keystone, "url": glance_url, "projects": projects, "ws": ws}
    finally:
        if request.session.testsfailed:
            for name, server in ws.servers.items():
                sys.stderr.write("\n===== %s log (%s)\n%s" % (
                    name, server.log_path, server.log_path.read_text(errors="replace")[-20000:]))
        errors = ws.stop_all()
        assert not errors, errors
        ws.remove()


@pytest.fixture(scope="session")
def symptoms():
    """Symptoms captured by this suite, for the docs' symptom index
    (lab.results.KEYSTONE_SYMPTOMS_PATH; a test adds one once its assertions passed)."""
    found = []
    yield found
    if found:
        results.merge_symptoms(REPO_ROOT, found)


def record(symptoms, request, symptom_id, ws, text):
    symptoms.append({"id": symptom_id, "pattern": "uwsgi-http + keystone",
                     "text": ws.operator_view(text), "test": request.node.nodeid})


def wait_answering(url, server, deadline=60.0):
    """Wait until ``url`` gets any HTTP answer (a variant may answer 401 to /)."""
    end = time.monotonic() + deadline
    while True:
        assert server.alive(), server.log_path.read_text(errors="replace")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            assert time.monotonic() < end, "%s: no answer in %ss" % (url, deadline)
            time.sleep(0.2)
    server.wait_signal_ready()


@contextlib.contextmanager
def variant(deployment, tmp_path, authtoken=(), ini=(), extra=()):
    """A second glancelet (uwsgi-http) against the session's Keystone and
    memcached: the drop-in with ``authtoken`` edits, the uWSGI ini with ``ini``
    edits, plus ``extra`` (text, operator path) files. Yields (workspace, url)."""
    ws = Workspace(tmp_path)
    for port in ("5000", "11211"):
        ws.use_port(port, deployment["ws"].port(port))
    try:
        for text, path in extra:
            ws.install_text(text, path)
        edits = {KEYSTONE_EXAMPLES[2][0]: list(authtoken),
                 uwsgi_http.DIR + "glancelet-uwsgi.ini": list(ini)}
        pattern = uwsgi_http.PATTERNS[0].variant({k: v for k, v in edits.items() if v})
        url, _ = pattern.launch(ws)
        wait_answering(url + "/", ws.servers["uwsgi"])
        yield ws, url
    finally:
        errors = ws.stop_all()
        ws.remove()
        assert not errors, errors


def token(deployment, user):
    """A new token of ``user`` (alice: member of project-a, bob: of project-b; admin)."""
    password, project = credentials(user)
    return connect(deployment["keystone"], user, password, project).session.get_token()


def call(deployment, method, path, token=None, headers=None, body=None):
    """(status, headers, body) of one request to glancelet's front door
    (``deployment["url"]``)."""
    req = urllib.request.Request(deployment["url"] + path, method=method, data=body,
                                 headers=dict(headers or {}))
    if token:
        req.add_header("X-Auth-Token", token)
    if body is not None and "Content-Type" not in (headers or {}):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def create(deployment, token, **props):
    status, _, body = call(deployment, "POST", "/v2/images", token,
                           body=json.dumps(props).encode())
    return status, json.loads(body)


def test_no_token_is_401_with_www_authenticate(deployment):
    status, headers, _ = call(deployment, "GET", "/v2/images")
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Keystone uri="%s"' % deployment["keystone"].url


def test_bad_token_is_401(deployment):
    status, headers, _ = call(deployment, "GET", "/v2/images", token="not-a-token")
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_expired_token_is_401(deployment):
    """A token signed with Keystone's keys whose expiry has passed: 401. The
    same token with an expiry ahead is accepted, so only the expiry differs."""
    keystone = deployment["keystone"]
    admin = connect(keystone, "admin", ADMIN_PASSWORD, "admin")
    alice = admin.identity.find_user("alice", domain_id="default")
    made = {expires_at[:4]: token_with_expiry(keystone, alice.id, deployment["projects"]["alice"],
                                              expires_at)
            for expires_at in ("2020-01-01T00:00:00.000000Z", "2099-01-01T00:00:00.000000Z")}
    status, headers, _ = call(deployment, "GET", "/v2/images", token=made["2020"])
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Keystone uri="%s"' % keystone.url
    assert call(deployment, "GET", "/v2/images", token=made["2099"])[0] == 200


@pytest.mark.parametrize("path, status", [("/", 300), ("/versions", 200),
                                          ("/healthcheck", 200)])
def test_version_discovery_and_healthcheck_need_no_token(deployment, path, status):
    assert call(deployment, "GET", path)[0] == status


def test_forged_identity_headers_change_nothing(deployment):
    forged = {"X-Project-Id": deployment["projects"]["bob"], "X-Roles": "admin",
              "X-Identity-Status": "Confirmed", "X-User-Id": "someone-else"}
    alice = token(deployment, "alice")
    status, _, body = call(deployment, "POST", "/v2/images", alice, headers=forged,
                           body=b'{"name": "forged", "visibility": "public"}')
    assert status == 403, body
    status, _, body = call(deployment, "POST", "/v2/images", alice, headers=forged,
                           body=b'{"name": "mine"}')
    assert status == 201, body
    assert json.loads(body)["owner"] == deployment["projects"]["alice"]


def test_private_image_is_invisible_to_another_project(deployment):
    status, image = create(deployment, token(deployment, "alice"), name="a-private",
                           visibility="private")
    assert status == 201, image
    bob = token(deployment, "bob")
    assert call(deployment, "GET", "/v2/images/%s" % image["id"], bob)[0] == 404
    status, _, body = call(deployment, "GET", "/v2/images", bob)
    assert status == 200 and image["id"].encode() not in body


def test_member_cannot_publicize_and_admin_can(deployment):
    status, image = create(deployment, token(deployment, "alice"), name="to-publish")
    assert status == 201, image
    patch = b'[{"op": "replace", "path": "/visibility", "value": "public"}]'
    ctype = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    for user, expected in (("alice", 403), ("admin", 200)):
        req = urllib.request.Request(deployment["url"] + "/v2/images/" + image["id"],
                                     method="PATCH", data=patch,
                                     headers=dict(ctype, **{"X-Auth-Token":
                                                            token(deployment, user)}))
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                got = resp.status
        except urllib.error.HTTPError as exc:
            got = exc.code
        assert got == expected, user


def test_openstacksdk_round_trip_through_the_catalog(deployment):
    data = os.urandom(3 * 1024 * 1024 + 17)
    conn = connect(deployment["keystone"], "alice", USER_PASSWORD, "project-a")
    image = conn.image.create_image(name="sdk", data=data, disk_format="raw",
                                    container_format="bare")
    image = conn.image.get_image(image.id)
    assert image.status == "active"
    assert image.owner == deployment["projects"]["alice"]
    got = conn.image.download_image(image).content
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()


# Not an example: auth_token wrapped around the whole application, the
# naive way, so that / is guarded too (test_guarded_root).
GUARDED_WSGI = """\
import configparser
import os

from keystonemiddleware import auth_token

from glancelet.wsgi.api import application as glancelet

conf = configparser.RawConfigParser()
conf.read(os.environ["GLANCELET_CONFIG_FILE"] + ".d/authtoken.conf")
application = auth_token.filter_factory({}, **dict(conf["keystone_authtoken"]))(glancelet)
"""


def test_guarded_root(deployment, symptoms, request, tmp_path):
    """auth_token around the whole app: / answers 401 without a token;
    openstacksdk's discovery gets 401 first, then sends its token."""
    edits = {"authtoken": [LineEdit(r"^flavor = keystone$", remove=True)],
             "ini": [LineEdit(r"^module = ", replace="wsgi-file = /etc/glancelet/guarded.py")],
             "extra": [(GUARDED_WSGI, "/etc/glancelet/guarded.py")]}
    with variant(deployment, tmp_path, **edits) as (ws, url):
        root = call({"url": url}, "GET", "/")
        log_path = ws.servers["uwsgi"].log_path
        seen = len(log_path.read_text(errors="replace"))
        admin = connect(deployment["keystone"], "admin", ADMIN_PASSWORD, "admin")
        region = admin.identity.create_region(id="Guarded")
        service = admin.identity.find_service("glance")
        endpoint = admin.identity.create_endpoint(service_id=service.id, interface="public",
                                                  url=url, region_id=region.id)
        try:
            conn = connect(deployment["keystone"], "alice", USER_PASSWORD, "project-a",
                           region="Guarded")
            listed = list(conn.image.images())
        finally:
            admin.identity.delete_endpoint(endpoint)
            admin.identity.delete_region(region)
        log = log_path.read_text(errors="replace")[seen:]
    assert root[0] == 401
    assert listed == []
    # uWSGI's request log: "... GET / => generated ... (HTTP/1.1 401) ..."
    requests = ["%s %s" % m for m in re.findall(r"\] (GET \S+) => .*?\(HTTP/1\.1 (\d+)\)", log)]
    assert requests[-1] == "GET /v2/images 200", requests
    assert requests[-2] == "GET / 300" and "GET / 401" in requests[:-2], requests
    record(symptoms, request, "keystone-guarded-root", ws,
           "GET / without a token: HTTP %d\nWWW-Authenticate: %s\n"
           "(uWSGI request log, openstacksdk listing images) %s"
           % (root[0], root[1]["WWW-Authenticate"], ", ".join(requests)))


def test_missing_www_authenticate_uri(deployment, symptoms, request, tmp_path):
    """Without www_authenticate_uri, the 401 sends clients to auth_url (here a
    name only glancelet's host may resolve), and the log says so once."""
    edits = [LineEdit(r"^www_authenticate_uri = ", remove=True),
             LineEdit(r"^auth_url = ", replace="auth_url = http://localhost:5000/v3")]
    with variant(deployment, tmp_path, authtoken=edits) as (ws, url):
        status, headers, body = call({"url": url}, "GET", "/v2/images")
        log = ws.servers["uwsgi"].log_path.read_text(errors="replace")
    assert status == 401
    header = ws.operator_view(headers["WWW-Authenticate"])
    assert header == 'Keystone uri="http://localhost:5000/v3"'
    warning = ("Configuring www_authenticate_uri to point to the public identity endpoint is "
               "required; clients may not be able to authenticate against an admin endpoint")
    assert warning in log.splitlines()
    record(symptoms, request, "keystone-no-www-authenticate-uri", ws,
           "HTTP 401\nWWW-Authenticate: %s\n(glancelet log) %s" % (header, warning))


def test_wrong_service_password(deployment, symptoms, request, tmp_path):
    """A wrong [keystone_authtoken] password: every request with a token gets
    auth_token's 503, and the log shows Keystone's 401 to the service user."""
    edits = [LineEdit(r"^password = ", replace="password = not-the-password")]
    refused = "Authorization failed. The request you have made requires authentication. from "
    keystone_log = deployment["keystone"].server.log_path
    before = keystone_log.read_text(errors="replace").count(refused)
    with variant(deployment, tmp_path, authtoken=edits) as (ws, url):
        status, headers, body = call({"url": url}, "GET", "/v2/images",
                                     token(deployment, "alice"))
        log = ws.servers["uwsgi"].log_path.read_text(errors="replace")
        assert call({"url": url}, "GET", "/v2/images")[0] == 401
        assert call({"url": url}, "GET", "/healthcheck")[0] == 200
    assert keystone_log.read_text(errors="replace").count(refused) > before
    assert status == 503, body
    assert headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert b"The Keystone service is temporarily unavailable." in body
    lines = [line for line in log.splitlines() if line.startswith("Identity response: ")]
    assert lines and all(re.search(r'"code": ?401', line) for line in lines), log[-3000:]
    record(symptoms, request, "keystone-wrong-service-password", ws,
           "HTTP 503\nContent-Type: %s\n\n%s\n(glancelet log) %s" % (
               headers["Content-Type"], body.decode().strip(), lines[0]))


def test_validated_tokens_are_cached_in_memcached_encrypted(deployment):
    """memcached_servers: a second request with a token is a cache hit; under
    memcache_security_strategy = ENCRYPT neither the token nor what Keystone
    said about it is readable in memcached."""
    ws = deployment["ws"]
    alice = token(deployment, "alice")
    before = memcached.stats(ws)
    for _ in range(2):
        assert call(deployment, "GET", "/v2/images", alice)[0] == 200
    after = memcached.stats(ws)
    assert int(after["cmd_set"]) > int(before["cmd_set"])
    assert int(after["get_hits"]) > int(before["get_hits"])
    stored = memcached.items(ws)
    assert stored
    project = deployment["projects"]["alice"].encode()
    for key, value in stored:
        assert alice not in key and alice.encode() not in value
        assert project not in value and b"alice" not in value, (key, value[:200])


def test_keystone_down_is_503_not_500(deployment):
    """Runs late: it stops Keystone, then starts it again. A token not yet
    validated gets 503 and changes nothing; a cached one keeps working; what
    was stored before is intact afterwards."""
    keystone = deployment["keystone"]
    alice = token(deployment, "alice")
    data = os.urandom(1024 * 1024 + 5)
    status, image = create(deployment, alice, name="before-the-outage", disk_format="raw",
                           container_format="bare")
    assert status == 201, image
    path = "/v2/images/%s" % image["id"]
    assert call(deployment, "PUT", path + "/file", alice, body=data,
                headers={"Content-Type": "application/octet-stream"})[0] == 204
    fresh = token(deployment, "bob")  # never validated by glancelet: not cached
    keystone.server.stop()
    try:
        status, _, body = call(deployment, "GET", "/v2/images", fresh)
        assert status == 503, body
        status, _, body = call(deployment, "POST", "/v2/images", fresh,
                               body=b'{"name": "during-the-outage"}')
        assert status == 503, body
        assert call(deployment, "GET", "/healthcheck")[0] == 200
        assert call(deployment, "GET", path, alice)[0] == 200   # cached in memcached
    finally:
        keystone.start()
    status, _, body = call(deployment, "GET", "/v2/images", fresh)
    assert status == 200, body
    assert b"during-the-outage" not in body
    status, _, got = call(deployment, "GET", path + "/file", alice)
    assert status == 200 and got == data


def test_memcached_down_requests_still_work(deployment):
    """memcached stopped: tokens are validated with Keystone again, nothing fails.
    Runs last: once memcached is back, a token cached before was not found
    (seen; python-memcached's clients retry a dead server only later)."""
    ws = deployment["ws"]
    cached = token(deployment, "alice")
    assert call(deployment, "GET", "/v2/images", cached)[0] == 200
    ws.servers["memcached"].stop()
    try:
        fresh = token(deployment, "bob")
        for tok in (cached, fresh, fresh):
            status, _, body = call(deployment, "GET", "/v2/images", tok)
            assert status == 200, body
        status, image = create(deployment, fresh, name="no-cache")
        assert status == 201, image
    finally:
        memcached.start_memcached(ws)
