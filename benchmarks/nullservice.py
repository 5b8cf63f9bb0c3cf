"""The null image service: the least an image service can do on the benchmark's routes.

Not part of glancelet. ``benchmarks.nullenv`` runs it under each pattern's own
server files, in place of glancelet, so that the benchmark can tell what the
server stack costs from what glancelet costs behind it (issue 16, item 0).

What it does, on the routes the benchmark client uses:

* ``POST /v2/images``: a record (id, name, status ``queued``) in SQLite, so
  that every worker process sees it, as glancelet's records are (on every
  node of a multi-node pattern: the file is then in the shared store);
* ``PUT /v2/images/{id}/file``: reads the body in 1 MiB reads and feeds md5
  and sha512 in the same thread; stores none of it; the record becomes
  ``active`` with the size and the md5;
* ``GET /v2/images/{id}/file``: the one file ``null-download.bin`` in the
  store directory, through ``wsgi.file_wrapper`` when the server offers it,
  with the record's md5 as ``Content-MD5``;
* ``GET /v2/images/{id}``, ``GET /v2/images?limit=N``, ``DELETE``: JSON;
* ``GET /`` (a 300 version document, marked ``"null_service": true`` so
  that the benchmark can check which application answers) and ``GET /healthcheck``, which the
  harness and HAProxy poll.

Stdlib only (it also runs in the mod_wsgi venv, whose Python may be older),
and self-contained: for mod_wsgi this file itself is installed as the
``.wsgi`` script that ``WSGIScriptAlias`` names, through the examples'
path rewrite (``lab/rewrite.py``), which turns the default configuration
path below into the run's own.
"""

import configparser
import glob
import hashlib
import json
import os
import sqlite3
import time
import uuid

CONFIG = os.environ.get("GLANCELET_CONFIG_FILE", "/etc/glancelet/glancelet.conf")
READ = 1024 * 1024
DOWNLOAD_NAME = "null-download.bin"
COLUMNS = ("id", "name", "status", "size", "checksum", "created_at")
_state = {}


def _settings():
    """(SQLite file, store directory) from glancelet's own configuration file
    (and its drop-ins). With a database server in ``[database] connection``
    (a multi-node pattern), the SQLite file is in the store directory, which
    every node shares."""
    conf = configparser.RawConfigParser()
    if not conf.read([CONFIG] + sorted(glob.glob(CONFIG + ".d/*.conf"))):
        raise RuntimeError("null service: cannot read %s" % CONFIG)
    url = conf.get("database", "connection")
    store = conf.get("glance_store", "filesystem_store_datadir")
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):], store
    return os.path.join(store, "null-service.sqlite"), store


def _db():
    """This process's SQLite connection (one per process, opened after the fork)."""
    if _state.get("pid") != os.getpid():
        path, store = _settings()
        conn = sqlite3.connect(path, timeout=30, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS null_images (id TEXT PRIMARY KEY, "
                     "name TEXT, status TEXT, size INTEGER, checksum TEXT, "
                     "created_at REAL)")
        _state.update(pid=os.getpid(), conn=conn, store=store)
    return _state["conn"]


def _record(image_id):
    row = _db().execute("SELECT %s FROM null_images WHERE id = ?" % ", ".join(COLUMNS),
                        (image_id,)).fetchone()
    return None if row is None else _view(row)


def _view(row):
    rec = dict(zip(COLUMNS, row))
    rec.update(disk_format="raw", container_format="bare", self="/v2/images/" + rec["id"],
               file="/v2/images/%s/file" % rec["id"])
    return rec


def _json(start_response, status, doc):
    body = json.dumps(doc).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def _empty(start_response, status):
    start_response(status, [("Content-Length", "0")])
    return []


def _chunks(environ):
    """The request body, piece by piece, however the server delivers it."""
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if length:
        left = int(length)
        while left > 0:
            data = stream.read(min(READ, left))
            if not data:
                raise IOError("body ended %d bytes early" % left)
            left -= len(data)
            yield data
    elif environ.get("wsgi.input_terminated"):
        yield from iter(lambda: stream.read(READ), b"")
    elif "uwsgi.version" in environ:
        import uwsgi
        yield from iter(uwsgi.chunked_read, b"")


def upload(environ, start_response, image_id):
    """Hash the body (md5 and sha512, one thread), keep only the size and md5."""
    md5, sha = hashlib.md5(), hashlib.sha512()
    size = 0
    for data in _chunks(environ):
        md5.update(data)
        sha.update(data)
        size += len(data)
    _db().execute("UPDATE null_images SET status = 'active', size = ?, checksum = ? "
                  "WHERE id = ?", (size, md5.hexdigest(), image_id))
    return _empty(start_response, "204 No Content")


def download(environ, start_response, rec):
    """Serve the one download file with the record's md5."""
    path = os.path.join(_state["store"], DOWNLOAD_NAME)
    f = open(path, "rb")
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(os.fstat(f.fileno()).st_size)),
                              ("Content-MD5", rec["checksum"] or "")])
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(f, READ)
    return _file_iter(f)


def _file_iter(f):
    with f:
        yield from iter(lambda: f.read(READ), b"")


def create(environ, start_response):
    """Create a queued record from the JSON body's name."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    doc = json.loads(environ["wsgi.input"].read(length) or b"{}")
    row = (str(uuid.uuid4()), doc.get("name"), "queued", None, None, time.time())
    _db().execute("INSERT INTO null_images VALUES (?, ?, ?, ?, ?, ?)", row)
    return _json(start_response, "201 Created", _view(row))


def listing(environ, start_response):
    """The newest ``limit`` records (default 25)."""
    query = dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&")
                 if "=" in p)
    rows = _db().execute("SELECT %s FROM null_images ORDER BY created_at DESC, id DESC "
                         "LIMIT ?" % ", ".join(COLUMNS), (int(query.get("limit", 25)),))
    return _json(start_response, "200 OK", {"images": [_view(r) for r in rows],
                                            "first": "/v2/images"})


def application(environ, start_response):
    """Route one request."""
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/"
    parts = [p for p in path.split("/") if p]
    if parts == []:
        return _json(start_response, "300 Multiple Choices",
                     {"versions": [{"id": "v2.9", "status": "CURRENT", "links": []}],
                      "null_service": True})
    if parts == ["healthcheck"]:
        return _empty(start_response, "200 OK")
    if parts == ["v2", "images"]:
        return (create if method == "POST" else listing)(environ, start_response)
    rec = _record(parts[2]) if parts[:2] == ["v2", "images"] and len(parts) > 2 else None
    if rec is None:
        return _json(start_response, "404 Not Found", {"error": {"code": 404}})
    if len(parts) == 4 and method == "PUT":
        return upload(environ, start_response, rec["id"])
    if len(parts) == 4:
        return download(environ, start_response, rec)
    if method == "DELETE":
        _db().execute("DELETE FROM null_images WHERE id = ?", (rec["id"],))
        return _empty(start_response, "204 No Content")
    return _json(start_response, "200 OK", rec)
