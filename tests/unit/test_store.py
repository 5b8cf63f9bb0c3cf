"""The filesystem store: atomic writes, hashes, and stale temp files."""

import fcntl
import hashlib
import io
import os

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
    with open(fs.path("img"), "rb") as fp:
        assert fp.read() == data
    assert fs.temp_files() == []


def test_configurable_hash(tmp_path):
    fs = FilesystemStore(str(tmp_path), "sha256")
    result = fs.write("img", Body(b"abc"))
    assert result.os_hash_value == hashlib.sha256(b"abc").hexdigest()


def test_failure_mid_stream_leaves_nothing(fs):
    with pytest.raises(OSError, match="client went away"):
        fs.write("img", Body(os.urandom(500_000), fail_at=200_000))
    assert not fs.exists("img")
    assert os.listdir(fs.directory) == []


def test_failure_keeps_an_existing_file_untouched(fs):
    fs.write("img", Body(b"old"))
    with pytest.raises(OSError):
        fs.write("img", Body(os.urandom(300_000), fail_at=100_000))
    with open(fs.path("img"), "rb") as fp:
        assert fp.read() == b"old"


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


def test_memory_stays_bounded_with_threaded_hashing(tmp_path):
    # The hash queues are bounded: a slow hasher applies back-pressure
    # instead of buffering the image.
    assert store_mod._QUEUE_DEPTH * store_mod.CHUNK_SIZE <= 16 * 1024 * 1024


def test_large_writes_are_flushed_in_the_background(tmp_path, monkeypatch):
    synced = []
    real = os.fdatasync
    monkeypatch.setattr(store_mod, "FLUSH_EVERY", 100_000)
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd)))
    fs = FilesystemStore(str(tmp_path), chunk_size=10_000)
    data = os.urandom(1_000_000)
    assert fs.write("img", Body(data)).size == len(data)
    assert synced  # writeback started before the end
    assert fs.temp_files() == []
    with open(fs.path("img"), "rb") as fp:
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
