"""PNG plots of a results dict (matplotlib, Agg backend: no display needed).

Bars are medians; the black whiskers span min..max over the runs.
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


def _mark_unsupported(ax, results, names, xs, w):
    for n, x in zip(names, xs):
        for mode, off in (("cl", -w / 2), ("chunked", w / 2)):
            why = results["patterns"][n].get("unsupported", {}).get(mode)
            if why:
                ax.text(x + off, 0, why.split(" (")[0], rotation=90, ha="center",
                        va="bottom", fontsize=8)


def _names(results):
    return list(results["patterns"])


def _subtitle(results):
    m = results["machine"]
    c = results["config"]
    return "%d MiB image, median of %d run(s); %d CPUs (%s), %s" % (
        c["image_size"] // (1024 * 1024), c["runs"], m["nproc"], m["cpu_model"], m["date"][:10])


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
    _mark_unsupported(ax, results, names, xs, w)
    hash_mib = base["hash"]["mib_s_all"]["median"]
    disk_mib = base["disk"]["mib_s_all"]["median"]
    ax.axhline(hash_mib, color="red", linestyle="--",
               label="md5+sha512 in one thread (%.0f MiB/s)" % hash_mib)
    ax.axhline(disk_mib, color="purple", linestyle=":",
               label="write 1 file + fsync (%.0f MiB/s)" % disk_mib)
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
    ngx = base["nginx_static"]["mib_s_all"]["median"]
    ax.axhline(ngx, color="red", linestyle="--",
               label="nginx static file, sendfile (%.0f MiB/s)" % ngx)
    ax.axhline(0.8 * ngx, color="red", linestyle=":", label="target: 0.8x nginx static")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=15, fontsize=9)
    ax.set_ylabel("MiB/s")
    return _finish(fig, ax, results, "Image download throughput", out_dir / "download.png")


def latency(results, out_dir):
    names = [n for n in _names(results) if "get_image_seq" in results["patterns"][n]]
    base = results["baselines"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharey=False)
    for ax, (key, static, title) in zip(axes, (
            ("get_image", "static_record", "GET /v2/images/{id}"),
            ("list_images", "static_list", "GET /v2/images?limit=20"))):
        xs = list(range(len(names)))
        w = 0.2
        series = (("seq", "p50_ms", -1.5, "sequential p50", 1.0),
                  ("seq", "p99_ms", -0.5, "sequential p99", 0.45),
                  ("8t", "p50_ms", 0.5, "8 threads p50", 1.0),
                  ("8t", "p99_ms", 1.5, "8 threads p99", 0.45))
        for kind, metric, off, label, alpha in series:
            vals = [results["patterns"][n]["%s_%s" % (key, kind)][metric] for n in names]
            for i, (x, st) in enumerate(zip(xs, vals)):
                ax.bar(x + off * w, st["median"], w, color=COLORS[kind], alpha=alpha,
                       label=label if i == 0 else None, yerr=_err(st), capsize=2,
                       ecolor="black")
        ref = base.get("%s_seq" % static)
        if ref:
            ax.axhline(ref["p50_ms"]["median"], color="red", linestyle="--",
                       label="nginx static file p50, sequential (%.2f ms)"
                       % ref["p50_ms"]["median"])
        if key == "get_image":
            ax.axhline(1.0, color="red", linestyle=":", label="target p50 (uwsgi-http): 1 ms")
        ax.set_xticks(xs)
        ax.set_xticklabels(names, rotation=20, fontsize=8)
        ax.set_ylabel("ms (new connection per request)")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Metadata request latency\n" + _subtitle(results), fontsize=10)
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


def write_all(results, out_dir):
    paths = [upload(results, out_dir), rss(results, out_dir)]
    if any("download" in p for p in results["patterns"].values()):
        paths.append(download(results, out_dir))
    if any("get_image_seq" in p for p in results["patterns"].values()):
        paths.append(latency(results, out_dir))
    return paths
