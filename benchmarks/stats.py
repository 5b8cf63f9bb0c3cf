"""Small statistics helpers (stdlib only)."""

import math
import statistics


def percentile(values, pct):
    """The ``pct`` percentile of ``values`` (nearest-rank method)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def summary(values):
    """{"median", "min", "max", "runs"} of a list of numbers (one per run)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("summary of no values")
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


def ratio(stat, baseline_median):
    """``stat`` (a :func:`summary`) divided by one baseline number."""
    if not baseline_median:
        raise ValueError("baseline is zero")
    return summary([v / baseline_median for v in stat["runs"]])


def mib_s(nbytes, seconds):
    return nbytes / (1024.0 * 1024.0) / seconds
