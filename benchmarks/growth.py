"""How cost grows: concurrent clients, and the number of images (issue 16, item 4).

``measure_growth`` runs on one started pattern (glancelet only); the full
run starts one per database backend (:data:`DEFAULT_PATTERNS`): uwsgi-http
(SQLite), haproxy-multinode (PostgreSQL) and haproxy-multinode on MariaDB:

* GET one image and list (``limit=20``) with 1, 8 and 32 client threads
  (req/s, p50, p99; every request on a new connection);
* 1, 8 and 32 concurrent uploads of 64 MiB each (``--growth-upload-mib``,
  Content-Length), aggregate MiB/s;
* list latency (``limit=25``) with ``--growth-images`` images (1k, 10k and
  100k by default) in the database: the first page and a deep page (a
  ``marker`` near the end of the default order), each with and without a
  ``tag`` filter that one image in ten matches.

The images of the list curve are not created through the API (100k POSTs
take too long): two are (one tagged), and the rest are copies of their
rows, each with its own id, name and creation time, written by glancelet's
own db layer (:meth:`glancelet.db.ImageRepo.add_all`, 1000 rows a
transaction) into the deployment's ``[database] connection``: rows as the
API makes them, on whichever backend the pattern uses. After each fill the
table's statistics are brought up to date (:data:`ANALYZE`), as the
server's own background analysis (PostgreSQL's autovacuum, MariaDB's
persistent statistics) would after a while, and as an operator's bulk load
should: without them PostgreSQL plans a list over 100k fresh rows as a full
scan and sort (see performance.rst).

Every loop is bounded in count and in time (``DEADLINE`` seconds).
"""

import json
import threading
import time
import uuid

from benchmarks import client, stats
from glancelet import db, domain
from lab import dbservers, patterns as registry
from lab.patterns import haproxy_multinode

# haproxy-multinode on MariaDB: not a registered pattern (see on_mariadb).
MARIADB = "haproxy-multinode-mariadb"
DEFAULT_PATTERNS = "uwsgi-http,haproxy-multinode," + MARIADB
CLIENTS = (1, 8, 32)
TAG = "bench-growth"
# The statement that updates the images table's statistics, per dialect.
ANALYZE = {"sqlite": "ANALYZE images", "postgresql": "ANALYZE images",
           "mysql": "ANALYZE TABLE images"}
DEADLINE = 300.0


def pattern(name):
    """The pattern of a growth figure: a registered one, or :data:`MARIADB`."""
    return haproxy_multinode.on_mariadb() if name == MARIADB else registry.get(name)


def backend(connection):
    """The database server a ``[database] connection`` names, for labels."""
    scheme = connection.split(":", 1)[0]
    if scheme.startswith("sqlite"):
        return "SQLite"
    kind = next(k for k, schemes in dbservers.SCHEMES.items() if scheme in schemes)
    return {"postgresql": "PostgreSQL", "mariadb": "MariaDB"}[kind]


def _parallel(n, work, deadline=DEADLINE):
    """Run ``work(i)`` in ``n`` threads at once; return (results, wall seconds)."""
    results, errors = [None] * n, []
    barrier = threading.Barrier(n + 1)

    def run(i):
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # reported below, the run fails
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join(deadline)
    wall = time.perf_counter() - start
    if errors or any(t.is_alive() for t in threads):
        raise client.BenchError("%d parallel tasks: %s" % (n, errors[:1] or "deadline reached"))
    return results, wall


def concurrent_uploads(base, image, n, mib):
    """``n`` concurrent uploads of ``mib`` MiB; aggregate MiB/s."""
    size = mib * 1024 * 1024
    ids = [client.create_image(base, "bench-conc-%d" % i) for i in range(n)]
    try:
        _, wall = _parallel(n, lambda i: client.upload(base, ids[i], image, size, False))
    finally:
        for image_id in ids:
            client.delete_image(base, image_id)
    return {"clients": n, "mib_s": stats.mib_s(size * n, wall), "seconds": wall,
            "mib_each": mib}


def fill_images(dep, count, ids, batch=1000, deadline=DEADLINE * 4):
    """Add images until the database holds ``count`` of this run (one in ten
    tagged), copies of two the API creates; ``ids`` (creation order) grows.
    Then :func:`analyze` the table; return the seconds that took."""
    for tags in ([TAG], []):
        body = {"name": "bench-growth-template", "disk_format": "raw",
                "container_format": "bare", "tags": tags}
        _, _, data = client.request(dep.base_url, "POST", "/v2/images", body=json.dumps(body),
                                    headers={"Content-Type": "application/json"}, expect=201)
        ids.append(json.loads(data)["id"])
    database = db.connect(dep.connection)
    repo = db.ImageRepo(database)
    templates = [repo.get(image_id) for image_id in ids[-2:]]
    stop = time.monotonic() + deadline
    while len(ids) < count:
        if time.monotonic() > stop:
            raise client.BenchError("%d of %d images after %.0f s"
                                    % (len(ids), count, deadline))
        rows = []
        for k in range(len(ids), min(count, len(ids) + batch)):
            now = domain.utcnow()
            rows.append(dict(templates[k % 10 != 0], id=str(uuid.uuid4()),
                             name="bench-growth-%06d" % k, created_at=now, updated_at=now))
        repo.add_all(rows)
        ids.extend(row["id"] for row in rows)
    return analyze(database)


def analyze(database):
    """Update the statistics of ``database``'s images table; return seconds."""
    started = time.monotonic()
    with database.write() as conn:
        conn.execute(ANALYZE[database.dialect.name])
    return time.monotonic() - started


def list_latency(base, ids, requests):
    """p50/p99 of the four list requests, with ``len(ids)`` images of this run."""
    # The default order is newest first: the oldest images are the deepest pages.
    deep = ids[len(ids) // 20]
    deep_tagged = ids[(len(ids) // 200) * 10]
    paths = {"first": "/v2/images?limit=25",
             "deep": "/v2/images?limit=25&marker=%s" % deep,
             "first_tag": "/v2/images?limit=25&tag=%s" % TAG,
             "deep_tag": "/v2/images?limit=25&tag=%s&marker=%s" % (TAG, deep_tagged)}
    return {key: client.latency(base, path, requests) for key, path in paths.items()}


def upload_mib(args):
    """The size of each concurrent upload: ``--growth-upload-mib``, at most the
    image file's size (the uploads send that file's first bytes)."""
    return min(args.growth_upload_mib, args.image_size >> 20)


def measure_growth(dep, args, image, log):
    base = dep.base_url
    out = {"backend": backend(dep.connection), "clients": {}, "uploads": [], "images": {}}
    target = client.create_image(base, "bench-growth-target")
    each_mib = upload_mib(args)
    for n in CLIENTS:
        per = max(5, args.growth_requests // n)
        out["clients"][str(n)] = {
            "get_image": client.latency(base, "/v2/images/%s" % target, per, threads=n),
            "list_images": client.latency(base, "/v2/images?limit=20", per, threads=n)}
        out["uploads"].append(concurrent_uploads(base, image, n, each_mib))
        log("growth %s: %d clients: GET p50 %.1f ms p99 %.1f ms %.0f req/s; "
            "%d x %d MiB uploads %.0f MiB/s" % (
                dep.pattern.name, n, out["clients"][str(n)]["get_image"]["p50_ms"],
                out["clients"][str(n)]["get_image"]["p99_ms"],
                out["clients"][str(n)]["get_image"]["req_s"], n, each_mib,
                out["uploads"][-1]["mib_s"]))
    client.delete_image(base, target)
    ids = []
    for count in args.growth_images:
        started = time.monotonic()
        analyzed = fill_images(dep, count, ids)
        out["images"][str(count)] = lat = list_latency(base, ids, args.growth_requests)
        lat["create_seconds"] = round(time.monotonic() - started, 1)
        lat["analyze_seconds"] = round(analyzed, 2)
        log("growth %s: %d images: list p50 first %.1f ms, deep %.1f, tag %.1f, deep+tag %.1f"
            % (dep.pattern.name, count, lat["first"]["p50_ms"], lat["deep"]["p50_ms"],
               lat["first_tag"]["p50_ms"], lat["deep_tag"]["p50_ms"]))
    return out
