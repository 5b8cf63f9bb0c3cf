"""Apache httpd terminating TLS (mod_ssl) on 9292, mod_proxy_http under /image
-> uWSGI http-socket (examples/apache-tls/)."""

from lab.patterns import GLANCE_BEHIND_PROXY
from lab.patterns.apache_uwsgi import APACHE_CONF, apache_to_uwsgi
from lab.servers import Run

DIR = "examples/apache-tls/"
REDIRECT_CONF = "/etc/glancelet/glancelet-redirect.conf"

PATTERNS = [apache_to_uwsgi(
    DIR,
    # The "Listen 9292 https" of ports.conf, on 127.0.0.1; a throwaway CA
    # signs the server pair where the example names it.
    # The HTTP-to-HTTPS redirect on 9293 is a second site of the same Apache.
    apache_run=Run("apache2", APACHE_CONF, port="9292",
                   tls=("/etc/glancelet/tls/glancelet.pem", "/etc/glancelet/tls/glancelet.key"),
                   includes=(REDIRECT_CONF,)),
    extra_files=((DIR + "glancelet-redirect.conf", REDIRECT_CONF),),
    name="apache-tls",
    # Glance's links: X-Forwarded-Proto (https) and -Prefix, as behind
    # apache-proxy-http, read only with enable_proxy_headers_parsing.
    glance_dropins=(GLANCE_BEHIND_PROXY,),
    title="Apache httpd, TLS (mod_ssl) + mod_proxy_http under /image, to uWSGI http-socket",
    # benchmarks/client.py refuses https:// deployments: its uploads are
    # socket.sendfile from the page cache; over TLS the client would copy and
    # encrypt every byte itself, on the two cores the server uses too.
    not_benchmarked="the benchmark client speaks plain HTTP only: its uploads use "
                    "socket.sendfile, which TLS would replace with encryption in the client",
)]
