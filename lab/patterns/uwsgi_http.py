"""uWSGI alone, serving HTTP on an ``http-socket`` (examples/uwsgi-http/)."""

from lab.harness import ExpectedFailure, Pattern
from lab.patterns import KEYSTONE, in_etc
from lab.servers import Run

DIR = "examples/uwsgi-http/"
INI = "/etc/glancelet/glancelet-uwsgi.ini"

PATTERNS = [Pattern(
    name="uwsgi-http",
    title="uWSGI, HTTP mode (http-socket), no proxy",
    doc="howto/uwsgi-http",
    files=in_etc(DIR, "glancelet-uwsgi.ini", "glancelet.conf") + KEYSTONE,
    # SIGHUP (uwsgi --reload): the master waits for busy workers, then re-execs.
    servers=(Run("uwsgi", INI, pidfile="/run/glancelet/uwsgi.pid", port="60999",
                 unit="glancelet-uwsgi.service"),),
    # hook-master-start = unix_signal:15 gracefully_kill_them_all
    sigterm="drain",
    expected_failures={"glancelet": {
        # uwsgi.chunked_read() takes any letters in a size line, reads it with
        # strtoul (so "xyz" is 0, the last chunk, and "5zz" is 5) and skips
        # the two bytes after a chunk without checking they are CRLF. It
        # reports a clean end, so glancelet cannot tell: the image becomes
        # active with what uWSGI passed on. A proxy in front refuses such a
        # body (every other pattern).
        "upload-chunked-malformed": ExpectedFailure(
            204, "", "uWSGI's http-socket accepts malformed chunk framing and reports a "
            "clean end of the body"),
    }},
)]
