"""Tests only: a stand-in for keystonemiddleware's auth_token in Glance's
paste pipeline (:data:`lab.glance.FAKE_AUTHTOKEN` puts it there).

Every request reaches Glance's context middleware with the identity headers
auth_token sets for a valid token of an admin of one project, so the
scenarios' clients (which send no token, or "x") run against Glance with
its default policy and no Keystone. Stdlib only: a Glance environment
imports it (the mod_wsgi one too).
"""

# What auth_token would set; one role only, since python-glanceclient
# URL-quotes header values it sends itself ("admin,member" arrives as
# "admin%2Cmember").
IDENTITY_HEADERS = {"X-Identity-Status": "Confirmed", "X-Roles": "admin",
                    "X-User-Id": "0b7a51d0c4b54d5d8cd9bd4d4e0b7d01",
                    "X-Project-Id": "5f2c3e4c8e6c4a5b9d1f7a2b3c4d5e6f"}
_ENVIRON = {"HTTP_" + name.upper().replace("-", "_"): value
            for name, value in IDENTITY_HEADERS.items()}


def filter_factory(global_conf, **local_conf):
    """paste.filter_factory: the middleware, whatever the section's options."""
    def identify(app):
        def middleware(environ, start_response):
            environ.update(_ENVIRON)
            return app(environ, start_response)
        return middleware
    return identify
