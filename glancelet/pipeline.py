"""What stands in front of the app: ``[paste_deploy] flavor``, in Glance's terms.

No flavor: the app alone, trusting identity headers (a private network or
development only). ``keystone``: keystonemiddleware's ``auth_token``
checks the token of every request but version discovery (``/``,
``/versions``) and ``/healthcheck``, which Glance's paste composite also
serves before ``authtoken``. auth_token takes the ``[keystone_authtoken]``
options as its paste ``conf`` dict: the same names, as text, with no
oslo.config file of glancelet's.

Where Keystone accepts the connection but does not answer in
``http_connect_timeout`` (overloaded, stopped), auth_token lets keystoneauth's
ConnectTimeout escape, which the WSGI server turns into a bare 500 or a
closed connection. glancelet answers 503 with ``Retry-After`` instead, as
auth_token itself does when Keystone refuses the connection (glancelet only:
Glance's pipeline gives the 500).
"""

import importlib
import logging

from glancelet import conf as conf_mod
from glancelet import errors, request_id

LOG = logging.getLogger(__name__)

# PATH_INFO, without its slashes, of what is served without a token.
PUBLIC_PATHS = ("", "versions", "healthcheck")

INSTALL_HINT = "pip install 'glancelet[keystone]'"


class Pipeline:
    """Sends public paths to the app and every other one through ``auth_token``."""

    def __init__(self, filter_factory, unreachable):
        self.app = None
        self.guarded = filter_factory(self._app)
        self.unreachable = unreachable

    def _app(self, environ, start_response):
        return self.app(environ, start_response)

    def __call__(self, environ, start_response):
        # The request's id is chosen here, so auth_token's own answers carry it too.
        start_response = request_id.tagging(environ, start_response)
        if environ.get("PATH_INFO", "").strip("/") in PUBLIC_PATHS:
            return self.app(environ, start_response)
        try:
            return self.guarded(environ, start_response)
        except self.unreachable as exc:
            # Raised while auth_token validates the token, before the app runs:
            # nothing has been started or changed.
            LOG.warning("Keystone did not answer auth_token: %s", exc)
            return errors.HTTPError(
                503, "The Keystone service is temporarily unavailable: validating the "
                     "token did not complete (%s). Retry later." % exc,
                headers=[("Retry-After", "30")])(environ, start_response)


def build(conf):
    """The Pipeline the flavor names, its app not yet attached; None for none.

    Raises ConfigError when keystonemiddleware is missing or refuses its options.
    """
    if conf.get("paste_deploy", "flavor") != "keystone":
        return None
    try:
        from keystoneauth1 import exceptions as ksa_exceptions
        from keystonemiddleware import auth_token
    except ImportError as exc:
        raise conf_mod.ConfigError(
            "[paste_deploy] flavor = keystone needs keystonemiddleware, which cannot be "
            "imported (%s): %s" % (exc, INSTALL_HINT)) from None
    options = dict(conf["keystone_authtoken"])
    try:
        front = Pipeline(auth_token.filter_factory({}, **options),
                         unreachable=ksa_exceptions.ConnectionError)
    except auth_token.ConfigurationError as exc:
        raise conf_mod.ConfigError("[keystone_authtoken]: %s" % exc) from None
    load_cache_pool(options)
    return front


def _true(value, default):
    if value is None:
        return default
    return str(value).strip().lower() in ("1", "t", "true", "on", "y", "yes")


def load_cache_pool(options):
    """Import now, in the thread loading the app, the memcached pool module
    auth_token would import at its first request, in the thread serving it.

    That module (oslo.cache's pool, the default ``memcache_use_advanced_pool``)
    imports eventlet, which makes a second, private copy of the ``threading``
    module (``eventlet.patcher.original``). Creating that copy in a thread
    started by ``threading`` takes over the lock that thread's end releases
    (Python 3.11's ``_set_sentinel``): the thread never reads as ended, and
    interpreter exit waits for it forever. gunicorn's gthread workers serve
    requests in such threads (a ThreadPoolExecutor), so a worker that had
    validated one token hung on stop and on reload until ``graceful_timeout``
    killed it. Imported here, in a worker's main thread, the copy is made once
    and no request thread is touched.

    Returns the imported module's name, or None when auth_token uses no such pool.
    """
    if not options.get("memcached_servers"):
        return None
    if not _true(options.get("memcache_use_advanced_pool"), True):
        return None
    tls_or_sasl = (_true(options.get("memcache_tls_enabled"), False)
                   or _true(options.get("memcache_sasl_enabled"), False))
    name = "oslo_cache._bmemcache_pool" if tls_or_sasl else "oslo_cache._memcache_pool"
    try:
        importlib.import_module(name)
    except ImportError as exc:
        # auth_token reports it itself at the first request.
        LOG.warning("could not import %s for auth_token's token cache: %s", name, exc)
        return None
    return name


def attach(front, app):
    """The WSGI callable to serve: ``front`` around ``app``, or ``app`` alone."""
    if front is None:
        return app
    front.app = app
    return front
