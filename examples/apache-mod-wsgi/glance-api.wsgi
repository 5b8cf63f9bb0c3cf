"""OpenStack Glance under mod_wsgi: the file WSGIScriptAlias points at.

Install it as /etc/glance/glance-api.wsgi. Glance 32 and later install no
glance-wsgi-api script; the application is ``glance.wsgi.api:application``.
mod_wsgi runs this file in the daemon process (as www-data).
"""
import os

# glance.wsgi.api reads glance-api.conf and glance-api-paste.ini from this
# directory when it is imported; Apache's SetEnv does not reach os.environ.
os.environ.setdefault("OS_GLANCE_CONFIG_DIR", "/etc/glance")

from glance.wsgi.api import application  # noqa: E402,F401
