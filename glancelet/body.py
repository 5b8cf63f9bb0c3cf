"""The one request-body reader, used by every handler that takes image data.

WSGI servers hand a request body to the application in three ways:

``CONTENT_LENGTH`` is set
    Read exactly that many bytes from ``wsgi.input``. This is checked first:
    nginx's ``uwsgi_pass`` dechunks a body and then passes *both*
    ``CONTENT_LENGTH`` and ``Transfer-Encoding: chunked``.

``wsgi.input_terminated`` is true
    The server dechunked the body and ``wsgi.input`` returns ``b''`` at its
    end (gunicorn, mod_wsgi with ``WSGIChunkedRequest On``).

uWSGI with a chunked body
    uWSGI passes the chunked body through undecoded: ``wsgi.input`` reads
    nothing, and the app must call ``uwsgi.chunked_read()`` once per chunk
    (:func:`glancelet.uwsgi_support.chunked_input`). Each chunk must fit
    ``chunked-input-limit``.

A chunked body that reaches the app any other way cannot be read; the
request is refused with 411 and a message naming the server option to turn
on.

``read(n)`` never returns more than ``n`` bytes, whatever the framing: a
reader that returned whole chunks made Glance's swift driver issue negative
reads and buffer whole images (Glance bug LP#2127521).
"""

from glancelet import errors, uwsgi_support

DEFAULT_READ_SIZE = 1024 * 1024


class BodyIncomplete(Exception):
    """The client went away, or the server could not deliver the body."""


def _chunked_requested(environ):
    te = environ.get("HTTP_TRANSFER_ENCODING", "")
    return "chunked" in te.lower()


def _server_hint(environ):
    """The option that makes this server deliver chunked bodies."""
    software = environ.get("SERVER_SOFTWARE", "")
    if "mod_wsgi.version" in environ or "mod_wsgi" in software:
        return "mod_wsgi: set 'WSGIChunkedRequest On'"
    if "uwsgi.version" in environ:
        return "uWSGI: run glancelet in a uWSGI worker so it can call uwsgi.chunked_read()"
    return ("a WSGI server that dechunks request bodies and sets wsgi.input_terminated "
            "(gunicorn; mod_wsgi with 'WSGIChunkedRequest On'; uWSGI), or send "
            "Content-Length")


class RequestBody:
    """A file-like reader of one WSGI request body.

    ``limit`` is the largest body accepted; past it, reading raises 413.
    Framing problems raise :class:`glancelet.errors.HTTPError` at
    construction (400 bad Content-Length, 411 unreadable chunked body, 413
    declared length over the limit). A body that ends early, or whose
    chunked framing the server finds broken, raises :class:`BodyIncomplete`
    from ``read``.
    """

    def __init__(self, environ, limit=None, uwsgi_module=None):
        self._input = environ.get("wsgi.input")
        self._limit = limit
        self._consumed = 0
        self._eof = False
        self._chunks = None
        self.length = None  # declared length, when there is one

        raw_length = environ.get("CONTENT_LENGTH", "")
        if raw_length not in ("", None):
            try:
                self.length = int(raw_length)
            except ValueError:
                raise errors.BadRequest("Content-Length %r is not a number" % raw_length)
            if self.length < 0:
                raise errors.BadRequest("Content-Length %r is negative" % raw_length)
            if limit is not None and self.length > limit:
                raise errors.RequestTooLarge(
                    "Image data of %d bytes exceeds the limit of %d bytes (image_size_cap)"
                    % (self.length, limit))
            self.mode = "length"
        elif environ.get("wsgi.input_terminated"):
            self.mode = "eof"
        elif _chunked_requested(environ):
            self._chunks = uwsgi_support.chunked_input(environ, uwsgi_module)
            if self._chunks is None:
                raise errors.LengthRequired(
                    "The request body is chunked (Transfer-Encoding: chunked) but this "
                    "server does not deliver chunked bodies to the application. Turn it on "
                    "in the server (%s)." % _server_hint(environ))
            self.mode = "uwsgi-chunked"
        else:
            self.length = 0
            self.mode = "length"

    @property
    def bytes_read(self):
        return self._consumed

    def read(self, size=-1):
        """Return up to ``size`` bytes (all remaining when negative); b'' at the end."""
        if size is None or size < 0:
            parts = []
            while True:
                part = self.read(DEFAULT_READ_SIZE)
                if not part:
                    return b"".join(parts)
                parts.append(part)
        if size == 0 or self._eof:
            return b""
        if self.mode == "length":
            data = self._read_length(size)
        elif self.mode == "eof":
            data = self._read_input(size)
        else:
            data = self._read_chunked(size)
        if not data:
            self._eof = True
            return b""
        self._consumed += len(data)
        if self._limit is not None and self._consumed > self._limit:
            raise errors.RequestTooLarge(
                "Image data exceeds the limit of %d bytes (image_size_cap)" % self._limit)
        return data

    def _read_input(self, size):
        try:
            return self._input.read(size)
        except OSError as exc:
            raise BodyIncomplete("reading the request body failed: %s" % exc) from exc
        except Exception as exc:
            # A server that dechunks the body raises its own parse errors from
            # read() when the chunk framing is broken (gunicorn's
            # InvalidChunkSize, ChunkMissingTerminator...): a client mistake.
            raise BodyIncomplete("the request body's framing is invalid: %s: %s"
                                 % (type(exc).__name__, exc)) from exc

    def _read_length(self, size):
        remaining = self.length - self._consumed
        if remaining <= 0:
            return b""
        data = self._read_input(min(size, remaining))
        if not data:
            raise BodyIncomplete("the request body ended after %d of %d bytes"
                                 % (self._consumed, self.length))
        return data

    def _read_chunked(self, size):
        try:
            return self._chunks.read(size)
        except OSError as exc:
            raise BodyIncomplete(str(exc)) from exc
