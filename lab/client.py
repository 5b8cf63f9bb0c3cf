"""A small Images API v2 client for the scenarios, on http.client.

It sends exactly the bytes a scenario names: a Content-Length upload, or a
chunked upload whose chunks are exactly N bytes (python-glanceclient and
openstacksdk are tested separately, as themselves). Data is generated on the
fly and hashed while it is sent, so a 2 GiB upload needs no disk on the
client side.
"""

import hashlib
import http.client
import io
import json
import os
import random
import select
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

MiB = 1024 * 1024


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value)
        self.body = body

    def header(self, name, default=None):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return default

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    @property
    def status_line(self):
        return "%d %s" % (self.status, self.reason)

    def __repr__(self):
        return "<Response %s %r>" % (self.status_line, self.body[:500])


class Source:
    """Deterministic pseudo-random data, generated block by block and hashed
    (md5, sha512) as it is consumed. ``chunks(n)`` yields pieces of exactly
    ``n`` bytes (the last one may be shorter)."""

    def __init__(self, size, seed=0):
        self.size = size
        self.sent = 0
        rnd = random.Random(seed)
        self._block = bytearray(rnd.randbytes(MiB))
        self.md5 = hashlib.md5()
        self.sha512 = hashlib.sha512()

    def _data(self):
        # 1 MiB blocks, each made unique by its index in the first 8 bytes.
        index = 0
        remaining = self.size
        block = self._block
        while remaining > 0:
            block[0:8] = index.to_bytes(8, "big")
            piece = bytes(block[:min(MiB, remaining)])
            remaining -= len(piece)
            index += 1
            yield piece

    def chunks(self, n):
        buf = bytearray()
        for piece in self._data():
            buf += piece
            while len(buf) >= n:
                out = bytes(buf[:n])
                del buf[:n]
                self._account(out)
                yield out
        if buf:
            out = bytes(buf)
            self._account(out)
            yield out

    def _account(self, out):
        self.md5.update(out)
        self.sha512.update(out)
        self.sent += len(out)

    def bytes(self):
        return b"".join(self.chunks(MiB))

    def consume(self):
        """Generate (and hash) all the data without keeping it; return self."""
        for _ in self.chunks(MiB):
            pass
        return self


def auth_headers(user="alice"):
    """{"X-Auth-Token": a token of ``user``} from the run's Keystone
    (:func:`lab.identity.running`), or {} when none runs or ``user`` is None."""
    from lab import identity
    running = identity.running()
    if user is None or running is None:
        return {}
    return {"X-Auth-Token": running.token(user)}


class Api:
    """Talks to ``base_url`` (which may carry a path prefix such as /image).

    Every request carries ``X-Auth-Token``: a token of ``user`` from the
    run's Keystone (:func:`lab.identity.running`), once one runs; ``user=None``
    sends no token (a trusted-header deployment, a 401 check)."""

    def __init__(self, base_url, ca_file=None, timeout=120, user="alice", token=None):
        parts = urlsplit(base_url)
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.base_url = base_url.rstrip("/")
        self.ca_file = ca_file
        self.timeout = timeout
        self.user = user
        self.token = token

    def auth_headers(self):
        """{"X-Auth-Token": token} of :attr:`user`, or {} (see the class); with
        ``token`` given, that token."""
        if self.token is not None:
            return {"X-Auth-Token": self.token}
        return auth_headers(self.user)

    def connection(self, timeout=None):
        timeout = self.timeout if timeout is None else timeout
        if self.scheme == "https":
            ctx = ssl.create_default_context(cafile=self.ca_file)
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def path(self, path):
        return self.prefix + path

    def download_across(self, image_id, during, deadline=60):
        """GET the image's data over plain HTTP through a small receive buffer,
        so that the server is still sending; once the first bytes are in, call
        ``during()``, then read to the end (bounded by ``deadline`` seconds).
        Returns (the response head, the body), as bytes."""
        sock = socket.create_connection((self.host, self.port), timeout=deadline)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            headers = "".join("%s: %s\r\n" % kv for kv in self.auth_headers().items())
            sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%s\r\n%sConnection: close\r\n\r\n"
                          % (self.path("/v2/images/%s/file" % image_id), self.host, self.port,
                             headers)).encode())
            received = bytearray(sock.recv(MiB))
            during()
            end = time.monotonic() + deadline
            while time.monotonic() < end:
                piece = sock.recv(MiB)
                if not piece:
                    break
                received += piece
        finally:
            sock.close()
        head, _, body = bytes(received).partition(b"\r\n\r\n")
        return head, body

    def request(self, method, path, body=None, headers=None, json_body=None, timeout=None):
        headers = dict(self.auth_headers(), **(headers or {}))
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        conn = self.connection(timeout)
        try:
            conn.request(method, self.path(path), body=body, headers=headers)
            resp = conn.getresponse()
            return Response(resp.status, resp.reason, resp.getheaders(), resp.read())
        finally:
            conn.close()

    # -- images ------------------------------------------------------------

    def create_image(self, name="scenario", **fields):
        body = {"name": name, "disk_format": "raw", "container_format": "bare"}
        body.update(fields)
        resp = self.request("POST", "/v2/images", json_body=body)
        assert resp.status == 201, resp
        return resp.json()

    def get_image(self, image_id):
        resp = self.request("GET", "/v2/images/%s" % image_id)
        assert resp.status == 200, resp
        return resp.json()

    def list_images(self):
        resp = self.request("GET", "/v2/images")
        assert resp.status == 200, resp
        return resp.json()["images"]

    def delete_image(self, image_id):
        resp = self.request("DELETE", "/v2/images/%s" % image_id)
        assert resp.status == 204, resp
        return resp

    def wait_status(self, image_id, status, deadline=30.0):
        end = time.monotonic() + deadline
        image = None
        while time.monotonic() < end:
            image = self.get_image(image_id)
            if image["status"] == status:
                return image
            time.sleep(0.2)
        raise AssertionError("image %s is %r, not %r after %ss"
                             % (image_id, image and image["status"], status, deadline))

    # -- data --------------------------------------------------------------

    def _start_put(self, image_id, headers, timeout=None, target="file"):
        conn = self.connection(timeout)
        conn.putrequest("PUT", self.path("/v2/images/%s/%s" % (image_id, target)),
                        skip_accept_encoding=True)
        conn.putheader("Content-Type", "application/octet-stream")
        for key, value in dict(self.auth_headers(), **headers).items():
            conn.putheader(key, value)
        conn.endheaders()
        return conn

    @staticmethod
    def _finish(conn, send_error=None):
        try:
            resp = conn.getresponse()
            return Response(resp.status, resp.reason, resp.getheaders(), resp.read())
        except (OSError, http.client.HTTPException):
            if send_error is not None:
                raise send_error
            raise
        finally:
            conn.close()

    def put_announced(self, image_id, length, wait=5.0):
        """Send a PUT's headers announcing ``length`` bytes and 64 KiB of it;
        return the Response if the server answers within ``wait`` seconds
        (a front door refusing the size), else None (it is reading on)."""
        conn = self._start_put(image_id, {"Content-Length": str(length)}, timeout=wait)
        try:
            conn.send(b"\0" * 65536)
            resp = conn.getresponse()
            return Response(resp.status, resp.reason, resp.getheaders(), resp.read())
        except TimeoutError:
            return None
        finally:
            conn.close()

    def upload_cl(self, image_id, source, piece=MiB, pace=None, on_progress=None,
                  timeout=None, target="file", headers=None):
        """PUT with Content-Length. ``pace`` (bytes/s) slows the sender down;
        ``on_progress(sent)`` is called after each piece (it may raise to abort).
        ``target="stage"`` stages the data for glance-direct instead;
        ``headers`` are sent too (a token of the test's own)."""
        headers = dict(headers or {}, **{"Content-Length": str(source.size)})
        conn = self._start_put(image_id, headers, timeout, target)
        return self._send(conn, source.chunks(piece), pace, on_progress, framing=False)

    def upload_chunked(self, image_id, source, chunk_size, pace=None, on_progress=None,
                       timeout=None):
        """PUT with Transfer-Encoding: chunked, every chunk exactly ``chunk_size``
        bytes except possibly the last."""
        conn = self._start_put(image_id, {"Transfer-Encoding": "chunked"}, timeout)
        return self._send(conn, source.chunks(chunk_size), pace, on_progress, framing=True)

    def _send(self, conn, chunks, pace, on_progress, framing):
        start = time.monotonic()
        sent = 0
        try:
            for chunk in chunks:
                if framing:
                    conn.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                else:
                    conn.send(chunk)
                sent += len(chunk)
                if on_progress is not None:
                    on_progress(sent)
                if pace:
                    ahead = sent / pace - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
            if framing:
                conn.send(b"0\r\n\r\n")
        except OSError as exc:
            # The server may have answered early (411, 413) and closed: read it.
            return self._finish(conn, send_error=exc)
        except BaseException:
            # The caller aborted the upload: drop the connection now.
            conn.close()
            raise
        return self._finish(conn)

    # -- import ------------------------------------------------------------

    def import_image(self, image_id, method, uri=None):
        """POST /v2/images/{id}/import; the Response (202 when accepted)."""
        body = {"method": {"name": method}}
        if uri is not None:
            body["method"]["uri"] = uri
        return self.request("POST", "/v2/images/%s/import" % image_id, json_body=body)

    def tasks_of(self, image_id):
        resp = self.request("GET", "/v2/images/%s/tasks" % image_id)
        assert resp.status == 200, resp
        return resp.json()["tasks"]

    def get_task(self, task_id):
        resp = self.request("GET", "/v2/tasks/%s" % task_id)
        assert resp.status == 200, resp
        return resp.json()

    def download(self, image_id):
        """GET the data; return (response without body, size, md5 hex, sha512 hex)."""
        conn = self.connection()
        try:
            conn.request("GET", self.path("/v2/images/%s/file" % image_id),
                         headers=self.auth_headers())
            resp = conn.getresponse()
            md5, sha512, size = hashlib.md5(), hashlib.sha512(), 0
            while True:
                piece = resp.read(MiB)
                if not piece:
                    break
                size += len(piece)
                md5.update(piece)
                sha512.update(piece)
            return (Response(resp.status, resp.reason, resp.getheaders(), b""),
                    size, md5.hexdigest(), sha512.hexdigest())
        finally:
            conn.close()


# requests lets these variables override a session's CA file (the ``cacert``
# python-glanceclient passes), so they must not leak into the client tests.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def answered(conn, wait=0.05):
    """Whether the server has sent ``conn`` (an http.client connection whose
    request is still being sent) the start of an answer, or closed it,
    within ``wait`` seconds.

    On TLS a readable socket is not an answer: a TLS 1.3 server sends its
    session tickets after the handshake, and they make the socket readable
    with no response behind them. A non-blocking read tells the two apart;
    response bytes it takes are given back to ``conn.getresponse()``.
    """
    sock = conn.sock
    if not select.select([sock], [], [], wait)[0]:
        return False
    if not isinstance(sock, ssl.SSLSocket):
        return True
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        data = sock.recv(65536)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return False        # only TLS records of its own, such as tickets
    except OSError:
        return True         # reset: the answer is the error getresponse raises
    finally:
        sock.settimeout(timeout)
    if data:
        conn.sock = _Replayed(sock, data)
    return True


class _Replayed:
    """A socket whose first ``data`` was read already: ``makefile("rb")``
    gives it back before the rest (http.client reads responses that way)."""

    def __init__(self, sock, data):
        self._sock = sock
        self._data = data

    def makefile(self, mode="rb", buffering=None, **kwargs):
        assert mode == "rb", mode
        return io.BufferedReader(_ReplayedRaw(self._data, self._sock.makefile("rb", buffering=0)))

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _ReplayedRaw(io.RawIOBase):
    def __init__(self, data, raw):
        self._data = data
        self._raw = raw

    def readable(self):
        return True

    def readinto(self, buffer):
        if self._data:
            n = min(len(buffer), len(self._data))
            buffer[:n] = self._data[:n]
            self._data = self._data[n:]
            return n
        return self._raw.readinto(buffer)

    def close(self):
        self._raw.close()
        super().close()


class HalfRequest:
    """A GET whose headers are sent in two parts: ``start`` sends all but the
    blank line that ends them, so a server process of the current generation
    has accepted the request and waits for it; ``finish`` sends the rest and
    returns the :class:`Response`. Between the two, a test reloads the
    server: the request is in flight across the reload."""

    def __init__(self, api, path):
        self.api = api
        self.path = path
        self.sock = None

    def start(self):
        import socket
        sock = socket.create_connection((self.api.host, self.api.port), timeout=120)
        if self.api.scheme == "https":
            ctx = ssl.create_default_context(cafile=self.api.ca_file)
            sock = ctx.wrap_socket(sock, server_hostname=self.api.host)
        self.sock = sock
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: %s:%d\r\n" % (
            self.api.path(self.path).encode(), self.api.host.encode(), self.api.port)
            + b"".join(b"%s: %s\r\n" % (k.encode(), v.encode())
                       for k, v in self.api.auth_headers().items()))
        return self

    def finish(self):
        try:
            self.sock.sendall(b"Connection: close\r\n\r\n")
            resp = http.client.HTTPResponse(self.sock)
            resp.begin()
            return Response(resp.status, resp.reason, resp.getheaders(), resp.read())
        finally:
            self.sock.close()


def glance_cli(dep, *args):
    """Run the ``glance`` CLI of this environment against deployment ``dep``.

    Behind Keystone it authenticates as alice with a password and finds the
    image endpoint in the catalog of the deployment's region, as a user
    does; in trusted-header mode it is pointed at the front door. Its stdin
    is a terminal, as for an operator: the client then reads no image data
    from it (image-create-via-import refuses ``--file`` or ``--uri`` when
    stdin has data). Returns the CompletedProcess.
    """
    return _cli("glance", dep, args)


def openstack_cli(dep, *args):
    """Run ``openstack`` (python-openstackclient) as alice against ``dep``,
    through the catalog of its region (see :func:`glance_cli`)."""
    return _cli("openstack", dep, args)


def _cli(name, dep, args):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OS_") and k not in CA_BUNDLE_VARIABLES}
    program = Path(sys.prefix) / "bin" / name
    if not program.exists():
        raise AssertionError("the %s CLI is not installed in %s: run `pip install -r "
                             "test-requirements.txt` (tox installs it)" % (name, sys.prefix))
    if dep.identity is not None:
        from lab.keystone import credentials
        password, project = credentials("alice")
        argv = [str(program), "--os-auth-url", dep.identity.url, "--os-username", "alice",
                "--os-password", password, "--os-project-name", project,
                "--os-user-domain-name", "Default", "--os-project-domain-name", "Default",
                "--os-region-name", dep.region]
    else:
        argv = [str(program), "--os-image-url", dep.base_url, "--os-auth-token", "x"]
    if dep.ca_file:
        argv += ["--os-cacert", dep.ca_file]
    primary, secondary = os.openpty()
    try:
        return subprocess.run(argv + list(args), capture_output=True, text=True, env=env,
                              stdin=secondary, timeout=120)
    finally:
        os.close(primary)
        os.close(secondary)


def cli_field(table, name):
    """One value from the glance CLI's two-column property table."""
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] == name:
            return cells[1]
    raise AssertionError("no %s in:\n%s" % (name, table))
