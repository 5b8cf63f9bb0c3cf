"""GET and HEAD /healthcheck, answered as oslo.middleware's healthcheck does.

No authentication and no database: a load balancer polls it often. While
the file named by ``[healthcheck] disable_by_file_path`` exists, the answer
is 503 ``DISABLED BY FILE``, which is how an operator drains a node.
"""

import os


def check(req, start_response):
    """200 OK (HEAD: 204), or 503 DISABLED BY FILE while the drain file exists."""
    path = req.conf.get("healthcheck", "disable_by_file_path")
    healthy = not (path and os.path.exists(path))
    if req.method == "HEAD":
        status, body = ("204 No Content" if healthy else "503 Service Unavailable"), b""
    else:
        status = "200 OK" if healthy else "503 Service Unavailable"
        body = b"OK" if healthy else b"DISABLED BY FILE"
    start_response(status, [("Content-Type", "text/plain; charset=UTF-8"),
                            ("Content-Length", str(len(body)))])
    return [body]
