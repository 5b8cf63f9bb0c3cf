"""nginx in front of uWSGI (examples/nginx-uwsgi/), two variants:

* ``nginx-proxy-http``: ``proxy_pass`` to uWSGI's ``http-socket``, unbuffered,
  under the /image prefix; chunked uploads stream through as chunked.
* ``nginx-uwsgi-pass``: ``uwsgi_pass`` to uWSGI's uwsgi-protocol ``socket``;
  Content-Length uploads stream, chunked uploads are spooled to disk first.

and the download offload (:func:`with_offload`), a test-level deployment of
``nginx-proxy-http`` rather than a pattern of its own.
"""

import copy

from lab.harness import LineEdit, Pattern
from lab.patterns import GLANCE_BEHIND_PROXY, KEYSTONE, glance_under_uwsgi, in_etc
from lab.servers import Run
from lab.units import nginx_unit

# The nginx log files' rotation (every nginx pattern installs it).
LOGROTATE = (("examples/systemd/logrotate.d/glancelet-nginx", "/etc/logrotate.d/glancelet-nginx"),)

DIR = "examples/nginx-uwsgi/"
INI = "/etc/glancelet/glancelet-uwsgi.ini"


def nginx_to_uwsgi(nginx_conf, glance_dropins=None, **fields):
    """The declaration of nginx (``nginx_conf``) in front of the folder's
    uWSGI; with ``glance_dropins`` (a tuple), Glance's uWSGI ini and those
    drop-ins run Glance too."""
    conf = "/etc/glancelet/" + nginx_conf
    servers = (Run("uwsgi", INI, pidfile="/run/glancelet/uwsgi.pid",
                   unit="glancelet-uwsgi.service"),
               Run("nginx", conf, port="9292", unit=nginx_unit(nginx_conf)))
    if glance_dropins is not None:
        fields["glance"] = glance_under_uwsgi(servers, glance_dropins)
    return Pattern(
        doc="howto/nginx-uwsgi",
        files=in_etc(DIR, "glancelet.conf", "glancelet-uwsgi.ini", nginx_conf) + LOGROTATE
        + KEYSTONE,
        # A reload does both, as a configuration change would: nginx first,
        # then uWSGI.
        servers=servers,
        # uWSGI: hook-master-start = unix_signal:15 gracefully_kill_them_all
        sigterm="drain",
        proxy="nginx",
        # uWSGI runs as glancelet (the unit's User=), from the service venv;
        # nginx's workers as www-data, its temp paths under /var/lib/nginx.
        unit_user=True,
        **fields)


PATTERNS = [
    nginx_to_uwsgi(
        "nginx-proxy-http.conf",
        name="nginx-proxy-http",
        title="nginx proxy_pass (unbuffered) to uWSGI http-socket, under /image",
        url_prefix="/image",
        # Glance builds its links from nginx's X-Forwarded-* headers only
        # with enable_proxy_headers_parsing (test_glance_behind_proxy.py).
        glance_dropins=(GLANCE_BEHIND_PROXY,),
        # Which uploads nginx writes to client_body_temp_path before passing
        # on (checked by test_buffering.py from nginx's error log).
        spools={"content-length": False, "chunked": False}),
    nginx_to_uwsgi(
        "nginx-uwsgi-pass.conf",
        name="nginx-uwsgi-pass",
        title="nginx uwsgi_pass to uWSGI socket (uwsgi protocol)",
        # Glance needs the file's uwsgi_param SCRIPT_NAME "" and
        # HTTP_TRANSFER_ENCODING "" (test_glance_behind_proxy.py removes each).
        glance_dropins=(GLANCE_BEHIND_PROXY,),
        spools={"content-length": False, "chunked": True}),
]


# The download offload (glancelet only): the drop-in that turns it on and
# nginx's internal location (example, operator path); the operator adds the
# location to nginx-proxy-http.conf's server block with an include line.
OFFLOAD_EXAMPLES = (
    (DIR + "download-offload.conf", "/etc/glancelet/glancelet.conf.d/download-offload.conf"),
    (DIR + "nginx-offload-location.conf", "/etc/glancelet/nginx-offload-location.conf"),
)
OFFLOAD_INCLUDE = "include /etc/glancelet/nginx-offload-location.conf;"


def with_offload(pattern):
    """``nginx-proxy-http`` with the download offload, set up as
    nginx-offload-location.conf says: its two files installed, the include
    line in the server block, and nginx's workers in the group of the user
    glancelet runs as (glancelet under the unit's User=, else the tests' root),
    so that they can open the image files (mode 0640). Never registered."""
    assert pattern.name == "nginx-proxy-http", pattern
    group = "glancelet" if pattern.unit_user else "root"
    clone = copy.copy(pattern)
    clone.files = pattern.files + OFFLOAD_EXAMPLES
    clone = clone.variant({DIR + "nginx-proxy-http.conf": [
        LineEdit(r"^user www-data", replace="user www-data %s;" % group),
        LineEdit(r"^\s*listen 127\.0\.0\.1:9292;$", add_after=OFFLOAD_INCLUDE)]})
    clone.name = pattern.name + " (download offload)"
    return clone
