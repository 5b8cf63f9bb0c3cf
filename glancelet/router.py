"""Declarative routing: ``ROUTES = {path template: {METHOD: handler}}``.

A path that matches with a method that does not gets 405 with an ``Allow``
header; a path that matches nothing gets 404. Templates use ``{name}``
segments, passed to the handler as ``req.route_args``.

Paths match segment by segment, as Glance's routes do: ``/v2/images/`` is
not ``/v2/images`` (its last segment is empty), and an empty segment never
fills a ``{name}``, so ``GET /v2/images/`` and ``DELETE /v2/images/`` are
404 like any other unknown path. A template that ends in ``/`` matches only
a path that does.
"""

from glancelet import errors


def _segments(path):
    """The segments of a path: ``/`` is ``("",)``, ``/a/`` is ``("a", "")``."""
    return tuple(path.split("/")[1:]) if path.startswith("/") else (path,)


class Router:
    def __init__(self, routes):
        self._routes = []
        for template, methods in routes.items():
            methods = dict(methods)
            if "GET" in methods and "HEAD" not in methods:
                methods["HEAD"] = methods["GET"]
            self._routes.append((_segments(template), methods))

    def match(self, method, path):
        parts = _segments(path)
        for segments, methods in self._routes:
            if len(segments) != len(parts):
                continue
            args = {}
            for want, got in zip(segments, parts):
                if want.startswith("{") and want.endswith("}"):
                    if not got:
                        break
                    args[want[1:-1]] = got
                elif want != got:
                    break
            else:
                handler = methods.get(method)
                if handler is None:
                    allow = ", ".join(sorted(methods))
                    raise errors.HTTPError(
                        405, "The method %s is not allowed for this resource." % method,
                        headers=[("Allow", allow)])
                return handler, args
        raise errors.NotFound("The resource could not be found.")
