"""The relay buffers of the proxied examples: set, and downloads still stream.

nginx relays an unbuffered response (``proxy_buffering off``,
``uwsgi_buffering off``) through one buffer of ``proxy_buffer_size`` /
``uwsgi_buffer_size`` bytes, and Apache's mod_proxy reads the backend in
``ProxyIOBufferSize`` pieces. The defaults (one page; 8 KiB) cost a read and a
write per few KiB of image (reference/performance.rst). The examples set
larger ones. A larger relay buffer must not turn the relay into a store: while
a client downloads, the front end's memory must stay bounded by its buffers,
whatever the image size.
"""

import re
import socket
import threading
import time

import pytest

from benchmarks import procs
from lab import patterns
from lab.client import MiB, Api, Source, auth_headers
from lab.harness import REPO_ROOT

# Each proxied example's relay-buffer lines (regexes, one line each).
SETTINGS = {
    "examples/nginx-uwsgi/nginx-proxy-http.conf": (
        r"proxy_buffering off;", r"proxy_buffer_size 256k;", r"proxy_buffers 8 256k;"),
    "examples/gunicorn/nginx-gunicorn.conf": (
        r"proxy_buffering off;", r"proxy_buffer_size 256k;", r"proxy_buffers 8 256k;"),
    "examples/nginx-uwsgi/nginx-uwsgi-pass.conf": (
        r"uwsgi_buffering off;", r"uwsgi_buffer_size 256k;", r"uwsgi_buffers 8 256k;"),
    "examples/apache-proxy-http/glancelet-apache.conf": (r"ProxyIOBufferSize 262144",),
    "examples/apache-proxy-uwsgi/glancelet-apache.conf": (r"ProxyIOBufferSize 262144",),
}
PROXIED = ("nginx-proxy-http", "nginx-gunicorn", "nginx-uwsgi-pass", "apache-proxy-http",
           "apache-proxy-uwsgi")
SMALL, LARGE = 4 * MiB, 96 * MiB
# Front-end growth allowed during a download beyond what a small one costs:
# a few relay buffers, far below the LARGE image.
BOUND_MIB = 8.0


@pytest.mark.parametrize("example", sorted(SETTINGS))
def test_relay_buffer_settings(example):
    text = (REPO_ROOT / example).read_text()
    for line in SETTINGS[example]:
        assert re.search(r"^\s*%s\s*$" % line, text, re.MULTILINE), (example, line)


def front_pids(dep):
    """The front end's processes: its server PID and descendants, less glancelet's."""
    root = dep.servers[dep.pattern.servers[-1].name].pid
    app = set(procs.workers([dep.servers[dep.pattern.app_server].pid]))
    return [root] + [p for p in procs.descendants([root]) if p not in app]


def slow_download_growth(dep, image_id, size):
    """Download ``image_id`` with a 2 s stall after the first MiB; return the
    front end's largest RSS growth (MiB) meanwhile, over its processes."""
    pids = front_pids(dep)
    idle = procs.rss_mib(pids)
    peak = dict(idle)
    done = threading.Event()

    def sample():
        while not done.is_set():
            for pid, mib in procs.rss_mib(pids).items():
                peak[pid] = max(peak.get(pid, 0.0), mib)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    host, port = dep.base_url.split("//")[1].split("/")[0].split(":")
    path = dep.base_url.split(port, 1)[1] + "/v2/images/%s/file" % image_id
    sock = socket.create_connection((host, int(port)), timeout=60)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    total, stalled, end = 0, False, time.monotonic() + 120
    try:
        headers = "".join("%s: %s\r\n" % kv for kv in auth_headers().items())
        sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n"
                      % (path, host, headers)).encode())
        while time.monotonic() < end:
            data = sock.recv(256 * 1024)
            if not data:
                break
            total += len(data)
            if total > MiB and not stalled:
                stalled = True
                time.sleep(2.0)
    finally:
        sock.close()
        done.set()
        sampler.join(5)
    assert total > size, (total, size)  # the body and the headers
    return max(peak[pid] - idle[pid] for pid in idle)


@pytest.mark.parametrize("name", PROXIED)
def test_download_memory_bounded(name, tmp_path):
    """A large download costs the front end no more memory than a small one."""
    with patterns.get(name).start(tmp_path) as dep:
        api = Api(dep.base_url, dep.ca_file)
        growth = {}
        for size in (SMALL, LARGE):
            image = api.create_image(name="relay-%d" % size)
            assert api.upload_cl(image["id"], Source(size, seed=5)).status == 204
            growth[size] = slow_download_growth(dep, image["id"], size)
        assert growth[LARGE] - growth[SMALL] <= BOUND_MIB, growth
        assert growth[LARGE] <= BOUND_MIB * 2, growth
