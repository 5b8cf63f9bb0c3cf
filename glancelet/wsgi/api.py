"""The WSGI entry point: ``glancelet.wsgi.api:application``.

Point any WSGI server at it, for example ``module =
glancelet.wsgi.api:application`` (uWSGI) or ``gunicorn
glancelet.wsgi.api:application``. The application is built once, at import,
from the INI file named by ``GLANCELET_CONFIG_FILE`` (built-in defaults
without it). A bad config stops the import with one line in the server's log,
starting ``glancelet: configuration error:``.
"""

import threading

from glancelet import app as _app

application = None

with threading.Lock():
    if application is None:
        application = _app.init_application()
