"""uWSGI alone, serving HTTP on an ``http-socket`` (examples/uwsgi-http/)."""

from lab.harness import ExpectedFailure, Pattern
from lab.patterns import KEYSTONE, glance_under_uwsgi, in_etc
from lab.servers import Run

DIR = "examples/uwsgi-http/"
INI = "/etc/glancelet/glancelet-uwsgi.ini"
# SIGHUP (uwsgi --reload): the master waits for busy workers, then re-execs.
SERVERS = (Run("uwsgi", INI, pidfile="/run/glancelet/uwsgi.pid", port="60999",
               unit="glancelet-uwsgi.service"),)

MALFORMED_CHUNKS_PASS = ExpectedFailure(
    204, "", "uWSGI's http-socket accepts malformed chunk framing and reports a clean end "
    "of the body", image_status="active")

PATTERNS = [Pattern(
    name="uwsgi-http",
    title="uWSGI, HTTP mode (http-socket), no proxy",
    doc="howto/uwsgi-http",
    files=in_etc(DIR, "glancelet-uwsgi.ini", "glancelet.conf") + KEYSTONE,
    servers=SERVERS,
    # uWSGI runs as glancelet (the unit's User=), from the service venv.
    unit_user=True,
    # hook-master-start = unix_signal:15 gracefully_kill_them_all
    sigterm="drain",
    # OpenStack Glance: glance-uwsgi.ini includes glancelet-uwsgi.ini.
    glance=glance_under_uwsgi(SERVERS),
    expected_failures={
        # uwsgi.chunked_read() takes any letters in a size line, reads it with
        # strtoul (so "xyz" is 0, the last chunk, and "5zz" is 5) and skips
        # the two bytes after a chunk without checking they are CRLF. It
        # reports a clean end, so neither glancelet nor Glance can tell: the
        # image becomes active with what uWSGI passed on. A proxy in front
        # refuses such a body (every other pattern).
        service: {"upload-chunked-malformed": MALFORMED_CHUNKS_PASS}
        for service in ("glancelet", "glance")},
)]
