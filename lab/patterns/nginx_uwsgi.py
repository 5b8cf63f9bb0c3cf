"""nginx in front of uWSGI (examples/nginx-uwsgi/), two variants:

* ``nginx-proxy-http``: ``proxy_pass`` to uWSGI's ``http-socket``, unbuffered,
  under the /image prefix; chunked uploads stream through as chunked.
* ``nginx-uwsgi-pass``: ``uwsgi_pass`` to uWSGI's uwsgi-protocol ``socket``;
  Content-Length uploads stream, chunked uploads are spooled to disk first.
"""

from lab.harness import Pattern
from lab.patterns import in_etc
from lab.servers import Run

DIR = "examples/nginx-uwsgi/"
INI = "/etc/glancelet/glancelet-uwsgi.ini"


def nginx_to_uwsgi(nginx_conf, **fields):
    """The declaration of nginx (``nginx_conf``) in front of the folder's uWSGI."""
    conf = "/etc/glancelet/" + nginx_conf
    return Pattern(
        doc="howto/nginx-uwsgi",
        files=in_etc(DIR, "glancelet.conf", "glancelet-uwsgi.ini", nginx_conf),
        # A reload does both, as a configuration change would: nginx first,
        # then uWSGI.
        servers=(Run("uwsgi", INI, pidfile="/run/glancelet/uwsgi.pid"),
                 Run("nginx", conf, port="9292")),
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
        # Which uploads nginx writes to client_body_temp_path before passing
        # on (checked by test_buffering.py from nginx's error log).
        spools={"content-length": False, "chunked": False}),
    nginx_to_uwsgi(
        "nginx-uwsgi-pass.conf",
        name="nginx-uwsgi-pass",
        title="nginx uwsgi_pass to uWSGI socket (uwsgi protocol)",
        spools={"content-length": False, "chunked": True}),
]
