"""nginx in front of uWSGI (examples/nginx-uwsgi/), two variants:

* ``nginx-proxy-http``: ``proxy_pass`` to uWSGI's ``http-socket``, unbuffered,
  under the /image prefix; chunked uploads stream through as chunked.
* ``nginx-uwsgi-pass``: ``uwsgi_pass`` to uWSGI's uwsgi-protocol ``socket``;
  Content-Length uploads stream, chunked uploads are spooled to disk first.
"""

from lab.harness import Pattern
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
        # No Glance: Debian's uwsgi_params sends no SCRIPT_NAME, and Glance
        # (paste's urlmap) answers every request with 500 (KeyError:
        # 'SCRIPT_NAME'); it needs uwsgi_param SCRIPT_NAME "" in the file.
        spools={"content-length": False, "chunked": True}),
]
