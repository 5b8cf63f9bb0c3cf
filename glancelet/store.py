"""The filesystem store: atomic, streaming, hashed writes.

An upload is written to a temporary file in the store directory while md5
and the os_hash are computed. Only when the whole body has arrived, matches
the expected size and is on disk (fsync) is it renamed to its final name.
On any failure the temporary file is removed, so a partial image never
becomes visible.

Hashing runs in its own threads beside the socket read and the disk write
(hashlib releases the GIL on large buffers), so an upload is not limited to
one core doing read, md5, sha512 and write in series. Each hasher's queue is
bounded, so memory stays flat whatever the image size.

Every temporary file is held under an exclusive ``flock`` by the process
writing it. ``remove_stale_temp_files`` deletes only temporary files that no
live process holds: the residue of a process that was killed mid-upload.
"""

import errno
import fcntl
import hashlib
import os
import queue
import threading

from glancelet.threads import block_server_signals

TEMP_PREFIX = ".tmp-"
CHUNK_SIZE = 1024 * 1024
_QUEUE_DEPTH = 8  # chunks in flight per hasher: bounds memory at ~8 MiB each


class SizeMismatch(Exception):
    def __init__(self, expected, actual):
        super().__init__("expected %d bytes, received %d" % (expected, actual))
        self.expected = expected
        self.actual = actual


class WriteResult:
    __slots__ = ("size", "checksum", "os_hash_algo", "os_hash_value", "path")

    def __init__(self, size, checksum, os_hash_algo, os_hash_value, path):
        self.size = size
        self.checksum = checksum
        self.os_hash_algo = os_hash_algo
        self.os_hash_value = os_hash_value
        self.path = path


class _Hasher(threading.Thread):
    """Feeds chunks to one hash object in a thread of its own."""

    def __init__(self, algorithm):
        super().__init__(name="glancelet-hash-" + algorithm, daemon=True)
        self.hash = hashlib.new(algorithm)
        self.queue = queue.Queue(_QUEUE_DEPTH)
        self.error = None

    def run(self):
        block_server_signals()
        update = self.hash.update
        get = self.queue.get
        try:
            while True:
                chunk = get()
                if chunk is None:
                    return
                update(chunk)
        except BaseException as exc:  # pragma: no cover - hashlib does not fail
            self.error = exc

    def stop(self):
        self.queue.put(None)
        self.join()


class HashPipeline:
    """md5 plus ``algorithm``, each fed from its own thread."""

    def __init__(self, algorithm, threaded=True):
        self.algorithm = algorithm
        self._threaded = threaded
        if threaded:
            self._hashers = [_Hasher("md5"), _Hasher(algorithm)]
            for hasher in self._hashers:
                hasher.start()
        else:
            self._hashes = [hashlib.md5(), hashlib.new(algorithm)]

    def update(self, chunk):
        if self._threaded:
            for hasher in self._hashers:
                hasher.queue.put(chunk)
        else:
            for h in self._hashes:
                h.update(chunk)

    def finish(self):
        """Return (md5 hex, os_hash hex)."""
        if self._threaded:
            for hasher in self._hashers:
                hasher.stop()
            hashes = [hasher.hash for hasher in self._hashers]
        else:
            hashes = self._hashes
        return hashes[0].hexdigest(), hashes[1].hexdigest()

    def abort(self):
        if self._threaded:
            for hasher in self._hashers:
                if hasher.is_alive():
                    hasher.stop()


class _Flusher(threading.Thread):
    """Writes the file's dirty pages back to disk while the upload goes on.

    Without it, the kernel holds gigabytes of a large image in dirty pages
    and the final fsync writes them all while the client waits (about 3 s
    per GiB on the test machine). Flushing every ``FLUSH_EVERY`` bytes in
    the background overlaps the disk with the network and the hashing, and
    leaves the final fsync little to do. Pages stay cached for downloads.
    """

    def __init__(self, fd):
        super().__init__(name="glancelet-flush", daemon=True)
        self.fd = fd
        self._wake = threading.Event()
        self._done = False

    def run(self):
        block_server_signals()
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._done:
                return
            try:
                os.fdatasync(self.fd)
            except OSError:
                return  # the final fsync reports the error

    def request(self):
        self._wake.set()

    def stop(self):
        self._done = True
        self._wake.set()
        self.join()


FLUSH_EVERY = 64 * 1024 * 1024


class FilesystemStore:
    """Image data as files named by image id in one directory."""

    def __init__(self, directory, hashing_algorithm="sha512", fsync=True, threaded=True,
                 chunk_size=CHUNK_SIZE):
        self.directory = directory
        self.hashing_algorithm = hashing_algorithm
        self.fsync = fsync
        self.threaded = threaded
        self.chunk_size = chunk_size
        os.makedirs(directory, exist_ok=True)

    def path(self, image_id):
        return os.path.join(self.directory, image_id)

    def exists(self, image_id):
        return os.path.exists(self.path(image_id))

    def write(self, image_id, body, expected_size=None):
        """Stream ``body`` (has ``read(n)``) into the store under ``image_id``.

        Returns a :class:`WriteResult`. Raises whatever ``body.read`` raises,
        :class:`SizeMismatch`, or OSError; in every failure case the
        temporary file is gone before the exception leaves.
        """
        final = self.path(image_id)
        fd, tmp = self._create_temp(image_id)
        hashes = HashPipeline(self.hashing_algorithm, threaded=self.threaded)
        flusher = None
        if self.fsync and self.threaded:
            flusher = _Flusher(fd)
            flusher.start()
        size = 0
        next_flush = FLUSH_EVERY
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                write = out.write
                update = hashes.update
                for chunk in _gathered(body.read, self.chunk_size):
                    update(chunk)
                    view = memoryview(chunk)
                    while view:
                        written = write(view)
                        view = view[written:]
                    size += len(chunk)
                    if flusher is not None and size >= next_flush:
                        flusher.request()
                        next_flush = size + FLUSH_EVERY
                if expected_size is not None and size != expected_size:
                    raise SizeMismatch(expected_size, size)
                checksum, os_hash = hashes.finish()
                if flusher is not None:
                    flusher.stop()
                if self.fsync:
                    os.fsync(out.fileno())
                os.rename(tmp, final)
        except BaseException:
            hashes.abort()
            if flusher is not None and flusher.is_alive():
                flusher.stop()
            _unlink_quietly(tmp)
            raise
        if self.fsync:
            _fsync_dir(self.directory)
        return WriteResult(size, checksum, self.hashing_algorithm, os_hash, final)

    def delete(self, image_id):
        _unlink_quietly(self.path(image_id))

    def _create_temp(self, image_id):
        name = "%s%s-%d-%s" % (TEMP_PREFIX, image_id, os.getpid(), os.urandom(4).hex())
        path = os.path.join(self.directory, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        fcntl.flock(fd, fcntl.LOCK_EX)  # held until the file is closed
        return fd, path

    def temp_files(self):
        return sorted(name for name in os.listdir(self.directory)
                      if name.startswith(TEMP_PREFIX))

    def remove_stale_temp_files(self):
        """Delete temp files that no live process is writing. Returns their names."""
        removed = []
        for name in self.temp_files():
            path = os.path.join(self.directory, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    continue  # a live upload holds it
                raise
            finally:
                os.close(fd)
            _unlink_quietly(path)
            removed.append(name)
        return removed


def _gathered(read, size):
    """Yield the body in pieces of about ``size`` bytes.

    Proxies re-chunk uploads into 8-16 KiB pieces, and uWSGI's
    ``chunked_read()`` returns them one at a time. Handing each to the hash
    threads and the disk separately costs more than the hashing itself, so
    small pieces are gathered first (one copy); full-size ones pass through.
    """
    pending, pending_len = [], 0
    while True:
        chunk = read(size - pending_len)
        if not chunk:
            break
        if not pending and len(chunk) >= size:
            yield chunk
            continue
        pending.append(chunk)
        pending_len += len(chunk)
        if pending_len >= size:
            yield b"".join(pending)
            pending, pending_len = [], 0
    if pending:
        yield b"".join(pending)


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
