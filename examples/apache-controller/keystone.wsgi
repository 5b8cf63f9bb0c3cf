"""Keystone under mod_wsgi: the file the controller's WSGIScriptAlias for
port 5000 points at. Install it as /etc/keystone/keystone.wsgi.

mod_wsgi runs it in the keystone daemon process group, whose python-home is
Keystone's own venv. Keystone reads the names of its configuration files
from OS_KEYSTONE_CONFIG_FILES when its application is built, and Apache's
SetEnv does not reach os.environ: set it here.
"""
import os

os.environ.setdefault("OS_KEYSTONE_CONFIG_FILES", "/etc/keystone/keystone.conf")

from keystone.wsgi.api import application  # noqa: E402,F401
