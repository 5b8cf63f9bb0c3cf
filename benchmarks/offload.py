"""The download offload's speed (``tox -e bench`` measures it too, see
:func:`measure`): ``nginx-proxy-http`` with and without
``[glancelet] download_offload = x-accel-redirect``
(:func:`lab.patterns.nginx_uwsgi.with_offload`), and ``apache-proxy-http``
with and without ``x-sendfile`` (mod_xsendfile,
:func:`lab.patterns.apache_proxy_http.with_xsendfile`), against nginx
serving the same file statically, interleaved run by run. With Apache's
pair, Apache httpd serving the same file statically too, with
``EnableSendfile`` Off (httpd's default) and On
(:class:`benchmarks.baselines.StaticApache`): the per-hop figure of how
much of the offloaded download is Apache's own file sending. On its own::

    python -m benchmarks.offload [--size-mib 1024] [--runs 3] [--fronts nginx,apache]

Every deployment runs with trusted headers, as the benchmarks run every
pattern. The nginx pair runs as root; the Apache pair runs uWSGI as its
unit's user (``glancelet``, the examples' setting), since Apache's workers
read the image files through that user's group: the offloaded deployment
puts www-data in it while it runs (the usermod line of
glancelet-xsendfile.conf, :class:`lab.patterns.apache_proxy_http.XSendfilePattern`).
Run ``python -m lab.provision`` first. Each download must bring the whole
image and its Content-MD5. Prints each download and the medians; ``--out
FILE`` also writes them as JSON.
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
from lab.patterns import apache_proxy_http, nginx_uwsgi

MAX_RUNS = 10
DEADLINE = 1800.0  # seconds for every run together


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.offload", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3, choices=range(1, MAX_RUNS + 1),
                        metavar="1..%d" % MAX_RUNS)
    parser.add_argument("--fronts", default=",".join(FRONTS),
                        help="comma-separated, of: %s" % ", ".join(FRONTS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    args.fronts = args.fronts.split(",")
    unknown = set(args.fronts) - set(FRONTS)
    if unknown:
        parser.error("unknown --fronts: %s" % ", ".join(sorted(unknown)))
    return args


def nginx_pair():
    plain = nginx_uwsgi.PATTERNS[0].without_keystone().with_unit_user(False)
    return plain, nginx_uwsgi.with_offload(plain)


def apache_pair():
    plain = apache_proxy_http.PATTERNS[0].without_keystone().with_unit_user(True)
    return plain, apache_proxy_http.with_xsendfile(plain)


# {front: () -> (pattern without the offload, the same with it)}
FRONTS = {"nginx": nginx_pair, "apache": apache_pair}
# The static servers beside a front's pair: {front: {name: sendfile}}.
STATIC = {"apache": {"apache static": False, "apache static, EnableSendfile On": True}}


def uploaded(dep, image, size):
    """The image id of ``image`` uploaded to ``dep``."""
    image_id = client.create_image(dep.base_url, "offload-bench")
    client.upload(dep.base_url, image_id, image, size, chunked=False)
    return image_id


def measure(fronts, size, runs, workroot, log=log):
    """Download ``size`` bytes from nginx static and from each front's pair
    (without and with the offload), ``runs`` times, interleaved; return
    {"size_mib", "fronts", "runs": {name: [MiB/s, ...]}, "x_static": {name:
    [per-run ratio to nginx static]}, "medians": {name: MiB/s, name + " x
    static": median ratio}}. Deployments and files live under ``workroot``."""
    sources = {}
    for front in fronts:
        plain, offloaded = FRONTS[front]()
        sources[plain.name] = plain
        sources[plain.name + " offload"] = offloaded
    statics = {name: on for front in fronts for name, on in STATIC.get(front, {}).items()}
    figures = {name: [] for name in ["nginx static", *statics, *sources]}
    with contextlib.ExitStack() as stack:
        static_dir = workroot / "static"
        static_dir.mkdir(parents=True)
        image = static_dir / "image.bin"
        baselines.make_image_file(image, size)
        md5 = baselines.hash_file(image)[1]
        (static_dir / "record.json").write_text("{}")  # StaticNginx waits for it
        ngx = stack.enter_context(baselines.StaticNginx(static_dir, workroot / "nginx"))
        targets = {"nginx static": (ngx.base_url, "/image.bin", None)}
        for name, on in statics.items():
            httpd = stack.enter_context(baselines.StaticApache(
                static_dir, workroot / name.replace(" ", "-").replace(",", ""), sendfile=on))
            targets[name] = (httpd.base_url, "/image.bin", None)
        for name, pattern in sources.items():
            dep = stack.enter_context(pattern.start(workroot / name))
            path = "/v2/images/%s/file" % uploaded(dep, image, size)
            targets[name] = (dep.base_url, path, md5)
        end = time.monotonic() + DEADLINE
        order = list(targets)
        for run in range(runs):
            for name in order[run % len(order):] + order[:run % len(order)]:
                if time.monotonic() > end:
                    raise client.BenchError("past the %d s deadline" % DEADLINE)
                base, path, want_md5 = targets[name]
                seconds, headers = client.download(base, path, size)
                if want_md5 is not None and headers.get("content-md5") != want_md5:
                    raise client.BenchError("%s: Content-MD5 %r, expected %s"
                                            % (name, headers.get("content-md5"), want_md5))
                figures[name].append(stats.mib_s(size, seconds))
                log("offload run %d: %s %.0f MiB/s" % (run + 1, name, figures[name][-1]))
    x_static = {name: [round(a / b, 3) for a, b in zip(figures[name], figures["nginx static"])]
                for name in [*statics, *sources]}
    medians = {name: round(statistics.median(values)) for name, values in figures.items()}
    medians.update({name + " x static": round(statistics.median(values), 2)
                    for name, values in x_static.items()})
    return {"size_mib": size >> 20, "fronts": list(fronts), "runs": figures,
            "x_static": x_static, "medians": medians}


def main(argv=None):
    args = parse_args(argv)
    workroot = Path(tempfile.mkdtemp(prefix="glancelet-offload-bench-", dir="/var/tmp"))
    workroot.chmod(0o755)  # nginx's workers serve the static file from here
    try:
        out = measure(args.fronts, args.size_mib << 20, args.runs, workroot)
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    log("medians: %s" % out["medians"])
    if args.out:
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
