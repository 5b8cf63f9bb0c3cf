"""Aggregating: per-run figures to summaries, ratios to the baselines
measured beside them, and the targets met or missed."""

import statistics
import subprocess
from pathlib import Path

from benchmarks import client, machine, reasons, stats
from benchmarks.measure import MODES, glance_not_measured
from lab import glance as lab_glance
from lab import results as lab_results

REPO_ROOT = Path(__file__).resolve().parent.parent

# Targets (brief): (id, description, threshold, comparison).
TARGETS = {
    "upload": ("upload >= 1.0x single-core md5+sha512 (no front end)", 1.0),
    "upload_proxied_cl": ("Content-Length upload through a front end >= 0.9x single-core "
                          "md5+sha512", 0.9),
    "upload_proxied_chunked": ("chunked upload through a front end >= 0.8x single-core "
                               "md5+sha512", 0.8),
    "download": ("download >= 0.8x nginx static (no front end)", 0.8),
    "download_proxied": ("download through a front end >= 0.6x nginx static", 0.6),
    "get_p50": ("GET /v2/images/{id} p50 <= 1 ms (uwsgi-http, sequential)", 1.0),
    "idle_rss": ("idle worker RSS <= 40 MiB", 40.0),
    "rss_growth": ("worker RSS growth <= 32 MiB during the upload", 32.0),
    "vs_null": ("glancelet >= 0.9x the null service under the same server files", 0.9),
    "get_p99_8": ("GET /v2/images/{id} p99 <= 5 ms with 8 clients (uwsgi-http)", 5.0),
    "list_p50_100k": ("list (limit=25) p50 <= 5 ms with 100k images", 5.0),
    "rss_growth_clients": ("worker RSS growth <= 32 MiB with 1, 8 and 32 concurrent clients "
                           "(GET, list, uploads)", 32.0),
    "rss_after_clients": ("worker RSS <= 40 MiB once 1, 8 and 32 concurrent clients are done",
                          40.0),
    "download_offload": ("download with the offload (the front end sends the file) >= 0.9x "
                         "nginx static", 0.9),
}
# The patterns whose own WSGI server is the front door, when a results file
# does not list them (``config["direct"]``, from :func:`is_direct`).
DIRECT = ("uwsgi-http", "gunicorn")
# Figures compared with the null service, run by run: (key, metric, higher is
# better). For a latency the ratio is null / glancelet, so that >= 0.9 reads
# the same way as for a throughput.
NULL_FIGURES = (("upload_cl", "mib_s", True), ("upload_chunked", "mib_s", True),
                ("download", "mib_s", True), ("get_image_seq", "p50_ms", False),
                ("get_image_seq", "p99_ms", False), ("list_images_seq", "p50_ms", False),
                ("get_image_8t", "req_s", True), ("list_images_8t", "req_s", True))
# glancelet / Glance, run by run, as is (below 1: glancelet's figure is the
# smaller one, which for a latency or a memory size means glancelet did
# better): the null figures, list p99 and the workers' peak RSS during each
# upload; and the idle RSS (IDLE_RSS, a figure of its own).
GLANCE_FIGURES = NULL_FIGURES + (("list_images_seq", "p99_ms", False),
                                 ("upload_cl", "peak_rss_mib", False),
                                 ("upload_chunked", "peak_rss_mib", False))
IDLE_RSS = "idle_rss_mib"
# The ones the target applies to (issue 16: upload, download, GET p50).
NULL_TARGETED = ("upload_cl/mib_s", "upload_chunked/mib_s", "download/mib_s",
                 "get_image_seq/p50_ms")


def is_direct(pattern):
    """Whether the clients talk to the pattern's WSGI server itself (no front end)."""
    return set(pattern.kinds) <= {"uwsgi", "gunicorn"}


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
    """Ratios of each figure to its baseline, run by run (a multi-node
    pattern's ``direct`` figures too, and Glance's).

    Throughput baselines were measured right before the figure (``paired``);
    latency baselines once per run, before that run's patterns.
    """
    base = results["baselines"]
    for res in list(results["patterns"].values()) + list(results.get("glance", {}).values()):
        for figures in (res, res.get("direct")):
            if figures:
                _add_ratios(figures, base)


def _add_ratios(res, base):
    """:func:`add_ratios` of one pattern's figures."""
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


def figure_ratios(mine, ref, oriented=True, figures=NULL_FIGURES):
    """{"key/metric": run-by-run ``mine / ref``} over ``figures``;
    ``oriented``: latencies as ``ref / mine`` (above 1 is better either way)."""
    out = {}
    for key, metric, higher in figures:
        if key in mine and key in ref:
            a, b = mine[key][metric], ref[key][metric]
            out["%s/%s" % (key, metric)] = (paired_ratio(a, b) if higher or not oriented
                                            else paired_ratio(b, a))
    return out


def add_null_ratios(results):
    """``vs_null`` per pattern: {"key/metric": run-by-run ratio summary}."""
    for name, res in results["patterns"].items():
        null = results.get("null", {}).get(name)
        if null:
            res["vs_null"] = figure_ratios(res, null)


def add_glance_ratios(results):
    """``vs_glance`` per pattern measured with Glance: glancelet / Glance, run
    by run, every figure as is (:data:`GLANCE_FIGURES`, :data:`IDLE_RSS`)."""
    for name, res in results["patterns"].items():
        glance = (results.get("glance") or {}).get(name)
        if glance:
            res["vs_glance"] = figure_ratios(res, glance, oriented=False,
                                             figures=GLANCE_FIGURES)
            res["vs_glance"][IDLE_RSS] = paired_ratio(res[IDLE_RSS], glance[IDLE_RSS])


def add_direct_ratios(results):
    """``front_vs_direct`` of a multi-node pattern: through its front door
    divided by at its first node directly, run by run, every figure as is
    (a latency above 1 is slower through the front door)."""
    for res in results["patterns"].values():
        if res.get("direct"):
            res["front_vs_direct"] = figure_ratios(res, res["direct"], oriented=False)


def evaluate_targets(results):
    """[{target, pattern, value, threshold, met, detail}] from the medians."""
    rows = []

    def row(tid, pattern, value, met, detail):
        rows.append(_target_row(tid, pattern, value, met, detail))

    direct = results["config"].get("direct", DIRECT)
    for name, res in results["patterns"].items():
        for mode, _ in MODES:
            up = res.get("upload_%s" % mode)
            if up:
                r = up["ratio_to_hash"]["median"]
                tid = "upload" if name in direct else "upload_proxied_%s" % mode
                row(tid, "%s (%s)" % (name, mode), r, r >= TARGETS[tid][1],
                    "medians %.0f vs %.0f MiB/s" % (
                        up["mib_s"]["median"], res["paired"]["hash_mib_s"]["median"]))
        if "download" in res:
            r = res["download"]["ratio_to_nginx_static"]["median"]
            tid = "download" if name in direct else "download_proxied"
            row(tid, name, r, r >= TARGETS[tid][1], "medians %.0f vs %.0f MiB/s" % (
                res["download"]["mib_s"]["median"],
                res["paired"]["nginx_static_mib_s"]["median"]))
        if name == "uwsgi-http" and "get_image_seq" in res:
            p50 = res["get_image_seq"]["p50_ms"]["median"]
            row("get_p50", name, p50, p50 <= 1.0, "%.3f ms" % p50)
        for fig in NULL_TARGETED:
            ratio = res.get("vs_null", {}).get(fig)
            if ratio:
                r = ratio["median"]
                row("vs_null", "%s (%s)" % (name, fig), r, r >= 0.9,
                    "median of run-by-run ratios, %d runs" % len(ratio["runs"]))
        idle = res["idle_rss_mib"]["median"]
        row("idle_rss", name, idle, idle <= 40.0, "%.1f MiB (largest of %d workers)"
            % (idle, res["workers"]["median"]))
        growth = max(res["upload_%s" % m]["rss_growth_mib"]["median"] for m, _ in MODES
                     if "upload_%s" % m in res)
        row("rss_growth", name, growth, growth <= 32.0, "%.1f MiB (worst of CL/chunked)"
            % growth)
    return rows


def growth_targets(growth):
    """The item 4 targets, from the growth figures (one run each)."""
    rows = []
    for name, g in sorted(growth.items()):
        at8 = g["clients"].get("8")
        if name == "uwsgi-http" and at8:
            p99 = at8["get_image"]["p99_ms"]
            rows.append(_target_row("get_p99_8", name, p99, p99 <= 5.0, "%.2f ms" % p99))
        largest = max(int(n) for n in g["images"])
        worst = max(v["p50_ms"] for k, v in g["images"][str(largest)].items()
                    if isinstance(v, dict))
        rows.append(_target_row(
            "list_p50_100k", name, worst, largest >= 100000 and worst <= 5.0,
            "worst of first/deep page, with/without tag: %.2f ms at %d images%s" % (
                worst, largest, "" if largest >= 100000 else " (100k not measured)")))
    return rows


def memory_targets(memory):
    """The item 5 targets of each pattern, from its workers' memory under 1,
    8 and 32 clients (:func:`benchmarks.measure.memory_under_load`, one
    run): the worst level of each, every level in the detail."""
    rows = []
    for name, m in sorted((memory or {}).items()):
        levels = m["levels"]
        for tid, key in (("rss_growth_clients", "growth_mib"),
                         ("rss_after_clients", "after_rss_mib")):
            worst = max(level[key] for level in levels.values())
            rows.append(_target_row(tid, name, worst, worst <= TARGETS[tid][1], "; ".join(
                "%s clients %.1f MiB" % (n, level[key]) for n, level in levels.items())))
    return rows


def offload_targets(offload):
    """The offload target of each front's pattern: the median of the
    run-by-run ratios of its offloaded download to nginx static."""
    rows = []
    for name, ratios in sorted((offload or {}).get("x_static", {}).items()):
        if not name.endswith(" offload"):
            continue
        value = statistics.median(ratios)
        mib = offload["medians"][name]
        rows.append(_target_row("download_offload", name[:-len(" offload")], value,
                                value >= 0.9, "median %d MiB/s; run by run %s" % (
                                    mib, ", ".join("%.2fx" % r for r in ratios))))
    return rows


# What a run's figures depend on in this repository: the page marks the
# results stale once the digest over these folders changes.
SOURCE_DIRS = ("benchmarks", "examples", "glancelet")


def sources(repo_root=REPO_ROOT):
    """{"digest", "dirs", "commit"}: the sources the run measured (the commit,
    when the tree is a git checkout, only as a hint: the digest decides)."""
    try:
        commit = subprocess.run(["git", "-C", str(repo_root), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        commit = ""
    return {"digest": lab_results.tree_digest(repo_root, SOURCE_DIRS),
            "dirs": list(SOURCE_DIRS), "commit": commit or None}


def _target_row(tid, pattern, value, met, detail):
    desc, threshold = TARGETS[tid]
    return {"target": tid, "description": desc, "pattern": pattern, "value": round(value, 3),
            "threshold": threshold, "met": bool(met), "detail": detail}


def results(args, selected, base_runs, pattern_runs, null_runs, paired, load_at_start,
            duration_s, growth=None, glance_runs=None, offload=None, memory=None):
    """The results document (``results.json``): config, summaries, ratios,
    targets and the raw runs. Glance's are under ``"glance"`` (summaries) and
    ``"glance_runs"``; ``config["glance"]`` says where it was not measured
    and why. ``memory``: the workers' memory under concurrent clients, per
    pattern (first run)."""
    glance_runs = glance_runs or {}
    out = {
        "machine": dict(machine.describe(), loadavg_at_start=load_at_start),
        "sources": sources(),
        "config": {"smoke": args.smoke, "only": args.only, "runs": args.runs,
                   "image_size": args.image_size, "upload_chunk": client.CHUNK,
                   "images": args.images, "sequential_requests": args.requests,
                   "threads": args.threads, "requests_per_thread": args.per_thread,
                   "quiet_wait_s": args.quiet_wait, "null_service": args.null,
                   "patterns": [p.name for p in selected],
                   "titles": {p.name: p.title for p in selected},
                   "direct": [p.name for p in selected if is_direct(p)],
                   "duration_s": duration_s,
                   "glance": {"version": lab_glance.installed_version() if glance_runs
                              else None,
                              "not_measured": glance_not_measured(args, selected)}},
        "baselines": pooled(aggregate(base_runs), paired),
        "patterns": {name: aggregate(runs) for name, runs in pattern_runs.items()},
        "null": {name: aggregate(runs) for name, runs in null_runs.items() if runs},
        "runs": pattern_runs,
        "null_runs": null_runs,
        "glance": {name: aggregate(runs) for name, runs in glance_runs.items() if runs},
        "glance_runs": glance_runs,
        "baseline_runs": base_runs,
        "growth": growth or {},
        "offload": offload or {},
        "memory": memory or {},
    }
    add_ratios(out)
    add_null_ratios(out)
    add_glance_ratios(out)
    add_direct_ratios(out)
    out["targets"] = (evaluate_targets(out) + memory_targets(out["memory"])
                      + growth_targets(out["growth"]) + offload_targets(out["offload"]))
    reasons.explain(out)
    return out
