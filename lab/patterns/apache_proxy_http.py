"""Apache httpd + mod_proxy_http under /image -> uWSGI http-socket
(examples/apache-proxy-http/)."""

from lab import apache

DIR = "examples/apache-proxy-http/"


class ApacheProxyHttp(apache.ApacheToUwsgi):
    name = "apache-proxy-http"
    title = "Apache httpd, mod_proxy_http under /image, to uWSGI http-socket"
    folder = DIR


PATTERNS = [ApacheProxyHttp()]
