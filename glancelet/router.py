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
    """Finds the handler of a method and path.

    A template without ``{name}`` segments is found by one dict lookup; the
    others are tried in table order among those with as many segments as
    the path. A literal template wins over one with ``{name}`` segments.
    """

    def __init__(self, routes):
        self._literal = {}  # segments -> methods
        self._templated = {}  # segment count -> [(segments, methods)]
        for template, methods in routes.items():
            methods = dict(methods)
            if "GET" in methods and "HEAD" not in methods:
                methods["HEAD"] = methods["GET"]
            # A segment is (literal text, None) or (None, argument name).
            segments = tuple((None, s[1:-1]) if s.startswith("{") and s.endswith("}")
                             else (s, None) for s in _segments(template))
            if all(name is None for _, name in segments):
                self._literal[_segments(template)] = methods
            else:
                self._templated.setdefault(len(segments), []).append((segments, methods))

    def match(self, method, path):
        parts = _segments(path)
        methods, args = self._literal.get(parts), {}
        if methods is None:
            methods, args = self._match_templated(parts)
        handler = methods.get(method)
        if handler is None:
            allow = ", ".join(sorted(methods))
            raise errors.HTTPError(
                405, "The method %s is not allowed for this resource." % method,
                headers=[("Allow", allow)])
        return handler, args

    def _match_templated(self, parts):
        """(methods, route arguments) of the first template ``parts`` match; else 404."""
        for segments, methods in self._templated.get(len(parts), ()):
            args = {}
            for (text, name), got in zip(segments, parts):
                if name is None:
                    if text != got:
                        break
                elif not got:
                    break
                else:
                    args[name] = got
            else:
                return methods, args
        raise errors.NotFound("The resource could not be found.")
