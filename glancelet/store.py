"""The filesystem store: atomic, streaming, hashed writes.

An upload is written to a temporary file in the store directory while md5
and the os_hash are computed. Only when the whole body has arrived, matches
the expected size and is on disk (fsync) is it renamed to its final name.
On any failure the temporary file is removed, so a partial image never
becomes visible.

Every write gets a final name of its own (the image id and a random
suffix), so nothing is ever renamed over a file another write made. The
file becomes an image's data only when the image's row records its name, in
the same conditional update that makes the image active (:meth:`keep`); a
write that loses removes its own file, and nothing else.

Hashing runs in its own threads beside the socket read and the disk write
(hashlib releases the GIL on large buffers), so an upload is not limited to
one core doing read, md5, sha512 and write in series. Each hasher's queue is
bounded, so memory stays flat whatever the image size.

Every temporary file is held under an exclusive ``flock`` by the process
writing it, from before it has a name the scans look at until the write is
kept or discarded. ``remove_stale_temp_files`` deletes only temporary files
that no live process holds: the residue of a process that was killed
mid-upload. ``remove_unreferenced`` deletes final files that no process
holds and no image refers to: what a process killed between the rename and
the database update left, and the files a failed delete left behind.
"""

import errno
import fcntl
import hashlib
import os
import queue
import re
import threading
import time

from glancelet.threads import block_server_signals

TEMP_PREFIX = ".tmp-"
# Where the filesystem has no O_TMPFILE, a temp file is created under this
# prefix, which the scans leave alone until it is NEW_GRACE seconds old, and
# renamed to TEMP_PREFIX once locked (FilesystemStore._create_temp).
NEW_PREFIX = ".new-"
NEW_GRACE = 600
# What open(O_TMPFILE) fails with where the filesystem or kernel lacks it.
_NO_TMPFILE = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOSYS)
# The names of image data: the image id and a write's random suffix, or the
# bare image id of data stored by earlier releases. Anything else in the
# directory is not the store's to remove.
_DATA_NAME = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                        r"(\.[0-9a-f]{16})?\Z")
# An upload is read, hashed and written in chunks of this size, with at most
# _QUEUE_DEPTH chunks waiting for each hash thread. The size trades memory
# against gunicorn's reader, measured under the gunicorn example (1 GiB
# Content-Length uploads, sizes interleaved): gunicorn 27 receives up to 1 MiB
# at a time and copies what it holds beyond each smaller read into a new
# buffer, CPU the hash threads then lack. It took 170-252 MiB/s at 256 KiB,
# 222-299 at 512 KiB, 296-351 at 1 MiB. A gthread worker's growth (four
# uploads at once; the worst of 1, 8 and 32 clients) goes the other way:
# 20-24, 23-29 and 31-32 MiB, and up to 33.9 at 1 MiB under nginx-gunicorn,
# over the 32 MiB budget. uWSGI reads without the copy: 279-333 MiB/s at
# 256 or 512 KiB. doc/source/reference/performance.rst has the figures.
CHUNK_SIZE = 512 * 1024
_QUEUE_DEPTH = 2


class SizeMismatch(Exception):
    def __init__(self, expected, actual):
        super().__init__("expected %d bytes, received %d" % (expected, actual))
        self.expected = expected
        self.actual = actual


class WriteResult:
    """A complete write, still locked by this process until :meth:`close`."""

    __slots__ = ("size", "checksum", "os_hash_algo", "os_hash_value", "path", "name",
                 "_lock_fd")

    def __init__(self, size, checksum, os_hash_algo, os_hash_value, path, lock_fd):
        self.size = size
        self.checksum = checksum
        self.os_hash_algo = os_hash_algo
        self.os_hash_value = os_hash_value
        self.path = path
        self.name = os.path.basename(path)
        self._lock_fd = lock_fd

    def close(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


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

    def path(self, name):
        return os.path.join(self.directory, name)

    def exists(self, name):
        return os.path.exists(self.path(name))

    def write(self, image_id, body, expected_size=None):
        """Stream ``body`` (has ``read(n)``) into a new file for ``image_id``.

        Returns a :class:`WriteResult`, whose file stays locked until it is
        passed to :meth:`keep`. Raises whatever ``body.read`` raises,
        :class:`SizeMismatch`, or OSError; in every failure case the
        temporary file is gone before the exception leaves.
        """
        final = self.path("%s.%s" % (image_id, os.urandom(8).hex()))
        fd, tmp = self._create_temp(image_id)
        hashes = HashPipeline(self.hashing_algorithm, threaded=self.threaded)
        flusher = None
        if self.fsync and self.threaded:
            flusher = _Flusher(fd)
            flusher.start()
        size = 0
        next_flush = FLUSH_EVERY
        try:
            out = os.fdopen(os.dup(fd), "wb", buffering=0)
            with out:
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
                os.rename(tmp, final)  # a new name: no other write has it
        except BaseException:
            hashes.abort()
            if flusher is not None and flusher.is_alive():
                flusher.stop()
            _unlink_quietly(tmp)
            os.close(fd)
            raise
        try:
            if self.fsync:
                _fsync_dir(self.directory)
        except BaseException:
            _unlink_quietly(final)
            os.close(fd)
            raise
        return WriteResult(size, checksum, self.hashing_algorithm, os_hash, final, fd)

    def keep(self, result, commit):
        """Make ``result`` an image's data if ``commit()`` says so; else remove it.

        ``commit`` is the conditional database update that records
        ``result.name`` for the image; it returns a true value if it did.
        The file stays locked until then, so no scan removes it meanwhile.
        If ``commit`` raises, the file is left to :meth:`remove_unreferenced`,
        which asks the database again. Returns what ``commit`` returned.
        """
        try:
            kept = commit()
            if not kept:
                _unlink_quietly(result.path)
            return kept
        finally:
            result.close()

    def delete(self, name):
        """Remove the file ``name``. OSError if it exists and cannot be removed."""
        _unlink_quietly(self.path(name))

    def _create_temp(self, image_id):
        """A new temp file, locked before it has a name the scans remove.

        Where the filesystem can (``O_TMPFILE``: Linux's ext4, xfs, btrfs,
        tmpfs), the file is created without a name, locked, then linked in
        under its temp name: a process killed at any point leaves nothing, or
        a ``.tmp-`` file that its death unlocked, which the next scan
        removes. Elsewhere it is created as ``.new-`` (kept by the scans for
        ``NEW_GRACE``: a process killed before the rename leaves it that
        long), locked, and renamed.
        """
        name = "%s-%d-%s" % (image_id, os.getpid(), os.urandom(4).hex())
        path = os.path.join(self.directory, TEMP_PREFIX + name)
        fd = self._linked_temp(path)
        if fd is not None:
            return fd, path
        new = os.path.join(self.directory, NEW_PREFIX + name)
        fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held until the file is closed
            os.rename(new, path)
        except BaseException:
            os.close(fd)
            _unlink_quietly(new)
            raise
        return fd, path

    def _linked_temp(self, path):
        """An unnamed file in the store's directory, locked, then linked in
        as ``path``; its descriptor, or None where the filesystem or the
        system cannot (the caller then names it first)."""
        try:
            fd = os.open(self.directory, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o640)
        except (AttributeError, OSError) as exc:  # no O_TMPFILE here, or not on this fs
            if isinstance(exc, OSError) and exc.errno not in _NO_TMPFILE:
                raise
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held until the file is closed
            # linkat(AT_SYMLINK_FOLLOW) from the descriptor's /proc link (a
            # directory descriptor makes os.link call linkat, not link).
            directory = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.link("/proc/self/fd/%d" % fd, os.path.basename(path), dst_dir_fd=directory,
                        follow_symlinks=True)
            finally:
                os.close(directory)
        except OSError as exc:
            os.close(fd)
            if exc.errno == errno.ENOENT and not os.path.isdir("/proc/self/fd"):
                return None  # no /proc: name it first
            raise
        except BaseException:
            os.close(fd)
            raise
        return fd

    def temp_files(self):
        return sorted(name for name in os.listdir(self.directory)
                      if name.startswith((TEMP_PREFIX, NEW_PREFIX)))

    def remove_stale_temp_files(self):
        """Delete temp files that no live process is writing. Returns their names."""
        old = time.time() - NEW_GRACE
        return [name for name in self.temp_files()
                if (name.startswith(TEMP_PREFIX) or _older(self.path(name), old))
                and self._remove_if(name, lambda: True)]

    def remove_unreferenced(self, referenced, in_use):
        """Delete final files that no process holds and no image refers to.

        ``referenced`` is the set of names the images refer to, read before
        the scan; ``in_use(name)`` asks again for a file found unreferenced
        and unlocked, since its writer may have recorded it meanwhile.
        Returns the names removed.
        """
        return [name for name in sorted(os.listdir(self.directory))
                if _DATA_NAME.match(name) and name not in referenced
                and self._remove_if(name, lambda name=name: not in_use(name))]

    def _remove_if(self, name, condition):
        """Remove ``name`` if no process holds its lock and ``condition()``,
        asked while this process holds it."""
        path = self.path(name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False  # a live write holds it
            raise
        try:
            # The name may be gone meanwhile (renamed into place and kept, or
            # removed by its writer): names are never reused, so nothing else
            # can be under it.
            return condition() and _unlink_quietly(path)
        except OSError:
            return False  # a read-only or failing store: the next scan retries
        finally:
            os.close(fd)


def _older(path, then):
    try:
        return os.stat(path).st_mtime < then
    except FileNotFoundError:
        return False


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
    """Remove ``path``; False if it was not there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
