"""The WSGI entry point: ``glancelet.wsgi.api:application``.

Point any WSGI server at it, for example ``module =
glancelet.wsgi.api:application`` (uWSGI) or ``gunicorn
glancelet.wsgi.api:application``. The application is built once, at import,
from the INI file named by ``GLANCELET_CONFIG_FILE`` (built-in defaults
without it). A bad config stops the import with one line in the server's log,
starting ``glancelet: configuration error:``.
"""

from glancelet import app as _app

# Python imports a module once per interpreter, under its import lock: no
# other guard is needed for "built once".
application = _app.init_application()
