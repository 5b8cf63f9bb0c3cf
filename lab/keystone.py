"""A real Keystone under uWSGI from examples/keystone/, and glancelet's place in it.

Used by ``tests/functional/test_keystone.py`` (``tox -e keystone``) and by
:mod:`lab.tempest` (``tox -e tempest``). Keystone comes from PyPI
(``tests/keystone-requirements.txt``) into the Python environment running
the lab, which ``/opt/keystone`` stands for (:data:`lab.harness.PYTHON_ENVS`).
"""

import getpass
import grp
import os
import sqlite3
import subprocess
import sys
import time

from lab.harness import KEYSTONE_EXAMPLES, wait_ready
from lab.launchers import uwsgi_signal_ready

ADMIN_PASSWORD = "admin-secret"
USER_PASSWORD = "user-secret"
# The members of the scenarios and their projects.
USERS = {"alice": "project-a", "bob": "project-b"}
SERVICE_PASSWORD = "GLANCE_SERVICE_PASSWORD"  # as in examples/keystone/authtoken.conf
MANAGE_TIMEOUT = 300
START_DEADLINE = 120.0
REGION = "RegionOne"


class Keystone:
    """Keystone under uWSGI from examples/keystone/, in workspace ``ws``."""

    def __init__(self, ws):
        self.ws = ws
        self.port = ws.port("5000")
        self.url = "http://127.0.0.1:%d/v3" % self.port
        self.timings = {}

    def manage(self, *args):
        started = time.monotonic()
        proc = subprocess.run([str(self.ws.path("/opt/keystone/bin/keystone-manage")),
                               "--config-file", str(self.conf)] + list(args),
                              capture_output=True, text=True, timeout=MANAGE_TIMEOUT)
        self.timings[args[0]] = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError("keystone-manage %s:\n%s%s" % (
                args[0], proc.stdout, proc.stderr))

    def setup(self, owner=None):
        """Install the example files, create the database, keys and the admin;
        ``owner`` (user, group) owns the keys (default: who runs the tests)."""
        # Installed by the lab's one rewrite (ports and paths: lab.rewrite.TOKENS).
        self.conf = self.ws.install(*KEYSTONE_EXAMPLES[0])
        self.ini = self.ws.install(*KEYSTONE_EXAMPLES[1])
        user, group = owner or (getpass.getuser(), grp.getgrgid(os.getgid()).gr_name)
        owner = ["--keystone-user", user, "--keystone-group", group]
        self.manage("db_sync")
        self.wal()
        self.manage("fernet_setup", *owner)
        self.manage("credential_setup", *owner)
        self.manage("bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
                    "--bootstrap-admin-url", self.url, "--bootstrap-public-url", self.url,
                    "--bootstrap-internal-url", self.url,
                    "--bootstrap-region-id", REGION)

    def wal(self):
        """Switch the SQLite file to WAL, as keystone.conf says (it stays so)."""
        path = self.ws.path("/var/lib/keystone/keystone.sqlite")
        with sqlite3.connect(path) as db:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()
        if mode != ("wal",):
            raise RuntimeError("%s: journal_mode is %r, not wal" % (path, mode))

    def start(self):
        started = time.monotonic()
        self.server = self.ws.spawn(
            "keystone", [self.ws.path("/opt/keystone/bin/uwsgi"), "--ini", str(self.ini)],
            stop_timeout=60, signal_ready=uwsgi_signal_ready)
        wait_ready("http://127.0.0.1:%d/" % self.port, [self.server], deadline=START_DEADLINE)
        self.timings["uwsgi start"] = time.monotonic() - started
        return self


def connect(keystone, user, password, project, region=REGION, **kw):
    """An openstacksdk connection as ``user`` scoped to ``project`` (Default
    domain), using the catalog's endpoints of ``region``."""
    import openstack
    return openstack.connect(auth_url=keystone.url, username=user, password=password,
                             project_name=project, user_domain_name="Default",
                             project_domain_name="Default", region_name=region, **kw)


def admin_connection(keystone):
    """The bootstrap admin, scoped to the admin project."""
    return connect(keystone, "admin", ADMIN_PASSWORD, "admin")


def register_glance(admin, glance_url=None):
    """The service project, the glance service user of authtoken.conf, and
    the image service, with its public and internal endpoints at
    ``glance_url`` in :data:`REGION` if given; returns the service."""
    service = admin.identity.create_project(name="service", domain_id="default")
    glance = admin.identity.create_user(name="glance", password=SERVICE_PASSWORD,
                                        domain_id="default")
    admin.grant_role("service", user=glance.id, project=service.id)
    image = admin.identity.create_service(name="glance", type="image")
    if glance_url is not None:
        add_image_endpoints(admin, image.id, glance_url, REGION)
    return image


def add_image_endpoints(admin, service_id, url, region):
    """The image service's public and internal endpoints in ``region``, at ``url``."""
    return [admin.identity.create_endpoint(service_id=service_id, interface=interface,
                                           url=url, region_id=region)
            for interface in ("public", "internal")]


def populate(keystone, glance_url=None):
    """The glance service user and image service (endpoints at ``glance_url``,
    if given); projects A and B with a member each. Returns (image service,
    {user: project id})."""
    admin = admin_connection(keystone)
    image = register_glance(admin, glance_url)
    projects = {}
    for user, name in (("alice", "project-a"), ("bob", "project-b")):
        project = admin.identity.create_project(name=name, domain_id="default")
        member = admin.identity.create_user(name=user, password=USER_PASSWORD,
                                            domain_id="default")
        admin.grant_role("member", user=member.id, project=project.id)
        projects[user] = project.id
    return image, projects


def credentials(user):
    """(password, project name) of ``user``: alice (member of project-a), bob
    (member of project-b) or admin."""
    if user == "admin":
        return ADMIN_PASSWORD, "admin"
    return USER_PASSWORD, USERS[user]


# Run in Keystone's environment: a token as Keystone's own formatter makes
# it, with Keystone's fernet keys, and the expiry given (an expired token
# without waiting out [token] expiration).
TOKEN_WITH_EXPIRY = """\
import base64, os, sys
import keystone.conf
from keystone.token import token_formatters
keystone.conf.configure()
keystone.conf.CONF(args=[], project="keystone", default_config_files=[sys.argv[1]])
audit_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
print(token_formatters.TokenFormatter().create_token(
    sys.argv[2], sys.argv[4], [audit_id],
    token_formatters.ProjectScopedPayload, methods=["password"], project_id=sys.argv[3]))
"""


def token_with_expiry(keystone, user_id, project_id, expires_at):
    """A project-scoped token of ``user_id`` signed with ``keystone``'s fernet
    keys, expiring at ``expires_at`` ("2020-01-01T00:00:00.000000Z")."""
    proc = subprocess.run([sys.executable, "-c", TOKEN_WITH_EXPIRY, str(keystone.conf),
                           user_id, project_id, expires_at],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError("making a token failed:\n%s" % proc.stderr)
    return proc.stdout.split()[-1]
