"""Apache httpd mod_proxy_http under /image -> uWSGI http-socket
(examples/apache-proxy-http/), and the download offload with mod_xsendfile
(:func:`with_xsendfile`), a test-level deployment of it rather than a pattern
of its own."""

import contextlib
import copy
import dataclasses

from lab import provision
from lab.harness import Pattern
from lab.patterns import GLANCE_BEHIND_PROXY
from lab.patterns.apache_uwsgi import apache_to_uwsgi

DIR = "examples/apache-proxy-http/"

PATTERNS = [apache_to_uwsgi(
    DIR,
    name="apache-proxy-http",
    title="Apache httpd, mod_proxy_http under /image, to uWSGI http-socket",
    # Glance builds its links from X-Forwarded-Proto and -Prefix only with
    # enable_proxy_headers_parsing.
    glance_dropins=(GLANCE_BEHIND_PROXY,),
)]

# The download offload (glancelet only): the drop-in that turns it on and
# Apache's conf that enables mod_xsendfile under /image (example, operator
# path); the operator enables the latter with a2enconf, beside glancelet's.
XSENDFILE_CONF = "/etc/glancelet/glancelet-xsendfile.conf"
XSENDFILE_EXAMPLES = (
    (DIR + "download-offload.conf", "/etc/glancelet/glancelet.conf.d/download-offload.conf"),
    (DIR + "glancelet-xsendfile.conf", XSENDFILE_CONF),
)


class XSendfilePattern(Pattern):
    """A pattern whose Apache sends the image files itself: it starts with
    www-data in glancelet's group and takes it out after
    (:func:`lab.provision.www_in_service_group`, the usermod line of
    glancelet-xsendfile.conf)."""

    @contextlib.contextmanager
    def start(self, tmp_path, *args, **kwargs):
        with provision.www_in_service_group():
            with super().start(tmp_path, *args, **kwargs) as dep:
                yield dep


def with_xsendfile(pattern):
    """``apache-proxy-http`` with the download offload, set up as
    glancelet-xsendfile.conf says: its two files installed, the Apache conf
    enabled beside glancelet's, and Apache's workers (www-data) in
    glancelet's group while it runs (:class:`XSendfilePattern`). Never
    registered."""
    assert pattern.name == "apache-proxy-http", pattern
    clone = copy.copy(pattern)
    clone.__class__ = XSendfilePattern
    clone.files = pattern.files + XSENDFILE_EXAMPLES
    clone.servers = tuple(
        dataclasses.replace(run, includes=run.includes + (XSENDFILE_CONF,))
        if run.kind == "apache2" else run for run in pattern.servers)
    clone.name = pattern.name + " (download offload)"
    return clone
