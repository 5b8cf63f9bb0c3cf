"""The trusted-header mode (no ``[paste_deploy] flavor``), kept tested.

Every pattern runs behind Keystone (lab.patterns.KEYSTONE); here the
uwsgi-http pattern runs without the authtoken.conf drop-in
(:meth:`Pattern.without_keystone`): glancelet believes the identity headers
of whoever reaches its port, which is why this mode is for a private network
or development only, never a production example (doc/source/howto/authentication.rst).
"""

import pytest

from lab.client import MiB, Api, Source
from lab.patterns import get

# What auth_token would send for a member (Keystone's implied roles: member
# implies reader, which Glance's default policies ask for to read).
MEMBER = {"X-Identity-Status": "Confirmed", "X-Roles": "member,reader"}


@pytest.fixture(scope="module")
def trusted(tmp_path_factory):
    pattern = get("uwsgi-http").without_keystone()
    with pattern.start(tmp_path_factory.mktemp("trusted-headers")) as dep:
        assert dep.identity is None and dep.region is None
        yield dep


def as_project(dep, project):
    """An Api sending no token, and identity headers naming ``project``."""
    api = Api(dep.base_url, dep.ca_file, user=None)
    headers = dict(MEMBER, **{"X-Project-Id": project})

    def request(method, path, **kw):
        return api.request(method, path, headers=dict(headers, **kw.pop("headers", {})), **kw)
    return request


def test_discovery_and_healthcheck(trusted):
    api = Api(trusted.base_url, user=None)
    assert api.request("GET", "/").status == 300
    assert api.request("GET", "/healthcheck").status == 200


def test_the_headers_choose_the_project(trusted):
    """No token needed or checked: the caller names its project and roles."""
    for project in ("project-x", "project-y"):
        resp = as_project(trusted, project)("POST", "/v2/images", json_body={"name": project},
                                            headers={"X-Auth-Token": "not-a-token"})
        assert resp.status == 201, resp
        assert resp.json()["owner"] == project
    resp = as_project(trusted, "project-x")("GET", "/v2/images")
    assert resp.status == 200, resp
    assert [i["name"] for i in resp.json()["images"]] == ["project-x"]


def test_policy_still_applies_to_the_roles_given(trusted):
    request = as_project(trusted, "project-x")
    resp = request("POST", "/v2/images", json_body={"name": "p", "visibility": "public"})
    assert resp.status == 403, resp
    admin = request("POST", "/v2/images", json_body={"name": "p", "visibility": "public"},
                    headers={"X-Roles": "admin"})
    assert admin.status == 201, admin


def test_upload_round_trip_without_identity_headers(trusted):
    """No identity header at all: the unauthenticated mode (glancelet.context)."""
    api = Api(trusted.base_url, user=None)
    image = api.create_image(name="trusted-upload")
    source = Source(2 * MiB + 3, seed=40)
    assert api.upload_cl(image["id"], source).status == 204
    resp, size, md5, sha512 = api.download(image["id"])
    assert (resp.status, size, sha512) == (200, source.size, source.sha512.hexdigest())
    api.delete_image(image["id"])
