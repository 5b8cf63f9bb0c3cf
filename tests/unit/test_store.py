"""The filesystem store: atomic writes, hashes, and stale temp files."""

import errno
import fcntl
import hashlib
import io
import os
import signal
import subprocess
import sys

import pytest

from glancelet import store as store_mod
from glancelet.store import FilesystemStore, SizeMismatch


class Body:
    def __init__(self, data, fail_at=None, exc=None):
        self.data = io.BytesIO(data)
        self.fail_at = fail_at
        self.exc = exc or OSError("client went away")

    def read(self, n):
        if self.fail_at is not None and self.data.tell() >= self.fail_at:
            raise self.exc
        return self.data.read(n)


@pytest.fixture(params=[True, False], ids=["threaded", "inline"])
def fs(request, tmp_path):
    return FilesystemStore(str(tmp_path / "images"), "sha512", threaded=request.param,
                           chunk_size=64 * 1024)


def test_write_hashes_and_renames(fs):
    data = os.urandom(1_000_003)
    result = fs.write("img", Body(data))
    assert result.size == len(data)
    assert result.checksum == hashlib.md5(data).hexdigest()
    assert result.os_hash_algo == "sha512"
    assert result.os_hash_value == hashlib.sha512(data).hexdigest()
    with open(result.path, "rb") as fp:
        assert fp.read() == data
    assert os.path.dirname(result.path) == fs.directory
    assert result.name.startswith("img.")
    assert fs.temp_files() == []
    result.close()


def test_configurable_hash(tmp_path):
    fs = FilesystemStore(str(tmp_path), "sha256")
    result = fs.write("img", Body(b"abc"))
    assert result.os_hash_value == hashlib.sha256(b"abc").hexdigest()


def test_failure_mid_stream_leaves_nothing(fs):
    with pytest.raises(OSError, match="client went away"):
        fs.write("img", Body(os.urandom(500_000), fail_at=200_000))
    assert os.listdir(fs.directory) == []


def test_failure_keeps_an_existing_file_untouched(fs):
    old = fs.write("img", Body(b"old"))
    fs.keep(old, lambda: True)
    with pytest.raises(OSError):
        fs.write("img", Body(os.urandom(300_000), fail_at=100_000))
    with open(old.path, "rb") as fp:
        assert fp.read() == b"old"
    assert os.listdir(fs.directory) == [old.name]


def test_size_mismatch_leaves_nothing(fs):
    with pytest.raises(SizeMismatch) as info:
        fs.write("img", Body(b"x" * 100), expected_size=99)
    assert (info.value.expected, info.value.actual) == (99, 100)
    assert os.listdir(fs.directory) == []


def test_empty_image(fs):
    result = fs.write("img", Body(b""))
    assert result.size == 0
    assert result.checksum == hashlib.md5(b"").hexdigest()


def test_stale_temp_files_are_removed_but_live_ones_kept(tmp_path):
    fs = FilesystemStore(str(tmp_path))
    stale = os.path.join(fs.directory, store_mod.TEMP_PREFIX + "dead-1-aa")
    with open(stale, "wb") as fp:
        fp.write(b"partial")
    live_fd, live = fs._create_temp("live")  # holds the flock like a writer does
    try:
        removed = fs.remove_stale_temp_files()
        assert removed == [os.path.basename(stale)]
        assert os.path.exists(live)
        assert not os.path.exists(stale)
    finally:
        os.close(live_fd)
    assert fs.remove_stale_temp_files() == [os.path.basename(live)]


def test_temp_file_is_locked_while_writing(tmp_path):
    fs = FilesystemStore(str(tmp_path))
    seen = []

    class Probe(Body):
        def read(self, n):
            if not seen:
                (name,) = fs.temp_files()
                fd = os.open(os.path.join(fs.directory, name), os.O_RDONLY)
                try:
                    with pytest.raises(BlockingIOError):
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                finally:
                    os.close(fd)
                seen.append(name)
            return super().read(n)

    fs.write("img", Probe(b"data"))
    assert seen


class _Zeros:
    """A body of ``size`` bytes, each read a new bytes object."""

    def __init__(self, size):
        self.left = size

    def read(self, n):
        n = min(n, self.left)
        self.left -= n
        return b"\0" * n


def test_memory_stays_bounded_with_threaded_hashing(tmp_path):
    """The hash queues are bounded: a slow hasher applies back-pressure
    instead of buffering the image. The allocations a write holds at its
    peak (tracemalloc, every thread) are the same for 64 MiB as for 8 MiB,
    and within the queues' chunks plus the few being read, hashed and
    written: 4 MiB, so that four uploads in one worker's threads stay
    within the benchmarks' 32 MiB growth target."""
    import tracemalloc
    fs = FilesystemStore(str(tmp_path), fsync=False)
    bound = (store_mod._QUEUE_DEPTH + 4) * store_mod.CHUNK_SIZE
    assert bound <= 4 * 1024 * 1024
    peaks = {}
    for mib in (8, 64):
        tracemalloc.start()
        try:
            result = fs.write("%d" % mib, _Zeros(mib << 20))
            peaks[mib] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        result.close()
        assert result.size == mib << 20
    assert peaks[64] <= bound, peaks
    assert peaks[64] <= peaks[8] + store_mod.CHUNK_SIZE, peaks


def test_large_writes_are_flushed_in_the_background(tmp_path, monkeypatch):
    synced = []
    real = os.fdatasync
    monkeypatch.setattr(store_mod, "FLUSH_EVERY", 100_000)
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd)))
    fs = FilesystemStore(str(tmp_path), chunk_size=10_000)
    data = os.urandom(1_000_000)
    result = fs.write("img", Body(data))
    assert result.size == len(data)
    assert synced  # writeback started before the end
    assert fs.temp_files() == []
    with open(result.path, "rb") as fp:
        assert fp.read() == data


def test_small_pieces_are_gathered_before_hashing(tmp_path, monkeypatch):
    # Proxies re-chunk uploads into small pieces; each handed to the hash
    # threads on its own costs more than the hashing.
    sizes = []
    real_update = store_mod.HashPipeline.update
    monkeypatch.setattr(store_mod.HashPipeline, "update",
                        lambda self, chunk: (sizes.append(len(chunk)), real_update(self, chunk)))

    class Pieces:
        def __init__(self, data, piece):
            self.data, self.piece = io.BytesIO(data), piece

        def read(self, n):
            assert n > 0
            return self.data.read(min(n, self.piece))

    data = os.urandom(100_000)
    fs = FilesystemStore(str(tmp_path), chunk_size=16_384)
    result = fs.write("img", Pieces(data, 1000))
    assert result.checksum == hashlib.md5(data).hexdigest()
    assert sizes[:-1] == [16_384] * (len(sizes) - 1)
    assert sum(sizes) == len(data)


def test_helper_threads_leave_server_signals_to_the_main_thread(tmp_path, monkeypatch):
    import signal
    masks = {}

    def recording(cls):
        real_run = cls.run

        def run(self):
            try:
                real_run(self)
            finally:
                masks[self.name] = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        monkeypatch.setattr(cls, "run", run)

    recording(store_mod._Hasher)
    recording(store_mod._Flusher)
    monkeypatch.setattr(store_mod, "FLUSH_EVERY", 10)
    FilesystemStore(str(tmp_path), chunk_size=50).write("img", Body(b"x" * 100))
    assert set(masks) == {"glancelet-hash-md5", "glancelet-hash-sha512", "glancelet-flush"}
    for mask in masks.values():
        assert {signal.SIGTERM, signal.SIGHUP, signal.SIGINT} <= mask
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


# -- Finding 11 of issue 10: a scan never removes a temp file being created ---------------

def test_a_scan_between_create_and_lock_leaves_the_new_temp_file(tmp_path, monkeypatch):
    """The scan runs at the worst moment: the writer has created its temp file
    and not yet locked it. Before the fix, the scan removed it and the write
    failed at its rename."""
    fs = FilesystemStore(str(tmp_path), threaded=False, fsync=False)
    real_flock = fcntl.flock
    scans = []

    def flock(fd, operation):
        if operation == fcntl.LOCK_EX and not scans:  # the writer, about to lock
            scans.append(fs.remove_stale_temp_files())
        return real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock)
    result = fs.write("img", Body(b"data"))
    assert scans == [[]]
    with open(result.path, "rb") as fp:
        assert fp.read() == b"data"
    result.close()


def test_writes_survive_a_scanner_running_beside_them(tmp_path):
    """Up to 3000 writes (10 s at most) while another thread scans non-stop."""
    import threading
    import time
    fs = FilesystemStore(str(tmp_path), threaded=False, fsync=False)
    stop = threading.Event()
    scans = []

    def scan():
        while not stop.is_set():
            scans.append(fs.remove_stale_temp_files())

    scanner = threading.Thread(target=scan, daemon=True)
    scanner.start()
    failures, writes = [], 0
    deadline = time.monotonic() + 10
    try:
        while writes < 3000 and time.monotonic() < deadline:
            try:
                fs.keep(fs.write("img", Body(b"x")), lambda: False)
            except OSError as exc:
                failures.append(exc)
            writes += 1
    finally:
        stop.set()
        scanner.join(10)
    assert len(scans) > 1 and writes > 100
    assert failures == []
    assert not any(scans) and os.listdir(fs.directory) == []


@pytest.mark.parametrize("step", ["flock", "link"])
def test_a_writer_killed_before_its_temp_file_has_a_name_leaves_nothing(tmp_path, step):
    """The temp file is created without a name (O_TMPFILE), locked, then
    linked in: a process SIGKILLed just before the lock or the link leaves
    no file at all (a named file, as ``.new-``, would stay for NEW_GRACE)."""
    script = ("import os, signal, sys\n"
              "from glancelet import store\n"
              "real = store.{mod}.{fn}\n"
              "def die(*a, **k):\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n"
              "store.{mod}.{fn} = die\n"
              "store.FilesystemStore(sys.argv[1]).write('img', open(os.devnull, 'rb'))\n"
              ).format(mod="fcntl" if step == "flock" else "os",
                       fn="flock" if step == "flock" else "link")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    child = subprocess.run([sys.executable, "-c", script, str(tmp_path / "images")], cwd=root,
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert os.listdir(tmp_path / "images") == []


def test_without_o_tmpfile_the_temp_file_is_named_first(tmp_path, monkeypatch):
    """On a filesystem without O_TMPFILE the write still works: its temp file
    is created as ``.new-``, locked, and renamed to ``.tmp-``."""
    real_open, created = os.open, []

    def open_(path, flags, *args, **kwargs):
        if flags & os.O_TMPFILE == os.O_TMPFILE:
            raise OSError(errno.EOPNOTSUPP, "not on this filesystem")
        created.append(os.path.basename(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(store_mod.os, "open", open_)
    result = FilesystemStore(str(tmp_path)).write("img", Body(b"data"))
    result.close()
    assert open(result.path, "rb").read() == b"data"
    assert any(name.startswith(store_mod.NEW_PREFIX + "img-") for name in created), created


def test_a_new_temp_file_left_by_a_dead_process_is_removed_once_old(tmp_path):
    fs = FilesystemStore(str(tmp_path))
    left = os.path.join(fs.directory, store_mod.NEW_PREFIX + "img-1-aa")
    open(left, "wb").close()
    assert fs.remove_stale_temp_files() == []  # it may be a writer about to lock it
    old = os.stat(left).st_mtime - store_mod.NEW_GRACE - 1
    os.utime(left, (old, old))
    assert fs.remove_stale_temp_files() == [os.path.basename(left)]


# -- Finding 1 of issue 10: a write is kept only by its commit ------------------------------

IMAGE = "0b6b3c40-3c1f-4b4e-9d3f-00000000000a"


def test_each_write_has_a_file_of_its_own_and_a_lost_commit_removes_only_it(fs):
    first = fs.write(IMAGE, Body(b"first"))
    assert fs.keep(first, lambda: True)
    second = fs.write(IMAGE, Body(b"second"))
    assert second.name != first.name
    assert not fs.keep(second, lambda: False)
    assert os.listdir(fs.directory) == [first.name]
    with open(first.path, "rb") as fp:
        assert fp.read() == b"first"


def test_unreferenced_files_are_removed_unless_locked_or_recorded_meanwhile(tmp_path):
    fs = FilesystemStore(str(tmp_path))
    recorded = fs.write(IMAGE, Body(b"a"))
    fs.keep(recorded, lambda: True)
    orphan = fs.write(IMAGE, Body(b"b"))
    orphan.close()                         # its process died before the commit
    late = fs.write(IMAGE, Body(b"c"))
    late.close()                           # recorded after the scan read the names
    pending = fs.write(IMAGE, Body(b"d"))  # still held by its writer
    other = os.path.join(fs.directory, "not-image-data")
    open(other, "wb").close()
    removed = fs.remove_unreferenced({recorded.name}, lambda name: name == late.name)
    assert removed == [orphan.name]
    assert sorted(os.listdir(fs.directory)) == sorted(
        [recorded.name, late.name, pending.name, "not-image-data"])
    pending.close()
