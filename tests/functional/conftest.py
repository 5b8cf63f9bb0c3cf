"""In-process fixtures: glancelet built by create_app with a temp config."""

import concurrent.futures
import contextlib
import hashlib
import io
import json
import os
import shutil
import socket
import sys
import threading
import types
import urllib.parse
import uuid

import pytest
import requests

from glancelet import app as app_mod
from glancelet import conf as conf_mod
from glancelet import db
from glancelet.store import NEW_PREFIX, TEMP_PREFIX
from lab.client import cli_field, glance_cli

# test_keystone.py needs a real Keystone (tests/keystone-requirements.txt):
# `tox -e keystone` sets this; the py3 run leaves the module out.
collect_ignore = []
if not os.environ.get("GLANCELET_KEYSTONE_TESTS"):
    collect_ignore.append("test_keystone.py")
# The database backends the db_url fixture gives. `tox -e db` adds PostgreSQL
# and MariaDB (lab.dbservers; glancelet[postgresql,mysql]) and the tests only
# they have; the py3 run stays on SQLite.
DB_BACKENDS = ["sqlite"]
if os.environ.get("GLANCELET_DB_TESTS"):
    DB_BACKENDS += ["postgresql", "mariadb"]
else:
    collect_ignore.append("test_db_servers.py")


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


def identity(project, roles="member,reader", project_header="X-Project-Id"):
    """The headers keystonemiddleware sends for a valid token of ``project``.

    A member's token carries ``reader`` too: Keystone's default implied roles
    (admin implies member implies reader) put it there, and Glance's read
    rules ask for ``reader``."""
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
def data_server():
    """A local HTTP server web-download may fetch from (test_import, test_multinode)."""
    from tests.unit.test_webdownload import DataServer
    with DataServer() as server:
        yield server


@pytest.fixture
def conf(tmp_path):
    return make_conf(tmp_path)


@pytest.fixture(scope="session")
def db_server():
    """``db_server(kind)``: the session's PostgreSQL or MariaDB, started on first use."""
    from lab import dbservers
    started = {}

    def get(kind):
        if kind not in started:
            started[kind] = dbservers.SERVERS[kind]()
            started[kind].start()
            sys.stderr.write("\n%s started in %.1f s\n" % (kind, started[kind].start_seconds))
        return started[kind]
    yield get
    for server in started.values():
        server.stop()


def new_database(request, kind, tmp_path, sync=True):
    """The URL of a new, empty database of backend ``kind`` (SQLite: a file
    in ``tmp_path``), with the latest schema if ``sync``."""
    if kind == "sqlite":
        return "sqlite:///%s" % (tmp_path / "glancelet.sqlite")
    url = request.getfixturevalue("db_server")(kind).create_database(
        "t_" + uuid.uuid4().hex[:16])
    if sync:
        db.upgrade(db.connect(url, sync=False))
    return url


@pytest.fixture(params=DB_BACKENDS)
def db_url(request, tmp_path):
    """A new database with the latest schema, on each backend in DB_BACKENDS."""
    return new_database(request, request.param, tmp_path)


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
    # A trusted-header server: the CLI is pointed at it (no Keystone).
    proc = glance_cli(types.SimpleNamespace(base_url=url, ca_file=None, identity=None), *args)
    assert proc.returncode == 0, "glance %s failed:\n%s\n%s" % (
        args, proc.stdout, proc.stderr)
    return proc.stdout


field = cli_field


# -- The attack campaign's counts (tests/functional/test_campaign_*.py) ---------------

_CAMPAIGN_LINES = []


class Campaign:
    """What one campaign test did: requests sent, 5xx answered, active images
    whose bytes do not match their hashes, temp files left. Its ``line()`` is
    printed in the run's summary, for the closing note to quote."""

    def __init__(self, name):
        self.name = name
        self.requests = self.server_errors = self.mismatched = self.tempfiles = 0
        self.required = self.required_5xx = 0

    def answered(self, status):
        self.requests += 1
        if status >= 500 and status == self.required:
            self.required_5xx += 1
        elif status >= 500:
            self.server_errors += 1

    @contextlib.contextmanager
    def requiring(self, status):
        """Inside the block, answers with ``status`` (say 503 from a failing store)
        are the behaviour asked for: counted apart, not as 5xx."""
        self.required = status
        try:
            yield
        finally:
            self.required = 0

    def send(self, method, url, **kw):
        """A request to a real server (requests); a dropped connection counts too."""
        try:
            resp = requests.request(method, url, timeout=kw.pop("timeout", 30), **kw)
        except requests.ConnectionError:
            self.requests += 1
            raise
        self.answered(resp.status_code)
        return resp

    def send_raw(self, port, data):
        """Send raw bytes to 127.0.0.1:``port``; the status answered, or None if the
        server closed the connection without an HTTP answer."""
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(data)
            try:
                sock.shutdown(socket.SHUT_WR)
                answer = sock.recv(65536)
            except OSError:
                answer = b""
        status = int(answer.split()[1]) if answer.startswith(b"HTTP/") else None
        self.answered(status or 0)
        return status

    def check_images(self, client, directories):
        """Count (and return) what is wrong in the store now: active images whose
        bytes do not match ``checksum`` (md5) and ``os_hash_value`` (sha512), and
        temp files left in ``directories``. ``client`` must see every image."""
        bad, url = [], "/v2/images?status=active&limit=1000"
        while url:
            resp = client.get(url)
            assert resp.status == 200, resp.body
            doc = resp.json()
            for image in doc["images"]:
                data = client.get("/v2/images/%s/file" % image["id"]).body
                if (hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest(),
                        len(data)) != (image["checksum"], image["os_hash_value"],
                                       image["size"]):
                    bad.append(image["id"])
            url = doc.get("next")
        temps = [os.path.join(d, n) for d in directories if os.path.isdir(d)
                 for n in os.listdir(d) if n.startswith((TEMP_PREFIX, NEW_PREFIX))]
        self.mismatched += len(bad)
        self.tempfiles += len(temps)
        return bad, temps

    def line(self):
        line = "campaign: %s requests=%d 5xx=%d mismatched=%d tempfiles=%d" % (
            self.name, self.requests, self.server_errors, self.mismatched, self.tempfiles)
        return line + (" required-5xx=%d" % self.required_5xx if self.required_5xx else "")


class CampaignClient(Client):
    """The in-process client, counting every answer into a :class:`Campaign`."""

    def __init__(self, app, campaign, headers=None):
        super().__init__(app, headers)
        self.campaign = campaign

    def request(self, *args, **kw):
        resp = super().request(*args, **kw)
        self.campaign.answered(resp.status)
        return resp


class RemoteClient:
    """The same interface over HTTP to a real server, counting into a Campaign."""

    def __init__(self, url, campaign):
        self.url = url
        self.campaign = campaign

    def request(self, method, path, body=b"", headers=None):
        kw = {"json": body} if isinstance(body, (dict, list)) else {"data": body}
        resp = self.campaign.send(method, self.url + path, headers=headers, **kw)
        return Response("%d %s" % (resp.status_code, resp.reason), resp.headers.items(),
                        resp.content)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)


@pytest.fixture
def campaign(request):
    counts = Campaign(request.node.nodeid)
    yield counts
    _CAMPAIGN_LINES.append(counts.line())
    print(counts.line())


def pytest_terminal_summary(terminalreporter):
    if _CAMPAIGN_LINES:
        terminalreporter.section("campaign")
        for line in _CAMPAIGN_LINES:
            terminalreporter.write_line(line)


def race(count, threads, func):
    """Run ``func(i)`` for i in range(count) on ``threads`` threads, the first
    ``threads`` calls released at once by a barrier; the results in order."""
    barrier = threading.Barrier(min(count, threads), timeout=30)

    def one(i):
        if i < threads:
            barrier.wait()
        return func(i)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count), timeout=120))
