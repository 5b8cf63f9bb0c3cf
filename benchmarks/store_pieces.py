"""``python -m benchmarks.store_pieces``: glancelet's store fed small pieces.

An in-process microbenchmark of ``glancelet.store.FilesystemStore.write``
(no server, no network, fsync off): the same bytes arrive in pieces of 1 MiB,
64, 16 and 8 KiB, as a body reader hands them over when a proxy re-chunks an
upload (nginx, Apache send 8-16 KiB chunks), then the same small pieces
through a reader whose ``read(n)`` gathers up to ``n`` bytes first. Prints
MiB/s, best and all of ``--repeat`` runs.
"""

import argparse
import os
import shutil
import tempfile
import time

from glancelet import store

PIECES = (1024 * 1024, 64 * 1024, 16 * 1024, 8 * 1024)


class Pieces:
    """A body whose ``read(n)`` returns at most ``piece`` bytes (a new object each time)."""

    def __init__(self, data, size, piece):
        self.data, self.left, self.piece = data, size, piece

    def read(self, n):
        if not self.left:
            return b""
        k = min(self.piece, n, self.left, len(self.data))
        self.left -= k
        return bytes(self.data[:k])


class Gathering:
    """``read(n)`` keeps reading the wrapped body until it has ``n`` bytes or it ends."""

    def __init__(self, body):
        self.body = body

    def read(self, n):
        parts, got = [], 0
        while got < n:
            part = self.body.read(n - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
        return b"".join(parts)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.store_pieces", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mib", type=int, default=512, help="bytes per write, MiB (512)")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    size = args.mib * 1024 * 1024
    data = os.urandom(1024 * 1024)
    workdir = tempfile.mkdtemp(prefix="store-pieces-")
    try:
        st = store.FilesystemStore(workdir, fsync=False)
        st.write("warm", Pieces(data, size, len(data)))
        st.delete("warm")
        for piece in PIECES:
            for gather in (False, True):
                rates = []
                for _ in range(args.repeat):
                    body = Pieces(data, size, piece)
                    start = time.perf_counter()
                    st.write("img", Gathering(body) if gather else body)
                    rates.append(args.mib / (time.perf_counter() - start))
                    st.delete("img")
                print("pieces %7d B %-22s best %4.0f MiB/s  all %s" % (
                    piece, "gathered to read(n)" if gather else "as delivered", max(rates),
                    [round(r) for r in rates]), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
