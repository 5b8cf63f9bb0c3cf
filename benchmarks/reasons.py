"""Why a target was missed, from the figures of the same run.

:func:`explain` gives each missed target of a results document a ``reason``
(a sentence with the figures it rests on) and ``why`` (the label of the
section of doc/source/reference/performance.rst that explains that kind of
cost), when the run measured one:

* the server stack: the null service under the same server files, in the
  same run, missed the same target (:data:`STACK`);
* glancelet's own work: the null service met it, and glancelet fell short of
  the null service (:data:`APP`); for ``GET`` latency the in-process figures
  of :mod:`benchmarks.appcost` say how much of the gap is glancelet's code;
* the spread of the runs: the run-by-run figures straddle the threshold, or,
  for a download against the null service, glancelet's fastest single
  download reached the null service's median one (:data:`SPREAD`);
* for a download offload, per hop: the front end serving the same file
  statically, against the offloaded download (:data:`OFFLOAD`);
* for the memory once concurrent clients are done: the workers held more
  than the target before the first client (:data:`MEMORY`).

A miss none of these explains keeps no reason: the page then says "no reason
known" and a docs test fails until one is found.
"""

import statistics

STACK = "bench-stack-limit"
APP = "bench-app-cost"
SPREAD = "bench-spread"
MEMORY = "bench-memory"
OFFLOAD = "bench-download-offload"
# The baseline each throughput target is a ratio to: the target id's prefix
# (upload, download) -> the key of the paired baseline in a pattern's
# "paired" results (the md5+sha512 loop, nginx static).
_THROUGHPUT = {"upload": "hash_mib_s", "download": "nginx_static_mib_s"}


def explain(results):
    """Add ``reason`` and ``why`` to each missed target that the run explains."""
    for row in results.get("targets", ()):
        if not row["met"]:
            found = _reason(row, results)
            if found:
                row["reason"], row["why"] = found


def _median(summary):
    return summary["median"] if isinstance(summary, dict) else summary


def _split(label):
    """"name (detail)" -> (name, detail or None)."""
    name, _, detail = label.partition(" (")
    return name, detail.rstrip(")") or None


def _reason(row, results):
    name, detail = _split(row["pattern"])
    mine = results.get("patterns", {}).get(name, {})
    null = results.get("null", {}).get(name, {})
    target = row["target"]
    if target == "download_offload":
        return _offload(name, row["threshold"], results.get("offload", {}))
    if target.split("_")[0] in _THROUGHPUT:
        return _throughput(target.split("_")[0], detail, row["threshold"], mine, null)
    if target == "vs_null":
        return _vs_null(detail, row["threshold"], mine, null,
                        _single_downloads(results, name))
    if target == "rss_after_clients":
        levels = results.get("memory", {}).get(name, {}).get("levels", {})
        first = levels.get(min(levels, key=int)) if levels else None
        if first and first["idle_rss_mib"] > row["threshold"]:
            return ("the idle workers already held %.1f MiB before the first client (as in "
                    "the idle RSS target)" % first["idle_rss_mib"], MEMORY)
        return None
    if target == "get_p99_8":
        p99 = null.get("get_image_8t", {}).get("p99_ms")
        if p99 and _median(p99) > row["threshold"]:
            return ("the server stack: the null service's p99 with 8 clients under the same "
                    "files was %.1f ms" % _median(p99), STACK)
    return None


def _offload(name, threshold, offload):
    """A front's offloaded download below ``threshold`` x nginx static: per
    hop, the front serving the same file statically in the same runs
    (:data:`benchmarks.offload.STATIC`), against the offloaded download; or,
    without that figure, the runs straddling the threshold."""
    x_static = offload.get("x_static", {})
    runs = x_static.get(name + " offload") or []
    front = name.split("-")[0]
    statics = {key: statistics.median(values) for key, values in x_static.items()
               if key.startswith(front + " static") and values}
    spread = ("the spread of the runs: %s" % ", ".join("%.2f" % r for r in runs)
              if runs and max(runs) >= threshold else None)
    if runs and statics:
        return ("per hop: %s serving the same file statically reached %s x nginx static, "
                "the offloaded download %.2f%s" % (front.capitalize(), ", ".join(
                    "%.2f (%s)" % (value, key[len(front + " static"):].strip(", ") or "default")
                    for key, value in sorted(statics.items())), statistics.median(runs),
                    "; " + spread if spread else ""), OFFLOAD)
    if spread:
        return spread, SPREAD
    return None


def _throughput(kind, mode, threshold, mine, null):
    key = "upload_%s" % mode if kind == "upload" else "download"
    base = mine.get("paired", {}).get(_THROUGHPUT[kind])
    if key not in null or not base:
        return None
    null_ratio = _median(null[key]["mib_s"]) / _median(base)
    if null_ratio < threshold:
        return ("the server stack: the null service under the same files reached %.2fx "
                "(%.0f MiB/s)" % (null_ratio, _median(null[key]["mib_s"])), STACK)
    ratio = mine.get("vs_null", {}).get("%s/mib_s" % key)
    if ratio:
        return ("glancelet's own work: the null service reached %.2fx, glancelet %.2fx "
                "of the null service" % (null_ratio, _median(ratio)), APP)
    return None


def _single_downloads(results, name):
    """Every single download's MiB/s over the runs: (glancelet's, the null
    service's); each run's download figure is the median of several."""
    return tuple([value for run in results.get(key, {}).get(name, ())
                  for value in run.get("download", {}).get("each_mib_s", ())]
                 for key in ("runs", "null_runs"))


def _vs_null(figure, threshold, mine, null, singles=((), ())):
    ratio = mine.get("vs_null", {}).get(figure)
    if not ratio:
        return None
    ours, theirs = singles
    if figure == "download/mib_s" and ours and theirs and max(ours) >= statistics.median(theirs):
        return ("the spread of single downloads: glancelet's %d ranged %.0f to %.0f MiB/s "
                "(median %.0f), the null service's %d %.0f to %.0f (median %.0f); "
                "glancelet's fastest reached the null service's median" % (
                    len(ours), min(ours), max(ours), statistics.median(ours),
                    len(theirs), min(theirs), max(theirs), statistics.median(theirs)),
                SPREAD)
    if figure == "get_image_seq/p50_ms" and "app_get_us" in mine:
        app = mine["app_get_us"]
        ours, theirs = _median(app["glancelet_us"]), _median(app["null_us"])
        wire = (_median(mine["get_image_seq"]["p50_ms"])
                - _median(null["get_image_seq"]["p50_ms"])) * 1000
        return ("glancelet's own work: called in-process, glancelet took %.0f us per GET "
                "and the null service %.0f us; on the wire the gap was %.0f us"
                % (ours, theirs, wire), APP)
    disk = mine.get("paired", {}).get("disk_mib_s")
    if figure.startswith("upload_") and disk:
        upload = _median(mine[figure.split("/")[0]]["mib_s"])
        return ("glancelet's own work: it also writes and syncs every byte, which the null "
                "service does not; alone, that takes %.0f%% of this upload's time (%.0f "
                "MiB/s on this machine)" % (100 * upload / _median(disk), _median(disk)), APP)
    runs = ratio.get("runs") or []
    if runs and max(runs) >= threshold:
        return ("the spread of the runs: %s" % ", ".join("%.2f" % r for r in runs), SPREAD)
    return None
