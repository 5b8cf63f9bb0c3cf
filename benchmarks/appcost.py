"""glancelet's own cost per request: its WSGI application called in-process,
next to the null service's, with no server and no socket.

On the wire, a ``GET /v2/images/{id}`` through a pattern costs the server
stack's time plus the application's. :func:`measure` takes the second part
alone, so that the performance page can say how much of glancelet's gap to the
null service is glancelet's own work: in a fresh interpreter
(``python -m benchmarks.appcost CONFIG WORKDIR``) it builds glancelet from
the deployment's own configuration file (its database too: SQLite, or the
multi-node pattern's database server) and the null service on a SQLite file
in ``WORKDIR``, creates one image in each, then times ``CALLS`` GETs of it on
each application in turn, ``ROUNDS`` times, and prints the median
microseconds per call of each as JSON. Bounded: at most ROUNDS x CALLS calls
per application, and no new round after ``DEADLINE`` seconds.
"""

import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = 7
CALLS = 200
DEADLINE = 30.0
REPO = Path(__file__).resolve().parent.parent


def measure(conf_path, workdir):
    """{"glancelet_us": ..., "null_us": ...}: median microseconds per
    in-process ``GET /v2/images/{id}`` (see the module doc)."""
    Path(workdir).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("GLANCELET_CONFIG_FILE", None)
    done = subprocess.run([sys.executable, "-m", "benchmarks.appcost", str(conf_path),
                           str(workdir)], capture_output=True, text=True, env=env,
                          timeout=DEADLINE + 60, check=False)
    if done.returncode:
        raise RuntimeError("benchmarks.appcost failed (exit %d): %s"
                           % (done.returncode, done.stderr.strip()[-2000:]))
    return json.loads(done.stdout.strip().splitlines()[-1])


def _call(app, method, path, body=b""):
    """One in-process request: (status code, body bytes)."""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
               "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
               "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
               "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json"}
    status = []
    chunks = app(environ, lambda s, headers, exc_info=None: status.append(s))
    try:
        data = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return int(status[0].split()[0]), data


def _null_app(workdir):
    """The null service, its records in a SQLite file of its own in ``workdir``."""
    conf = Path(workdir) / "null.conf"
    conf.write_text("[database]\nconnection = sqlite:///%s\n[glance_store]\n"
                    "filesystem_store_datadir = %s\n" % (Path(workdir) / "null.sqlite", workdir))
    from benchmarks import nullservice
    nullservice.CONFIG = str(conf)
    return nullservice.application


def main(argv):
    conf_path, workdir = argv
    os.environ["GLANCELET_CONFIG_FILE"] = conf_path
    from glancelet.app import init_application
    apps = {"glancelet": init_application(), "null": _null_app(workdir)}
    body = json.dumps({"name": "bench-appcost", "disk_format": "raw",
                       "container_format": "bare"}).encode()
    paths = {}
    for name, app in apps.items():
        status, data = _call(app, "POST", "/v2/images", body)
        if status != 201:
            raise SystemExit("%s: POST /v2/images gave %d: %r" % (name, status, data[:300]))
        paths[name] = "/v2/images/%s" % json.loads(data)["id"]
    samples = {name: [] for name in apps}
    end = time.monotonic() + DEADLINE
    for _ in range(ROUNDS):
        for name, app in apps.items():
            start = time.perf_counter()
            for _ in range(CALLS):
                status, data = _call(app, "GET", paths[name])
            samples[name].append((time.perf_counter() - start) / CALLS * 1e6)
            if status != 200:
                raise SystemExit("%s: GET %s gave %d" % (name, paths[name], status))
        if time.monotonic() > end:
            break
    for name, app in apps.items():
        _call(app, "DELETE", paths[name])
    print(json.dumps({"%s_us" % name: round(statistics.median(values), 1)
                      for name, values in samples.items()}))


if __name__ == "__main__":
    main(sys.argv[1:])
