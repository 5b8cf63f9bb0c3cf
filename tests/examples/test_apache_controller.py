"""One Apache serving Keystone and glancelet (examples/apache-controller/).

Each service runs in a mod_wsgi daemon process group with its own
``python-home`` (Keystone's venv, glancelet's venv; no WSGIPythonHome), as
devstack and distribution controllers do. The test sets Keystone up as the
operator does (keystone-manage, the daemons' user owning keys and database),
starts Apache once, and shows that both services work together (a user's
password, the catalog, an image round trip) and that reloading one daemon
group (touching its .wsgi file) leaves the other's processes and requests
alone.
"""

import os
import time

import pytest

from lab import apache, keystone as keystone_mod, memcached
from lab.client import MiB, Api, Source
from lab.harness import CONTROLLER_EXAMPLES, KEYSTONE_EXAMPLES, Workspace, http_get

CONF, KEYSTONE_WSGI = (operator_path for _, operator_path in CONTROLLER_EXAMPLES)
GLANCELET_WSGI = "/etc/glancelet/glancelet.wsgi"
# The controller's own files, and glancelet's as the apache-mod-wsgi pattern
# ships them, with the Keystone drop-in: no file copied to change a line.
FILES = CONTROLLER_EXAMPLES + (
    ("examples/apache-mod-wsgi/glancelet.wsgi", GLANCELET_WSGI),
    ("examples/apache-mod-wsgi/glancelet.conf", "/etc/glancelet/glancelet.conf"),
    KEYSTONE_EXAMPLES[2],
)
READY_DEADLINE = 120.0
RELOAD_DEADLINE = 180.0


def daemons(group):
    """PIDs of the mod_wsgi daemon processes of ``group`` (display-name=%{GROUP})."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as fp:
                    if fp.read().startswith(b"(wsgi:%s)" % group.encode()):
                        found.add(int(entry))
            except OSError:
                continue
    return found


def wait_answer(url, expect, deadline=READY_DEADLINE):
    """Poll ``url`` until it answers ``expect``; the last (status, body)."""
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        try:
            last = http_get(url, timeout=10)
            if last[0] == expect:
                return last
        except OSError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError("%s: no %d within %ss (last: %r)" % (url, expect, deadline, last))


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    python = apache.KEYSTONE_MOD_WSGI_VENV / "bin" / "python"
    if not python.exists():
        pytest.fail("%s is missing: python -m lab.provision (as root) builds it"
                    % apache.KEYSTONE_MOD_WSGI_VENV)
    ws = Workspace(tmp_path_factory.mktemp("apache-controller"))
    try:
        memcached.start_memcached(ws)
        for example, operator_path in FILES:
            ws.install(example, operator_path)
        keystone = keystone_mod.Keystone(ws)
        keystone.setup(owner=(apache.WWW_USER, apache.WWW_GROUP))
        apache.make_www_data_writable(ws.path("/var/lib/keystone"),
                                      ws.path("/var/lib/glancelet"))
        conf = ws.path(CONF)
        so, _ = apache.module_config()
        assert 'LoadModule wsgi_module "%s"' % so in conf.read_text().splitlines()
        apache.start(ws, [conf])
        wait_answer(keystone.url, 200)
        glancelet_url = "http://127.0.0.1:%d" % ws.port("9292")
        wait_answer(glancelet_url + "/", 300)
        _, projects = keystone_mod.populate(keystone, glancelet_url)
        yield {"ws": ws, "keystone": keystone, "url": glancelet_url, "projects": projects}
    finally:
        errors = ws.stop_all()
        assert not errors, errors
    ws.remove()


def alice(controller):
    password, project = keystone_mod.credentials("alice")
    return keystone_mod.connect(controller["keystone"], "alice", password, project)


def test_both_services_in_their_own_daemon_groups(controller):
    """A user's password at Keystone, glancelet found through the catalog,
    an image round trip; each service in its group's own Python."""
    conn = alice(controller)
    data = Source(3 * MiB + 7, seed=50).bytes()
    image = conn.image.create_image(name="controller", data=data, disk_format="raw",
                                    container_format="bare")
    image = conn.image.get_image(image.id)
    assert (image.status, image.owner) == ("active", controller["projects"]["alice"])
    assert conn.image.download_image(image).content == data
    conn.image.delete_image(image)
    assert daemons("keystone") and daemons("glancelet")
    assert not daemons("keystone") & daemons("glancelet")
    # Keystone's daemon has its venv's compiled modules (cryptography's,
    # for Fernet) mapped; glancelet's daemons have nothing of that venv.
    keystone_lib = str(apache.KEYSTONE_MOD_WSGI_VENV) + "/lib/"
    for group, mapped in (("keystone", True), ("glancelet", False)):
        for pid in daemons(group):
            with open("/proc/%d/maps" % pid) as fp:
                assert (keystone_lib in fp.read()) is mapped, (group, pid)


@pytest.mark.parametrize("reloaded, other", [("keystone", "glancelet"),
                                             ("glancelet", "keystone")])
def test_reloading_one_group_leaves_the_other_serving(controller, reloaded, other):
    ws = controller["ws"]
    token = alice(controller).session.get_token()
    api = Api(controller["url"], user=None)
    auth = {"X-Auth-Token": token}
    assert api.request("GET", "/v2/images", headers=auth).status == 200   # cached now
    before = {reloaded: daemons(reloaded), other: daemons(other)}
    script = ws.path({"keystone": KEYSTONE_WSGI, "glancelet": GLANCELET_WSGI}[reloaded])
    later = time.time() + 2
    os.utime(script, (later, later))
    # The next requests to the reloaded group restart its daemons (mod_wsgi
    # checks the script's time per request); the other group serves throughout.
    # The request that finds the new script waits for Keystone to load again
    # in a new daemon (tens of seconds on a busy machine).
    end = time.monotonic() + RELOAD_DEADLINE
    while not daemons(reloaded) - before[reloaded]:
        assert time.monotonic() < end, "%s daemons not restarted" % reloaded
        if reloaded == "keystone":
            http_get(controller["keystone"].url, timeout=RELOAD_DEADLINE)
        else:
            api.request("GET", "/v2/images", headers=auth)
        assert api.request("GET", "/healthcheck").status == 200
        time.sleep(0.2)
    assert daemons(other) == before[other]
    assert api.request("GET", "/v2/images", headers=auth).status == 200
    assert wait_answer(controller["keystone"].url, 200)[0] == 200
    assert daemons(other) == before[other]
