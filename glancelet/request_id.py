"""The request id: ``x-openstack-request-id`` on every response, and in the log.

Each request gets one id, ``req-`` and a UUID4 (``req-8e1c...``), kept in the
WSGI environ under ``openstack.request_id`` (oslo.middleware's key). It is
set by the outermost glancelet layer the request meets (the keystone
pipeline's front, or the application), so the 401 of ``auth_token``, a 404
of the router, version discovery and ``/healthcheck`` carry one as well, and
it names the import task the request creates.

A client may send its own ``X-Openstack-Request-Id``. Glance's context
middleware then answers with that value (``req-`` prepended if missing) as
the request's id; oslo.middleware's ``RequestId`` never does, and only
keeps a value of the exact ``req-<uuid>`` form as the global request id.
glancelet takes the client's value when it has that exact form, the form
keystoneauth sends a global request id in, and makes a fresh id otherwise:
the id a response carries is always ``req-<uuid>``, never text a client
chose.
"""

import contextvars
import logging
import re
import uuid

HEADER = "x-openstack-request-id"
ENVIRON_KEY = "openstack.request_id"
FORMAT = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")

# The id of the request (or import task) this thread is working for, for the log.
_CURRENT = contextvars.ContextVar("glancelet_request_id", default=None)


def of(environ):
    """The id of the request ``environ`` describes, chosen on first call."""
    rid = environ.get(ENVIRON_KEY)
    if rid is None:
        sent = environ.get("HTTP_X_OPENSTACK_REQUEST_ID")
        sent = sent and sent.strip()
        rid = sent if sent and FORMAT.match(sent) else "req-%s" % uuid.uuid4()
        environ[ENVIRON_KEY] = rid
    return rid


def tagging(environ, start_response):
    """``start_response`` that adds the request's id to the response, unless
    an inner layer already has."""
    rid = of(environ)

    def start(status, headers, exc_info=None):
        if not any(name.lower() == HEADER for name, _ in headers):
            headers = list(headers) + [(HEADER, rid)]
        return start_response(status, headers, exc_info)
    return start


class bound:
    """``with bound(rid)``: log lines of this thread name ``rid`` while the block runs."""

    __slots__ = ("rid", "_token")

    def __init__(self, rid):
        self.rid = rid

    def __enter__(self):
        self._token = _CURRENT.set(self.rid)
        return self.rid

    def __exit__(self, *exc):
        _CURRENT.reset(self._token)


class LogFilter(logging.Filter):
    """Gives each record ``request_id``: the bound id, or ``-`` outside requests."""

    def filter(self, record):
        record.request_id = _CURRENT.get() or "-"
        return True
