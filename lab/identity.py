"""The examples session's identity: one Keystone and one memcached for every pattern.

Every pattern installs ``examples/keystone/authtoken.conf`` into its
``glancelet.conf.d/`` (``[paste_deploy] flavor = keystone``), so each
deployment needs a Keystone to validate tokens and the memcached its token
cache names. :func:`session` starts both once, the first time a deployment
asks (a run that starts no deployment, such as ``test_rewrite.py``, starts
neither), and :func:`stop_session` stops them at the end of the run
(``tests/examples/conftest.py``).

Each deployment gets a region of its own in the catalog, whose image
endpoints are its front door (prefix included): clients authenticate with a
password and find the image service through the catalog of that region, as
an operator's users do. The region is removed when the deployment stops.
"""

import importlib.util
import sys
import tempfile
import time

from lab import keystone as keystone_mod
from lab import memcached

# Keystone and memcached (port tokens of lab.rewrite) that deployments share.
SHARED_PORTS = ("5000", "11211")
KEYSTONE_MISSING = ("keystone is not installed in %s: pip install -r "
                    "tests/keystone-requirements.txt (tox -e examples installs it)")

_session = None


class Identity:
    """A started Keystone (users alice, bob, admin) and memcached."""

    def __init__(self, ws, keystone, image_service, projects, start_seconds):
        self.ws = ws
        self.keystone = keystone
        self.image_service = image_service
        self.projects = projects
        self.start_seconds = start_seconds
        self._sessions = {}
        self._admin = None

    @property
    def url(self):
        return self.keystone.url

    def share_with(self, ws):
        """Make workspace ``ws``'s Keystone and memcached ports these ones."""
        for token in SHARED_PORTS:
            ws.use_port(token, self.ws.port(token))

    @property
    def admin(self):
        if self._admin is None:
            self._admin = keystone_mod.admin_connection(self.keystone)
        return self._admin

    def connection(self, user="alice", region=keystone_mod.REGION, **kw):
        """An openstacksdk connection of ``user`` through the catalog of ``region``."""
        password, project = keystone_mod.credentials(user)
        return keystone_mod.connect(self.keystone, user, password, project, region=region,
                                    **kw)

    def token(self, user="alice"):
        """A valid token of ``user``: one session per user, which asks Keystone
        again when its token is about to expire."""
        if user not in self._sessions:
            self._sessions[user] = self.connection(user).session
        return self._sessions[user].get_token()

    def add_region(self, region, url):
        """A region whose image endpoints (public, internal) are ``url``."""
        self.admin.identity.create_region(id=region)
        keystone_mod.add_image_endpoints(self.admin, self.image_service.id, url, region)

    def remove_region(self, region):
        for endpoint in self.admin.identity.endpoints(region_id=region):
            self.admin.identity.delete_endpoint(endpoint)
        self.admin.identity.delete_region(region)

    def stop(self):
        errors = self.ws.stop_all()
        self.ws.remove()
        return errors


def start(tmp_path):
    """Keystone (from examples/keystone/, under uWSGI) and memcached in a
    workspace of their own, with the scenarios' users; an :class:`Identity`."""
    from lab.harness import Workspace
    if importlib.util.find_spec("keystone") is None:
        raise AssertionError(KEYSTONE_MISSING % sys.prefix)
    ws = Workspace(tmp_path)
    try:
        started = time.monotonic()
        memcached.start_memcached(ws)
        keystone = keystone_mod.Keystone(ws)
        keystone.setup()
        keystone.start()
        image, projects = keystone_mod.populate(keystone)
        seconds = time.monotonic() - started
    except BaseException:
        ws.stop_all()
        raise
    sys.stderr.write("\nKeystone and memcached for the examples: %.1f s (%s)\n" % (
        seconds, ", ".join("%s %.1f" % kv for kv in keystone.timings.items())))
    return Identity(ws, keystone, image, projects, seconds)


def session():
    """The run's :class:`Identity`, started on first use."""
    global _session
    if _session is None:
        _session = start(tempfile.mkdtemp(prefix="glancelet-identity-"))
    return _session


def running():
    """The run's Identity if it was started, else None."""
    return _session


def stop_session():
    """Stop the run's Keystone and memcached, if started; return the errors."""
    global _session
    if _session is None:
        return []
    identity, _session = _session, None
    return identity.stop()
