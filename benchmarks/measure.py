"""Measuring: one pattern's run (uploads with RSS sampling, the download,
metadata latency) and the baselines of the same run, on the same machine.

:func:`measure` runs them all, ``args.runs`` times with the patterns
interleaved run by run, and returns the raw per-run figures that
:mod:`benchmarks.aggregate` summarizes.
"""

import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import (appcost, baselines, client, growth as growth_mod, machine, nullenv,
                        procs, stats)
from glancelet.handlers.versions import VERSIONS

MODES = (("cl", False), ("chunked", True))
# The examples suite's scenario id for each upload mode (a pattern's
# expected failures say which framings it cannot take).
MODE_SCENARIOS = {"cl": "upload-content-length", "chunked": "upload-chunked-1mib"}


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


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


# Downloads per download figure (the median is the figure). One 1 GiB
# download takes 0.2 to 0.3 s here, and single ones of the same file from the
# same server spread by 20 % and more: with one per run, glancelet and the
# null service differed by more than that spread in either direction.
DOWNLOADS = 5


def downloads(base, path, size, md5=None):
    """:data:`DOWNLOADS` downloads of ``path``, each on a new connection: the
    median seconds, and each one's MiB/s. Each must carry ``md5`` as
    Content-MD5, when given."""
    seconds = []
    for _ in range(DOWNLOADS):
        took, headers = client.download(base, path, size)
        if md5 is not None and headers.get("content-md5") != md5:
            raise client.BenchError("download: Content-MD5 %r, expected %s"
                                    % (headers.get("content-md5"), md5))
        seconds.append(took)
    return statistics.median(seconds), [round(stats.mib_s(size, s)) for s in seconds]


def _growth(idle, peaks):
    """The largest peak minus idle RSS over the workers that were there idle."""
    grown = [peaks[pid] - idle[pid] for pid in idle if pid in peaks]
    if not grown:
        raise client.BenchError("RSS sampler saw none of the idle workers %s (saw %s)"
                                % (sorted(idle), sorted(peaks)))
    return max(grown)


def measure_uploads(dep, args, image, md5, paired, download=True, base=None):
    """Uploads (both framings) with RSS sampling, and the download. One run.

    ``paired`` measures the baselines right before the figure they are the
    reference of (the machine's load changes from minute to minute).
    ``base``: the URL to measure (default: the front door, ``dep.base_url``).
    """
    base = base or dep.base_url
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
        with procs.RssSampler(roots) as sampler:
            seconds = client.upload(base, image_id, image, args.image_size, chunked)
        _check_record(base, image_id, args.image_size, md5)
        out["upload_%s" % mode] = {
            "seconds": seconds, "mib_s": stats.mib_s(args.image_size, seconds),
            "peak_rss_mib": max(sampler.peaks.values()),
            "rss_growth_mib": _growth(idle, sampler.peaks), "rss_samples": sampler.samples}
        if download and mode == "cl":
            out["paired"]["nginx_static_mib_s"] = paired("nginx_static")
            with procs.RssSampler(roots) as sampler:
                seconds, each = downloads(base, "/v2/images/%s/file" % image_id,
                                          args.image_size, md5)
            out["download"] = {"seconds": seconds, "mib_s": stats.mib_s(args.image_size, seconds),
                               "each_mib_s": each, "peak_rss_mib": max(sampler.peaks.values())}
        client.delete_image(base, image_id)
    return out


def memory_under_load(dep, args, image, base=None):
    """Worker RSS with 1, 8 and 32 concurrent clients (issue 16, item 5).

    For each level of :data:`benchmarks.growth.CLIENTS`, once the set of
    workers has settled: every worker's RSS (``idle``), then, sampled every
    50 ms (:class:`benchmarks.procs.RssSampler`), that many client threads
    GETting one image and listing (``limit=20``), then that many concurrent
    Content-Length uploads of ``--growth-upload-mib`` MiB each (at most the
    run's image size); then, settled again, every worker's RSS (``after``:
    what the level left behind). ``growth_mib``: the largest peak minus idle
    over the workers that were there before the level; a worker started
    during it is counted by its peak in ``new_workers_peak_mib``.

    One upload's buffers do not depend on its size (the 1 GiB upload's RSS
    growth shows that), so the concurrent uploads are smaller than 1 GiB.
    """
    base = base or dep.base_url
    roots = list(dep.pids.values())
    mib = growth_mod.upload_mib(args)
    out = {"upload_mib_each": mib, "levels": {}}
    target = client.create_image(base, "bench-memory-target")
    for n in growth_mod.CLIENTS:
        idle = procs.rss_mib(stable_workers(roots))
        per = max(5, args.growth_requests // n)
        with procs.RssSampler(roots) as sampler:
            client.latency(base, "/v2/images/%s" % target, per, threads=n)
            client.latency(base, "/v2/images?limit=20", per, threads=n)
            uploads = growth_mod.concurrent_uploads(base, image, n, mib)
        peaks = sampler.peaks
        after = procs.rss_mib(stable_workers(roots))
        out["levels"][str(n)] = {
            "clients": n, "workers": len(idle), "idle_rss_mib": max(idle.values()),
            "peak_rss_mib": max(peaks.values()), "growth_mib": _growth(idle, peaks),
            "after_rss_mib": max(after.values()),
            "new_workers_peak_mib": sorted(round(v, 1) for pid, v in peaks.items()
                                           if pid not in idle),
            "upload_mib_s": uploads["mib_s"], "rss_samples": sampler.samples}
    client.delete_image(base, target)
    return out


def measure_metadata(dep, args, base=None):
    """GET one image and list, sequential and 8 threads, at ``base`` (default:
    the front door)."""
    base = base or dep.base_url
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


def direct_url(dep):
    """A multi-node pattern's first node on its own address (its uWSGI's
    http-socket), or None for a single-host pattern."""
    return next(iter(dep.node_urls.values()), None)


def _measure_at(dep, args, image, md5, paired, base, label):
    """The figures of one run at ``base``: uploads, download, metadata."""
    result = measure_uploads(dep, args, image, md5, paired, download=args.only == "all",
                             base=base)
    log("%s: %s, idle RSS %.1f MiB%s" % (
        label, "; ".join(
            "upload %s %.0f MiB/s (RSS +%.1f MiB)" % (
                m, result["upload_" + m]["mib_s"], result["upload_" + m]["rss_growth_mib"])
            if "upload_" + m in result else "upload %s: %s" % (
                m, result["unsupported"][m]) for m, _ in MODES),
        result["idle_rss_mib"], ", download %.0f MiB/s" % result["download"]["mib_s"]
        if "download" in result else ""))
    if args.only == "all":
        result.update(measure_metadata(dep, args, base))
        log("%s: GET image p50 %.2f ms seq, %.0f req/s x8; list p50 %.2f ms" % (
            label, result["get_image_seq"]["p50_ms"],
            result["get_image_8t"]["req_s"], result["list_images_seq"]["p50_ms"]))
    return result


def subjects(args, pattern):
    """The applications measured under ``pattern``'s files in each run, in
    the order of odd runs (even runs reverse it)."""
    return (["glancelet"] + (["null"] if args.null else [])
            + (["glance"] if _glance_selected(args, pattern) else []))


def _glance_selected(args, pattern):
    return bool(args.glance and pattern.glance and (
        args.glance_patterns is None or pattern.name in args.glance_patterns))


def glance_not_measured(args, selected):
    """{pattern name: why Glance is not measured under it} for ``selected``."""
    if not args.glance:
        why = "smoke run (Glance is not installed for it)" if args.smoke else "--no-glance"
        return {p.name: why for p in selected}
    return {p.name: "no Glance files in its declaration (Pattern.glance)" if not p.glance
            else "not selected for this run (--glance-patterns)"
            for p in selected if not _glance_selected(args, p)}


def application(version_document):
    """Which subject answers, from its ``GET /`` body: the null service says
    so, glancelet lists exactly its :data:`VERSIONS`, Glance anything else."""
    doc = json.loads(version_document)
    if doc.get("null_service"):
        return "null"
    listed = [v.get("id") for v in doc.get("versions", ())]
    return "glancelet" if listed == [vid for vid, _ in VERSIONS] else "glance"


def run_pattern(pattern, args, image, md5, workroot, paired, subject="glancelet",
                null_env=None, run=1, memory=None):
    """One run of ``pattern`` with ``subject`` (:func:`subjects`): glancelet,
    the null service from ``null_env``, or Glance.

    In the first run, glancelet's workers' memory under 1, 8 and 32
    clients (:func:`memory_under_load`, through the front door) goes into
    ``memory[pattern name]``, after the run's figures.

    A multi-node pattern is measured twice in the same deployment: through
    its front door, and at its first node directly (``"direct"`` in the
    result); the front door first in odd runs, the node first in even ones.
    """
    label = pattern.name + ("" if subject == "glancelet" else " [%s]" % subject)
    if subject == "null":
        pattern = nullenv.null_pattern(pattern, null_env)
    elif subject == "glance":
        pattern = pattern.serving("glance")
    tmp = Path(tempfile.mkdtemp(prefix="%s-" % pattern.name, dir=workroot))
    calm = quiet(args, label)
    try:
        # The trusted-header mode: the servers' data path, without a Keystone
        # on the two cores (auth_token checks a token once per request); every
        # pattern as root on the tests' Python, so that they compare (and the
        # null environment's servers are that Python's). Glance likewise
        # (lab.glance.FAKE_AUTHTOKEN: every request is an admin's).
        with pattern.without_keystone().with_unit_user(False).start(tmp) as dep:
            log("%s: up at %s (servers %s)" % (label, dep.base_url, dep.pids))
            node = direct_url(dep)
            where = [(None, dep.base_url)] + ([("direct", node)] if node else [])
            for _, base in where:
                _, _, version = client.request(base, "GET", "/", expect=300)
                if application(version) != subject:
                    raise client.BenchError("%s: the wrong application answers at %s: %r"
                                            % (label, base, version[:300]))
            if subject == "null":
                nullenv.provide_download(dep, image)
            figures = {key: _measure_at(dep, args, image, md5, paired, base,
                                        label + (" " + key if key else ""))
                       for key, base in (where if run % 2 else where[::-1])}
            result = figures.pop(None)
            result.update(calm, **figures)
            if subject == "glancelet" and args.only == "all" and run == 1 and memory is not None:
                memory[pattern.name] = m = memory_under_load(dep, args, image)
                log("%s: worker RSS with %s clients: growth %s MiB, after %s MiB" % (
                    label, "/".join(m["levels"]), "/".join(
                        "%.1f" % v["growth_mib"] for v in m["levels"].values()), "/".join(
                        "%.1f" % v["after_rss_mib"] for v in m["levels"].values())))
            if subject == "glancelet" and args.only == "all":
                result["app_get_us"] = appcost.measure(
                    dep.pattern.first_node(dep.workspace).path("/etc/glancelet/glancelet.conf"),
                    tmp / "appcost")
                log("%s: in-process GET %.0f us, null service %.0f us" % (
                    label, result["app_get_us"]["glancelet_us"],
                    result["app_get_us"]["null_us"]))
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
            seconds = downloads(self.ngx.base_url, "/image.bin", size)[0]
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
    seconds = downloads(ngx.base_url, "/image.bin", args.image_size)[0]
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
# Every run


def measure(args, selected, workroot, stack):
    """Write the image and the static files under ``workroot``, start the
    static nginx (stopped by ``stack``), and measure ``args.runs`` runs of
    the baselines and every pattern of ``selected``.

    With ``args.null``, each pattern's run is followed (odd runs) or
    preceded (even runs) by the same run of the null service
    (:mod:`benchmarks.nullenv`) under the same server files; with
    ``args.glance``, by Glance's too, where the pattern has Glance files
    (:func:`subjects`).

    Returns (baseline runs, {pattern name: runs}, {pattern name: null
    service runs}, the :class:`Paired` baselines, {pattern name: Glance
    runs}, {pattern name: :func:`memory_under_load`}).
    """
    static_dir = workroot / "static"
    static_dir.mkdir(exist_ok=True)
    image = static_dir / "image.bin"
    log("writing a %d MiB random image file %s" % (args.image_size >> 20, image))
    baselines.make_image_file(image, args.image_size)
    (static_dir / "record.json").write_text(json.dumps({"pad": "x" * RECORD_JSON_BYTES}))
    (static_dir / "list.json").write_text(json.dumps({"pad": "x" * LIST_JSON_BYTES}))
    base_runs, pattern_runs = [], {p.name: [] for p in selected}
    null_runs = {p.name: [] for p in selected} if args.null else {}
    glance_runs = {p.name: [] for p in selected if "glance" in subjects(args, p)}
    runs_of = {"glancelet": pattern_runs, "null": null_runs, "glance": glance_runs}
    null_env = nullenv.build(workroot) if args.null else None
    ngx = baselines.StaticNginx(static_dir, workroot / "nginx-static").__enter__()
    stack.callback(ngx.__exit__)
    paired = Paired(args, image, workroot, ngx)
    memory = {}
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
            order = subjects(args, pattern)
            for subject in (order if run % 2 else order[::-1]):
                runs_of[subject][pattern.name].append(run_pattern(
                    pattern, args, image, md5, workroot, paired, subject, null_env, run,
                    memory))
    return base_runs, pattern_runs, null_runs, paired, glance_runs, memory


# Downloads per offload figure, at least: a 1 GiB download from the page
# cache takes a third of a second, so a few runs more cost little and narrow
# the spread.
OFFLOAD_MIN_RUNS = 5


def offload(args, workroot):
    """The download offload of each front of ``args.offload``
    (:func:`benchmarks.offload.measure`), with the run's image size, in
    ``args.runs`` runs or :data:`OFFLOAD_MIN_RUNS`, whichever is more; None
    when there is none to measure."""
    from benchmarks import offload as offload_mod  # it imports log from here
    if not args.offload:
        return None
    calm = quiet(args, "offload")
    where = Path(tempfile.mkdtemp(prefix="offload-", dir=workroot))
    where.chmod(0o755)  # nginx's and Apache's workers read the files below it
    out = offload_mod.measure(args.offload, args.image_size,
                              max(args.runs, OFFLOAD_MIN_RUNS), where)
    out.update(calm, loadavg_1min=machine.loadavg()[0])
    return out


def growth(args, workroot):
    """The concurrency and growth figures (:mod:`benchmarks.growth`) of each
    pattern of ``args.growth``, each in a deployment of its own."""
    out = {}
    image = workroot / "static" / "image.bin"
    for name in args.growth:
        pattern = growth_mod.pattern(name)
        tmp = Path(tempfile.mkdtemp(prefix="growth-%s-" % name, dir=workroot))
        calm = quiet(args, "growth " + name)
        try:
            # Trusted-header mode, as run_pattern: no Keystone on the two cores.
            with pattern.without_keystone().with_unit_user(False).start(tmp) as dep:
                out[name] = growth_mod.measure_growth(dep, args, image, log)
                out[name].update(calm, loadavg_1min=machine.loadavg()[0])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out
