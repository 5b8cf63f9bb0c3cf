"""Who is asking: the request context, built from trusted identity headers.

glancelet runs without Keystone, as Glance does behind keystonemiddleware
in its "trusted headers" arrangement: a front end that authenticated the
caller sets ``X-Project-Id`` (or the older ``X-Tenant-Id``) and ``X-Roles``.
python-glanceclient URL-encodes header values (``admin%2Cmember``), so values
are decoded before use.

A request with none of those headers gets the unauthenticated context, like
Glance's: full access and no owner. That is what ``glance --os-auth-token x
--os-image-url URL`` sends, so nobody edits policy files to get started.
Put glancelet behind a proxy that sets or strips these headers before
exposing it to anyone.
"""

import urllib.parse


class RequestContext:
    __slots__ = ("project_id", "user_id", "roles", "is_admin", "authenticated")

    def __init__(self, project_id=None, user_id=None, roles=(), authenticated=True):
        self.project_id = project_id
        self.user_id = user_id
        self.roles = tuple(roles)
        self.authenticated = authenticated
        self.is_admin = (not authenticated) or "admin" in self.roles

    @property
    def owner(self):
        """The owner given to images this caller creates."""
        return self.project_id

    def can_see(self, image):
        if self.is_admin or image["visibility"] in ("public", "community"):
            return True
        return image["owner"] is not None and image["owner"] == self.project_id

    def can_modify(self, image):
        if self.is_admin:
            return True
        return image["owner"] is not None and image["owner"] == self.project_id


def _header(environ, name):
    value = environ.get("HTTP_" + name.upper().replace("-", "_"))
    if value is None:
        return None
    value = urllib.parse.unquote(value).strip()
    return value or None


def from_environ(environ):
    project = _header(environ, "X-Project-Id") or _header(environ, "X-Tenant-Id")
    roles_header = _header(environ, "X-Roles")
    user = _header(environ, "X-User-Id")
    if project is None and roles_header is None and user is None:
        return RequestContext(authenticated=False)
    roles = [r.strip().lower() for r in (roles_header or "").split(",") if r.strip()]
    return RequestContext(project_id=project, user_id=user, roles=roles)
