"""[paste_deploy] flavor = keystone: auth_token in front, in process (no Keystone).

What needs a real Keystone (a valid token, the identity it maps to) is in
test_keystone.py; here are the answers auth_token gives without asking one,
and the stdlib-only core without keystonemiddleware.
"""

import os
import socket
import subprocess
import sys
import textwrap

import pytest

from glancelet import app as app_mod
from glancelet import conf as conf_mod
from glancelet import pipeline
from lab.harness import free_port

from .conftest import Client, make_conf

WWW_AUTH_URI = "http://127.0.0.1:5000/v3"

# Runs before the code under test in a child interpreter: keystonemiddleware
# cannot be imported, as in a venv where only glancelet is installed.
BLOCK_KEYSTONEMIDDLEWARE = textwrap.dedent("""
    import sys

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "keystonemiddleware":
                raise ModuleNotFoundError("No module named %r (blocked)" % name)
            return None

    sys.meta_path.insert(0, Blocker())
""")


def keystone_front(tmp_path, **authtoken):
    options = {"www_authenticate_uri": WWW_AUTH_URI,
               "auth_url": "http://127.0.0.1:%d/v3" % free_port(),
               "auth_type": "password", "username": "glance", "password": "secret",
               "project_name": "service", "user_domain_name": "Default",
               "project_domain_name": "Default", "http_request_max_retries": "0",
               "http_connect_timeout": "2"}
    options.update(authtoken)
    overrides = {"paste_deploy__flavor": "keystone"}
    overrides.update(("keystone_authtoken__" + k, v) for k, v in options.items())
    conf = make_conf(tmp_path, **overrides)
    return Client(pipeline.attach(pipeline.build(conf), app_mod.create_app(conf)))


@pytest.fixture
def guarded(tmp_path):
    return keystone_front(tmp_path)


def test_no_token_is_401_with_www_authenticate(guarded):
    resp = guarded.get("/v2/images")
    assert resp.status == 401
    assert resp.headers["www-authenticate"] == "Keystone uri=\"%s\"" % WWW_AUTH_URI


def test_forged_identity_headers_without_a_token_are_401(guarded):
    resp = guarded.get("/v2/images", headers={"X-Identity-Status": "Confirmed",
                                              "X-Project-Id": "p1", "X-Roles": "admin"})
    assert resp.status == 401


@pytest.mark.parametrize("path, status", [("/", 300), ("/versions", 200),
                                          ("/healthcheck", 200), ("/versions/", 200)])
def test_version_discovery_and_healthcheck_need_no_token(guarded, path, status):
    assert guarded.get(path).status == status


def test_delay_auth_decision_without_a_token_is_still_401(tmp_path):
    """auth_token then passes the request on marked Invalid: glancelet refuses it,
    rather than treating it as the no-identity (full access) mode."""
    resp = keystone_front(tmp_path, delay_auth_decision="true").get("/v2/images")
    assert resp.status == 401
    assert "X-Identity-Status is 'Invalid'" in resp.error


def test_keystone_unreachable_is_503_not_500(guarded):
    resp = guarded.get("/v2/images", headers={"X-Auth-Token": "a-token"})
    assert resp.status == 503, resp.body
    assert b"temporarily unavailable" in resp.body


def test_keystone_not_answering_is_503_not_500(tmp_path):
    """Keystone accepts the connection and never answers (overloaded, stopped
    with SIGSTOP): auth_token lets keystoneauth's ConnectTimeout escape;
    glancelet answers 503 (glancelet only: Glance gives a 500)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshakes; nobody reads
        url = "http://127.0.0.1:%d/v3" % silent.getsockname()[1]
        front = keystone_front(tmp_path, auth_url=url, http_connect_timeout="1")
        resp = front.get("/v2/images", headers={"X-Auth-Token": "a-token"})
    assert resp.status == 503, resp.body
    assert resp.headers["retry-after"] == "30"
    assert "temporarily unavailable" in resp.error


def test_authtoken_option_of_the_wrong_type_is_a_config_error(tmp_path):
    with pytest.raises(conf_mod.ConfigError, match=r"^\[keystone_authtoken\]: .*"
                       "delay_auth_decision"):
        keystone_front(tmp_path, delay_auth_decision="perhaps")


def test_unknown_flavor_is_a_config_error(tmp_path):
    with pytest.raises(conf_mod.ConfigError, match=r"\[paste_deploy\] flavor = 'noauth' "
                       r"'noauth' is not one of: \(empty\), keystone"):
        make_conf(tmp_path, paste_deploy__flavor="noauth")


def test_no_flavor_is_the_app_itself(conf):
    assert pipeline.build(conf) is None


def _child(code, tmp_path, conf_text, block=True, timeout=60):
    path = tmp_path / "glancelet.conf"
    path.write_text(conf_text + textwrap.dedent("""
        [database]
        connection = sqlite:///%s/glancelet.sqlite
        [glance_store]
        filesystem_store_datadir = %s/images
        [os_glance_staging_store]
        filesystem_store_datadir = %s/staging
    """ % (tmp_path, tmp_path, tmp_path)))
    env = dict(os.environ, GLANCELET_CONFIG_FILE=str(path))
    code = (BLOCK_KEYSTONEMIDDLEWARE if block else "") + code
    return subprocess.run([sys.executable, "-c", code],
                          env=env, capture_output=True, text=True, timeout=timeout)


def test_flavor_keystone_without_keystonemiddleware_is_one_clear_line(tmp_path):
    proc = _child("import glancelet.wsgi.api\n", tmp_path,
                  "[paste_deploy]\nflavor = keystone\n")
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("glancelet:")]
    assert lines == ["glancelet: configuration error: [paste_deploy] flavor = keystone "
                     "needs keystonemiddleware, which cannot be imported (No module named "
                     "'keystonemiddleware' (blocked)): pip install 'glancelet[keystone]'"]


def test_core_serves_without_keystonemiddleware(tmp_path):
    code = textwrap.dedent("""
        import io
        from glancelet.wsgi.api import application
        seen = []
        for path in ("/", "/healthcheck", "/v2/images"):
            env = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
                   "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "9292", "SCRIPT_NAME": "",
                   "HTTP_HOST": "127.0.0.1:9292", "wsgi.url_scheme": "http",
                   "wsgi.input": io.BytesIO()}
            application(env, lambda status, headers, exc=None: seen.append(status[:3]))
        assert not [m for m in sys.modules if m.startswith(("keystone", "oslo"))]
        print(" ".join(seen))
    """)
    proc = _child(code, tmp_path, "")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["300", "200", "200"]


def test_a_pool_thread_that_served_a_token_still_ends(tmp_path):
    """gunicorn's gthread worker serves requests in a ThreadPoolExecutor and
    joins its threads at exit. auth_token's first request with
    ``memcached_servers`` imports oslo.cache's pool, and with it eventlet (when
    installed, as wherever Keystone or Glance is; test-requirements.txt), whose
    private copy of ``threading`` took over the serving thread's end-of-thread
    lock: exit then waited forever, and the worker hung on stop and reload
    until ``graceful_timeout`` (ci of 03e454e: gunicorn test_graceful_reload).
    glancelet imports that pool while it loads (pipeline.load_cache_pool)."""
    code = textwrap.dedent("""
        import concurrent.futures, io, sys
        from glancelet.wsgi.api import application
        def serve():
            env = {"REQUEST_METHOD": "GET", "PATH_INFO": "/v2/images", "QUERY_STRING": "",
                   "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "9292", "SCRIPT_NAME": "",
                   "HTTP_HOST": "127.0.0.1:9292", "wsgi.url_scheme": "http",
                   "HTTP_X_AUTH_TOKEN": "gAAAAA" + "x" * 180, "wsgi.input": io.BytesIO()}
            seen = []
            application(env, lambda status, headers, exc=None: seen.append(status[:3]))
            return seen[0]
        pool = concurrent.futures.ThreadPoolExecutor(1)
        print(pool.submit(serve).result(), "eventlet" in sys.modules)
        pool.shutdown(wait=False)
    """)
    options = "".join("%s = %s\n" % item for item in {
        "www_authenticate_uri": WWW_AUTH_URI, "auth_url": "http://127.0.0.1:%d/v3" % free_port(),
        "auth_type": "password", "username": "glance", "password": "secret",
        "project_name": "service", "user_domain_name": "Default",
        "project_domain_name": "Default", "http_request_max_retries": "0",
        "http_connect_timeout": "2", "memcached_servers": "127.0.0.1:%d" % free_port(),
    }.items())
    conf_text = "[paste_deploy]\nflavor = keystone\n[keystone_authtoken]\n" + options
    try:
        proc = _child(code, tmp_path, conf_text, block=False, timeout=30)
    except subprocess.TimeoutExpired as exc:
        pytest.fail("the interpreter did not exit within 30 s of serving one request in a "
                    "pool thread: %s" % (exc.stdout,))
    assert proc.returncode == 0, proc.stderr
    # Keystone is not running: 503. The pool, and eventlet with it, was
    # imported (False: eventlet is not installed and the hazard not tested).
    assert proc.stdout.split() == ["503", "True"], proc.stderr
