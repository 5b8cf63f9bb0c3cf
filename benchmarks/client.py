"""The benchmark's HTTP client: uploads, downloads and metadata requests.

Uploads are written on a raw socket with ``socket.sendfile`` from a
page-cached file, so the client spends almost no CPU copying bytes (the
server shares the machine's two cores with it). No ``Expect:
100-continue``: the body follows the headers at once. The chunked form sends
1 MiB chunks, the size python-glanceclient uses.

Every metadata request opens a new connection (several patterns answer with
``Connection: close``; doing the same everywhere keeps the patterns
comparable). Latencies therefore include the TCP connect on 127.0.0.1.
"""

import http.client
import json
import socket
import threading
import time
from urllib.parse import urlsplit

from benchmarks import stats

CHUNK = 1024 * 1024


class BenchError(Exception):
    """A request did not do what the benchmark needs; the run fails."""

    def __init__(self, message, status=None, body=b""):
        super().__init__(message)
        self.status = status
        self.body = body


def _split(base_url):
    parts = urlsplit(base_url)
    if parts.scheme != "http":
        raise BenchError("only http:// deployments are benchmarked, not %s" % base_url)
    return parts.hostname, parts.port, parts.path.rstrip("/")


def request(base_url, method, path, body=None, headers=None, timeout=60, expect=None):
    """One request on a new connection: (status, headers dict, body bytes)."""
    host, port, prefix = _split(base_url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, prefix + path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        result = resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()
    if expect is not None and result[0] != expect:
        raise BenchError("%s %s: expected HTTP %d, got %d: %r"
                         % (method, path, expect, result[0], data[:500]))
    return result


def create_image(base_url, name):
    body = json.dumps({"name": name, "disk_format": "raw", "container_format": "bare"})
    _, _, data = request(base_url, "POST", "/v2/images", body=body,
                         headers={"Content-Type": "application/json"}, expect=201)
    return json.loads(data)["id"]


def get_image(base_url, image_id):
    _, _, data = request(base_url, "GET", "/v2/images/%s" % image_id, expect=200)
    return json.loads(data)


def delete_image(base_url, image_id):
    request(base_url, "DELETE", "/v2/images/%s" % image_id, expect=204)


def _read_response(sock, method):
    resp = http.client.HTTPResponse(sock, method=method)
    resp.begin()
    return resp


def upload(base_url, image_id, path, size, chunked, timeout=600):
    """PUT ``size`` bytes of ``path`` as the image data; return seconds taken.

    The clock runs from the first byte of the request to the end of the
    response (glancelet answers 204 after the data is fsynced).
    """
    host, port, prefix = _split(base_url)
    head = ["PUT %s/v2/images/%s/file HTTP/1.1" % (prefix, image_id),
            "Host: %s:%d" % (host, port),
            "Content-Type: application/octet-stream",
            "Connection: close"]
    head.append("Transfer-Encoding: chunked" if chunked else "Content-Length: %d" % size)
    sock = socket.create_connection((host, port), timeout=timeout)
    send_error = None
    try:
        with open(path, "rb") as src:
            start = time.perf_counter()
            try:
                sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("ascii"))
                if not chunked:
                    _sendfile(sock, src, 0, size)
                else:
                    # Cork: frame lines and data leave in full segments.
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                    offset = 0
                    while offset < size:
                        n = min(CHUNK, size - offset)
                        sock.sendall(b"%x\r\n" % n)
                        _sendfile(sock, src, offset, n)
                        sock.sendall(b"\r\n")
                        offset += n
                    sock.sendall(b"0\r\n\r\n")
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
            except OSError as exc:
                # The server answered early (an error) and closed: read what it said.
                send_error = exc
            resp = _read_response(sock, "PUT")
            data = resp.read()
            elapsed = time.perf_counter() - start
    finally:
        sock.close()
    if resp.status != 204 or send_error is not None:
        raise BenchError("upload (%s) of image %s: HTTP %d %r (send error: %r)"
                         % ("chunked" if chunked else "Content-Length", image_id,
                            resp.status, data[:500], send_error), resp.status, data)
    return elapsed


def _sendfile(sock, src, offset, count):
    sent = sock.sendfile(src, offset, count)
    if sent != count:
        raise BenchError("sendfile sent %d of %d bytes" % (sent, count))


def download(base_url, path, expect_size, timeout=600):
    """GET ``path`` into a reused buffer (the sink); return (seconds, headers).

    Fails unless exactly ``expect_size`` bytes arrive.
    """
    host, port, prefix = _split(base_url)
    sock = socket.create_connection((host, port), timeout=timeout)
    buf = bytearray(CHUNK)
    total = 0
    try:
        start = time.perf_counter()
        sock.sendall(("GET %s%s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n"
                      % (prefix, path, host, port)).encode("ascii"))
        resp = _read_response(sock, "GET")
        if resp.status != 200:
            raise BenchError("GET %s: HTTP %d %r" % (path, resp.status, resp.read()[:500]))
        while True:
            n = resp.readinto(buf)
            if not n:
                break
            total += n
        elapsed = time.perf_counter() - start
        headers = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        sock.close()
    if total != expect_size:
        raise BenchError("GET %s: received %d bytes, expected %d" % (path, total, expect_size))
    return elapsed, headers


def latency(base_url, path, per_thread, threads=1, deadline=300.0):
    """``threads`` threads each GET ``path`` ``per_thread`` times (new connection each).

    Returns {"requests", "errors", "req_s", "p50_ms", "p99_ms"}; every
    response must be 200 (an error fails the run). Bounded by count and by
    ``deadline`` seconds.
    """
    host, port, prefix = _split(base_url)
    url = prefix + path
    samples = [[] for _ in range(threads)]
    failures = []
    barrier = threading.Barrier(threads + 1)
    end_by = time.monotonic() + deadline

    def worker(out):
        barrier.wait()
        for _ in range(per_thread):
            if time.monotonic() > end_by:
                failures.append("deadline of %ss reached" % deadline)
                return
            t0 = time.perf_counter()
            conn = http.client.HTTPConnection(host, port, timeout=30)
            try:
                conn.request("GET", url)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                failures.append("GET %s: %r" % (url, exc))
                return
            finally:
                conn.close()
            out.append(time.perf_counter() - t0)
            if resp.status != 200:
                failures.append("GET %s: HTTP %d %r" % (url, resp.status, body[:300]))
                return

    pool = [threading.Thread(target=worker, args=(samples[i],), daemon=True)
            for i in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join(deadline + 60)
    wall = time.perf_counter() - start
    if failures:
        raise BenchError("latency %s x%d: %s" % (path, threads, failures[0]))
    flat = [s for out in samples for s in out]
    if len(flat) != per_thread * threads:
        raise BenchError("latency %s: %d of %d requests done"
                         % (path, len(flat), per_thread * threads))
    return {"requests": len(flat), "req_s": len(flat) / wall,
            "p50_ms": stats.percentile(flat, 50) * 1000.0,
            "p99_ms": stats.percentile(flat, 99) * 1000.0}


def wait_http(url, deadline=20.0):
    """Poll GET ``url`` until it answers 200 (for the baseline nginx)."""
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        try:
            status, _, _ = request(url, "GET", "", timeout=2)
            if status == 200:
                return
            last = "HTTP %d" % status
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise BenchError("%s not answering 200 within %ss (last: %s)" % (url, deadline, last))
