"""The shape the Apache-in-front-of-uWSGI declarations share
(apache-proxy-http, apache-proxy-uwsgi, apache-tls); no pattern of its own."""

from lab.harness import Pattern
from lab.patterns import KEYSTONE, glance_under_uwsgi, in_etc
from lab.servers import Run

APACHE_CONF = "/etc/glancelet/glancelet-apache.conf"
UWSGI_INI = "/etc/glancelet/glancelet-uwsgi.ini"


def apache_to_uwsgi(folder, apache_run=Run("apache2", APACHE_CONF), extra_files=(),
                    glance_dropins=None, **fields):
    """Apache httpd under /image in front of uWSGI: ``folder`` holds
    glancelet-apache.conf (on Debian: /etc/apache2/conf-available/), the
    uWSGI ini and glancelet.conf. With ``glance_dropins`` (a tuple), it runs
    Glance too: Glance's uWSGI ini and those drop-ins for glance-api.conf."""
    servers = (Run("uwsgi", UWSGI_INI, pidfile="/run/glancelet/uwsgi.pid",
                   unit="glancelet-uwsgi.service"), apache_run)
    if glance_dropins is not None:
        fields["glance"] = glance_under_uwsgi(servers, glance_dropins)
    return Pattern(
        doc="howto/" + folder.rstrip("/").rsplit("/", 1)[-1],
        files=in_etc(folder, "glancelet-apache.conf", "glancelet-uwsgi.ini", "glancelet.conf")
        + extra_files + KEYSTONE,
        # A reload is what the examples document: `apachectl graceful` for
        # Apache and `uwsgi --reload` for uWSGI, one after the other.
        servers=servers,
        url_prefix="/image",
        # uWSGI's graceful SIGTERM hook; Apache keeps the client connection open.
        sigterm="drain",
        # uWSGI runs as glancelet (the unit's User=), from the service venv.
        unit_user=True,
        **fields)
