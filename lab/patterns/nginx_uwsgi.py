"""nginx in front of uWSGI (examples/nginx-uwsgi/), two variants:

* ``nginx-proxy-http``: ``proxy_pass`` to uWSGI's ``http-socket``, unbuffered,
  under the /image prefix; chunked uploads stream through as chunked.
* ``nginx-uwsgi-pass``: ``uwsgi_pass`` to uWSGI's uwsgi-protocol ``socket``;
  Content-Length uploads stream, chunked uploads are spooled to disk first.
"""

from lab.harness import Pattern
from lab.patterns import KEYSTONE, in_etc
from lab.servers import Run
from lab.units import nginx_unit

# The nginx log files' rotation (every nginx pattern installs it).
LOGROTATE = (("examples/systemd/logrotate.d/glancelet-nginx", "/etc/logrotate.d/glancelet-nginx"),)

DIR = "examples/nginx-uwsgi/"
INI = "/etc/glancelet/glancelet-uwsgi.ini"


def nginx_to_uwsgi(nginx_conf, **fields):
    """The declaration of nginx (``nginx_conf``) in front of the folder's uWSGI."""
    conf = "/etc/glancelet/" + nginx_conf
    return Pattern(
        doc="howto/nginx-uwsgi",
        files=in_etc(DIR, "glancelet.conf", "glancelet-uwsgi.ini", nginx_conf) + LOGROTATE
        + KEYSTONE,
        # A reload does both, as a configuration change would: nginx first,
        # then uWSGI.
        servers=(Run("uwsgi", INI, pidfile="/run/glancelet/uwsgi.pid",
                     unit="glancelet-uwsgi.service"),
                 Run("nginx", conf, port="9292", unit=nginx_unit(nginx_conf))),
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
        # Which uploads nginx writes to client_body_temp_path before passing
        # on (checked by test_buffering.py from nginx's error log).
        spools={"content-length": False, "chunked": False}),
    nginx_to_uwsgi(
        "nginx-uwsgi-pass.conf",
        name="nginx-uwsgi-pass",
        title="nginx uwsgi_pass to uWSGI socket (uwsgi protocol)",
        spools={"content-length": False, "chunked": True}),
]
