"""Apache httpd + mod_wsgi daemon mode under /image (examples/apache-mod-wsgi/)."""

import dataclasses

from lab import apache
from lab.harness import ExpectedFailure, Pattern
from lab.patterns import GLANCE_IMPORT_NOT_QUEUED, KEYSTONE, in_etc
from lab.patterns.apache_uwsgi import APACHE_CONF
from lab.servers import Run

DIR = "examples/apache-mod-wsgi/"

# An Apache child of the old generation that already holds a request passes
# it on after the restart, to its own generation's daemon socket; the
# restart removed it (the socket name carries the generation).
# WSGISocketRotation Off does not help: see
# test_apache_mod_wsgi.py::test_socket_rotation_off_gives_502.
RELOAD_503 = ExpectedFailure(
    503, "Service Unavailable",
    "a request an old Apache child holds across the restart cannot reach the daemon "
    "processes", log=(apache.APACHE_SERVER_NAME, "WSGI0117"))
# Glance's daemon has one thread (glance-apache.conf: SQLite takes one
# writer): the load's requests waiting for it when the daemon restarts are
# reset, and Apache answers them with 502.
GLANCE_RELOAD = dataclasses.replace(
    RELOAD_503, reason=RELOAD_503.reason + "; with Glance's one daemon thread, a request "
    "still waiting for it when the daemon restarts gets 502",
    load=(502, "Bad Gateway", "WSGI0147"))
# SIGTERM to httpd ends Glance's daemon as it ends glancelet's, and Glance,
# as after a kill -9 (lab.glance.EXPECTED_FAILURES), does not recover the
# import when it starts again.
GLANCE_IMPORT_INTERRUPTED = ExpectedFailure(
    409, GLANCE_IMPORT_NOT_QUEUED,
    "Apache ends the daemon within seconds of SIGTERM, before the import ends, and Glance "
    "33 does not recover it after the restart: the image stays importing and its task "
    "processing, and a new import of it is refused with 409; deleting the image removes "
    "the staged part",
    image_status="importing", task_status="processing")

PATTERNS = [Pattern(
    name="apache-mod-wsgi",
    title="Apache httpd, mod_wsgi daemon mode under /image",
    doc="howto/apache-mod-wsgi",
    files=in_etc(DIR, "glancelet-apache.conf", "image-location.conf", "glancelet.wsgi",
                 "glancelet.conf") + KEYSTONE,
    # glancelet runs in mod_wsgi daemon processes, children of Apache's
    # parent, as the Apache children are. The apache2 kind does what the
    # operator does for mod_wsgi first (lab.apache.start_pattern).
    # Debian's apache2.service, with the drop-in that creates /run/glancelet.
    servers=(Run("apache2", APACHE_CONF, unit="apache2.service.d/glancelet.conf"),),
    url_prefix="/image",
    sigterm="abort",
    # SIGTERM to httpd ends the mod_wsgi daemon processes within seconds
    # (httpd exits about 3 s after the signal), so a running import does not
    # finish; the next start fails its task and releases the image.
    import_sigterm="interrupt",
    # OpenStack Glance: its own venv, daemon and script; the same
    # image-location.conf, included from /etc/glance.
    glance={"files": tuple((DIR + name, "/etc/glance/" + name) for name in (
                "glance-apache.conf", "image-location.conf", "glance-api.wsgi")),
            "servers": (Run("apache2", "/etc/glance/glance-apache.conf"),)},
    # The same for Glance: Apache's restart, whatever the application.
    expected_failures={"glancelet": {"graceful-reload": RELOAD_503},
                       "glance": {"graceful-reload": GLANCE_RELOAD,
                                  "import-sigterm": GLANCE_IMPORT_INTERRUPTED}},
)]
