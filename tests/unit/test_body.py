"""The request-body reader: exact read(n) under every framing a server uses."""

import io

import pytest

from glancelet import errors
from glancelet.body import BodyIncomplete, RequestBody
from tests.unit.test_webdownload import read_all


class FakeUwsgi:
    """Stands in for the ``uwsgi`` module: chunked_read() returns one chunk per call."""

    def __init__(self, chunks, fail_after=None):
        self.chunks = list(chunks)
        self.fail_after = fail_after
        self.calls = 0

    def chunked_read(self, timeout=0):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise IOError("unable to receive chunked part")
        return self.chunks.pop(0) if self.chunks else b""


class TrickleInput:
    """A wsgi.input that returns at most ``step`` bytes per read."""

    def __init__(self, data, step):
        self.data = io.BytesIO(data)
        self.step = step

    def read(self, n=-1):
        return self.data.read(min(n, self.step) if n >= 0 else self.step)


def env(data=b"", **extra):
    environ = {"wsgi.input": io.BytesIO(data)}
    environ.update(extra)
    return environ


@pytest.mark.parametrize("size", [1, 7, 4096, 65536, 1 << 20])
def test_content_length_exact_reads(size):
    data = bytes(range(256)) * 1000
    reader = RequestBody(env(data, CONTENT_LENGTH=str(len(data))))
    assert reader.mode == "length"
    assert read_all(reader, size) == data
    assert reader.bytes_read == len(data)


def test_content_length_ignores_bytes_past_the_declared_length():
    reader = RequestBody(env(b"abcdefgh", CONTENT_LENGTH="5"))
    assert reader.read(100) == b"abcde"
    assert reader.read(100) == b""


def test_short_reads_from_the_server_are_tolerated():
    data = b"x" * 10000
    reader = RequestBody({"wsgi.input": TrickleInput(data, 333), "CONTENT_LENGTH": "10000"})
    assert read_all(reader, 4096) == data


def test_premature_eof_with_content_length():
    reader = RequestBody(env(b"abc", CONTENT_LENGTH="10"))
    assert reader.read(3) == b"abc"
    with pytest.raises(BodyIncomplete, match="ended after 3 of 10 bytes"):
        reader.read(3)


def test_server_read_error_is_body_incomplete():
    class Broken:
        def read(self, n):
            raise OSError("timeout during read(65536) on wsgi.input")

    reader = RequestBody({"wsgi.input": Broken(), "CONTENT_LENGTH": "10"})
    with pytest.raises(BodyIncomplete, match="timeout during read"):
        reader.read(5)


def test_declared_length_over_the_cap_is_refused_before_reading():
    with pytest.raises(errors.HTTPError) as info:
        RequestBody(env(b"", CONTENT_LENGTH="101"), limit=100)
    assert info.value.status == 413
    assert "image_size_cap" in info.value.message


def test_streamed_body_over_the_cap_is_refused_while_reading():
    data = b"y" * 1000
    reader = RequestBody(env(data, **{"wsgi.input_terminated": True}), limit=999)
    with pytest.raises(errors.HTTPError) as info:
        read_all(reader, 100)
    assert info.value.status == 413


def test_body_exactly_at_the_cap_is_accepted():
    data = b"z" * 1000
    reader = RequestBody(env(data, **{"wsgi.input_terminated": True}), limit=1000)
    assert read_all(reader, 64) == data


@pytest.mark.parametrize("value", ["abc", "-1"])
def test_bad_content_length_is_400(value):
    with pytest.raises(errors.HTTPError) as info:
        RequestBody(env(b"", CONTENT_LENGTH=value))
    assert info.value.status == 400


def test_input_terminated_reads_to_eof():
    data = b"q" * 5000
    reader = RequestBody(env(data, HTTP_TRANSFER_ENCODING="chunked",
                             **{"wsgi.input_terminated": True}))
    assert reader.mode == "eof"
    assert read_all(reader, 777) == data


def test_content_length_wins_over_transfer_encoding():
    # nginx uwsgi_pass dechunks and then passes both headers.
    data = b"n" * 100
    fake = FakeUwsgi([b"must not be read"])
    reader = RequestBody(env(data, CONTENT_LENGTH="100", HTTP_TRANSFER_ENCODING="chunked"),
                         uwsgi_module=fake)
    assert reader.mode == "length"
    assert read_all(reader, 64) == data
    assert fake.calls == 0


@pytest.mark.parametrize("read_size,big", [(1, 4096), (1000, 1 << 20), (65536, 16 << 20),
                                           (1 << 20, 16 << 20), (3 << 20, 16 << 20)])
def test_uwsgi_chunks_are_split_to_the_requested_size(read_size, big):
    # chunk sizes straddle every read size: 1 byte, 1 MiB, 16 MiB, odd
    chunks = [b"a", b"b" * min(big, 1 << 20), b"c" * 12345, b"d" * big, b"e" * 7]
    fake = FakeUwsgi(chunks)
    reader = RequestBody(env(b"", HTTP_TRANSFER_ENCODING="chunked"), uwsgi_module=fake)
    assert reader.mode == "uwsgi-chunked"
    assert read_all(reader, read_size) == b"".join(chunks)


def test_uwsgi_chunk_error_is_body_incomplete_naming_the_options():
    fake = FakeUwsgi([b"a" * 10, b"b" * 10], fail_after=1)
    reader = RequestBody(env(b"", HTTP_TRANSFER_ENCODING="chunked"), uwsgi_module=fake)
    assert reader.read(100) == b"a" * 10
    with pytest.raises(BodyIncomplete) as info:
        reader.read(100)
    assert "chunked-input-limit" in str(info.value)
    assert "chunked-input-timeout" in str(info.value)


def test_uwsgi_chunked_body_over_the_cap():
    fake = FakeUwsgi([b"a" * 600, b"b" * 600])
    reader = RequestBody(env(b"", HTTP_TRANSFER_ENCODING="chunked"), limit=1000,
                         uwsgi_module=fake)
    with pytest.raises(errors.HTTPError) as info:
        read_all(reader, 512)
    assert info.value.status == 413


def test_chunked_body_the_server_cannot_deliver_is_411():
    with pytest.raises(errors.HTTPError) as info:
        RequestBody(env(b"", HTTP_TRANSFER_ENCODING="chunked"))
    assert info.value.status == 411
    assert "Transfer-Encoding: chunked" in info.value.message


def test_411_names_the_mod_wsgi_option():
    with pytest.raises(errors.HTTPError) as info:
        RequestBody(env(b"", HTTP_TRANSFER_ENCODING="chunked",
                        **{"mod_wsgi.version": (5, 0, 0)}))
    assert "WSGIChunkedRequest On" in info.value.message


def test_no_body_at_all_reads_empty():
    reader = RequestBody(env(b"ignored"))
    assert reader.read(10) == b""


def test_read_all():
    data = b"r" * (3 << 20)
    assert RequestBody(env(data, CONTENT_LENGTH=str(len(data)))).read() == data
