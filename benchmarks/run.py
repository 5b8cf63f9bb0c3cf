"""``python -m benchmarks.run``: benchmark glancelet under the example deployments.

Full run (``tox -e bench``): every pattern of FULL_PATTERNS, ``--runs``
times (default 3, patterns interleaved run by run), a 1 GiB image; writes
``doc/source/_data/bench/results.json`` and the PNG plots there.

``--smoke`` (``tox -e bench-smoke``, CI): one run, a 16 MiB image, two
patterns, few requests, output under ``build/bench-smoke/``. It fails when
anything breaks (a server does not start, a request fails, a size or checksum
is wrong), never because of the numbers.

``--only rss-1gib``: only the uploads (Content-Length and chunked) with the
worker RSS sampled every 50 ms; prints idle, peak and growth per worker.

Each pattern is started through ``lab/patterns`` with the real
``examples/`` files; nothing here configures a glancelet server.
"""

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks import baselines, client, machine, procs, stats

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "doc" / "source" / "_data" / "bench"
SMOKE_DIR = REPO_ROOT / "build" / "bench-smoke"

# The five the performance page compares, then the other variants in examples/.
FULL_PATTERNS = ["uwsgi-http", "apache-proxy-http", "apache-mod-wsgi", "nginx-proxy-http",
                 "gunicorn", "apache-proxy-uwsgi", "nginx-uwsgi-pass", "nginx-gunicorn"]
SMOKE_PATTERNS = ["uwsgi-http", "gunicorn"]
MODES = (("cl", False), ("chunked", True))
# The examples suite's scenario id for each upload mode (a pattern's
# expected_failures says which framings it cannot take).
MODE_SCENARIOS = {"cl": "upload-content-length", "chunked": "upload-chunked-1mib"}
MODE_TITLES = {"cl": "Content-Length", "chunked": "chunked (1 MiB chunks)"}
ONLY = ("all", "rss-1gib")

# Targets (brief): (id, description, threshold, comparison).
TARGETS = {
    "upload": ("upload >= 1.0x single-core md5+sha512", 1.0),
    "download": ("download >= 0.8x nginx static", 0.8),
    "get_p50": ("GET /v2/images/{id} p50 <= 1 ms (uwsgi-http, sequential)", 1.0),
    "idle_rss": ("idle worker RSS <= 40 MiB", 40.0),
    "rss_growth": ("worker RSS growth <= 32 MiB during the upload", 32.0),
}


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true",
                   help="short CI run: 1 run, 16 MiB, %s" % ", ".join(SMOKE_PATTERNS))
    p.add_argument("--runs", type=int, help="runs per figure (default 3; smoke 1)")
    p.add_argument("--patterns", help="comma-separated pattern names (default: %s)"
                   % ", ".join(FULL_PATTERNS))
    p.add_argument("--only", choices=ONLY, default="all",
                   help="rss-1gib: only the uploads with worker RSS sampling")
    p.add_argument("--image-mib", type=int, help="image size in MiB (default 1024; smoke 16)")
    p.add_argument("--images", type=int, help="images created for the metadata requests "
                   "(default 200; smoke 20)")
    p.add_argument("--requests", type=int, help="sequential requests per metadata test "
                   "(default 500; smoke 40)")
    p.add_argument("--per-thread", type=int, help="requests per thread, 8 threads "
                   "(default 100; smoke 10)")
    p.add_argument("--out", help="output directory (default: %s; smoke: %s)"
                   % (RESULTS_DIR.relative_to(REPO_ROOT), SMOKE_DIR.relative_to(REPO_ROOT)))
    p.add_argument("--quiet-wait", type=float,
                   help="before each pattern and baseline run, wait up to this many seconds "
                   "for the machine to be >= 85%% idle (default 30; smoke 0)")
    p.add_argument("--workdir", help="where images and deployments live (default: a new "
                   "temporary directory, removed at the end)")
    args = p.parse_args(argv)
    smoke = args.smoke
    args.runs = args.runs or (1 if smoke else 3)
    args.image_size = (args.image_mib or (16 if smoke else 1024)) * 1024 * 1024
    args.images = args.images or (20 if smoke else 200)
    args.requests = args.requests or (40 if smoke else 500)
    args.per_thread = args.per_thread or (10 if smoke else 100)
    args.threads = 8
    if args.quiet_wait is None:
        args.quiet_wait = 0.0 if smoke else 30.0
    args.pattern_names = (args.patterns.split(",") if args.patterns
                          else SMOKE_PATTERNS if smoke else FULL_PATTERNS)
    args.out = Path(args.out) if args.out else (SMOKE_DIR if smoke else RESULTS_DIR)
    if args.runs < 1 or args.image_size <= 0:
        p.error("--runs and --image-mib must be positive")
    return args


def load_patterns(names):
    from lab import patterns as registry
    known = {p.name: p for p in registry.all_patterns()}
    missing = [n for n in names if n not in known]
    if missing:
        raise SystemExit("benchmarks: no pattern named %s in lab/patterns "
                         "(registered: %s)" % (", ".join(missing), ", ".join(sorted(known))))
    return [known[n] for n in names]


def ensure_nginx():
    """The static baseline needs nginx (bindep.txt installs it in CI)."""
    if os.access(baselines.NGINX, os.X_OK):
        return
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "nginx"]
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing nginx: %s" % " ".join(cmd))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(cmd, check=True, env=env)
        return
    raise SystemExit("benchmarks: %s not found. As root, run:\n  %s"
                     % (baselines.NGINX, " ".join(cmd)))


def provision(selected):
    """Apache patterns need the mod_wsgi venv etc.: the examples' provisioning."""
    ensure_nginx()
    if not any(p.name.startswith("apache") for p in selected):
        return
    from lab import provision as prov
    log("provisioning (python -m lab.provision) for the Apache patterns")
    rc = prov.main([])
    if rc:
        raise SystemExit("benchmarks: provisioning failed (exit %s), see above" % rc)


# --------------------------------------------------------------------------
# One pattern, one run


def _warm_up(base):
    for _ in range(10):
        client.request(base, "GET", "/v2/images?limit=5", expect=200)


def _check_record(base, image_id, size, md5):
    rec = client.get_image(base, image_id)
    if rec.get("status") != "active" or rec.get("size") != size or rec.get("checksum") != md5:
        raise client.BenchError("image %s after upload: status %r size %r checksum %r; "
                                "expected active, %d, %s" % (image_id, rec.get("status"),
                                                             rec.get("size"),
                                                             rec.get("checksum"), size, md5))


def _check_unsupported(base, image_id, image, chunked, failure):
    """A framing the pattern documents as failing: confirm that exact failure
    with a 1 MiB body (not measured) and return how it fails."""
    try:
        client.upload(base, image_id, image, client.CHUNK, chunked)
    except client.BenchError as exc:
        if exc.status != failure.status or failure.body.encode() not in exc.body:
            raise client.BenchError("expected HTTP %d with %r, got: %s"
                                    % (failure.status, failure.body, exc))
        return "HTTP %d (%s)" % (failure.status, failure.reason)
    raise client.BenchError("upload succeeded, but the pattern declares it fails with HTTP "
                            "%d" % failure.status)


def stable_workers(roots, settle=2.0, deadline=30.0):
    """The glancelet workers once their set has not changed for ``settle`` s.

    A server answers as soon as one worker is up; the others may still be
    importing glancelet (gunicorn boots its workers one by one).
    """
    end = time.monotonic() + deadline
    current, since = procs.workers(roots), time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.25)
        now = procs.workers(roots)
        if now != current:
            current, since = now, time.monotonic()
        elif current and time.monotonic() - since >= settle:
            return current
    raise client.BenchError(
        "the glancelet workers below the server PIDs %s did not settle within %ss "
        "(last seen: %s; descendants: %s)" % (
            roots, deadline, current, "; ".join("%d: %s" % (d, procs.cmdline(d))
                                                for d in procs.descendants(roots))))


def measure_uploads(dep, args, image, md5, paired, download=True):
    """Uploads (both framings) with RSS sampling, and the download. One run.

    ``paired`` measures the baselines right before the figure they are the
    reference of (the machine's load changes from minute to minute).
    """
    base = dep.base_url
    roots = list(dep.pids.values())
    _warm_up(base)
    workers = stable_workers(roots)
    idle = procs.rss_mib(workers)
    out = {"workers": len(workers),
           "worker_cmdlines": sorted({procs.cmdline(w) for w in workers}),
           "idle_rss_mib": max(idle.values()),
           "idle_rss_per_worker_mib": sorted(round(v, 1) for v in idle.values()),
           "idle_pss_mib": max(procs.pss_mib(w) or 0.0 for w in workers),
           "loadavg_1min": machine.loadavg()[0],
           "paired": {}}
    out["paired"]["hash_mib_s"] = paired("hash")
    out["paired"]["disk_mib_s"] = paired("disk")
    for mode, chunked in MODES:
        image_id = client.create_image(base, "bench-%s" % mode)
        failure = dep.expected_failure(MODE_SCENARIOS[mode])
        if failure is not None:
            out.setdefault("unsupported", {})[mode] = _check_unsupported(
                base, image_id, image, chunked, failure)
            client.delete_image(base, image_id)
            continue
        sampler = procs.RssSampler(roots)
        sampler.start()
        try:
            seconds = client.upload(base, image_id, image, args.image_size, chunked)
        finally:
            peaks = sampler.stop()
        _check_record(base, image_id, args.image_size, md5)
        growth = [peak - idle[pid] for pid, peak in peaks.items() if pid in idle]
        if not growth:
            raise client.BenchError("RSS sampler saw none of the idle workers %s (saw %s)"
                                    % (sorted(idle), sorted(peaks)))
        out["upload_%s" % mode] = {
            "seconds": seconds, "mib_s": stats.mib_s(args.image_size, seconds),
            "peak_rss_mib": max(peaks.values()), "rss_growth_mib": max(growth),
            "rss_samples": sampler.samples}
        if download and mode == "cl":
            out["paired"]["nginx_static_mib_s"] = paired("nginx_static")
            sampler = procs.RssSampler(roots)
            sampler.start()
            try:
                seconds, headers = client.download(base, "/v2/images/%s/file" % image_id,
                                                   args.image_size)
            finally:
                peaks = sampler.stop()
            if headers.get("content-md5") != md5:
                raise client.BenchError("download: Content-MD5 %r, expected %s"
                                        % (headers.get("content-md5"), md5))
            out["download"] = {"seconds": seconds,
                               "mib_s": stats.mib_s(args.image_size, seconds),
                               "peak_rss_mib": max(peaks.values())}
        client.delete_image(base, image_id)
    return out


def measure_metadata(dep, args):
    base = dep.base_url
    ids = [client.create_image(base, "bench-meta-%03d" % i) for i in range(args.images)]
    target = ids[len(ids) // 2]
    out = {}
    for key, path in (("get_image", "/v2/images/%s" % target),
                      ("list_images", "/v2/images?limit=20")):
        out[key + "_seq"] = client.latency(base, path, args.requests, threads=1)
        out[key + "_8t"] = client.latency(base, path, args.per_thread, threads=args.threads)
    return out


def quiet(args, what):
    """Wait (bounded) for other work on the machine to calm down; report it."""
    if args.quiet_wait <= 0:
        return {}
    waited, idle = machine.wait_quiet(args.quiet_wait)
    if waited >= 1.5:
        log("%s: waited %.0f s for the machine to calm down (CPU idle %.0f%%)"
            % (what, waited, idle * 100))
    return {"quiet_wait_s": round(waited, 1), "cpu_idle_before": round(idle, 3)}


def run_pattern(pattern, args, image, md5, workroot, paired):
    tmp = Path(tempfile.mkdtemp(prefix="%s-" % pattern.name, dir=workroot))
    calm = quiet(args, pattern.name)
    try:
        with pattern.start(tmp) as dep:
            log("%s: up at %s (servers %s)" % (pattern.name, dep.base_url, dep.pids))
            result = measure_uploads(dep, args, image, md5, paired,
                                     download=args.only == "all")
            result.update(calm)
            log("%s: %s, idle RSS %.1f MiB%s" % (
                pattern.name, "; ".join(
                    "upload %s %.0f MiB/s (RSS +%.1f MiB)" % (
                        m, result["upload_" + m]["mib_s"], result["upload_" + m]["rss_growth_mib"])
                    if "upload_" + m in result else "upload %s: %s" % (
                        m, result["unsupported"][m]) for m, _ in MODES),
                result["idle_rss_mib"], ", download %.0f MiB/s" % result["download"]["mib_s"]
                if "download" in result else ""))
            if args.only == "all":
                result.update(measure_metadata(dep, args))
                log("%s: GET image p50 %.2f ms seq, %.0f req/s x8; list p50 %.2f ms" % (
                    pattern.name, result["get_image_seq"]["p50_ms"],
                    result["get_image_8t"]["req_s"], result["list_images_seq"]["p50_ms"]))
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# Baselines, one run


RECORD_JSON_BYTES = 800      # about one image record
LIST_JSON_BYTES = 16 * 1024  # about a page of 20 records


class Paired:
    """Measures one baseline on demand and keeps every value (for the pooled
    baseline figures). Calling it returns MiB/s."""

    def __init__(self, args, image, workroot, ngx):
        self.args, self.image, self.workroot, self.ngx = args, image, workroot, ngx
        self.values = {"hash": [], "disk": [], "nginx_static": []}

    def __call__(self, what):
        size = self.args.image_size
        if what == "hash":
            seconds, _ = baselines.hash_file(self.image)
        elif what == "disk":
            seconds = baselines.disk_write(self.image, self.workroot)[0]
        else:
            seconds, _ = client.download(self.ngx.base_url, "/image.bin", size)
        value = stats.mib_s(size, seconds)
        self.values[what].append(value)
        return value


def measure_baselines(args, image, workroot, ngx):
    out = {}
    seconds, md5 = baselines.hash_file(image)
    out["hash"] = {"seconds": seconds, "mib_s": stats.mib_s(args.image_size, seconds)}
    seconds = baselines.cat_file(image)
    out["cat"] = {"seconds": seconds, "mib_s": stats.mib_s(args.image_size, seconds)}
    seconds, write_s, fsync_s = baselines.disk_write(image, workroot)
    out["disk"] = {"seconds": seconds, "mib_s": stats.mib_s(args.image_size, seconds),
                   "write_seconds": write_s, "fsync_seconds": fsync_s}
    seconds, _ = client.download(ngx.base_url, "/image.bin", args.image_size)
    out["nginx_static"] = {"seconds": seconds, "mib_s": stats.mib_s(args.image_size, seconds)}
    if args.only == "all":
        out["static_record_seq"] = client.latency(ngx.base_url, "/record.json", args.requests)
        out["static_record_8t"] = client.latency(ngx.base_url, "/record.json",
                                                 args.per_thread, threads=args.threads)
        out["static_list_seq"] = client.latency(ngx.base_url, "/list.json", args.requests)
        out["static_list_8t"] = client.latency(ngx.base_url, "/list.json",
                                               args.per_thread, threads=args.threads)
    return out, md5


# --------------------------------------------------------------------------
# Aggregation


def aggregate(runs):
    """Per-run dicts of the same shape -> the same shape with summaries at leaves."""
    first = runs[0]
    out = {}
    for key, value in first.items():
        if isinstance(value, dict):
            out[key] = aggregate([r[key] for r in runs])
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            out[key] = value
        else:
            out[key] = stats.summary([r[key] for r in runs])
    return out


def pooled(base, paired):
    """Add ``mib_s_all``: every measurement of a throughput baseline (the
    once-per-run ones and those paired with a pattern). Plots use its median."""
    for what, values in paired.values.items():
        base[what]["mib_s_all"] = stats.summary(base[what]["mib_s"]["runs"] + values)
    return base


def paired_ratio(figure, reference):
    """Run by run ``figure / reference`` (two summaries over the same runs)."""
    return stats.summary([f / r for f, r in zip(figure["runs"], reference["runs"])])


def add_ratios(results):
    """Ratios of each figure to its baseline, run by run.

    Throughput baselines were measured right before the figure (``paired``);
    latency baselines once per run, before that run's patterns.
    """
    base = results["baselines"]
    for name, res in results["patterns"].items():
        paired = res["paired"]
        for mode, _ in MODES:
            up = res.get("upload_%s" % mode)
            if up:
                up["ratio_to_hash"] = paired_ratio(up["mib_s"], paired["hash_mib_s"])
                up["ratio_to_disk"] = paired_ratio(up["mib_s"], paired["disk_mib_s"])
        if "download" in res:
            res["download"]["ratio_to_nginx_static"] = paired_ratio(
                res["download"]["mib_s"], paired["nginx_static_mib_s"])
        for key, static in (("get_image", "static_record"), ("list_images", "static_list")):
            for kind in ("seq", "8t"):
                fig = res.get("%s_%s" % (key, kind))
                ref = base.get("%s_%s" % (static, kind))
                if fig and ref:
                    for metric in ("p50_ms", "p99_ms", "req_s"):
                        fig["%s_ratio_to_static" % metric.split("_")[0]] = paired_ratio(
                            fig[metric], ref[metric])
        res["idle_rss_ratio_to_target"] = stats.ratio(res["idle_rss_mib"],
                                                      TARGETS["idle_rss"][1])
        for mode, _ in MODES:
            up = res.get("upload_%s" % mode)
            if up:
                up["rss_growth_ratio_to_target"] = stats.ratio(up["rss_growth_mib"],
                                                               TARGETS["rss_growth"][1])


def evaluate_targets(results):
    """[{target, pattern, value, threshold, met, detail}] from the medians."""
    rows = []

    def row(tid, pattern, value, met, detail):
        desc, threshold = TARGETS[tid]
        rows.append({"target": tid, "description": desc, "pattern": pattern,
                     "value": round(value, 3), "threshold": threshold, "met": bool(met),
                     "detail": detail})

    for name, res in results["patterns"].items():
        for mode, _ in MODES:
            up = res.get("upload_%s" % mode)
            if up:
                r = up["ratio_to_hash"]["median"]
                row("upload", "%s (%s)" % (name, mode), r, r >= 1.0,
                    "medians %.0f vs %.0f MiB/s" % (
                        up["mib_s"]["median"], res["paired"]["hash_mib_s"]["median"]))
        if "download" in res:
            r = res["download"]["ratio_to_nginx_static"]["median"]
            row("download", name, r, r >= 0.8, "medians %.0f vs %.0f MiB/s" % (
                res["download"]["mib_s"]["median"],
                res["paired"]["nginx_static_mib_s"]["median"]))
        if name == "uwsgi-http" and "get_image_seq" in res:
            p50 = res["get_image_seq"]["p50_ms"]["median"]
            row("get_p50", name, p50, p50 <= 1.0, "%.3f ms" % p50)
        idle = res["idle_rss_mib"]["median"]
        row("idle_rss", name, idle, idle <= 40.0, "%.1f MiB (largest of %d workers)"
            % (idle, res["workers"]["median"]))
        growth = max(res["upload_%s" % m]["rss_growth_mib"]["median"] for m, _ in MODES
                     if "upload_%s" % m in res)
        row("rss_growth", name, growth, growth <= 32.0, "%.1f MiB (worst of CL/chunked)"
            % growth)
    return rows


# --------------------------------------------------------------------------
# Output


def print_tables(results, targets):
    pats = results["patterns"]
    base = results["baselines"]
    print()
    print("Baselines, median [min..max] of every measurement in this run:")
    for key, title in (("hash", "md5+sha512, one thread"), ("cat", "cat > /dev/null"),
                       ("disk", "write a new file + fsync"),
                       ("nginx_static", "nginx static download")):
        st = base[key].get("mib_s_all", base[key]["mib_s"])
        print("  %-26s %6.0f MiB/s [%.0f..%.0f], %d measurements" % (
            title, st["median"], st["min"], st["max"], len(st["runs"])))
    print("Ratios are medians of run-by-run ratios against the baseline measured right before "
          "the figure.")
    print()
    hdr = "%-18s %14s %14s %14s %9s %9s %9s" % (
        "pattern", "upload CL", "upload chunk", "download", "idle RSS", "+RSS CL", "+RSS chk")
    print(hdr)
    print("-" * len(hdr))

    def fmt(stat, ratio=None):
        if stat is None:
            return "-"
        s = "%.0f" % stat["median"]
        if ratio is not None:
            s += " (%.2fx)" % ratio["median"]
        return s

    for name, res in pats.items():
        ups = [res.get("upload_" + m) for m, _ in MODES]
        dl = res.get("download")
        print("%-18s %14s %14s %14s %9.1f %9s %9s" % (
            name, *[fmt(u["mib_s"], u["ratio_to_hash"]) if u else "unsupported" for u in ups],
            fmt(dl["mib_s"], dl["ratio_to_nginx_static"]) if dl else "-",
            res["idle_rss_mib"]["median"],
            *["%.1f" % u["rss_growth_mib"]["median"] if u else "-" for u in ups]))
    if any("get_image_seq" in r for r in pats.values()):
        print()
        hdr = "%-18s %-12s %9s %9s %9s %9s %9s %9s" % (
            "pattern", "request", "seq req/s", "seq p50", "seq p99", "8t req/s", "8t p50",
            "8t p99")
        print(hdr)
        print("-" * len(hdr))
        rows = [("nginx static", "record.json", base.get("static_record_seq"),
                 base.get("static_record_8t")),
                ("nginx static", "list.json", base.get("static_list_seq"),
                 base.get("static_list_8t"))]
        for name, res in pats.items():
            rows.append((name, "GET image", res.get("get_image_seq"), res.get("get_image_8t")))
            rows.append((name, "GET list", res.get("list_images_seq"),
                         res.get("list_images_8t")))
        for name, what, seq, par in rows:
            if seq and par:
                print("%-18s %-12s %9.0f %9.2f %9.2f %9.0f %9.2f %9.2f" % (
                    name, what, seq["req_s"]["median"], seq["p50_ms"]["median"],
                    seq["p99_ms"]["median"], par["req_s"]["median"], par["p50_ms"]["median"],
                    par["p99_ms"]["median"]))
        print("(ms; every request on a new connection)")
    print()
    smoke = results["config"]["smoke"]
    print("Targets%s:" % (" (smoke run: sizes too small to judge, shown only)" if smoke
                          else ""))
    hdr = "%-7s %-58s %-26s %s" % ("", "target", "pattern", "value")
    print(hdr)
    print("-" * (len(hdr) + 30))
    for t in targets:
        print("%-7s %-58s %-26s %s" % ("MET" if t["met"] else "MISSED", t["description"],
                                       t["pattern"], t["detail"] if t["target"] in (
                                           "get_p50", "idle_rss", "rss_growth")
                                       else "%.2fx (%s)" % (t["value"], t["detail"])))


def print_rss_report(results):
    print()
    print("Worker RSS while a %d MiB image uploads (VmRSS every 50 ms of the processes "
          "running glancelet; growth = peak - idle, largest over the workers):"
          % (results["config"]["image_size"] // (1024 * 1024)))
    for name, runs in results["runs"].items():
        for i, run in enumerate(runs, 1):
            print("  %s run %d: %d workers (%s), idle RSS per worker %s MiB" % (
                name, i, run["workers"], "; ".join(run["worker_cmdlines"]),
                run["idle_rss_per_worker_mib"]))
            for mode, _ in MODES:
                up = run.get("upload_%s" % mode)
                if up is None:
                    print("    %-24s %s" % (MODE_TITLES[mode], run["unsupported"][mode]))
                    continue
                print("    %-24s %6.0f MiB/s  peak %6.1f MiB  growth %+6.1f MiB  (%d samples)"
                      % (MODE_TITLES[mode], up["mib_s"], up["peak_rss_mib"],
                         up["rss_growth_mib"], up["rss_samples"]))


def write_outputs(results, out_dir, plots=True):
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    log("wrote %s" % path)
    if plots:
        from benchmarks import plots as plotting
        for png in plotting.write_all(results, out_dir):
            log("wrote %s" % png)


# --------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # The mod_wsgi example reads its config path from its .wsgi file; an
    # inherited GLANCELET_CONFIG_FILE would override it.
    os.environ.pop("GLANCELET_CONFIG_FILE", None)
    selected = load_patterns(args.pattern_names)
    provision(selected)
    started = time.monotonic()
    load_at_start = machine.loadavg()
    workroot = Path(args.workdir) if args.workdir else Path(
        tempfile.mkdtemp(prefix="glancelet-bench-"))
    workroot.mkdir(parents=True, exist_ok=True)
    # nginx and Apache workers (nobody, www-data) must reach the files below it.
    workroot.chmod(0o755)
    static_dir = workroot / "static"
    static_dir.mkdir(exist_ok=True)
    image = static_dir / "image.bin"
    stack = contextlib.ExitStack()
    try:
        log("writing a %d MiB random image file %s" % (args.image_size >> 20, image))
        baselines.make_image_file(image, args.image_size)
        (static_dir / "record.json").write_text(json.dumps({"pad": "x" * RECORD_JSON_BYTES}))
        (static_dir / "list.json").write_text(json.dumps({"pad": "x" * LIST_JSON_BYTES}))
        base_runs, pattern_runs = [], {p.name: [] for p in selected}
        md5 = None
        ngx = baselines.StaticNginx(static_dir, workroot / "nginx-static").__enter__()
        stack.callback(ngx.__exit__)
        paired = Paired(args, image, workroot, ngx)
        for run in range(1, args.runs + 1):
            log("run %d/%d: baselines" % (run, args.runs))
            calm = quiet(args, "baselines")
            b, md5 = measure_baselines(args, image, workroot, ngx)
            b.update(calm)
            base_runs.append(b)
            log("run %d/%d: md5+sha512 %.0f MiB/s, cat %.0f MiB/s, disk+fsync %.0f MiB/s, "
                "nginx static %.0f MiB/s" % (
                    run, args.runs, b["hash"]["mib_s"], b["cat"]["mib_s"],
                    b["disk"]["mib_s"], b["nginx_static"]["mib_s"]))
            for pattern in selected:
                log("run %d/%d: %s" % (run, args.runs, pattern.name))
                pattern_runs[pattern.name].append(
                    run_pattern(pattern, args, image, md5, workroot, paired))
        results = {
            "machine": dict(machine.describe(), loadavg_at_start=load_at_start),
            "config": {"smoke": args.smoke, "only": args.only, "runs": args.runs,
                       "image_size": args.image_size, "upload_chunk": client.CHUNK,
                       "images": args.images, "sequential_requests": args.requests,
                       "threads": args.threads, "requests_per_thread": args.per_thread,
                       "quiet_wait_s": args.quiet_wait,
                       "patterns": [p.name for p in selected],
                       "titles": {p.name: p.title for p in selected},
                       "duration_s": round(time.monotonic() - started, 1)},
            "baselines": pooled(aggregate(base_runs), paired),
            "patterns": {name: aggregate(runs) for name, runs in pattern_runs.items()},
            "runs": pattern_runs,
            "baseline_runs": base_runs,
        }
        add_ratios(results)
        targets = evaluate_targets(results)
        results["targets"] = targets
        if args.only == "rss-1gib":
            print_rss_report(results)
        else:
            write_outputs(results, args.out)
        print_tables(results, targets)
        log("done in %.0f s" % (time.monotonic() - started))
        return 0
    finally:
        stack.close()
        if not args.workdir:
            shutil.rmtree(workroot, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:
        traceback.print_exc()
        print("benchmarks: FAILED (see the traceback above)", file=sys.stderr)
        sys.exit(1)
