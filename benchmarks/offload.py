"""The download offload's speed: ``nginx-proxy-http`` with and without
``[glancelet] download_offload = x-accel-redirect``
(:func:`lab.patterns.nginx_uwsgi.with_offload`), against nginx serving the
same file statically, interleaved run by run. Not part of ``tox -e bench``::

    python -m benchmarks.offload [--size-mib 1024] [--runs 3]

Both deployments run as the benchmarks run every pattern (trusted headers,
as root). Each download must bring the whole image and its Content-MD5.
Prints each download and the medians; ``--out FILE`` also writes them as JSON.
"""

import argparse
import contextlib
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import baselines, client, stats
from benchmarks.measure import log
from lab.patterns import nginx_uwsgi

MAX_RUNS = 10
DEADLINE = 1800.0  # seconds for every run together


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.offload", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3, choices=range(1, MAX_RUNS + 1),
                        metavar="1..%d" % MAX_RUNS)
    parser.add_argument("--out", type=Path)
    return parser.parse_args(argv)


def uploaded(dep, image, size):
    """The image id of ``image`` uploaded to ``dep``."""
    image_id = client.create_image(dep.base_url, "offload-bench")
    client.upload(dep.base_url, image_id, image, size, chunked=False)
    return image_id


def main(argv=None):
    args = parse_args(argv)
    size = args.size_mib << 20
    plain = nginx_uwsgi.PATTERNS[0].without_keystone().with_unit_user(False)
    sources = {"proxied": plain, "offload": nginx_uwsgi.with_offload(plain)}
    workroot = Path(tempfile.mkdtemp(prefix="glancelet-offload-bench-", dir="/var/tmp"))
    workroot.chmod(0o755)  # nginx's workers serve the static file from here
    figures = {"nginx static": [], "proxied": [], "offload": []}
    try:
        with contextlib.ExitStack() as stack:
            static_dir = workroot / "static"
            static_dir.mkdir()
            image = static_dir / "image.bin"
            baselines.make_image_file(image, size)
            md5 = baselines.hash_file(image)[1]
            (static_dir / "record.json").write_text("{}")  # StaticNginx waits for it
            ngx = stack.enter_context(baselines.StaticNginx(static_dir, workroot / "nginx"))
            targets = {"nginx static": (ngx.base_url, "/image.bin", None)}
            for name, pattern in sources.items():
                dep = stack.enter_context(pattern.start(workroot / name))
                path = "/v2/images/%s/file" % uploaded(dep, image, size)
                targets[name] = (dep.base_url, path, md5)
            end = time.monotonic() + DEADLINE
            order = list(targets)
            for run in range(args.runs):
                for name in order[run % 3:] + order[:run % 3]:
                    if time.monotonic() > end:
                        raise client.BenchError("past the %d s deadline" % DEADLINE)
                    base, path, want_md5 = targets[name]
                    seconds, headers = client.download(base, path, size)
                    if want_md5 is not None and headers.get("content-md5") != want_md5:
                        raise client.BenchError("%s: Content-MD5 %r, expected %s"
                                                % (name, headers.get("content-md5"), want_md5))
                    figures[name].append(stats.mib_s(size, seconds))
                    log("run %d: %s %.0f MiB/s" % (run + 1, name, figures[name][-1]))
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    summary = {name: round(statistics.median(values)) for name, values in figures.items()}
    for name in ("proxied", "offload"):
        summary[name + " x static"] = round(statistics.median(
            a / b for a, b in zip(figures[name], figures["nginx static"])), 2)
    log("medians: %s" % summary)
    if args.out:
        args.out.write_text(json.dumps({"size_mib": args.size_mib, "runs": figures,
                                        "medians": summary}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
