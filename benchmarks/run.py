"""``python -m benchmarks.run``: benchmark glancelet under the example deployments.

Full run (``tox -e bench``): every registered pattern (``lab/patterns``)
except those whose declaration says why not (``not_benchmarked``), ``--runs``
times (default 3, patterns interleaved run by run), a 1 GiB image; writes
``doc/source/_data/bench/results.json`` and the PNG plots there.

A multi-node pattern (haproxy-multinode) is measured through its front
door and at its first node directly, in the same deployment
(:func:`benchmarks.measure.run_pattern`).

OpenStack Glance (``tests/glance-requirements.txt``) is measured beside
glancelet under every selected pattern with Glance files (``Pattern.glance``),
in the same runs; as root, run.py installs it first (``python -m lab.glance``'s
steps). ``--no-glance`` leaves it out.

``--smoke`` (``tox -e bench-smoke``, CI): one run, a 16 MiB image, two
patterns, few requests, no Glance (the output says so), output under
``build/bench-smoke/``. It fails when anything breaks (a server does not
start, a request fails, a size or checksum is wrong), never because of the
numbers.

``--only rss-1gib``: only the uploads (Content-Length and chunked) with the
worker RSS sampled every 50 ms; prints idle, peak and growth per worker.

Each pattern is started through ``lab/patterns`` with the real
``examples/`` files; nothing here configures a glancelet server. The work is
in :mod:`benchmarks.measure`, :mod:`benchmarks.aggregate` and
:mod:`benchmarks.report`; this module is the command line.
"""

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks import aggregate, baselines, growth as growth_mod, machine, measure, report
from benchmarks import offload as offload_mod
from benchmarks.measure import log
from lab import patterns as registry

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "doc" / "source" / "_data" / "bench"
SMOKE_DIR = REPO_ROOT / "build" / "bench-smoke"

# The patterns the CI smoke run starts (the two standalone WSGI servers).
SMOKE_PATTERNS = ["uwsgi-http", "gunicorn"]
ONLY = ("all", "rss-1gib")


def full_patterns():
    """Every registered pattern the benchmarks can measure, by name."""
    return [p.name for p in registry.all_patterns() if p.not_benchmarked is None]


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true",
                   help="short CI run: 1 run, 16 MiB, %s" % ", ".join(SMOKE_PATTERNS))
    p.add_argument("--runs", type=int, help="runs per figure (default 3; smoke 1)")
    p.add_argument("--patterns", help="comma-separated pattern names (default: %s)"
                   % ", ".join(full_patterns()))
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
    p.add_argument("--growth", help="patterns for the concurrency and growth figures "
                   "(benchmarks/growth.py; default %s, one per database backend; smoke "
                   "and --only rss-1gib: none; 'none' for none)" % growth_mod.DEFAULT_PATTERNS)
    p.add_argument("--growth-images", help="image counts for the list latency curve "
                   "(default 1000,10000,100000)")
    p.add_argument("--growth-requests", type=int, help="requests per list figure and per "
                   "concurrency level (default 200)")
    p.add_argument("--growth-upload-mib", type=int, default=64,
                   help="size of each concurrent upload (default 64)")
    p.add_argument("--offload", help="fronts whose download offload to measure "
                   "(benchmarks/offload.py: %s; default all of them, smoke and --only "
                   "rss-1gib: none; 'none' for none)" % ", ".join(offload_mod.FRONTS))
    p.add_argument("--no-null", dest="null", action="store_false",
                   help="do not run the null image service (benchmarks/nullservice.py) "
                   "beside glancelet under each pattern's files")
    p.add_argument("--no-glance", dest="glance", action="store_false", default=None,
                   help="do not run OpenStack Glance beside glancelet under the patterns "
                   "with Glance files (smoke: never)")
    p.add_argument("--glance-patterns", help="comma-separated: run Glance under these "
                   "patterns only (default: every selected pattern with Glance files)")
    p.add_argument("--no-provision", dest="provision", action="store_false",
                   help="do not run python -m lab.provision for the Apache patterns (it "
                   "reinstalls this checkout's glancelet into the mod_wsgi venv; use it "
                   "when that venv is shared and already provisioned)")
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
    args.glance = not smoke and args.glance is not False
    args.glance_patterns = (set(args.glance_patterns.split(",")) if args.glance_patterns
                            else None)
    if args.quiet_wait is None:
        args.quiet_wait = 0.0 if smoke else 30.0
    default_growth = "none" if smoke or args.only != "all" else growth_mod.DEFAULT_PATTERNS
    args.growth = [] if (args.growth or default_growth) == "none" else (
        args.growth or default_growth).split(",")
    default_offload = "none" if smoke or args.only != "all" else ",".join(offload_mod.FRONTS)
    args.offload = [] if (args.offload or default_offload) == "none" else (
        args.offload or default_offload).split(",")
    unknown = set(args.offload) - set(offload_mod.FRONTS)
    if unknown:
        p.error("unknown --offload fronts: %s" % ", ".join(sorted(unknown)))
    args.growth_images = [int(n) for n in (args.growth_images or "1000,10000,100000").split(",")]
    args.growth_requests = args.growth_requests or 200
    args.pattern_names = (args.patterns.split(",") if args.patterns
                          else SMOKE_PATTERNS if smoke else full_patterns())
    args.out = Path(args.out) if args.out else (SMOKE_DIR if smoke else RESULTS_DIR)
    if args.runs < 1 or args.image_size <= 0:
        p.error("--runs and --image-mib must be positive")
    return args


def load_patterns(names):
    known = {p.name: p for p in registry.all_patterns()}
    missing = [n for n in names if n not in known]
    if missing:
        raise SystemExit("benchmarks: no pattern named %s in lab/patterns "
                         "(registered: %s)" % (", ".join(missing), ", ".join(sorted(known))))
    excluded = ["%s (%s)" % (n, known[n].not_benchmarked) for n in names
                if known[n].not_benchmarked]
    if excluded:
        raise SystemExit("benchmarks: not benchmarked: %s" % "; ".join(excluded))
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


def provision(selected, enabled=True, glance=(), offload=()):
    """The system packages: nginx, and bindep's bench profile (HAProxy,
    PostgreSQL) when a selected pattern runs HAProxy or a database server.
    Apache patterns, and Apache's download offload (``offload`` names it),
    need the mod_wsgi venv, mod_xsendfile etc.: the examples' provisioning.
    Glance for the patterns ``glance`` that run it (:mod:`lab.glance`)."""
    from lab import provision as prov
    if glance:
        provision_glance(glance, enabled)
    bench = any(p.database or "haproxy" in p.kinds for p in selected)
    runs = [["--profile", "bench"]] if bench else []
    if not runs:
        ensure_nginx()
    if enabled and (any("apache2" in p.kinds for p in selected) or "apache" in offload):
        runs.append([])
    for argv in runs:
        log("provisioning: python -m lab.provision %s" % " ".join(argv))
        rc = prov.main(argv)
        if rc:
            raise SystemExit("benchmarks: provisioning failed (exit %s), see above" % rc)


def provision_glance(with_glance, enabled=True):
    """Glance in this environment, and (``enabled``) in its mod_wsgi venv
    when one of ``with_glance`` runs Apache: what ``python -m lab.glance``
    does, for the selected patterns only."""
    from lab import glance
    steps = [glance.provision] if with_glance else []
    if enabled and any("apache2" in p.serving("glance").kinds for p in with_glance):
        steps.append(glance.provision_mod_wsgi)
    for step in steps:
        log("provisioning Glance: lab.glance.%s" % step.__name__)
        if step():
            raise SystemExit("benchmarks: Glance is not installed (see above), or run "
                             "with --no-glance")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # The mod_wsgi example reads its config path from its .wsgi file; an
    # inherited GLANCELET_CONFIG_FILE would override it.
    os.environ.pop("GLANCELET_CONFIG_FILE", None)
    selected = load_patterns(args.pattern_names)
    load_patterns([name for name in args.growth if name != growth_mod.MARIADB])
    provision(selected, args.provision,
              [p for p in selected if "glance" in measure.subjects(args, p)], args.offload)
    for name, why in measure.glance_not_measured(args, selected).items():
        log("Glance not measured under %s: %s" % (name, why))
    started = time.monotonic()
    load_at_start = machine.loadavg()
    workroot = Path(args.workdir) if args.workdir else Path(
        tempfile.mkdtemp(prefix="glancelet-bench-"))
    workroot.mkdir(parents=True, exist_ok=True)
    # nginx and Apache workers (nobody, www-data) must reach the files below it.
    workroot.chmod(0o755)
    stack = contextlib.ExitStack()
    try:
        base_runs, pattern_runs, null_runs, paired, glance_runs, memory = measure.measure(
            args, selected, workroot, stack)
        growth = measure.growth(args, workroot)
        offload = measure.offload(args, workroot)
        results = aggregate.results(args, selected, base_runs, pattern_runs, null_runs, paired,
                                    load_at_start, round(time.monotonic() - started, 1),
                                    growth, glance_runs, offload, memory)
        if args.only == "rss-1gib":
            report.print_rss_report(results)
        else:
            report.write_outputs(results, args.out)
        report.print_tables(results, results["targets"])
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
