"""glancelet: a minimal OpenStack Images API v2 service for WSGI servers."""

__version__ = "0.1.0"
