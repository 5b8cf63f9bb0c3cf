"""Who is asking: the request context, built from trusted identity headers.

glancelet runs without Keystone, as Glance does behind keystonemiddleware
in its "trusted headers" arrangement. Like Glance's context middleware, it
accepts a request in one of two shapes only:

* ``X-Identity-Status: Confirmed``, with a non-blank ``X-Project-Id`` (or
  the older ``X-Tenant-Id``) and at least one role in ``X-Roles``: what
  keystonemiddleware sends for a valid project-scoped token. The caller gets
  that project and those roles, and :mod:`glancelet.policy` decides what
  they allow. ``OpenStack-System-Scope`` (a system-scoped token) or
  ``X-Domain-Id`` (a domain-scoped one) in place of the project makes a
  caller of that scope, which every image API refuses, as Glance does.
* No identity header at all (none of ``X-Identity-Status``, ``X-Project-*``,
  ``X-Tenant*``, ``X-User*``, ``X-Roles``): the unauthenticated mode, in
  which the caller gets Glance's unauthenticated context: full access and no
  owner. That is what ``glance --os-auth-token x --os-image-url URL`` sends,
  so nobody edits policy files to get started.

Anything else is refused with 401: ``X-Identity-Status: Invalid`` (what
keystonemiddleware sends for a bad token with ``delay_auth_decision``), a
missing or other status, a blank project, no roles. An empty header is a
header: a blank project id is not "no identity".

python-glanceclient URL-encodes header values (``admin%2Cmember``), so
values are decoded before use. Put glancelet behind a proxy that sets or
strips these headers before exposing it to anyone.
"""

import re
import urllib.parse

from glancelet import errors

# Headers that carry an identity (CGI names, matched as prefixes): their
# presence, even empty, takes a request out of the unauthenticated mode.
IDENTITY_PREFIXES = ("HTTP_X_IDENTITY_STATUS", "HTTP_X_PROJECT", "HTTP_X_TENANT",
                     "HTTP_X_USER", "HTTP_X_ROLES", "HTTP_X_DOMAIN",
                     "HTTP_OPENSTACK_SYSTEM_SCOPE")
_IS_IDENTITY = re.compile("|".join(map(re.escape, IDENTITY_PREFIXES))).match


class RequestContext:
    """The caller: its project, roles and token scope ("project", "system" or
    "domain"; None in the unauthenticated mode)."""

    __slots__ = ("project_id", "user_id", "roles", "is_admin", "authenticated", "scope")

    def __init__(self, project_id=None, user_id=None, roles=(), authenticated=True,
                 scope="project"):
        self.project_id = project_id
        self.user_id = user_id
        self.roles = tuple(roles)
        self.authenticated = authenticated
        self.scope = scope if authenticated else None
        # Glance's context_is_admin: the admin role, whatever the scope (the
        # policy refuses a token of another scope before this counts).
        self.is_admin = (not authenticated) or "admin" in self.roles

    @property
    def owner(self):
        """The owner given to images this caller creates."""
        return self.project_id


def _header(environ, name):
    value = environ.get("HTTP_" + name.upper().replace("-", "_"))
    if value is None:
        return None
    value = urllib.parse.unquote(value).strip()
    return value or None


def _unauthorized(why):
    return errors.HTTPError(401, "The request's identity is not confirmed (%s). A front "
                                 "end must send X-Identity-Status: Confirmed with "
                                 "X-Project-Id and X-Roles, or no identity headers at "
                                 "all." % why)


def from_environ(environ):
    """The context of a request, or raise 401 (see the module docstring)."""
    if not any(map(_IS_IDENTITY, environ)):
        return RequestContext(authenticated=False)
    status = _header(environ, "X-Identity-Status")
    if status != "Confirmed":
        raise _unauthorized("X-Identity-Status is %s" % ("missing" if status is None
                                                         else repr(status)))
    roles = [r.strip().lower() for r in (_header(environ, "X-Roles") or "").split(",")
             if r.strip()]
    if not roles:
        raise _unauthorized("no roles in X-Roles")
    user = _header(environ, "X-User-Id")
    if _header(environ, "OpenStack-System-Scope") is not None:
        return RequestContext(user_id=user, roles=roles, scope="system")
    name = "X-Project-Id" if "HTTP_X_PROJECT_ID" in environ else "X-Tenant-Id"
    project = _header(environ, name)
    if project is None and _header(environ, "X-Domain-Id") is not None:
        return RequestContext(user_id=user, roles=roles, scope="domain")
    if project is None:
        raise _unauthorized("no project in %s" % name)
    return RequestContext(project_id=project, user_id=user, roles=roles)
