"""What glancelet does differently under uWSGI, all in one place.

The ``uwsgi`` module is importable only inside a uWSGI worker; everywhere
else each function here is a no-op or answers None. Three things differ:

* Start-up: a worker without Python threads cannot run hashing and import
  tasks, so :func:`check_server` refuses it with a configuration error.
* Exit: uWSGI calls ``uwsgi.atexit`` in each worker it stops or reloads
  gracefully, and not Python's ``atexit`` hooks (:func:`at_exit`).
* Chunked request bodies: uWSGI passes them through undecoded, and the app
  reads them with ``uwsgi.chunked_read()``, one chunk per call
  (:func:`chunked_input`).
"""

from glancelet import conf as conf_mod


def _module():
    try:
        import uwsgi  # only importable inside a uWSGI worker
    except ImportError:
        return None
    return uwsgi


def check_server():
    """Refuse to run where background work cannot: uWSGI without threads."""
    uwsgi = _module()
    if uwsgi is None:
        return
    opt = getattr(uwsgi, "opt", {}) or {}

    def on(name):
        value = opt.get(name)
        if isinstance(value, bytes):
            value = value.decode()
        return value not in (None, False, "", "0", "false", "no", "off")

    threads = opt.get("threads")
    if isinstance(threads, bytes):
        threads = threads.decode()
    if not on("enable-threads") and not (threads and str(threads) not in ("0", "1")):
        raise conf_mod.ConfigError(
            "uWSGI runs this app without Python threads; glancelet needs them for hashing "
            "and import tasks: set 'enable-threads = true' in the [uwsgi] section")


def at_exit(hook):
    """Run ``hook`` when uWSGI stops this worker, before any earlier hook.

    Returns "uwsgi.atexit", or None outside uWSGI (then nothing is hooked).
    """
    uwsgi = _module()
    if uwsgi is None:
        return None
    previous = getattr(uwsgi, "atexit", None)

    def uwsgi_hook():
        try:
            hook()
        finally:
            if previous is not None:
                previous()

    uwsgi.atexit = uwsgi_hook
    return "uwsgi.atexit"


def chunked_input(environ, module=None):
    """A reader of the chunked body of this request, or None if uWSGI is not
    serving it. ``module`` stands in for ``uwsgi`` (tests)."""
    if module is None and "uwsgi.version" in environ:
        module = _module()
        if module is not None and not hasattr(module, "chunked_read"):
            module = None
    return None if module is None else ChunkedInput(module)


class ChunkedInput:
    """``read(size)`` over ``uwsgi.chunked_read()``: never more than ``size``
    bytes, b'' at the end, OSError when uWSGI cannot read a chunk."""

    def __init__(self, module):
        self._uwsgi = module
        self._pending = memoryview(b"")
        self._pending_at = 0

    def read(self, size):
        if self._pending_at >= len(self._pending):
            try:
                chunk = self._uwsgi.chunked_read()
            except (OSError, IOError) as exc:
                raise OSError(
                    "uWSGI could not read the next chunk of the request body (%s): a chunk "
                    "larger than chunked-input-limit, no data within chunked-input-timeout, "
                    "or the client went away" % exc) from exc
            if not chunk:
                return b""
            if len(chunk) <= size:
                return chunk
            self._pending = memoryview(chunk)
            self._pending_at = 0
        start = self._pending_at
        self._pending_at = min(start + size, len(self._pending))
        return self._pending[start:self._pending_at].tobytes()
