"""Benchmarks of glancelet under the documented deployment patterns.

``python -m benchmarks.run`` (``tox -e bench``) starts each pattern with the
real ``examples/`` files through ``lab/patterns`` and measures
image upload and download throughput, metadata request latency and worker
memory, next to baselines measured in the same run on the same machine
(md5+sha512 in one thread, a reference and not a ceiling: glancelet hashes in
two threads; ``cat``, a disk write with fsync, nginx serving the same file
statically). ``--smoke`` (``tox -e bench-smoke``) is a
short run that fails only when something breaks, never on the numbers.

Modules:

* :mod:`benchmarks.client`: the HTTP client (raw sockets and http.client).
* :mod:`benchmarks.procs`: finding worker processes and sampling their RSS.
* :mod:`benchmarks.baselines`: the baseline measurements.
* :mod:`benchmarks.machine`: machine description and server versions.
* :mod:`benchmarks.stats`: median/min/max and percentiles.
* :mod:`benchmarks.plots`: the PNG plots (matplotlib, Agg backend).
* :mod:`benchmarks.measure`: one run of the baselines and of each pattern.
* :mod:`benchmarks.aggregate`: summaries, ratios to the baselines, targets.
* :mod:`benchmarks.report`: the printed tables, results.json and the plots.
* :mod:`benchmarks.run`: the command line; its pattern list is the lab's
  registry (``lab.patterns``) less the patterns declared ``not_benchmarked``.
"""
