"""Reporting: the tables printed at the end of a run, the RSS report of
``--only rss-1gib``, and the files written (results.json and the plots)."""

import json

from benchmarks.measure import MODES, log

NULL_FIGURES_SHOWN = {"upload_cl/mib_s": "upload CL", "upload_chunked/mib_s": "upload chunk",
                      "download/mib_s": "download", "get_image_seq/p50_ms": "GET p50",
                      "list_images_seq/p50_ms": "list p50", "get_image_8t/req_s": "GET x8 req/s"}

# glancelet / Glance (benchmarks/aggregate.py GLANCE_FIGURES, IDLE_RSS).
GLANCE_FIGURES_SHOWN = {"upload_cl/mib_s": "upload CL", "upload_chunked/mib_s": "upload chunk",
                        "download/mib_s": "download", "get_image_seq/p50_ms": "GET p50",
                        "get_image_seq/p99_ms": "GET p99", "list_images_seq/p50_ms": "list p50",
                        "list_images_seq/p99_ms": "list p99", "idle_rss_mib": "idle RSS",
                        "upload_cl/peak_rss_mib": "peak RSS CL",
                        "upload_chunked/peak_rss_mib": "peak RSS chk"}

MODE_TITLES = {"cl": "Content-Length", "chunked": "chunked (1 MiB chunks)"}


def _with_glance(results):
    """(name, figures) of each pattern, each followed by Glance's under it."""
    glance = results.get("glance") or {}
    for name, res in results["patterns"].items():
        yield name, res
        if name in glance:
            yield name + " [glance]", glance[name]


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
    hdr = "%-24s %14s %14s %14s %9s %9s %9s" % (
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

    for name, res in _with_glance(results):
        ups = [res.get("upload_" + m) for m, _ in MODES]
        dl = res.get("download")
        print("%-24s %14s %14s %14s %9.1f %9s %9s" % (
            name, *[fmt(u["mib_s"], u["ratio_to_hash"]) if u else "unsupported" for u in ups],
            fmt(dl["mib_s"], dl["ratio_to_nginx_static"]) if dl else "-",
            res["idle_rss_mib"]["median"],
            *["%.1f" % u["rss_growth_mib"]["median"] if u else "-" for u in ups]))
    if any("get_image_seq" in r for r in pats.values()):
        print()
        hdr = "%-24s %-12s %9s %9s %9s %9s %9s %9s" % (
            "pattern", "request", "seq req/s", "seq p50", "seq p99", "8t req/s", "8t p50",
            "8t p99")
        print(hdr)
        print("-" * len(hdr))
        rows = [("nginx static", "record.json", base.get("static_record_seq"),
                 base.get("static_record_8t")),
                ("nginx static", "list.json", base.get("static_list_seq"),
                 base.get("static_list_8t"))]
        for name, res in _with_glance(results):
            rows.append((name, "GET image", res.get("get_image_seq"), res.get("get_image_8t")))
            rows.append((name, "GET list", res.get("list_images_seq"),
                         res.get("list_images_8t")))
        for name, what, seq, par in rows:
            if seq and par:
                print("%-24s %-12s %9.0f %9.2f %9.2f %9.0f %9.2f %9.2f" % (
                    name, what, seq["req_s"]["median"], seq["p50_ms"]["median"],
                    seq["p99_ms"]["median"], par["req_s"]["median"], par["p50_ms"]["median"],
                    par["p99_ms"]["median"]))
        print("(ms; every request on a new connection)")
    print_null(results)
    print_glance(results)
    print_direct(results)
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
                                           "get_p50", "idle_rss", "rss_growth", "get_p99_8",
                                           "list_p50_100k", "rss_growth_clients",
                                           "rss_after_clients")
                                       else "%.2fx (%s)" % (t["value"], t["detail"])))


def _ratio_table(results, key, shown, title):
    """Each pattern's ``key`` ratios (median of run by run), the columns of ``shown``."""
    rows = [(name, res[key]) for name, res in results["patterns"].items() if res.get(key)]
    if not rows:
        return
    figs = [fig for fig in shown if any(fig in v for _, v in rows)]
    print()
    print(title)
    hdr = "%-18s" % "pattern" + "".join(" %14s" % shown[f] for f in figs)
    print(hdr)
    print("-" * len(hdr))
    for name, ratios in rows:
        print("%-18s" % name + "".join(
            " %14s" % ("%.2fx" % ratios[f]["median"] if f in ratios else "-") for f in figs))


def print_null(results):
    """glancelet / null service, run by run (latencies: null / glancelet)."""
    _ratio_table(results, "vs_null", NULL_FIGURES_SHOWN,
                 "glancelet / null service under the same server files (median of "
                 "run-by-run ratios; latencies as null / glancelet):")


def print_glance(results):
    """glancelet / Glance, run by run, every figure as is; and where Glance
    was not measured, why."""
    version = results["config"].get("glance", {}).get("version")
    _ratio_table(results, "vs_glance", GLANCE_FIGURES_SHOWN,
                 "glancelet / Glance %s under the same server files (median of run-by-run "
                 "ratios, every figure as is: for latencies and RSS below 1 is glancelet "
                 "better):" % version)
    not_measured = results["config"].get("glance", {}).get("not_measured") or {}
    if not_measured:
        print()
        for name, why in not_measured.items():
            print("Glance: not measured under %s: %s" % (name, why))


def print_direct(results):
    """A multi-node pattern through its front door and at one node directly."""
    for name, res in results["patterns"].items():
        ratios = res.get("front_vs_direct")
        if not ratios:
            continue
        print()
        print("%s: through the front door against its first node directly, same deployment "
              "(medians; ratio: median of run-by-run front / direct):" % name)
        hdr = "%-14s %12s %12s %14s" % ("figure", "front door", "node direct", "front/direct")
        print(hdr)
        print("-" * len(hdr))
        for fig, title in NULL_FIGURES_SHOWN.items():
            if fig in ratios:
                key, metric = fig.split("/")
                print("%-14s %12.2f %12.2f %13.2fx" % (
                    title, res[key][metric]["median"], res["direct"][key][metric]["median"],
                    ratios[fig]["median"]))
        print("(MiB/s, ms, req/s as the figure says; a latency ratio above 1 is slower "
              "through the front door)")


def print_rss_report(results):
    print()
    print("Worker RSS while a %d MiB image uploads (VmRSS every 50 ms of the processes "
          "running glancelet, or Glance; growth = peak - idle, largest over the workers):"
          % (results["config"]["image_size"] // (1024 * 1024)))
    glance = [(name + " [glance]", runs) for name, runs in results.get("glance_runs", {}).items()]
    for name, runs in list(results["runs"].items()) + glance:
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
