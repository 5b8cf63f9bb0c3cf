"""web-download: the URI filter (Glance's [import_filtering_opts]) and the fetch.

The filter tests resolve names with an injected resolver, so they need no
DNS. The fetch tests talk to a real HTTP server on 127.0.0.1
(:class:`DataServer`, also used by the task and functional
import tests).
"""

import ipaddress
import os
import shutil
import ssl
import subprocess
import threading
import time
import urllib.parse

import pytest

from glancelet import webdownload
from glancelet.webdownload import Refused, URIFilter
from lab.mirror import LocalServer


# -- A local HTTP server serving test data -------------------------------------------

class DataServer(LocalServer):
    """The lab's local HTTP server (:class:`lab.mirror.LocalServer`) on
    127.0.0.1:<free port>, in a thread.

    Paths: ``/data`` (``self.payload`` with Content-Length), ``/nolength``
    (the payload, close-delimited), ``/short`` (announces more than it
    sends), ``/missing`` (404), ``/redirect?to=URL`` (302), ``/loop`` (302
    to itself), ``/stall`` (sends half the payload, then waits until
    :meth:`release` or 30 s), ``/slow`` (the payload in 10 pieces over
    ``slow_seconds``), ``/drip?every=S`` (announces the payload, then sends
    one byte every S seconds, for at most 30 s or until :meth:`release`).
    ``requests`` records (path, Host header) per request.
    """

    def __init__(self, payload=None, slow_seconds=1.0):
        self.payload = os.urandom(300 * 1024 + 17) if payload is None else payload
        self.slow_seconds = slow_seconds
        self.requests = []
        self.stalled = threading.Event()  # set when /stall has sent its first half
        self._release = threading.Event()
        super().__init__()

    def get(self, request):
        """The paths of the class docstring."""
        self.requests.append((request.path, request.headers.get("Host")))
        path, _, query = request.path.partition("?")
        args = dict(urllib.parse.parse_qsl(query))
        body = self.payload
        if path == "/data":
            self._send(request, 200, body)
        elif path == "/nolength":
            request.send_response(200)
            request.send_header("Connection", "close")
            request.end_headers()
            request.wfile.write(body)
            request.close_connection = True
        elif path == "/short":
            request.send_response(200)
            request.send_header("Content-Length", str(len(body) + 1000))
            request.end_headers()
            request.wfile.write(body)
            request.close_connection = True
        elif path == "/redirect":
            self._redirect(request, args["to"])
        elif path == "/loop":
            self._redirect(request, "/loop")
        elif path == "/stall":
            request.send_response(200)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body[:len(body) // 2])
            request.wfile.flush()
            self.stalled.set()
            if self._release.wait(30):
                request.wfile.write(body[len(body) // 2:])
            request.close_connection = True
        elif path == "/drip":
            request.send_response(200)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.flush()
            give_up = time.monotonic() + 30
            for i in range(len(body)):
                if self._release.wait(float(args.get("every", "0.1"))) or \
                        time.monotonic() > give_up:
                    break
                try:
                    request.wfile.write(body[i:i + 1])
                    request.wfile.flush()
                except OSError:  # the client gave up
                    break
            request.close_connection = True
        elif path == "/slow":
            request.send_response(200)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            step = -(-len(body) // 10)
            for start in range(0, len(body), step):
                request.wfile.write(body[start:start + step])
                request.wfile.flush()
                time.sleep(self.slow_seconds / 10)
        else:
            self._send(request, 404, b"not here")

    def _send(self, request, status, body):
        request.send_response(status)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def _redirect(self, request, to):
        request.send_response(302)
        request.send_header("Location", to)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def release(self):
        self._release.set()

    def reset(self):
        """Make the next ``/stall`` request stall again."""
        self.stalled.clear()
        self._release.clear()

    def __exit__(self, *exc):
        self.release()
        super().__exit__(*exc)


@pytest.fixture
def data_server():
    with DataServer() as server:
        yield server


def resolver(table):
    def resolve(host, port):
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]
    return resolve


NAMES = resolver({
    "images.example.com": ["93.184.215.14"],
    "mixed.example.com": ["93.184.215.14", "10.1.2.3"],
    "v6only.example.com": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "mapped.example.com": ["::ffff:127.0.0.1"],
    "internal.example.com": ["192.168.1.10"],
})


def default_filter(**overrides):
    opts = dict(allowed_schemes=["http", "https"], disallowed_schemes=[], allowed_hosts=[],
                disallowed_hosts=[], allowed_ports=[80, 443], disallowed_ports=[])
    opts.update(overrides)
    return URIFilter(resolver=NAMES, **opts)


# -- Host normalisation ------------------------------------------------------------

@pytest.mark.parametrize("host,expected", [
    ("Images.Example.COM", "images.example.com"),
    ("images.example.com.", "images.example.com"),
    ("127.0.0.1", "127.0.0.1"),
    ("::1", "::1"),
    ("0:0:0:0:0:0:0:1", "::1"),
    ("2130706433", None),        # decimal spelling of 127.0.0.1
    ("0x7f000001", None),        # hex
    ("017700000001", None),      # octal
    ("127.1", None),             # shorthand
    ("0x7f.0.0.1", None),
    ("fe80::1%eth0", None),      # zone index: a local interface
    ("bad_host!", None),
    ("", None),
    ("a..b", None),
])
def test_normalize_host(host, expected):
    assert webdownload.normalize_host(host) == expected


@pytest.mark.parametrize("address,public", [
    ("93.184.215.14", True),
    ("127.0.0.1", False), ("127.8.9.10", False),
    ("10.0.0.1", False), ("172.16.5.4", False), ("192.168.0.1", False),
    ("169.254.169.254", False),  # link-local: cloud metadata services
    ("100.64.0.1", False),       # shared address space
    ("0.0.0.0", False), ("224.0.0.1", False), ("255.255.255.255", False),
    ("::1", False), ("fe80::1", False), ("fc00::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:93.184.215.14", True),
    ("2002:7f00:1::", False),    # 6to4 wrapping 127.0.0.1
    ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
    # IPv6 forms that reach a loopback or private IPv4 address (issue 10).
    ("::127.0.0.1", False),             # IPv4-compatible (deprecated)
    ("::8.8.8.8", False),               # ... even with a public address
    ("64:ff9b::7f00:1", False),         # NAT64 well-known prefix
    ("64:ff9b::a00:1", False),
    ("64:ff9b::808:808", True),         # ... which is global for a public address
    ("64:ff9b:1::7f00:1", False),       # NAT64 local-use prefix: never global
    ("64:ff9b:1:808:8:800::", False),
    ("::ffff:0:7f00:1", False),         # SIIT IPv4-translated
    ("::ffff:0:808:808", False),
    ("::ffff:8.8.8.8", True),           # IPv4-mapped public
    ("2002:a00:1::1", False),           # 6to4 wrapping 10.0.0.1
    ("2002:808:808::1", True),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo (client 127.0.0.1)
    # Special-purpose IPv6 blocks.
    ("fec0::1", False),                 # site-local (deprecated)
    ("feff::1", False),
    ("ff02::1", False), ("ff0e::1", False),  # multicast
    ("::", False), ("100::1", False),   # unspecified, discard-only
    ("2001:db8::1", False), ("3fff::1", False),  # documentation
    ("2001:10::1", False), ("2001:20::1", False),  # ORCHID
    ("5f00::1", False),                 # SRv6 SIDs
    ("4000::1", False), ("e000::1", False),  # outside global unicast
])
def test_is_public_address(address, public):
    assert webdownload.is_public_address(address) is public


@pytest.mark.parametrize("address,embedded", [
    ("::ffff:127.0.0.1", "127.0.0.1"),
    ("::127.0.0.1", "127.0.0.1"),
    ("::ffff:0:7f00:1", "127.0.0.1"),
    ("64:ff9b::7f00:1", "127.0.0.1"),
    ("64:ff9b:1:7f00:0:100::", "127.0.0.1"),
    ("2002:7f00:1::1", "127.0.0.1"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),
    ("2606:4700::1", None),
    ("fe80::1", None),
])
def test_embedded_ipv4_is_unwrapped(address, embedded):
    found = webdownload.embedded_ipv4(ipaddress.ip_address(address))
    assert (found and str(found)) == embedded


@pytest.mark.parametrize("host", ["[::127.0.0.1]", "[64:ff9b::7f00:1]", "[::ffff:0:7f00:1]",
                                  "[fec0::1]", "[64:ff9b:1::a9fe:a9fe]"])
def test_default_filter_refuses_reserved_ipv6_literals(host):
    with pytest.raises(Refused, match="not a public address"):
        default_filter().check("http://%s/x" % host)


# -- The filter ------------------------------------------------------------------------

def test_public_host_on_default_port_passes():
    target = default_filter().check("http://images.example.com/cirros.img?x=1")
    assert (target.scheme, target.host, target.port) == ("http", "images.example.com", 80)
    assert target.addresses == ["93.184.215.14"]
    assert target.path == "/cirros.img?x=1"
    assert default_filter().check("https://IMAGES.example.com/a").port == 443
    assert default_filter().check("http://v6only.example.com/a").addresses


@pytest.mark.parametrize("uri,reason", [
    ("http://127.0.0.1/x", "not a public address"),
    ("http://[::1]/x", "not a public address"),
    ("http://169.254.169.254/latest/meta-data", "not a public address"),
    ("http://internal.example.com/x", "resolves to 192.168.1.10"),
    ("http://mixed.example.com/x", "resolves to 10.1.2.3"),   # every address is checked
    ("http://mapped.example.com/x", "not a public address"),
    ("http://2130706433/x", "not a valid host"),
    ("http://127.1/x", "not a valid host"),
    ("http://nowhere.example.com/x", "cannot be resolved"),
    ("ftp://images.example.com/x", "not in allowed_schemes"),
    ("file:///etc/passwd", "not in allowed_schemes"),
    ("images.example.com/x", "no scheme"),
    ("http://images.example.com:8080/x", "port 8080 is not in allowed_ports"),
    ("http://user:secret@images.example.com/x", "passwords"),
    ("http://images.example.com:99999/x", "malformed"),
    ("", "no URI"),
    (None, "no URI"),
])
def test_default_filter_refuses(uri, reason):
    with pytest.raises(Refused, match=reason):
        default_filter().check(uri)


def test_allowed_hosts_lets_the_operator_reach_loopback():
    flt = default_filter(allowed_hosts=["127.0.0.1", "internal.example.com"],
                         allowed_ports=[80, 8080])
    assert flt.check("http://127.0.0.1:8080/x").addresses == ["127.0.0.1"]
    assert flt.check("http://internal.example.com/x").addresses == ["192.168.1.10"]
    # Only listed hosts pass once allowed_hosts is set, public or not.
    with pytest.raises(Refused, match="not in allowed_hosts"):
        flt.check("http://images.example.com/x")


def test_allowed_host_entries_are_normalised():
    flt = default_filter(allowed_hosts=["Internal.Example.com."])
    assert flt.check("http://internal.example.com/x").host == "internal.example.com"


def test_disallowed_lists_apply_when_no_allowed_list():
    flt = default_filter(allowed_schemes=[], disallowed_schemes=["https"],
                         allowed_ports=[], disallowed_ports=[8443],
                         disallowed_hosts=["images.example.com"])
    with pytest.raises(Refused, match="scheme 'https' is in disallowed_schemes"):
        flt.check("https://v6only.example.com/x")
    with pytest.raises(Refused, match="in disallowed_hosts"):
        flt.check("http://images.example.com/x")
    with pytest.raises(Refused, match="port 8443 is in disallowed_ports"):
        flt.check("http://v6only.example.com:8443/x")
    assert flt.check("http://v6only.example.com:8080/x").port == 8080


def test_an_allowed_list_makes_the_disallowed_list_moot():
    # Glance's rule: with both set, only the allowed list is obeyed.
    flt = default_filter(allowed_ports=[8080], disallowed_ports=[8080],
                         allowed_hosts=["images.example.com"],
                         disallowed_hosts=["images.example.com"])
    assert flt.check("http://images.example.com:8080/x").port == 8080


def test_allowed_schemes_cannot_enable_what_cannot_be_fetched():
    with pytest.raises(Refused, match="only http and https"):
        default_filter(allowed_schemes=["ftp"]).check("ftp://images.example.com/x")


def test_from_conf_reads_import_filtering_opts(tmp_path):
    from tests.functional.conftest import make_conf
    conf = make_conf(tmp_path, import_filtering_opts__allowed_hosts="[127.0.0.1]",
                     import_filtering_opts__allowed_ports="[80, 443, 8765]")
    flt = URIFilter.from_conf(conf)
    assert flt.check("http://127.0.0.1:8765/x").port == 8765
    with pytest.raises(Refused):
        URIFilter.from_conf(make_conf(tmp_path)).check("http://127.0.0.1/x")


# -- Fetching ------------------------------------------------------------------------

def local_filter(server, **overrides):
    opts = dict(allowed_hosts=["127.0.0.1"], allowed_ports=[server.port])
    opts.update(overrides)
    return URIFilter(**opts)


def read_all(download, block=64 * 1024):
    """Everything ``download.read(block)`` gives (test_body.py's readers
    too), checking that no read returns more than asked for."""
    parts = []
    while True:
        part = download.read(block)
        assert len(part) <= block
        if not part:
            return b"".join(parts)
        parts.append(part)


@pytest.mark.parametrize("path", ["/data", "/nolength"])
def test_fetch_streams_the_body(data_server, path):
    with webdownload.open_uri(data_server.url(path), local_filter(data_server)) as dl:
        assert dl.length == (len(data_server.payload) if path == "/data" else None)
        assert read_all(dl) == data_server.payload
        assert dl.bytes_read == len(data_server.payload)


def test_fetch_connects_to_the_checked_address_with_the_original_host(data_server):
    """The name is resolved once, by the filter; the request goes to that address."""
    flt = URIFilter(allowed_hosts=["images.internal"], allowed_ports=[data_server.port],
                    resolver=resolver({"images.internal": ["127.0.0.1"]}))
    uri = "http://images.internal:%d/data" % data_server.port
    with webdownload.open_uri(uri, flt) as dl:
        assert read_all(dl) == data_server.payload
    assert data_server.requests == [("/data", "images.internal:%d" % data_server.port)]


def test_redirects_are_followed_and_checked_at_every_hop(data_server):
    flt = local_filter(data_server)
    uri = data_server.url("/redirect?to=" + urllib.parse.quote(data_server.url("/data")))
    with webdownload.open_uri(uri, flt) as dl:
        assert read_all(dl) == data_server.payload
    # The same chain, with the target's port not allowed: refused at the hop.
    hop = "http://127.0.0.1:1/data"
    uri = data_server.url("/redirect?to=" + urllib.parse.quote(hop))
    with pytest.raises(Refused, match="port 1 is not in allowed_ports"):
        webdownload.open_uri(uri, flt)
    # A redirect to a loopback name the filter was not told about.
    hop = "http://[::1]:%d/data" % data_server.port
    uri = data_server.url("/redirect?to=" + urllib.parse.quote(hop))
    with pytest.raises(Refused, match="not in allowed_hosts"):
        webdownload.open_uri(uri, flt)
    assert [p for p, _ in data_server.requests].count("/data") == 1


def test_redirect_loops_end(data_server):
    with pytest.raises(webdownload.FetchError, match="more than 5 redirects"):
        webdownload.open_uri(data_server.url("/loop"), local_filter(data_server))


def test_http_errors_fail(data_server):
    with pytest.raises(webdownload.FetchError, match="HTTP 404"):
        webdownload.open_uri(data_server.url("/missing"), local_filter(data_server))


def test_announced_size_over_the_cap_is_refused_before_reading(data_server):
    with pytest.raises(webdownload.TooLarge, match="more than image_size_cap"):
        webdownload.open_uri(data_server.url("/data"), local_filter(data_server),
                             limit=len(data_server.payload) - 1)


def test_unannounced_size_over_the_cap_stops_the_read(data_server):
    limit = 100 * 1024
    with webdownload.open_uri(data_server.url("/nolength"), local_filter(data_server),
                              limit=limit) as dl:
        with pytest.raises(webdownload.TooLarge):
            read_all(dl)
        assert dl.bytes_read <= limit + 64 * 1024


def test_a_body_shorter_than_announced_fails(data_server):
    with webdownload.open_uri(data_server.url("/short"), local_filter(data_server)) as dl:
        with pytest.raises(webdownload.FetchError, match="ended after"):
            read_all(dl)


def test_connection_refused_is_a_fetch_error():
    port = 1  # nothing listens on 127.0.0.1:1
    flt = URIFilter(allowed_hosts=["127.0.0.1"], allowed_ports=[port])
    with pytest.raises(webdownload.FetchError, match="fetching .* failed"):
        webdownload.open_uri("http://127.0.0.1:%d/x" % port, flt)


# -- https: the certificate is checked for the name, the connection goes to the address

@pytest.fixture
def tls_server(tmp_path):
    """A DataServer speaking TLS with a self-signed certificate for images.internal."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is not installed: run `apt-get install openssl` (bindep.txt)")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=images.internal",
                    "-addext", "subjectAltName=DNS:images.internal",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    server = DataServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    with server:
        yield server, str(cert)


def test_https_verifies_the_name_and_connects_to_the_checked_address(tls_server):
    server, cert = tls_server
    trust = ssl.create_default_context(cafile=cert)
    flt = URIFilter(allowed_hosts=["images.internal", "127.0.0.1"],
                    allowed_ports=[server.port],
                    resolver=resolver({"images.internal": ["127.0.0.1"]}))
    uri = "https://images.internal:%d/data" % server.port
    with webdownload.open_uri(uri, flt, ssl_context=trust) as dl:
        assert read_all(dl) == server.payload
    # The same server reached by its address: the certificate does not name it.
    with pytest.raises(webdownload.FetchError, match="certificate"):
        webdownload.open_uri("https://127.0.0.1:%d/data" % server.port, flt,
                             ssl_context=trust)
    # An untrusted certificate is refused (the default context: system CAs only).
    with pytest.raises(webdownload.FetchError, match="certificate verify failed"):
        webdownload.open_uri(uri, flt)


# -- Pace: deadline, minimum rate, cancellation (issue 10 finding 8) -----------------

def read_until_stopped(download, started, bound=10.0):
    while download.read(64 * 1024):
        assert time.monotonic() - started < bound, "the pace did not stop the download"


@pytest.mark.parametrize("path,pace,error", [
    ("/drip?every=0.05", dict(timeout=1.0), "did not finish within 1 s"),  # trickling
    ("/stall", dict(timeout=1.0), "did not finish within 1 s"),            # silent
    ("/drip?every=0.02", dict(min_rate=1000, window=0.5), "below web_download_min_rate"),
])
def test_the_pace_ends_a_slow_download(data_server, path, pace, error):
    started = time.monotonic()
    with pytest.raises(webdownload.FetchError, match=error):
        with webdownload.open_uri(data_server.url(path), local_filter(data_server),
                                  pace=webdownload.Pace(**pace)) as dl:
            read_until_stopped(dl, started)
    assert time.monotonic() - started < 3


def test_a_cancelled_download_stops_within_about_a_second(data_server):
    stop = threading.Event()
    pace = webdownload.Pace(cancelled=lambda: "called off" if stop.is_set() else None)
    with webdownload.open_uri(data_server.url("/drip?every=0.05"),
                              local_filter(data_server), pace=pace) as dl:
        assert dl.read(1)
        stop.set()
        stopped = time.monotonic()
        with pytest.raises(webdownload.Cancelled, match="called off"):
            read_until_stopped(dl, stopped)
        assert time.monotonic() - stopped < 3


def test_a_download_within_its_pace_completes(data_server):
    pace = webdownload.Pace(timeout=30, min_rate=1000, window=0.2, cancelled=lambda: None)
    with webdownload.open_uri(data_server.url("/slow"), local_filter(data_server),
                              pace=pace) as dl:
        assert dl.read() == data_server.payload
