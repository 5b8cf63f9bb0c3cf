"""PNG plots of a results dict (matplotlib, Agg backend: no display needed).

Bars are medians; the black whiskers span min..max over the runs. Where
OpenStack Glance was measured under a pattern too, a black diamond on a
throughput or memory bar is Glance's median of the same figure (not on the
latency plot: Glance's latencies, tens of times glancelet's, would flatten
its bars; the page's table gives the ratios).
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

COLORS = {"cl": "#1f77b4", "chunked": "#ff7f0e", "download": "#2ca02c",
          "seq": "#1f77b4", "8t": "#ff7f0e", "idle": "#7f7f7f"}


def _err(stat):
    """yerr pair (below, above) for one summary."""
    return [[stat["median"] - stat["min"]], [stat["max"] - stat["median"]]]


def _bars(ax, positions, stats, width, color, label):
    for x, st in zip(positions, stats):
        if st is None:
            continue
        ax.bar(x, st["median"], width, color=color, label=label, yerr=_err(st), capsize=3,
               ecolor="black")
        label = None


def _get(results, names, key, metric):
    """[summary or None] per pattern (None: the pattern cannot do it)."""
    out = []
    for n in names:
        fig = results["patterns"][n].get(key)
        out.append(fig[metric] if fig else None)
    return out


def _glance_points(ax, results, names, positions, key, metric=None, label=True):
    """Glance's median of figure ``key`` (``[metric]``) over each pattern's bar."""
    glance = results.get("glance") or {}
    for n, x in zip(names, positions):
        fig = (glance.get(n) or {}).get(key)
        fig = fig[metric] if fig and metric else fig
        if fig:
            ax.plot([x], [fig["median"]], "D", color="black", markersize=5,
                    label="OpenStack Glance, same files" if label else None)
            label = False


def _mark_unsupported(ax, results, names, xs, w):
    for n, x in zip(names, xs):
        for mode, off in (("cl", -w / 2), ("chunked", w / 2)):
            why = results["patterns"][n].get("unsupported", {}).get(mode)
            if why:
                ax.text(x + off, 0, why.split(" (")[0], rotation=90, ha="center",
                        va="bottom", fontsize=8)


def _baseline(ax, stat, label):
    """A baseline: its median as a dashed line, its min..max as a band."""
    ax.axhline(stat["median"], color="red", linestyle="--",
               label="%s (%.0f MiB/s; band: min..max of %d)"
               % (label, stat["median"], len(stat["runs"])))
    ax.axhspan(stat["min"], stat["max"], color="red", alpha=0.08)


def _names(results):
    """Patterns in the order of the run (results.json is written with sorted keys)."""
    return [n for n in results["config"]["patterns"] if n in results["patterns"]]


def _subtitle(results, runs=None):
    """The image size and runs (``runs``: what a one-run figure says
    instead), the machine and the date."""
    m = results["machine"]
    c = results["config"]
    return "%s; %d CPUs (%s), %s" % (
        runs or "%d MiB image, median of %d run(s)" % (c["image_size"] // (1024 * 1024),
                                                       c["runs"]),
        m["nproc"], m["cpu_model"], m["date"][:10])


def _finish(fig, ax, results, title, path):
    ax.set_title(title + "\n" + _subtitle(results), fontsize=10)
    ax.legend(fontsize=8, loc="best")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def upload(results, out_dir):
    names = _names(results)
    base = results["baselines"]
    fig, ax = plt.subplots(figsize=(9, 4.8))
    xs = range(len(names))
    w = 0.38
    _bars(ax, [x - w / 2 for x in xs], _get(results, names, "upload_cl", "mib_s"), w,
          COLORS["cl"], "Content-Length")
    _bars(ax, [x + w / 2 for x in xs], _get(results, names, "upload_chunked", "mib_s"), w,
          COLORS["chunked"], "chunked (1 MiB chunks)")
    _glance_points(ax, results, names, [x - w / 2 for x in xs], "upload_cl", "mib_s")
    _glance_points(ax, results, names, [x + w / 2 for x in xs], "upload_chunked", "mib_s",
                   label=False)
    _mark_unsupported(ax, results, names, xs, w)
    _baseline(ax, base["hash"]["mib_s_all"], "md5+sha512 in one thread")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=15, fontsize=9)
    ax.set_ylabel("MiB/s")
    return _finish(fig, ax, results, "Image upload throughput", out_dir / "upload.png")


def download(results, out_dir):
    names = [n for n in _names(results) if "download" in results["patterns"][n]]
    base = results["baselines"]
    fig, ax = plt.subplots(figsize=(9, 4.8))
    xs = range(len(names))
    _bars(ax, list(xs), [results["patterns"][n]["download"]["mib_s"] for n in names], 0.6,
          COLORS["download"], "GET /v2/images/{id}/file")
    _glance_points(ax, results, names, list(xs), "download", "mib_s")
    ngx = base["nginx_static"]["mib_s_all"]["median"]
    _baseline(ax, base["nginx_static"]["mib_s_all"], "nginx static file, sendfile")
    ax.axhline(0.8 * ngx, color="red", linestyle=":", label="target: 0.8x nginx static")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=15, fontsize=9)
    ax.set_ylabel("MiB/s")
    return _finish(fig, ax, results, "Image download throughput", out_dir / "download.png")


def latency(results, out_dir):
    """2 x 2: rows p50 / p99, columns GET one image / list 20."""
    names = [n for n in _names(results) if "get_image_seq" in results["patterns"][n]]
    base = results["baselines"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    requests = (("get_image", "static_record", "GET /v2/images/{id}"),
                ("list_images", "static_list", "GET /v2/images?limit=20"))
    xs = list(range(len(names)))
    w = 0.38
    for row, metric in enumerate(("p50_ms", "p99_ms")):
        for col, (key, static, title) in enumerate(requests):
            ax = axes[row][col]
            for kind, off, label in (("seq", -w / 2, "sequential"),
                                     ("8t", w / 2, "8 threads")):
                _bars(ax, [x + off for x in xs],
                      [results["patterns"][n]["%s_%s" % (key, kind)][metric] for n in names],
                      w, COLORS[kind], label)
                ref = base.get("%s_%s" % (static, kind))
                if ref:
                    ax.axhline(ref[metric]["median"], color=COLORS[kind], linestyle="--",
                               linewidth=1, label="nginx static file, %s (%.2f ms)"
                               % (label, ref[metric]["median"]))
            if key == "get_image" and metric == "p50_ms":
                ax.axhline(1.0, color="red", linestyle=":",
                           label="target (uwsgi-http, sequential): 1 ms")
            ax.set_xticks(xs)
            ax.set_xticklabels(names, rotation=20, fontsize=8)
            ax.set_ylabel("%s, ms" % metric.split("_")[0])
            ax.set_title("%s, %s" % (title, metric.split("_")[0]), fontsize=10)
            ax.legend(fontsize=7)
            ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Metadata request latency (a new connection per request)\n"
                 + _subtitle(results), fontsize=10)
    fig.tight_layout()
    path = out_dir / "latency.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def rss(results, out_dir):
    names = _names(results)
    fig, ax = plt.subplots(figsize=(9, 4.8))
    xs = range(len(names))
    w = 0.27
    pats = results["patterns"]
    _bars(ax, [x - w for x in xs], [pats[n]["idle_rss_mib"] for n in names], w,
          COLORS["idle"], "idle worker")
    _bars(ax, list(xs), _get(results, names, "upload_cl", "peak_rss_mib"), w,
          COLORS["cl"], "peak during Content-Length upload")
    _bars(ax, [x + w for x in xs], _get(results, names, "upload_chunked", "peak_rss_mib"),
          w, COLORS["chunked"], "peak during chunked upload")
    for off, key, metric in ((-w, "idle_rss_mib", None), (0, "upload_cl", "peak_rss_mib"),
                             (w, "upload_chunked", "peak_rss_mib")):
        _glance_points(ax, results, names, [x + off for x in xs], key, metric, label=off < 0)
    for x, n in zip(xs, names):
        for mode, off in (("cl", 0), ("chunked", w)):
            up = pats[n].get("upload_" + mode)
            if up:
                ax.text(x + off, up["peak_rss_mib"]["max"] + 0.5,
                        "%+.1f" % up["rss_growth_mib"]["median"], ha="center", fontsize=7)
    ax.axhline(40, color="red", linestyle=":", label="target: idle <= 40 MiB")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=15, fontsize=9)
    ax.set_ylabel("VmRSS of the largest worker, MiB")
    return _finish(fig, ax, results, "Worker memory (labels: growth = peak - idle, MiB; "
                   "target <= 32 MiB)",
                   out_dir / "rss.png")


# growth.png: one colour per deployment (database backend), one line style
# and marker per series.
GROWTH_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b"]
GROWTH_STYLES = {("get_image", "p50_ms"): ("-", "o"), ("get_image", "p99_ms"): (":", "o"),
                 ("list_images", "p50_ms"): ("-", "s"), ("list_images", "p99_ms"): (":", "s"),
                 "first": ("-", "o"), "deep": ("--", "s"), "first_tag": ("-.", "^"),
                 "deep_tag": (":", "v")}
GROWTH_SERIES = {("get_image", "p50_ms"): "GET p50", ("get_image", "p99_ms"): "GET p99",
                 ("list_images", "p50_ms"): "list p50", ("list_images", "p99_ms"): "list p99",
                 "first": "first page", "deep": "deep page", "first_tag": "first page + tag",
                 "deep_tag": "deep page + tag"}


def _growth_legend(ax, deployments, series):
    """One legend entry per deployment (colour) and one per series (style)."""
    handles = [plt.Line2D([], [], color=color, linewidth=3, label=label)
               for label, color in deployments]
    handles += [plt.Line2D([], [], color="black", linestyle=GROWTH_STYLES[key][0],
                           marker=GROWTH_STYLES[key][1], label=GROWTH_SERIES[key])
                for key in series]
    handles += [h for h in ax.get_legend_handles_labels()[0] if h.get_label().startswith("target")]
    ax.legend(handles=handles, fontsize=6)


def growth(results, out_dir):
    """Curves: latency against clients, upload MiB/s against concurrent
    uploads, list p50 against the number of images; a colour per deployment."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.8))
    deployments = []
    latency_keys = [(k, m) for k in ("get_image", "list_images") for m in ("p50_ms", "p99_ms")]
    list_keys = ["first", "deep", "first_tag", "deep_tag"]
    for i, (name, g) in enumerate(sorted(results["growth"].items())):
        color = GROWTH_COLORS[i % len(GROWTH_COLORS)]
        label = "%s (%s)" % (name, g["backend"]) if g.get("backend") else name
        deployments.append((label, color))
        clients = sorted(int(n) for n in g["clients"])
        for key, metric in latency_keys:
            line, marker = GROWTH_STYLES[key, metric]
            axes[0].plot(clients, [g["clients"][str(n)][key][metric] for n in clients],
                         color=color, linestyle=line, marker=marker)
        ups = g["uploads"]
        axes[1].plot([u["clients"] for u in ups], [u["mib_s"] for u in ups], "-o",
                     color=color, label="%s, %d MiB each" % (label, ups[0]["mib_each"]))
        counts = sorted(int(n) for n in g["images"])
        for key in list_keys:
            line, marker = GROWTH_STYLES[key]
            axes[2].plot(counts, [g["images"][str(n)][key]["p50_ms"] for n in counts],
                         color=color, linestyle=line, marker=marker)
    axes[0].axhline(5.0, color="red", linestyle=":", label="target: GET p99 <= 5 ms at 8")
    axes[2].axhline(5.0, color="red", linestyle=":", label="target: list p50 <= 5 ms")
    for ax, title, xlabel, ylabel in (
            (axes[0], "Metadata latency vs clients", "concurrent clients", "ms"),
            (axes[1], "Concurrent uploads, aggregate", "concurrent uploads", "MiB/s"),
            (axes[2], "List latency (limit=25) vs images", "images in the database", "p50, ms")):
        ax.set_xscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    _growth_legend(axes[0], deployments, latency_keys)
    axes[1].legend(fontsize=6)
    _growth_legend(axes[2], deployments, list_keys)
    fig.suptitle("How cost grows\n" + _subtitle(results, "one run per deployment"),
                 fontsize=10)
    fig.tight_layout()
    path = out_dir / "growth.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def memory(results, out_dir):
    """Curves: each pattern's worker RSS growth (largest peak - idle) and
    largest RSS once done, against concurrent clients (item 5)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for i, name in enumerate(n for n in _names(results) if n in results["memory"]):
        levels = results["memory"][name]["levels"]
        clients = sorted(int(n) for n in levels)
        color = plt.get_cmap("tab20")(i % 20)
        for ax, key in ((axes[0], "growth_mib"), (axes[1], "after_rss_mib")):
            ax.plot(clients, [levels[str(n)][key] for n in clients], "-o", color=color,
                    label=name)
    axes[0].axhline(32.0, color="red", linestyle=":", label="target <= 32 MiB")
    axes[1].axhline(40.0, color="red", linestyle=":", label="target <= 40 MiB")
    for ax, title in ((axes[0], "RSS growth during the load (peak - idle)"),
                      (axes[1], "RSS once the load is over")):
        ax.set_xscale("log")
        ax.set_xticks(sorted(int(n) for m in results["memory"].values() for n in m["levels"]))
        ax.get_xaxis().set_major_formatter(plt.ScalarFormatter())
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("concurrent clients (GET, list, then uploads)")
        ax.set_ylabel("largest glancelet worker, MiB")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle("Worker memory under concurrent clients\n" + _subtitle(
        results, "one run per pattern"), fontsize=10)
    fig.tight_layout()
    path = out_dir / "memory.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(results, out_dir):
    paths = [upload(results, out_dir), rss(results, out_dir)]
    if any("download" in p for p in results["patterns"].values()):
        paths.append(download(results, out_dir))
    if any("get_image_seq" in p for p in results["patterns"].values()):
        paths.append(latency(results, out_dir))
    if results.get("growth"):
        paths.append(growth(results, out_dir))
    if results.get("memory"):
        paths.append(memory(results, out_dir))
    return paths
