"""A thin request object and response helpers over plain WSGI."""

import json
import urllib.parse

from glancelet import errors

MAX_JSON_BODY = 1024 * 1024  # metadata requests; image data never goes through here


class Request:
    def __init__(self, environ, conf):
        self.environ = environ
        self.conf = conf
        # uWSGI passes a request whose request line it could not parse with
        # no REQUEST_METHOD at all.
        self.method = environ.get("REQUEST_METHOD", "").upper()
        if not self.method:
            raise errors.BadRequest("The request line has no method.")
        # PEP 3333 hands PATH_INFO over as latin-1; clients send UTF-8.
        self.path = (environ.get("PATH_INFO", "") or "/").encode("latin-1").decode(
            "utf-8", "replace")
        query = environ.get("QUERY_STRING")
        self.params = urllib.parse.parse_qsl(query, keep_blank_values=True) if query else []
        self.route_args = {}
        self.context = None

    def header(self, name, default=None):
        key = "HTTP_" + name.upper().replace("-", "_")
        if name.lower() == "content-type":
            key = "CONTENT_TYPE"
        elif name.lower() == "content-length":
            key = "CONTENT_LENGTH"
        return self.environ.get(key, default)

    @property
    def content_type(self):
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def param(self, name, default=None):
        for key, value in self.params:
            if key == name:
                return value
        return default

    def json_body(self, content_types=("application/json",)):
        """Parse a small JSON request body of one of ``content_types``."""
        if self.content_type not in content_types:
            raise errors.UnsupportedMediaType(
                "Content-Type %r is not supported here; use %s"
                % (self.content_type or "", " or ".join(content_types)))
        from glancelet.body import RequestBody, BodyIncomplete
        try:
            raw = RequestBody(self.environ, limit=MAX_JSON_BODY).read()
        except BodyIncomplete as exc:
            raise errors.BadRequest(str(exc))
        try:
            doc = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError) as exc:
            raise errors.BadRequest("The request body is not valid JSON: %s" % exc)
        except RecursionError:
            raise errors.BadRequest("The request body is not valid JSON: it is nested too "
                                    "deeply.") from None
        try:
            # JSON may escape a lone UTF-16 surrogate ("\ud800"), which no
            # UTF-8 text (or database) can hold.
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise errors.BadRequest("The request body is not valid JSON: it has a lone "
                                    "surrogate (\\ud800-\\udfff) escape.") from None
        return doc

    # -- URLs --------------------------------------------------------------

    def base_url(self):
        """The URL this service is reached at, without a trailing slash.

        ``[DEFAULT] public_endpoint`` wins. Otherwise the request's own
        scheme, Host and SCRIPT_NAME (the mount point under mod_wsgi or
        uWSGI), each replaced by X-Forwarded-Proto/-Host/-Prefix when
        ``[oslo_middleware] enable_proxy_headers_parsing`` says the proxy in
        front sets them.
        """
        public = self.conf.get("DEFAULT", "public_endpoint")
        if public:
            return public.rstrip("/")
        env = self.environ
        if not self.conf.get("oslo_middleware", "enable_proxy_headers_parsing"):
            env = {k: v for k, v in env.items() if not k.startswith("HTTP_X_FORWARDED_")}
        scheme = env.get("HTTP_X_FORWARDED_PROTO") or env.get("wsgi.url_scheme", "http")
        scheme = scheme.split(",")[0].strip()
        host = env.get("HTTP_X_FORWARDED_HOST") or env.get("HTTP_HOST")
        if host:
            host = host.split(",")[0].strip()
        else:
            host = env.get("SERVER_NAME", "localhost")
            port = env.get("SERVER_PORT", "")
            if port and (scheme, port) not in (("http", "80"), ("https", "443")):
                host += ":" + port
        prefix = env.get("HTTP_X_FORWARDED_PREFIX", "") + env.get("SCRIPT_NAME", "")
        return "%s://%s%s" % (scheme, host, prefix.rstrip("/"))


def json_response(start_response, status, body, headers=()):
    data = json.dumps(body).encode("utf-8")
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))] + list(headers))
    return [data]


def empty_response(start_response, status="204 No Content", headers=()):
    start_response(status, [("Content-Length", "0")] + list(headers))
    return []
