"""The "internal mirror" the import scenarios fetch images from.

A threaded ``http.server`` on 127.0.0.1, on the port that stands in for port
token 60990 (the one ``examples/import/internal-mirror.conf`` allows). Every
path serves generated data (:class:`lab.client.Source`) with a
Content-Length; the query says what to send:

``/<any name>?size=N&seed=S[&rate=R]``
    ``N`` bytes of ``Source(N, seed=S)``; ``rate`` paces them to ``R``
    bytes/s, so that a scenario can act while an import is running.

:meth:`Mirror.sent` tells how many bytes a path has sent so far. The
server only writes: pacing sleeps are bounded by the size and rate a test
asks for, and a closed connection ends the response.
"""

import http.server
import threading
import time
import urllib.parse

from lab.client import MiB, Source


class LocalServer:
    """A threaded ``http.server`` on 127.0.0.1, served from a thread while
    used as a context manager. ``port`` 0 takes a free one (``self.port``).
    A subclass answers each GET in :meth:`get`, with the request handler
    (``BaseHTTPRequestHandler``, HTTP/1.1, no request log) as argument. The
    unit tests' web-download server is one too.
    """

    def __init__(self, port=0):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.get(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    def get(self, request):
        raise NotImplementedError

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(10)


class Mirror(LocalServer):
    def __init__(self, port):
        super().__init__(port)
        self._sent = {}
        self._lock = threading.Lock()

    def get(self, request):
        """``/<name>?size=N&seed=S[&rate=R]``: generated data, paced if asked."""
        path, _, query = request.path.partition("?")
        args = dict(urllib.parse.parse_qsl(query))
        size, seed = int(args["size"]), int(args["seed"])
        rate = float(args["rate"]) if "rate" in args else None
        request.send_response(200)
        request.send_header("Content-Type", "application/octet-stream")
        request.send_header("Content-Length", str(size))
        request.end_headers()
        start = time.monotonic()
        sent = 0
        try:
            for piece in Source(size, seed=seed).chunks(MiB // 4):
                request.wfile.write(piece)
                sent += len(piece)
                self._count(request.path, len(piece))
                if rate:
                    ahead = sent / rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
        except OSError:
            pass   # the importer went away (killed, or stopped)
        request.close_connection = True

    def _count(self, path, n):
        with self._lock:
            self._sent[path] = self._sent.get(path, 0) + n

    def sent(self, path):
        with self._lock:
            return self._sent.get(path, 0)

    @staticmethod
    def path(name, size, seed, rate=None):
        query = {"size": size, "seed": seed}
        if rate:
            query["rate"] = int(rate)
        return "/%s?%s" % (name, urllib.parse.urlencode(query))

    def wait_sent(self, path, at_least, deadline=60.0):
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.sent(path) >= at_least:
                return
            time.sleep(0.05)
        raise AssertionError("the mirror sent %d of %s, not %d, within %ss"
                             % (self.sent(path), path, at_least, deadline))
