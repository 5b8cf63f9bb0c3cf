"""``.. bench-results::``: the last ``tox -e bench`` run, as tables and plots;
``.. bench-multinode::``: only its multi-node table (front door against one
node directly).

Reads ``doc/source/_data/bench/results.json`` and the plots beside it
(written by ``benchmarks/``). A missing or unreadable file is said on the
page, never as a Sphinx warning (the site builds with ``-W``).
"""

import json
import os

from docutils import nodes
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective

BENCH_DIR = os.path.join("_data", "bench")
PLOTS = [
    ("upload.png", "Upload throughput per pattern, Content-Length and chunked "
                   "(median, whiskers min to max), with the one-thread md5+sha512 "
                   "reference and the disk write+fsync baseline."),
    ("download.png", "Download throughput per pattern, against nginx serving "
                     "the same file statically."),
    ("latency.png", "Metadata request latency (p50, p99), one client and 8 "
                    "threads, against nginx serving a small static file."),
    ("rss.png", "Worker memory: idle and peak VmRSS during a 1 GiB upload."),
    ("growth.png", "How cost grows: GET image and list latency (p50, p99) with 1, 8 and "
                   "32 concurrent clients; aggregate throughput of 1, 8 and 32 concurrent "
                   "64 MiB uploads; list latency (limit=25) against the number of images, "
                   "first page and a deep marker page, with and without a tag filter."),
    ("memory.png", "Worker memory under 1, 8 and 32 concurrent clients, per pattern: the "
                   "largest growth (peak - idle) during the load, and the largest RSS once "
                   "it is over."),
]


# The vs_null figures (benchmarks/aggregate.py NULL_FIGURES) the page shows.
NULL_COLUMNS = [("upload_cl/mib_s", "Upload CL"), ("upload_chunked/mib_s", "Upload chunked"),
                ("download/mib_s", "Download"), ("get_image_seq/p50_ms", "GET p50"),
                ("get_image_seq/p99_ms", "GET p99"), ("list_images_seq/p50_ms", "List p50"),
                ("get_image_8t/req_s", "GET x8 req/s")]


# The vs_glance figures (benchmarks/aggregate.py GLANCE_FIGURES, IDLE_RSS):
# glancelet / Glance, every figure as is.
GLANCE_COLUMNS = [("upload_cl/mib_s", "Upload CL"), ("upload_chunked/mib_s", "Upload chunked"),
                  ("download/mib_s", "Download"), ("get_image_seq/p50_ms", "GET p50"),
                  ("get_image_seq/p99_ms", "GET p99"), ("list_images_seq/p50_ms", "List p50"),
                  ("list_images_seq/p99_ms", "List p99"), ("idle_rss_mib", "Idle RSS"),
                  ("upload_cl/peak_rss_mib", "Peak RSS, CL upload"),
                  ("upload_chunked/peak_rss_mib", "Peak RSS, chunked upload")]

# The per-pattern table's columns (header, widths).
PATTERN_HEADER = ["Pattern", "Upload, Content-Length (MiB/s)", "Upload, chunked (MiB/s)",
                  "Download (MiB/s)", "GET image p50 (ms)", "Idle worker RSS (MiB)",
                  "RSS growth during upload (MiB)"]
PATTERN_WIDTHS = [30, 12, 14, 11, 11, 11, 11]


# A multi-node pattern's figures through its front door and at one node
# directly (benchmarks/aggregate.py add_direct_ratios): (key/metric, label).
DIRECT_ROWS = [("upload_cl/mib_s", "Upload, Content-Length (MiB/s)"),
               ("upload_chunked/mib_s", "Upload, chunked (MiB/s)"),
               ("download/mib_s", "Download (MiB/s)"),
               ("get_image_seq/p50_ms", "GET image p50 (ms)"),
               ("get_image_seq/p99_ms", "GET image p99 (ms)"),
               ("list_images_seq/p50_ms", "List p50 (ms)"),
               ("get_image_8t/req_s", "GET image, 8 threads (req/s)"),
               ("list_images_8t/req_s", "List, 8 threads (req/s)")]


def _para(*children):
    para = nodes.paragraph()
    para.extend(children)
    return para


def _num(value, fmt="%.0f"):
    """A number, or a {median, min, max} summary, as text."""
    if value is None:
        return "\u2013"
    if isinstance(value, dict) and "median" in value:
        text = fmt % value["median"]
        if value.get("min") is not None and value.get("max") is not None \
                and len(value.get("runs") or []) > 1:
            text += " (%s\u2013%s)" % (fmt % value["min"], fmt % value["max"])
        return text
    if isinstance(value, (int, float)):
        return fmt % value
    return str(value)


def _table(header, rows, widths=None, classes=("bench-table",)):
    """A table; a cell is a node or a text. Also used by tempest_results."""
    table = nodes.table(classes=list(classes))
    tgroup = nodes.tgroup(cols=len(header))
    table += tgroup
    for width in widths or [1] * len(header):
        tgroup += nodes.colspec(colwidth=width)
    thead = nodes.thead()
    tgroup += thead
    row = nodes.row()
    for title in header:
        row += nodes.entry("", _para(nodes.Text(title)))
    thead += row
    tbody = nodes.tbody()
    tgroup += tbody
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += cell if isinstance(cell, (nodes.Node, list)) else _para(nodes.Text(cell))
            row += entry
        tbody += row
    return table


class BenchResults(SphinxDirective):
    has_content = False

    def run(self):
        bench_dir = os.path.join(self.env.app.confdir, self.config.bench_results_dir)
        path = os.path.join(bench_dir, "results.json")
        self.env.note_dependency(path)
        if not os.path.exists(path):
            return [self._warning(
                "No benchmark results: doc/source/_data/bench/results.json "
                "does not exist. Run tox -e bench to measure.")]
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            return self._render(data, bench_dir)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return [self._warning("The benchmark results cannot be shown: %s: %s"
                                  % (type(exc).__name__, exc))]

    def _met(self, target):
        """"yes", or "no" with the reason for that miss: the one the run
        measured (benchmarks/reasons.py), else the page's for that target and
        pattern (``bench_miss_reasons``), else the run's load."""
        if target.get("met"):
            return "yes"
        pattern = (target.get("pattern") or "").split(" ")[0]
        reason, why = target.get("reason"), target.get("why")
        if not reason:
            why = "bench-proxied-loss"
            reason = (self.config.bench_miss_reasons.get("%s:%s" % (target.get("target"),
                                                                    pattern))
                      or self._load_reason)
        para = _para(nodes.Text("no: %s" % (reason or "no reason known")))
        if reason:
            ref = addnodes.pending_xref("", refdomain="std", reftype="ref",
                                        reftarget=why, refexplicit=True,
                                        refwarn=True)
            ref += nodes.inline("", "why")
            para += [nodes.Text(" ("), ref, nodes.Text(")")]
        if target.get("detail"):
            para += nodes.Text("; %s" % target["detail"])
        return para

    @staticmethod
    def _null_table(data, order, titles):
        """glancelet as a ratio to the null service under the same server files."""
        nulls = data.get("null") or {}
        rows = []
        for name in order:
            ratios = (data.get("patterns", {}).get(name) or {}).get("vs_null")
            if not ratios:
                continue
            null = nulls.get(name) or {}
            rows.append([_para(nodes.literal(name, name))]
                        + [_num(ratios.get(fig), "%.2f") for fig, _ in NULL_COLUMNS]
                        + [_num((null.get("download") or {}).get("mib_s")),
                           _num((null.get("get_image_seq") or {}).get("p50_ms"), "%.1f")])
        if not rows:
            return []
        return [nodes.rubric("", "Against the null service (each pattern's own limit)"),
                _para(nodes.Text(
                    "glancelet's figure divided by the null service's, run by run under "
                    "the same server files (median, min\u2013max); for latencies the null "
                    "service's divided by glancelet's, so that above 1 means glancelet "
                    "did better either way. The last two columns are the null service's "
                    "own download (MiB/s) and GET p50 (ms).")),
                _table(["Pattern"] + [title for _, title in NULL_COLUMNS]
                       + ["Null download", "Null GET p50"],
                       rows, [20] + [9] * (len(NULL_COLUMNS) + 2))]

    @staticmethod
    def _pattern_rows(patterns, order, titles):
        """The per-pattern table's rows, for ``patterns`` (glancelet's or Glance's)."""
        rows = []
        for name in order:
            p = patterns.get(name)
            if not p:
                continue
            unsupported = p.get("unsupported") or {}

            def upload(mode):
                if ("upload_" + mode) in p:
                    return _num(p["upload_" + mode].get("mib_s"))
                return "not supported: " + unsupported.get(mode.replace("cl", "content-length"),
                                                           unsupported.get(mode, "not run"))
            label = _para(nodes.literal(name, name))
            if titles.get(name):
                label += nodes.Text(" " + titles[name])
            rows.append([
                label, upload("cl"), upload("chunked"),
                _num((p.get("download") or {}).get("mib_s")),
                _num((p.get("get_image_seq") or {}).get("p50_ms"), "%.1f"),
                _num(p.get("idle_rss_mib"), "%.1f"),
                _num((p.get("upload_cl") or {}).get("rss_growth_mib"), "%.1f"),
            ])
        return rows

    @classmethod
    def _glance_tables(cls, data, order):
        """glancelet / Glance under the same server files, and Glance's own
        figures; where Glance was not measured, a visible "Not measured"."""
        glance_conf = (data.get("config") or {}).get("glance") or {}
        not_measured = glance_conf.get("not_measured") or {}
        patterns = data.get("patterns") or {}
        rows = [[_para(nodes.literal(name, name))]
                + [_num(patterns[name]["vs_glance"].get(fig), "%.2f")
                   for fig, _ in GLANCE_COLUMNS]
                for name in order if (patterns.get(name) or {}).get("vs_glance")]
        out = [nodes.rubric("", "Against OpenStack Glance (same server files)")]
        if rows:
            out += [_para(nodes.Text(
                        "glancelet's figure divided by Glance %s's, run by run under the same "
                        "server files in the same run (median, min\u2013max), every figure as "
                        "is: above 1 for a throughput, and below 1 for a latency or a worker's "
                        "memory (VmRSS of the largest worker), means glancelet did better."
                        % (glance_conf.get("version") or "?"))),
                    _table(["Pattern"] + [title for _, title in GLANCE_COLUMNS], rows,
                           [20] + [8] * len(GLANCE_COLUMNS)),
                    _para(nodes.Text("Glance's own figures:")),
                    _table(PATTERN_HEADER, cls._pattern_rows(data.get("glance") or {}, order,
                                                             {}), PATTERN_WIDTHS)]
        if not glance_conf:
            why = ("these results have no Glance figures: the run predates Glance in tox -e "
                   "bench, which measures it under every pattern with Glance files.")
        else:
            why = "; ".join("under %s: %s" % (name, not_measured[name])
                            for name in order if name in not_measured)
        if why:
            out.append(_para(nodes.strong("", "Glance not measured: "), nodes.Text(why)))
        return out

    @staticmethod
    def _direct_tables(data, order):
        """Each multi-node pattern through its front door against its first
        node directly (same deployment, same run), or "not measured yet"."""
        out = []
        patterns = data.get("patterns") or {}
        for name in order:
            p = patterns.get(name) or {}
            ratios, direct = p.get("front_vs_direct"), p.get("direct")
            if not ratios or not direct:
                continue
            rows = []
            for fig, label in DIRECT_ROWS:
                if fig in ratios:
                    key, metric = fig.split("/")
                    fmt = "%.1f" if metric.endswith("_ms") else "%.0f"
                    rows.append([label, _num(direct[key][metric], fmt),
                                 _num(p[key][metric], fmt), _num(ratios[fig], "%.2f")])
            out.append(_table(["Figure (%s)" % name, "One node directly",
                               "Through the front door", "Front door / direct"],
                              rows, [34, 22, 22, 22]))
        if not out:
            return [_para(nodes.strong("", "Not measured yet: "), nodes.Text(
                "these results have no figures of a multi-node pattern through its "
                "front door and at one node directly; a tox -e bench run made since "
                "haproxy-multinode is benchmarked has them."))]
        return [_para(nodes.Text(
            "Medians (min\u2013max) over the runs; the ratio is the median of the "
            "run-by-run ratios, every figure as is (for a latency, above 1 is slower "
            "through the front door). Both in the same deployment, one client at a "
            "time, the front door first in odd runs and the node first in even ones."))] + out

    @staticmethod
    def _growth_tables(growth):
        """The concurrency and growth figures (benchmarks/growth.py) as
        numbers beside growth.png, per deployment; or "not measured"."""
        if not growth:
            return [_para(nodes.strong("", "Not measured: "), nodes.Text(
                "this run has no concurrency and growth figures (the smoke run, "
                "--growth none, or --only rss-1gib)."))]
        clients, images = [], []
        for name, g in sorted(growth.items()):
            label = "%s (%s)" % (name, g["backend"]) if g.get("backend") else name
            uploads = {u["clients"]: u for u in g.get("uploads") or []}
            for n in sorted(int(k) for k in g.get("clients") or {}):
                fig = g["clients"][str(n)]
                up = uploads.get(n)
                clients.append([label, str(n)] + [
                    _num(fig[key][metric], "%.0f" if metric == "req_s" else "%.1f")
                    for key in ("get_image", "list_images")
                    for metric in ("req_s", "p50_ms", "p99_ms")] + [
                    _num(up["mib_s"]) if up else "\u2013"])
            for n in sorted(int(k) for k in g.get("images") or {}):
                fig = g["images"][str(n)]
                images.append([label, "{:,}".format(n)] + [
                    _num(fig[key]["p50_ms"], "%.1f") + " / " + _num(fig[key]["p99_ms"], "%.1f")
                    for key in ("first", "deep", "first_tag", "deep_tag")])
        upload_mib = next((u.get("mib_each") for g in growth.values()
                           for u in g.get("uploads") or []), None)
        out = [_para(nodes.Text(
            "One run each, every deployment of its own, after the per-pattern runs; "
            "every request on a new connection%s. growth.png (below) plots the same "
            "figures." % ("; each concurrent upload is %d MiB, with Content-Length"
                          % upload_mib if upload_mib else "")))]
        if clients:
            out.append(_table(
                ["Deployment", "Clients", "GET req/s", "GET p50 (ms)", "GET p99 (ms)",
                 "List req/s", "List p50 (ms)", "List p99 (ms)",
                 "Concurrent uploads, aggregate (MiB/s)"],
                clients, [22, 8, 9, 9, 9, 9, 9, 9, 16]))
        if images:
            out.append(_para(nodes.Text(
                "List latency (limit=25), p50 / p99 in ms, against the number of "
                "images in the database: the first page and a deep marker page, "
                "with and without a tag filter that one image in ten matches.")))
            out.append(_table(
                ["Deployment", "Images", "First page", "Deep page", "First page + tag",
                 "Deep page + tag"], images, [26, 12, 15, 15, 16, 16]))
        return out

    @staticmethod
    def _memory_table(memory, order):
        """The workers' memory under 1, 8 and 32 clients per pattern
        (benchmarks/measure.py memory_under_load); or "not measured"."""
        if not memory:
            return [_para(nodes.strong("", "Not measured: "), nodes.Text(
                "this run has no memory figures under concurrent clients (--only "
                "rss-1gib, or results older than this measurement)."))]
        rows = []
        for name in [n for n in order if n in memory]:
            levels = memory[name]["levels"]
            for n in sorted(int(k) for k in levels):
                level = levels[str(n)]
                rows.append([name, str(n), str(level["workers"]),
                             _num(level["idle_rss_mib"], "%.1f"),
                             _num(level["peak_rss_mib"], "%.1f"),
                             _num(level["growth_mib"], "%.1f"),
                             _num(level["after_rss_mib"], "%.1f"),
                             ", ".join("%.1f" % v for v in level["new_workers_peak_mib"])
                             or "\u2013"])
        mib = next(iter(memory.values()))["upload_mib_each"]
        note = _para(nodes.Text(
            "VmRSS of glancelet's workers, sampled every 50 ms while that many clients "
            "GET one image, then list, then upload %d MiB each with Content-Length, "
            "through the front door, in the first run. Idle: before the level, once the "
            "workers have settled; growth: the largest peak minus idle over the workers "
            "that were there before; after: once the level is over and the workers have "
            "settled. Targets: growth <= 32 MiB and after <= 40 MiB." % mib))
        return [note, _table(["Pattern", "Clients", "Workers", "Idle (MiB)", "Peak (MiB)",
                              "Growth (MiB)", "After (MiB)", "Workers started during it, "
                              "peak (MiB)"], rows, [22, 8, 8, 10, 10, 10, 10, 22])]

    @staticmethod
    def _offload_table(offload):
        """Downloads with and without the offload (benchmarks/offload.py),
        against nginx static; or "not measured"."""
        if not offload or not offload.get("runs"):
            return [_para(nodes.strong("", "Not measured: "), nodes.Text(
                "this run has no download offload figures (the smoke run, --offload none, "
                "--only rss-1gib, or results older than this measurement)."))]
        rows = []
        names = sorted(offload["runs"], key=lambda n: (n != "nginx static",
                                                       not n.startswith("nginx"), n))
        for name in names:
            values = offload["runs"][name]
            ratios = offload.get("x_static", {}).get(name)
            rows.append([name, _num({"median": offload["medians"][name], "min": min(values),
                                     "max": max(values), "runs": values}),
                         _num(offload["medians"].get(name + " x static"), "%.2f")
                         if ratios else "1 (the reference)",
                         ", ".join("%.2f" % r for r in ratios) if ratios else "\u2013"])
        note = _para(nodes.Text(
            "A %d MiB image, downloaded %d times from each, interleaved; the ratio is the "
            "median of the run-by-run ratios to nginx serving the same file statically "
            "(see Download offload below)." % (offload["size_mib"], len(
                offload["runs"]["nginx static"]))))
        return [note, _table(["Download", "MiB/s, median (min\u2013max)", "x nginx static",
                              "Run by run"], rows, [34, 24, 16, 26])]

    @staticmethod
    def _warning(text):
        node = nodes.warning()
        node += _para(nodes.Text(text))
        return node

    _load_reason = None

    def _sources(self, sources):
        """Which sources the run measured, and whether they are this build's."""
        if not sources:
            return self._warning(
                "This run did not record the sources it measured (it predates the "
                "digest): the figures may not be those of this build's benchmarks/, "
                "examples/ and glancelet/. Run tox -e bench to measure them.")
        from lab.results import tree_digest
        root = os.path.dirname(os.path.dirname(self.env.app.confdir))
        dirs = ", ".join("%s/" % d for d in sources["dirs"])
        made = "digest %s of %s%s" % (sources["digest"][:12], dirs, (
            " (commit %s)" % sources["commit"][:12]) if sources.get("commit") else "")
        if tree_digest(root, sources["dirs"]) != sources["digest"]:
            return self._warning(
                "Stale: this run measured the sources with %s, and %s have changed "
                "since. Run tox -e bench and commit doc/source/_data/bench/." % (made, dirs))
        return _para(nodes.Text("Sources measured: %s, the same as this build's." % made))

    def _render(self, data, bench_dir):
        out = []
        machine = data.get("machine", {})
        load, cpus = machine.get("loadavg_at_start") or 0, machine.get("nproc") or 1
        load = load[0] if isinstance(load, list) else load
        if load > cpus:
            # Measured: other work kept more runnable tasks than CPUs.
            self._load_reason = ("the machine was saturated by other work during the run "
                                 "(load average %.0f on %d CPUs at its start)" % (load, cpus))
        config = data.get("config", {})
        out.append(_para(nodes.Text(
            "Measured %s on %s (%s CPUs, %s MiB), %s. Load average %s at the "
            "start and %s at the end: the machine is shared, so treat the "
            "numbers as indicative. %s run(s) per measurement; images of %s "
            "bytes." % (
                machine.get("date", "?"), machine.get("cpu_model", "?"),
                machine.get("nproc", "?"), machine.get("memory_mib", "?"),
                machine.get("os", "?"), machine.get("loadavg_at_start", "?"),
                machine.get("loadavg_at_end", "?"), config.get("runs", "?"),
                config.get("image_size", "?")))))
        out.append(self._sources(data.get("sources")))
        versions = machine.get("versions") or {}
        if versions:
            out.append(_para(nodes.Text("Versions: " + ", ".join(
                "%s %s" % (k, versions[k]) for k in sorted(versions)) + ".")))

        baselines = data.get("baselines") or {}
        rows = []
        for key, label in (("hash", "md5 then sha512 in one thread (a reference, not a "
                                    "ceiling: glancelet hashes in two threads)"),
                           ("cat", "read the file from page cache"),
                           ("disk", "write the file to a new file + fsync"),
                           ("nginx_static", "nginx serving the file (download ceiling)")):
            if key in baselines:
                rows.append([label, _num(baselines[key].get("mib_s"))])
        if rows:
            out.append(nodes.rubric("", "Baselines (MiB/s)"))
            out.append(_table(["Baseline", "MiB/s"], rows, [70, 30]))

        patterns = data.get("patterns") or {}
        order = config.get("patterns") or list(patterns)
        titles = config.get("titles") or {}
        rows = self._pattern_rows(patterns, order, titles)
        if rows:
            out.append(nodes.rubric("", "Per pattern"))
            out.append(_table(PATTERN_HEADER, rows, PATTERN_WIDTHS))

        out.extend(self._null_table(data, order, titles))
        out.extend(self._glance_tables(data, order))
        out.append(nodes.rubric("", "Through the load balancer against one node"))
        out.extend(self._direct_tables(data, order))
        out.append(nodes.rubric("", "Worker memory under concurrent clients"))
        out.extend(self._memory_table(data.get("memory"), order))
        out.append(nodes.rubric("", "How cost grows"))
        out.extend(self._growth_tables(data.get("growth")))
        out.append(nodes.rubric("", "Download offload"))
        out.extend(self._offload_table(data.get("offload")))

        targets = data.get("targets") or []
        if targets:
            out.append(nodes.rubric("", "Targets"))
            out.append(_table(
                ["Target", "Pattern", "Value", "Threshold", "Met"],
                [[t.get("description") or t.get("target", "?"), t.get("pattern") or "",
                  _num(t.get("value"), "%.2f"), _num(t.get("threshold"), "%.2f"),
                  self._met(t)] for t in targets],
                [34, 15, 10, 10, 31]))

        for filename, caption in PLOTS:
            if os.path.exists(os.path.join(bench_dir, filename)):
                figure = nodes.figure()
                # Relative to this document, as Sphinx resolves image URIs.
                full = os.path.abspath(os.path.join(bench_dir, filename))
                here = os.path.dirname(str(self.env.doc2path(self.env.docname)))
                uri = os.path.relpath(full, here).replace(os.sep, "/")
                image = nodes.image(uri=uri, alt=caption)
                figure += image
                figure += nodes.caption(caption, caption)
                out.append(figure)
        return out


class BenchMultinode(BenchResults):
    """``.. bench-multinode::``: only the multi-node table (the how-to's sizing)."""

    def _render(self, data, bench_dir):
        config = data.get("config", {})
        return self._direct_tables(data, config.get("patterns") or list(
            data.get("patterns") or {}))


def setup(app):
    app.add_config_value("bench_results_dir", BENCH_DIR, "env")
    # Patterns with nothing in front of the WSGI server, and why a pattern
    # with a proxy (or Apache) in front misses a target, by target kind: the
    # reasons "Where the proxied patterns lose time" on the page explains.
    app.add_config_value("bench_miss_reasons", {}, "env")
    app.add_directive("bench-results", BenchResults)
    app.add_directive("bench-multinode", BenchMultinode)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
