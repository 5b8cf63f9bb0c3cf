"""Apache httpd + mod_proxy_http under /image -> uWSGI http-socket
(examples/apache-proxy-http/)."""

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
