"""glancelet with a slow ``close()``, for one race the Apache tests show.

uWSGI's ``http-socket`` closes the connection only after the application's
response iterable is closed. Delaying that close by ``DELAY`` seconds holds
open the window in which Apache has the full response, puts the connection
back in its pool and sends the next request on it, while uWSGI is about to
close it without reading that request. The window exists without the delay
too, but it is then too short to hit on every run; with it, the outcome no
longer depends on timing (tests/examples/test_apache_proxy_http.py
``test_backend_connection_reuse``). Never used outside that test.
"""

import time

from glancelet.wsgi.api import application as _glancelet

DELAY = 0.3


class _SlowClose:
    def __init__(self, result):
        self._result = result

    def __iter__(self):
        return iter(self._result)

    def close(self):
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            time.sleep(DELAY)


def application(environ, start_response):
    return _SlowClose(_glancelet(environ, start_response))
