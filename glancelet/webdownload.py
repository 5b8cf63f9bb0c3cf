"""web-download: which URIs the service may fetch, and the fetch itself.

An import with the ``web-download`` method makes the server open a URL that
a user chose, from inside the cloud's network. Unchecked, that lets a user
reach whatever the server can reach: a metadata service on 169.254.169.254,
an admin port on localhost, a database on a private network. So every URI
goes through :class:`URIFilter` before anything is fetched, using the
``[import_filtering_opts]`` options with Glance's names and meaning:

* ``allowed_schemes`` / ``disallowed_schemes``, ``allowed_hosts`` /
  ``disallowed_hosts``, ``allowed_ports`` / ``disallowed_ports``: when an
  allowed list is set it alone decides; otherwise the disallowed list
  applies.
* The port is the one the connection will use: the URI's explicit port, or
  80 / 443 for http / https.
* Hosts are compared in a normal form: an IP literal in its canonical
  spelling, a name lowercased without a trailing dot. Numeric spellings
  that resolvers accept but that hide an address (``2130706433``,
  ``0x7f000001``, ``127.1``) are refused outright.
* The host is resolved and **every** address it resolves to must be a
  public (global) address: loopback, link-local, private, shared, reserved
  and multicast addresses are refused, unless the host is listed in
  ``allowed_hosts`` by the operator. "Public" follows the IANA
  special-purpose address registries; in IPv6 only global unicast
  (``2000::/3``) outside the registry's local blocks, IPv4-mapped addresses
  and the NAT64 well-known prefix can be public, and an IPv6 address that
  carries an IPv4 one (mapped, compatible, SIIT, NAT64, 6to4, Teredo) is
  public only if that IPv4 address is too.

The fetch connects to exactly the addresses that were checked (the name is
not resolved a second time, so a DNS answer that changes between check and
connect cannot redirect the request), sends the original host name in
``Host`` and, for https, uses it for SNI and certificate verification.
Redirects are followed by hand, and each new location goes through the
filter again. The body is read in bounded pieces and refused as soon as it
passes the size cap, whether or not the server announced a length.

A :class:`Pace` bounds the whole fetch: an overall deadline, a minimum
average rate over each window of ``RATE_WINDOW`` seconds (an origin that
drips a byte every few seconds would otherwise hold a task thread for
ever), and a cancellation check, polled about every second while data
arrives, that the import task uses to stop when its image is deleted.
"""

import http.client
import ipaddress
import re
import socket
import ssl
import time
import urllib.parse

REDIRECT_STATUSES = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5
TIMEOUT = 60.0  # seconds for connecting, and between two reads of the body
RATE_WINDOW = 60.0  # seconds over which the minimum rate is averaged
CANCEL_POLL = 1.0  # seconds between two cancellation checks
DEFAULT_PORTS = {"http": 80, "https": 443}
FETCHABLE_SCHEMES = ("http", "https")
USER_AGENT = "glancelet-web-download"

_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?")


class Refused(Exception):
    """The URI does not pass the import filter; the message says why."""


class FetchError(Exception):
    """The URI passed the filter but fetching it failed."""


class TooLarge(FetchError):
    """The data is larger than the size cap."""


class Cancelled(FetchError):
    """The fetch was called off; the message says why."""


class Pace:
    """Limits on one whole fetch: a deadline, a minimum rate, a cancellation check.

    ``timeout`` is in seconds from now (None or 0: no deadline); ``min_rate``
    is in bytes per second averaged over each ``window`` (0: no minimum);
    ``cancelled()`` returns a reason to stop, or None.
    """

    def __init__(self, timeout=None, min_rate=0, window=RATE_WINDOW, cancelled=None,
                 clock=time.monotonic):
        self._clock = clock
        now = clock()
        self.timeout = timeout
        self.deadline = now + timeout if timeout else None
        self.min_rate = min_rate
        self.window = window
        self._cancelled = cancelled
        self._window_start, self._window_count = now, 0
        self._next_poll = now

    def expired(self):
        return self.deadline is not None and self._clock() >= self.deadline

    def socket_timeout(self, default=TIMEOUT):
        """How long the next blocking call may wait."""
        if self.deadline is None:
            return default
        return max(min(default, self.deadline - self._clock()), 0.01)

    def deadline_error(self, uri):
        return FetchError("the download of %s did not finish within %g s "
                          "(web_download_timeout)" % (uri, self.timeout))

    def check(self, uri, count):
        """Raise :class:`FetchError` if the fetch of ``uri``, ``count`` bytes in, must stop."""
        now = self._clock()
        if self.expired():
            raise self.deadline_error(uri)
        elapsed = now - self._window_start
        if self.min_rate and elapsed >= self.window:
            rate = (count - self._window_count) / elapsed
            if rate < self.min_rate:
                raise FetchError("the download of %s ran at %.0f bytes/s over %g s, below "
                                 "web_download_min_rate (%d bytes/s)"
                                 % (uri, rate, elapsed, self.min_rate))
            self._window_start, self._window_count = now, count
        if self._cancelled is not None and now >= self._next_poll:
            self._next_poll = now + CANCEL_POLL
            reason = self._cancelled()
            if reason:
                raise Cancelled("the download of %s was cancelled: %s" % (uri, reason))


def normalize_host(host):
    """The canonical form of ``host``, or None if it is not acceptable."""
    if not host:
        return None
    host = host.strip().lower()
    if "%" in host:  # an IPv6 zone index names a local interface
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if host.endswith("."):
        host = host[:-1]
    labels = host.split(".")
    if not host or any(not label for label in labels):
        return None
    if all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        return None  # an address in a non-standard spelling
    if not all(len(label) <= 63 and _NAME.fullmatch(label) for label in labels):
        return None
    return host


# IPv6 blocks that carry an IPv4 address, and how (RFC 4291, 6052, 2765,
# 3056, 4380). Whatever else the IPv6 address is, a packet to it reaches the
# IPv4 address, so that address must be public too.
_IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")          # well-known prefix: global
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local use: not global
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Of the IPv6 space outside global unicast (2000::/3), only these reach the
# Internet: an IPv4 address mapped for a dual-stack socket, and the NAT64
# well-known prefix. The rest is reserved, local, multicast or deprecated.
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
# Blocks of the IANA IPv6 Special-Purpose Address Registry that are not
# globally reachable and that ipaddress.is_global of Python 3.10 and 3.11
# still calls global.
_IPV6_NOT_GLOBAL = (ipaddress.ip_network("3fff::/20"),)  # documentation, RFC 9637


def embedded_ipv4(ip):
    """The IPv4 address an IPv6 address ``ip`` carries, or None."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    for network in (_IPV4_MAPPED, _NAT64, _SIIT, _IPV4_COMPATIBLE):
        if ip in network:
            return low32
    if ip in _NAT64_LOCAL:  # RFC 6052 /48: bits 48-63, then (past 8 zero bits) 72-87
        value = int(ip)
        return ipaddress.IPv4Address(((value >> 64) & 0xFFFF) << 16 | (value >> 40) & 0xFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def is_public_address(address):
    """True if ``address`` (a string) is globally reachable unicast, by the IANA
    special-purpose registries of its family, with any IPv4 address that an
    IPv6 one carries judged too."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.version == 4:
        return ip.is_global and not ip.is_multicast
    embedded = embedded_ipv4(ip)
    if embedded is not None and not is_public_address(str(embedded)):
        return False
    if ip in _IPV4_MAPPED or ip in _NAT64:
        return True
    if ip not in _GLOBAL_UNICAST or any(ip in net for net in _IPV6_NOT_GLOBAL):
        return False
    return ip.is_global


def system_resolver(host, port):
    """All addresses ``host`` resolves to, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


class Target:
    """A checked URI: where to connect, and what to ask for."""

    __slots__ = ("uri", "scheme", "host", "port", "addresses", "path")

    def __init__(self, uri, scheme, host, port, addresses, path):
        self.uri = uri
        self.scheme = scheme
        self.host = host
        self.port = port
        self.addresses = addresses
        self.path = path


def _pick(allowed, disallowed):
    """Glance's rule: an allowed list, when set, makes the disallowed one moot."""
    return (allowed, []) if allowed else ([], disallowed)


class URIFilter:
    """Decides whether web-download may fetch a URI (``[import_filtering_opts]``)."""

    def __init__(self, allowed_schemes=(), disallowed_schemes=(), allowed_hosts=(),
                 disallowed_hosts=(), allowed_ports=(), disallowed_ports=(),
                 resolver=system_resolver):
        self.allowed_schemes, self.disallowed_schemes = _pick(
            [s.lower() for s in allowed_schemes], [s.lower() for s in disallowed_schemes])
        self.allowed_hosts, self.disallowed_hosts = _pick(
            [normalize_host(h) or h.lower() for h in allowed_hosts],
            [normalize_host(h) or h.lower() for h in disallowed_hosts])
        self.allowed_ports, self.disallowed_ports = _pick(list(allowed_ports),
                                                          list(disallowed_ports))
        self.resolver = resolver

    @classmethod
    def from_conf(cls, conf, resolver=system_resolver):
        opts = conf["import_filtering_opts"]
        return cls(opts["allowed_schemes"], opts["disallowed_schemes"],
                   opts["allowed_hosts"], opts["disallowed_hosts"],
                   opts["allowed_ports"], opts["disallowed_ports"], resolver=resolver)

    def check(self, uri):
        """Return the :class:`Target` for ``uri``, or raise :class:`Refused`."""
        if not isinstance(uri, str) or not uri:
            raise Refused("no URI was given")
        try:
            parts = urllib.parse.urlsplit(uri)
            port = parts.port
        except ValueError as exc:
            raise Refused("the URI is malformed (%s)" % exc) from None
        scheme = parts.scheme.lower()
        if not scheme:
            raise Refused("the URI has no scheme")
        if self.allowed_schemes and scheme not in self.allowed_schemes:
            raise Refused("scheme %r is not in allowed_schemes" % scheme)
        if scheme in self.disallowed_schemes:
            raise Refused("scheme %r is in disallowed_schemes" % scheme)
        if scheme not in FETCHABLE_SCHEMES:
            raise Refused("scheme %r cannot be fetched (only http and https can)" % scheme)
        if parts.username is not None or parts.password is not None:
            raise Refused("user names and passwords in the URI are not supported")
        host = normalize_host(parts.hostname)
        if host is None:
            raise Refused("%r is not a valid host name or IP address" % (parts.hostname or ""))
        port = port or DEFAULT_PORTS[scheme]
        if self.allowed_hosts and host not in self.allowed_hosts:
            raise Refused("host %s is not in allowed_hosts" % host)
        if host in self.disallowed_hosts:
            raise Refused("host %s is in disallowed_hosts" % host)
        if self.allowed_ports and port not in self.allowed_ports:
            raise Refused("port %d is not in allowed_ports" % port)
        if port in self.disallowed_ports:
            raise Refused("port %d is in disallowed_ports" % port)
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = self.resolver(host, port)
            except (OSError, UnicodeError) as exc:
                raise Refused("host %s cannot be resolved (%s)" % (host, exc)) from None
        if not addresses:
            raise Refused("host %s resolves to no address" % host)
        if host not in self.allowed_hosts:
            for address in addresses:
                if not is_public_address(address):
                    raise Refused(
                        "host %s resolves to %s, which is not a public address (loopback, "
                        "link-local and private addresses are reachable only through hosts "
                        "listed in allowed_hosts)" % (host, address))
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return Target(uri, scheme, host, port, addresses, path)


# -- Fetching -------------------------------------------------------------------

def _connect_any(addresses, port, timeout):
    error = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            error = exc
    raise error


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to the checked addresses only; ``host`` is used for the Host header."""

    def __init__(self, target, timeout):
        super().__init__(target.host, target.port, timeout=timeout)
        self._addresses = target.addresses

    def connect(self):
        self.sock = _connect_any(self._addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked addresses, verifying the certificate for ``host``."""

    def __init__(self, target, timeout, context=None):
        super().__init__(target.host, target.port, timeout=timeout,
                         context=context or ssl.create_default_context())
        self._addresses = target.addresses

    def connect(self):
        sock = _connect_any(self._addresses, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class Download:
    """The body of a fetched URI: a reader with ``read(n)`` and ``close()``."""

    def __init__(self, uri, connection, response, limit, pace=None):
        self.uri = uri
        self._connection = connection
        self._response = response
        self._limit = limit
        self._pace = pace or Pace()
        self._count = 0
        self.length = None
        raw = response.getheader("Content-Length")
        if raw is not None:
            try:
                self.length = int(raw)
            except ValueError:
                self.close()
                raise FetchError("%s sent an invalid Content-Length %r" % (uri, raw))
        if limit is not None and self.length is not None and self.length > limit:
            self.close()
            raise TooLarge("%s has %d bytes, more than image_size_cap (%d bytes)"
                           % (uri, self.length, limit))

    @property
    def bytes_read(self):
        return self._count

    def read(self, size=-1):
        """Up to ``size`` bytes (all that is left when negative); b'' at the end."""
        if size is None or size < 0:
            parts = []
            while True:
                part = self.read(1024 * 1024)
                if not part:
                    return b"".join(parts)
                parts.append(part)
        self._pace.check(self.uri, self._count)
        try:
            sock = self._connection.sock
            if sock is not None:
                sock.settimeout(self._pace.socket_timeout())
            # One receive at most, so that the pace is checked as data arrives.
            data = self._response.read1(size)
        except http.client.IncompleteRead as exc:
            raise FetchError("the download of %s ended after %d bytes, before its end"
                             % (self.uri, self._count + len(exc.partial))) from None
        except (OSError, http.client.HTTPException) as exc:
            if self._pace.expired():
                raise self._pace.deadline_error(self.uri) from None
            raise FetchError("reading %s failed after %d bytes: %s"
                             % (self.uri, self._count, exc)) from None
        if not data and self.length is not None and self._count < self.length:
            raise FetchError("the download of %s ended after %d of %d bytes"
                             % (self.uri, self._count, self.length))
        self._count += len(data)
        if self._limit is not None and self._count > self._limit:
            raise TooLarge("%s has more than image_size_cap (%d bytes)"
                           % (self.uri, self._limit))
        return data

    def close(self):
        self._response.close()
        self._connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False


def open_uri(uri, uri_filter, limit=None, timeout=TIMEOUT, max_redirects=MAX_REDIRECTS,
             ssl_context=None, pace=None):
    """GET ``uri``; return a :class:`Download` of a 200 response.

    Every hop of a redirect chain is checked by ``uri_filter``; raises
    :class:`Refused` for a hop that fails it, :class:`TooLarge` for a body
    announced larger than ``limit``, :class:`FetchError` otherwise. ``pace``
    (a :class:`Pace`) bounds the whole fetch, redirects included.
    """
    pace = pace or Pace()
    for _ in range(max_redirects + 1):
        pace.check(uri, 0)
        timeout = pace.socket_timeout(timeout)
        target = uri_filter.check(uri)
        if target.scheme == "https":
            conn = _PinnedHTTPSConnection(target, timeout, ssl_context)
        else:
            conn = _PinnedHTTPConnection(target, timeout)
        try:
            conn.request("GET", target.path, headers={
                "User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"})
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            if pace.expired():
                raise pace.deadline_error(uri) from None
            raise FetchError("fetching %s failed: %s" % (uri, exc)) from None
        if response.status in REDIRECT_STATUSES:
            location = response.getheader("Location")
            conn.close()
            if not location:
                raise FetchError("%s answered %d without a Location" % (uri, response.status))
            uri = urllib.parse.urljoin(uri, location.strip())
            continue
        if response.status != 200:
            conn.close()
            raise FetchError("%s answered HTTP %d %s" % (uri, response.status,
                                                         response.reason))
        return Download(uri, conn, response, limit, pace)
    raise FetchError("more than %d redirects, the last to %s" % (max_redirects, uri))
