"""``python -m benchmarks.pyspy_upload PATTERN {cl,chunked}``: where an upload spends its time.

Starts PATTERN from lab/patterns, runs py-spy (``pip install
py-spy``; not a dependency of the project) on the process running glancelet
and its children while one image uploads, then prints the busiest
(thread, innermost two frames) pairs. Idle threads without Python frames are
left out.
"""

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import baselines, client


def summarize(raw_path, top=15):
    counts, per_thread = collections.Counter(), collections.Counter()
    for line in Path(raw_path).read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        threads = [f for f in frames if f.startswith("thread")]
        if not threads or len(frames) <= 3:
            continue
        thread = threads[0].split(":")[-1].strip()
        counts[(thread, ";".join(frames[-2:]))] += int(n)
        per_thread[thread] += int(n)
    for (thread, frames), n in counts.most_common(top):
        print("%6d  %-24s %s" % (n, thread, frames))
    print("samples per thread:", dict(per_thread))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.pyspy_upload", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pattern")
    p.add_argument("framing", choices=("cl", "chunked"))
    p.add_argument("--mib", type=int, default=1024)
    p.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    args = p.parse_args(argv)
    pyspy = shutil.which("py-spy")
    if not pyspy:
        raise SystemExit("py-spy not found; run: %s -m pip install py-spy" % sys.executable)
    from lab import patterns
    os.environ.pop("GLANCELET_CONFIG_FILE", None)
    pattern = patterns.get(args.pattern)
    work = Path(tempfile.mkdtemp(prefix="pyspy-upload-"))
    work.chmod(0o755)
    try:
        size = args.mib * 1024 * 1024
        image = baselines.make_image_file(work / "image.bin", size)
        raw = work / "pyspy.txt"
        with pattern.without_keystone().with_unit_user(False).start(work / "deployment") as dep:
            image_id = client.create_image(dep.base_url, "pyspy")
            spy = subprocess.Popen([pyspy, "record", "--pid", str(dep.app_server.pid),
                                    "--subprocesses", "--threads", "--nonblocking",
                                    "--format", "raw", "-r", str(args.rate), "-o", str(raw)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(1.5)  # py-spy attaches
                seconds = client.upload(dep.base_url, image_id, image, size,
                                        args.framing == "chunked")
            finally:
                spy.send_signal(2)
                spy.wait(60)
            print("%s %s: %.2f s, %.0f MiB/s" % (args.pattern, args.framing, seconds,
                                                 args.mib / seconds))
        summarize(raw)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
