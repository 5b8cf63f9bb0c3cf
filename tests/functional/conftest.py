"""In-process fixtures: glancelet built by create_app with a temp config."""

import io
import json
import os
import shutil
import sys
import urllib.parse

import pytest

from glancelet import app as app_mod
from glancelet import conf as conf_mod
from tests.examples.client import cli_field, glance_cli

# test_keystone.py needs a real Keystone (tests/keystone-requirements.txt):
# `tox -e keystone` sets this; the py3 run leaves the module out.
if not os.environ.get("GLANCELET_KEYSTONE_TESTS"):
    collect_ignore = ["test_keystone.py"]


class Response:
    def __init__(self, status, headers, body):
        self.status_line = status
        self.status = int(status.split()[0])
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        return json.loads(self.body)

    @property
    def error(self):
        """The message of a Glance-style JSON error body."""
        assert self.headers["content-type"] == "application/json"
        doc = self.json()
        assert set(doc) == {"error"}
        assert doc["error"]["code"] == self.status
        return doc["error"]["message"]


class Client:
    """Calls the WSGI app directly, as a server would, with the bytes given."""

    def __init__(self, app, headers=None):
        self.app = app
        self.default_headers = dict(headers or {})

    def request(self, method, path, body=b"", headers=None, chunked=None, environ=None):
        path, _, query = path.partition("?")
        json_body = isinstance(body, (dict, list))
        if json_body:
            body = json.dumps(body).encode()
        env = {
            "REQUEST_METHOD": method, "PATH_INFO": urllib.parse.unquote(path),
            "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "9292",
            "HTTP_HOST": "127.0.0.1:9292", "SCRIPT_NAME": "", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "SERVER_PROTOCOL": "HTTP/1.1",
        }
        if json_body:
            env["CONTENT_TYPE"] = "application/json"
        if chunked:
            env["HTTP_TRANSFER_ENCODING"] = "chunked"
            env["wsgi.input_terminated"] = True
        elif body:
            env["CONTENT_LENGTH"] = str(len(body))
        for name, value in {**self.default_headers, **(headers or {})}.items():
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            env[key] = value
        env.update(environ or {})
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        result = self.app(env, start_response)
        try:
            data = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return Response(captured["status"], captured["headers"], data)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def patch(self, path, ops, **kw):
        headers = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
        headers.update(kw.pop("headers", {}))
        return self.request("PATCH", path, json.dumps(ops).encode(), headers=headers, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def upload(self, image_id, data, **kw):
        headers = {"Content-Type": "application/octet-stream"}
        headers.update(kw.pop("headers", {}))
        return self.request("PUT", "/v2/images/%s/file" % image_id, data, headers=headers,
                            **kw)

    def create(self, **props):
        resp = self.post("/v2/images", props)
        assert resp.status == 201, resp.body
        return resp.json()


def identity(project, roles="member", project_header="X-Project-Id"):
    """The headers keystonemiddleware sends for a valid token of ``project``."""
    return {"X-Identity-Status": "Confirmed", project_header: project, "X-Roles": roles}


def make_conf(tmp_path, **overrides):
    raw = {
        ("database", "connection"): "sqlite:///%s" % (tmp_path / "glancelet.sqlite"),
        ("glance_store", "filesystem_store_datadir"): str(tmp_path / "images"),
        ("os_glance_staging_store", "filesystem_store_datadir"): str(tmp_path / "staging"),
    }
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        raw[(section, name)] = str(value)
    return conf_mod.load(path=None, overrides=raw, environ={})


@pytest.fixture
def conf(tmp_path):
    return make_conf(tmp_path)


@pytest.fixture
def app(conf):
    return app_mod.create_app(conf)


@pytest.fixture
def client(app):
    return Client(app)


# -- Real servers and the glance CLI ---------------------------------------------

def which(name):
    """A command from this environment (tox's venv first), or fail with how to get it."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(path):
        return path
    found = shutil.which(name)
    if found is None:
        pytest.fail("%s is not installed: run `pip install %s` (tox installs it from "
                    "test-requirements.txt)" % (name, name))
    return found


def glance(url, *args):
    """Run the glance CLI as from a terminal (see ``glance_cli``); it must succeed.
    Returns its output."""
    proc = glance_cli(url, None, *args)
    assert proc.returncode == 0, "glance %s failed:\n%s\n%s" % (
        args, proc.stdout, proc.stderr)
    return proc.stdout


field = cli_field
