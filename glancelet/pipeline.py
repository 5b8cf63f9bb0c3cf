"""What stands in front of the app: ``[paste_deploy] flavor``, in Glance's terms.

No flavor: the app alone, trusting identity headers (a private network or
development only). ``keystone``: keystonemiddleware's ``auth_token``
checks the token of every request but version discovery (``/``,
``/versions``) and ``/healthcheck``, which Glance's paste composite also
serves before ``authtoken``. auth_token takes the ``[keystone_authtoken]``
options as its paste ``conf`` dict: the same names, as text, with no
oslo.config file of glancelet's.

auth_token answers 503 when it cannot connect to Keystone, but lets a
Keystone that accepts the connection and does not answer within
``http_connect_timeout`` escape as keystoneauth's ``ConnectTimeout``: the
server would answer 500, or close the connection. The pipeline answers 503
for every keystoneauth connection error instead.
"""

import logging

from glancelet import conf as conf_mod
from glancelet import errors

LOG = logging.getLogger(__name__)

# PATH_INFO, without its slashes, of what is served without a token.
PUBLIC_PATHS = ("", "versions", "healthcheck")

INSTALL_HINT = "pip install 'glancelet[keystone]'"


KEYSTONE_UNAVAILABLE = ("The Keystone service is temporarily unavailable: the token could "
                        "not be validated. Try again later.")


class Pipeline:
    """Sends public paths to the app and every other one through ``auth_token``."""

    def __init__(self, filter_factory, unreachable=()):
        self.app = None
        self.guarded = filter_factory(self._app)
        # Exceptions meaning Keystone could not be asked (keystoneauth's).
        self.unreachable = unreachable

    def _app(self, environ, start_response):
        return self.app(environ, start_response)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").strip("/") in PUBLIC_PATHS:
            return self.app(environ, start_response)
        try:
            return self.guarded(environ, start_response)
        except self.unreachable as exc:
            LOG.warning("auth_token could not reach Keystone: %s", exc)
            return errors.HTTPError(503, KEYSTONE_UNAVAILABLE, headers=[("Retry-After", "30")])(
                environ, start_response)


def build(conf):
    """The Pipeline the flavor names, its app not yet attached; None for none.

    Raises ConfigError when keystonemiddleware is missing or refuses its options.
    """
    if conf.get("paste_deploy", "flavor") != "keystone":
        return None
    try:
        from keystoneauth1.exceptions import connection
        from keystonemiddleware import auth_token
    except ImportError as exc:
        raise conf_mod.ConfigError(
            "[paste_deploy] flavor = keystone needs keystonemiddleware, which cannot be "
            "imported (%s): %s" % (exc, INSTALL_HINT)) from None
    options = dict(conf["keystone_authtoken"])
    try:
        return Pipeline(auth_token.filter_factory({}, **options),
                        unreachable=connection.ConnectionError)
    except auth_token.ConfigurationError as exc:
        raise conf_mod.ConfigError("[keystone_authtoken]: %s" % exc) from None


def attach(front, app):
    """The WSGI callable to serve: ``front`` around ``app``, or ``app`` alone."""
    if front is None:
        return app
    front.app = app
    return front
