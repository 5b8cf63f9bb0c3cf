"""glancelet with [paste_deploy] flavor = keystone against a real Keystone.

One Keystone for the session, from PyPI (tests/keystone-requirements.txt;
``tox -e keystone``), served by uWSGI from examples/keystone/, and glancelet
under uWSGI from examples/uwsgi-http/ plus the examples/keystone/authtoken.conf
drop-in. Collected only with GLANCELET_KEYSTONE_TESTS=1 (conftest.py), which
tox -e keystone sets. Nothing is installed at test time: without keystone
the session fixture fails at once with the command to run.
"""

import hashlib
import importlib.util
import json
import os
import sys
import time
import urllib.error
import urllib.request

import pytest

from lab.harness import KEYSTONE_EXAMPLES, Workspace, wait_ready
from lab.keystone import ADMIN_PASSWORD, Keystone, admin_connection, connect, register_glance
from lab.patterns import uwsgi_http

USER_PASSWORD = "user-secret"


def populate(keystone, glance_url):
    """The glance service user and image endpoint; projects A and B with a member each."""
    admin = admin_connection(keystone)
    register_glance(admin, glance_url)
    projects = {}
    for user, name in (("alice", "project-a"), ("bob", "project-b")):
        project = admin.identity.create_project(name=name, domain_id="default")
        member = admin.identity.create_user(name=user, password=USER_PASSWORD,
                                            domain_id="default")
        admin.grant_role("member", user=member.id, project=project.id)
        projects[user] = project.id
    return projects


@pytest.fixture(scope="session")
def deployment(tmp_path_factory):
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
        ws.install(*KEYSTONE_EXAMPLES[2])
        glance_url, _ = uwsgi_http.PATTERNS[0].launch(ws)
        wait_ready(glance_url + "/", list(ws.servers.values()), deadline=60)
        projects = populate(keystone, glance_url)
        sys.stderr.write("\nKeystone start (seconds): %s\n" % ", ".join(
            "%s %.1f" % kv for kv in keystone.timings.items()))
        yield {"keystone": keystone, "url": glance_url, "projects": projects, "ws": ws}
    finally:
        errors = ws.stop_all()
        assert not errors, errors
        ws.remove()


def token(deployment, user):
    """A new token of ``user`` (alice: member of project-a, bob: of project-b; admin)."""
    project = {"alice": "project-a", "bob": "project-b", "admin": "admin"}[user]
    password = ADMIN_PASSWORD if user == "admin" else USER_PASSWORD
    return connect(deployment["keystone"], user, password, project).session.get_token()


def call(deployment, method, path, token=None, headers=None, body=None):
    """(status, headers, body) of one request to glancelet's front door."""
    req = urllib.request.Request(deployment["url"] + path, method=method, data=body,
                                 headers=dict(headers or {}))
    if token:
        req.add_header("X-Auth-Token", token)
    if body is not None:
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


def test_keystone_down_is_503_not_500(deployment):
    """Runs last: it stops Keystone, then starts it again."""
    keystone = deployment["keystone"]
    fresh = token(deployment, "bob")  # never validated by glancelet: not cached
    keystone.server.stop()
    try:
        status, _, body = call(deployment, "GET", "/v2/images", fresh)
        assert status == 503, body
        assert call(deployment, "GET", "/healthcheck")[0] == 200
    finally:
        keystone.start()
    assert call(deployment, "GET", "/v2/images", fresh)[0] == 200
