"""HTTP errors, rendered as Glance-style JSON.

Every error glancelet returns has the body::

    {"error": {"code": 413, "title": "Request Entity Too Large",
               "message": "Image exceeds the storage quota ..."}}

python-glanceclient and openstacksdk both read ``message`` from the objects
in the top-level mapping, so their exceptions carry the message verbatim.
"""

import http.client
import json


class HTTPError(Exception):
    """Raise anywhere below a handler to answer with this status."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = int(status)
        self.message = message
        self.headers = list(headers or [])

    @property
    def title(self):
        return http.client.responses.get(self.status, "Error")

    def body(self):
        return json.dumps({"error": {"code": self.status, "title": self.title,
                                     "message": self.message}}).encode("utf-8")

    def __call__(self, environ, start_response):
        """An HTTPError is also a WSGI application that renders itself."""
        body = self.body()
        headers = [("Content-Type", "application/json"),
                   ("Content-Length", str(len(body)))] + self.headers
        start_response("%d %s" % (self.status, self.title), headers)
        return [body]


def BadRequest(message):
    return HTTPError(400, message)


def Forbidden(message):
    return HTTPError(403, message)


def NotFound(message):
    return HTTPError(404, message)


def Conflict(message):
    return HTTPError(409, message)


def Gone(message):
    return HTTPError(410, message)


def LengthRequired(message):
    return HTTPError(411, message)


def RequestTooLarge(message):
    return HTTPError(413, message)


def UnsupportedMediaType(message):
    return HTTPError(415, message)


def RangeNotSatisfiable(message, size):
    return HTTPError(416, message, headers=[("Content-Range", "bytes */%d" % size)])
