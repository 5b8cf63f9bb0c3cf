"""Tempest's image API tests against glancelet behind a real Keystone.

``python -m lab.tempest``, the command of ``tox -e tempest``:

1. starts Keystone under uWSGI from examples/keystone/ (:mod:`lab.keystone`),
   memcached (the token cache authtoken.conf names), glancelet from
   examples/uwsgi-http/ with the examples/keystone/authtoken.conf drop-in
   (``[paste_deploy] flavor = keystone``), and the internal mirror of
   examples/import/ that web-download imports fetch from;
2. registers the image service in Keystone and writes ``tempest.conf``
   (:func:`tempest_conf`): Tempest's dynamic credentials with the bootstrap
   admin, Glance's default scope enforcement, and feature flags that say
   what glancelet implements (:data:`FEATURES`);
3. runs ``tempest run`` on :data:`SELECTION` minus :data:`EXCLUDED`
   (stestr), and parses ``stestr last --subunit`` into per-class counts
   (:func:`summarize`) written to :data:`RESULTS_PATH`, which the docs
   render (``doc/source/_ext/tempest_results.py``).

It exits 0 only when no test failed. Stale results show on the page: the
file records :func:`lab.results.source_digest` of the sources it ran.
"""

import argparse
import collections
import importlib.metadata
import io
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab import keystone as keystone_mod
from lab import memcached
from lab.harness import IMPORT_EXAMPLES, KEYSTONE_EXAMPLES, REPO_ROOT, Workspace, wait_ready
from lab.mirror import Mirror
from lab import patterns
from lab.results import provenance, write_json

RESULTS_PATH = Path("doc/source/_data/tempest-results.json")
DEFAULT_PATTERN = "uwsgi-http"
# What runs: Tempest's image v2 tests and the plugin's image RBAC tests
# (images and their members, for the reader, member and admin personas).
SELECTION = (
    r"^tempest\.api\.image\.v2\.",
    r"^glance_tempest_plugin\.tests\.rbac\.v2\.test_project_\w+_tests\.Images?Project\w+Tests\.",
)
# Listed but not run: Tempest has no feature flag for these.
EXCLUDED = (
    (r"^tempest\.api\.image\.v2\.(admin\.)?test_images_metadefs_",
     "Metadata definitions (metadefs) are out of scope for glancelet; Tempest has no "
     "feature flag for them, so they are not run."),
)
MIRROR_IMAGE = Mirror.path("cirros.img", 1024 * 1024, 1)
SUITES = (("tempest.", "tempest"), ("glance_tempest_plugin.", "glance-tempest-plugin"))
PLUGIN_VERSIONS = ("tempest", "glance-tempest-plugin", "keystone", "keystonemiddleware",
                   "stestr")


# (section, option, value, why): every setting of tempest.conf that says what
# glancelet supports. Values use {keystone}, {mirror}, {password}.
FEATURES = (
    ("service_available", "glance", "true", "The service under test."),
    ("service_available", "nova", "false", "Only the image service runs."),
    ("service_available", "cinder", "false", "Only the image service runs."),
    ("service_available", "neutron", "false", "Only the image service runs."),
    ("service_available", "swift", "false", "Only the image service runs."),
    ("service_available", "horizon", "false", "Only the image service runs."),
    ("enforce_scope", "glance", "true",
     "Glance's defaults: enforce_scope and enforce_new_defaults are on "
     "(reader, member and admin personas; runs the plugin's RBAC tests)."),
    ("enforce_scope", "keystone", "true",
     "Keystone 2025.2 with oslo.policy 6 always enforces scope and the new defaults."),
    ("image", "http_image", "{mirror}",
     "web-download fetches from the lab's internal mirror "
     "(examples/import/internal-mirror.conf), not from the internet."),
    ("image", "http_qcow2_image", "{mirror}",
     "The same mirror (the web-download import test fetches this one)."),
    ("image", "image_caching_enabled", "false", "glancelet has no image cache."),
    ("image", "hashing_algorithm", "sha512", "examples/uwsgi-http/glancelet.conf."),
    ("image-feature-enabled", "import_image", "true",
     "Interoperable import: glance-direct and web-download."),
    ("image-feature-enabled", "os_glance_reserved", "true",
     "Properties prefixed os_glance_ are reserved."),
    ("image-feature-enabled", "do_secure_hash", "true", "os_hash_algo and os_hash_value are set."),
    ("image-feature-enabled", "manage_locations", "false",
     "No image locations API (show_multiple_locations)."),
    ("image-feature-enabled", "http_store_enabled", "false",
     "One filesystem store; no http store."),
    ("image-feature-enabled", "store_weight_enabled", "false", "No multiple stores."),
    ("image-feature-enabled", "image_conversion", "false", "No image conversion on import."),
    ("image-feature-enabled", "image_format_enforcement", "false",
     "No format inspection: glancelet stores the data it is given under the "
     "disk_format the client declares."),
)


def tempest_conf(keystone_url, mirror_url, password=keystone_mod.ADMIN_PASSWORD):
    """The text of tempest.conf for this deployment."""
    sections = collections.OrderedDict()
    sections["DEFAULT"] = [("log_file", "tempest.log")]
    sections["auth"] = [
        ("use_dynamic_credentials", "true"),
        ("admin_username", "admin"), ("admin_password", password),
        ("admin_project_name", "admin"), ("admin_domain_name", "Default"),
        ("admin_system", "all"),
    ]
    sections["identity"] = [("uri_v3", keystone_url), ("region", keystone_mod.REGION)]
    sections["validation"] = [("run_validation", "false")]
    for section, option, value, why in FEATURES:
        sections.setdefault(section, []).append(
            ("# " + why, None))
        sections[section].append((option, value.format(mirror=mirror_url)))
    out = ["# Generated by lab/tempest.py for one run; see FEATURES there."]
    for section, items in sections.items():
        out.append("\n[%s]" % section)
        for key, value in items:
            out.append(key if value is None else "%s = %s" % (key, value))
    return "\n".join(out) + "\n"


def class_of(test_id):
    """``pkg.module.Class`` of a test id or of a ``setUpClass (pkg.module.Class)`` id."""
    m = re.match(r"^\w+ \(([\w.]+)\)$", test_id)
    if m:
        return m.group(1)
    return test_id.split("[", 1)[0].rsplit(".", 1)[0]


def suite_of(cls):
    return next(name for prefix, name in SUITES if cls.startswith(prefix))


def exclusion(test_id):
    """The reason ``test_id`` is not run, or None."""
    return next((why for regex, why in EXCLUDED if re.search(regex, test_id)), None)


def _message(details):
    """The last lines of a failure's traceback: where the cause shows."""
    text = details["traceback"].as_text() if "traceback" in details else ""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-3:])[-600:]


def read_subunit(stream):
    """Each test of a subunit v2 byte stream as (id, status, details)."""
    import subunit
    import testtools
    found = []
    sink = testtools.StreamToDict(
        lambda t: found.append((t["id"], t["status"], t["details"])))
    sink.startTestRun()
    subunit.ByteStreamToStreamResult(stream, non_subunit_name="stdout").run(sink)
    sink.stopTestRun()
    return found


UNREACHED = "Not reached: the run stopped at its time limit (--timeout)."


def summarize(listed, ran, finished=True):
    """Per-class counts from the listed test ids and the (id, status,
    details) of the run: pass, fail, skip (with reasons) and excluded
    (not run; with ``finished`` false, also the tests the run did not reach)."""
    classes = {}

    def entry(cls):
        return classes.setdefault(cls, {
            "class": cls, "suite": suite_of(cls), "tests": 0, "pass": 0, "fail": 0,
            "skip": 0, "excluded": 0, "reasons": [], "failures": []})

    def note(row, reason):
        if reason and reason not in row["reasons"]:
            row["reasons"].append(reason)

    for test_id in listed:
        row = entry(class_of(test_id))
        row["tests"] += 1
        why = exclusion(test_id)
        if why:
            row["excluded"] += 1
            note(row, why)
    fixtures = []
    for test_id, status, details in ran:
        if status in ("exists", "inprogress"):  # listed by the run, or never finished
            continue
        row = entry(class_of(test_id))
        if " (" in test_id:  # setUpClass/tearDownClass: stands for the class
            fixtures.append((row, status, details, test_id.split(" ", 1)[0]))
            continue
        name = test_id.split("[", 1)[0].rsplit(".", 1)[-1]
        if status in ("success", "xfail"):
            row["pass"] += 1
        elif status == "skip":
            row["skip"] += 1
            note(row, details["reason"].as_text().strip() if "reason" in details else "")
        else:
            row["fail"] += 1
            row["failures"].append({"test": name, "message": _message(details)})
    for row, status, details, name in fixtures:
        untouched = row["tests"] - row["excluded"] - row["pass"] - row["fail"] - row["skip"]
        if status == "skip":
            row["skip"] += untouched
            note(row, details["reason"].as_text().strip() if "reason" in details else "")
        elif status not in ("success",):
            row["fail"] += max(untouched, 1)
            row["failures"].append({"test": name, "message": _message(details)})
    for row in classes.values():
        untouched = row["tests"] - row["excluded"] - row["pass"] - row["fail"] - row["skip"]
        if untouched > 0 and not finished:
            row["excluded"] += untouched
            note(row, UNREACHED)
        elif untouched > 0:  # a finished run that lost tests (a worker died)
            row["fail"] += untouched
            row["failures"].append({"test": "(%d not reported)" % untouched,
                                    "message": "listed, but the run reported no result"})
    return sorted(classes.values(), key=lambda r: (r["suite"] != "tempest", r["class"]))


def totals(classes):
    """{suite: {tests, pass, fail, skip, excluded}}."""
    out = {}
    for row in classes:
        suite = out.setdefault(row["suite"], dict.fromkeys(
            ("tests", "pass", "fail", "skip", "excluded"), 0))
        for key in suite:
            suite[key] += row[key]
    return out


def versions():
    found = {"python": platform.python_version()}
    for dist in ("glancelet",) + PLUGIN_VERSIONS:
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def results_path(pattern):
    """Where a full run against ``pattern`` writes its results: the default
    pattern's go to :data:`RESULTS_PATH`, another's next to it."""
    if pattern == DEFAULT_PATTERN:
        return RESULTS_PATH
    return RESULTS_PATH.with_name("tempest-results-%s.json" % pattern)


def write_results(classes, timings, complete, path=RESULTS_PATH, pattern=DEFAULT_PATTERN):
    data = {
        **provenance(REPO_ROOT, complete),
        "pattern": pattern,
        "versions": versions(),
        "timings": {k: round(v, 1) for k, v in timings.items()},
        "selection": list(SELECTION),
        "excluded": [{"regex": regex, "reason": why} for regex, why in EXCLUDED],
        "features": [{"section": s, "option": o, "value": v, "why": w}
                     for s, o, v, w in FEATURES if "{" not in v],
        "totals": totals(classes),
        "classes": classes,
    }
    return write_json(REPO_ROOT / path, data)


class Deployment:
    """Keystone, glancelet behind it (as ``pattern`` serves it) and the
    mirror, in workspace ``ws``."""

    def __init__(self, ws, pattern):
        self.ws = ws
        self.pattern = pattern
        self.keystone = keystone_mod.Keystone(ws)
        self.mirror = Mirror(ws.port("60990"))

    def start(self):
        self.keystone.setup()
        self.keystone.start()
        # The token cache examples/keystone/authtoken.conf names.
        memcached.start_memcached(self.ws)
        self.ws.install(*KEYSTONE_EXAMPLES[2])
        self.ws.install(*IMPORT_EXAMPLES[0])
        self.mirror.__enter__()
        base, ca_file = self.pattern.launch(self.ws)
        if ca_file:
            raise SystemExit("pattern %s serves HTTPS; lab.tempest runs plain HTTP patterns"
                             % self.pattern.name)
        self.url = base + self.pattern.url_prefix
        wait_ready(self.url + "/", list(self.ws.servers.values()), deadline=60)
        keystone_mod.register_glance(keystone_mod.admin_connection(self.keystone), self.url)
        return self

    def stop(self):
        self.mirror.__exit__(None, None, None)
        return self.ws.stop_all()


def _tool(name):
    return str(Path(sys.prefix) / "bin" / name)


def list_tests(workdir):
    """The ids the workspace's include list selects (the excluded ones too);
    kept in ``listed.txt``."""
    saved = workdir / "listed.txt"
    if not saved.exists():
        saved.write_text(subprocess.run(
            [_tool("stestr"), "list", "--include-list", str(workdir / "include.txt")],
            cwd=workdir, check=True, capture_output=True, text=True).stdout)
    return saved.read_text().split()


def run_tempest(workdir, conf_text, concurrency, extra_regex, timeout):
    """``tempest init``, the conf, ``tempest run``; return (listed ids, subunit
    bytes, whether the run finished within ``timeout`` seconds)."""
    # The workspace registry goes next to it, not into ~/.tempest.
    subprocess.run([_tool("tempest"), "init", "--workspace-path",
                    str(workdir.parent / "workspace.yaml"), str(workdir)], check=True)
    conf = workdir / "etc" / "tempest.conf"
    conf.write_text(conf_text)
    include = workdir / "include.txt"
    include.write_text("\n".join(extra_regex or SELECTION) + "\n")
    exclude = workdir / "exclude.txt"
    exclude.write_text("\n".join(regex for regex, _ in EXCLUDED) + "\n")
    listed = list_tests(workdir)
    stream = workdir / "run.subunit"
    # --config-file: the test workers do not look in the workspace's etc/.
    # --subunit: the results as they come, so that a stopped run still has them.
    with open(stream, "wb") as out:
        run = subprocess.Popen(
            [_tool("tempest"), "run", "--config-file", str(conf), "--subunit",
             "--include-list", str(include), "--exclude-list", str(exclude),
             "--concurrency", str(concurrency)],
            cwd=workdir, stdout=out, start_new_session=True)
        try:
            run.wait(timeout=timeout or None)
            finished = True
        except subprocess.TimeoutExpired:
            finished = False
            stop_group(run)
        except BaseException:  # SIGTERM (see on_sigterm) or Ctrl-C: the run goes too
            stop_group(run)
            raise
    return listed, stream.read_bytes(), finished


def stop_group(proc, grace=30):
    """Stop ``proc``, started in a session of its own, and the rest of its
    group (tempest and its workers): SIGINT, so that Python flushes the
    subunit already buffered for stdout as it exits, then SIGKILL after
    ``grace`` seconds."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:  # the whole group is gone already
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


def on_sigterm(signum, frame):
    """SIGTERM stops a run as Ctrl-C does: ``main``'s ``finally`` stops the
    servers it started (by PID); a second SIGTERM does not cut that short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.tempest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    # One worker: Keystone runs one process (SQLite, examples/keystone/), so a
    # second worker's identity calls only queue there, and the token checks
    # glancelet makes wait behind them past authtoken.conf's 5 s timeout.
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=0,
                        help="stop the Tempest run after this many seconds (0: no limit); "
                             "the tests it did not reach are counted as not run")
    parser.add_argument("--pattern", default=DEFAULT_PATTERN,
                        choices=[p.name for p in patterns.all_patterns()],
                        help="the deployment pattern that serves glancelet (its front "
                             "door is the image endpoint Tempest uses); default %(default)s")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (logs, tempest.conf) after a pass")
    parser.add_argument("--rescan", metavar="WORKDIR", type=Path,
                        help="start nothing: count the results of the run kept in WORKDIR "
                             "again (its run.subunit, listed.txt and timings.json)")
    parser.add_argument("regex", nargs="*",
                        help="run only these test-id regexes; the results then go to "
                             "doc/build/tempest-results.partial.json")
    args = parser.parse_args(argv)
    if args.rescan:
        return rescan(args.rescan, partial=bool(args.regex), pattern=args.pattern)
    signal.signal(signal.SIGTERM, on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="glancelet-tempest-", dir="/var/tmp"))
    ws = Workspace(workdir)
    deployment = Deployment(ws, patterns.get(args.pattern))
    timings = {}
    try:
        started = time.monotonic()
        deployment.start()
        timings["keystone and glancelet start"] = time.monotonic() - started
        conf = tempest_conf(deployment.keystone.url, deployment.mirror.url(MIRROR_IMAGE))
        started = time.monotonic()
        listed, stream, finished = run_tempest(workdir / "tempest", conf, args.concurrency,
                                               args.regex, args.timeout)
        timings["tempest run"] = time.monotonic() - started
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the servers' stop is not cut short
        errors = deployment.stop()
        (workdir / "timings.json").write_text(json.dumps(timings))
    failed = record(listed, read_subunit(io.BytesIO(stream)), finished, timings,
                    partial=bool(args.regex), pattern=args.pattern)
    failed = errors or failed
    if errors:
        print("servers did not stop cleanly:\n%s" % "\n".join(errors), file=sys.stderr)
    if failed or args.keep:
        print("work directory kept: %s (server logs: %s)" % (
            workdir, ws.path("/var/log/glancelet")))
    else:
        ws.remove()
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


def record(listed, ran, finished, timings, partial, pattern=DEFAULT_PATTERN):
    """Count, write the results file, print the totals; True if not green."""
    classes = summarize(listed, ran, finished)
    path = write_results(classes, timings, complete=finished and not partial,
                         path=Path("doc/build/tempest-results.partial.json") if partial
                         else results_path(pattern), pattern=pattern)
    report(classes, timings, path)
    return not finished or any(row["fail"] for row in classes)


def rescan(workdir, partial, pattern=DEFAULT_PATTERN):
    """Count a kept run again. It finished if every test it announced
    ("exists") has a result and none was left in progress."""
    ran = read_subunit(io.BytesIO((workdir / "tempest" / "run.subunit").read_bytes()))
    announced = {t for t, status, _ in ran if status == "exists"}
    done = {t for t, status, _ in ran if status not in ("exists", "inprogress")}
    timings = workdir / "timings.json"
    timings = json.loads(timings.read_text()) if timings.exists() else {}
    return int(record(list_tests(workdir / "tempest"), ran, announced <= done, timings,
                      partial, pattern))


def report(classes, timings, path):
    for suite, counts in totals(classes).items():
        print("%s: %s" % (suite, ", ".join("%s %d" % kv for kv in counts.items())))
    print("timings (s): %s" % ", ".join("%s %.0f" % kv for kv in timings.items()))
    print("results: %s" % os.path.relpath(path))


if __name__ == "__main__":
    sys.exit(main())
