"""glancelet under mod_wsgi: the file WSGIScriptAlias points at.

Install it as /etc/glancelet/glancelet.wsgi. mod_wsgi runs it in the daemon
process (as glancelet) and serves the module-level ``application``.
"""
import os

# Apache's SetEnv does not reach os.environ, and glancelet reads its
# configuration file's name from there when it is imported. An environment
# variable set for the daemon process still wins.
os.environ.setdefault("GLANCELET_CONFIG_FILE", "/etc/glancelet/glancelet.conf")

from glancelet.wsgi.api import application  # noqa: E402,F401
