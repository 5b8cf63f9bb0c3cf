"""lab.client.answered: a readable TLS socket is not an answer until the
server has sent response bytes, and the bytes it reads reach getresponse.

The server is a thread on a loopback port with a certificate from the lab's
own CA helper; the client is http.client, as in the scenarios.
"""

import http.client
import socket
import ssl
import threading
import time

import pytest

from lab.apache import make_ca_and_server_cert
from lab.client import answered

RESPONSE = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
            b"Content-Length: 14\r\nConnection: close\r\n\r\n{\"code\": 400}\n")


@pytest.fixture
def server(tmp_path):
    """A loopback server, TLS or plain, that reads the request's headers and
    answers ``RESPONSE`` when the test sets ``go``."""
    paths = make_ca_and_server_cert(tmp_path, names=("localhost",), ips=("127.0.0.1",))
    listener = socket.create_server(("127.0.0.1", 0))
    go = threading.Event()
    state = {"tls": True}

    def serve():
        sock, _ = listener.accept()
        if state["tls"]:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(paths["cert"], paths["key"])
            sock = ctx.wrap_socket(sock, server_side=True)
        with sock:
            got = b""
            while b"\r\n\r\n" not in got:
                got += sock.recv(4096)
            assert go.wait(10)
            sock.sendall(RESPONSE)
            time.sleep(0.5)

    def connect(tls):
        state["tls"] = tls
        threading.Thread(target=serve, daemon=True).start()
        port = listener.getsockname()[1]
        if tls:
            ctx = ssl.create_default_context(cafile=str(paths["ca_cert"]))
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.putrequest("PUT", "/v2/images/x/file", skip_accept_encoding=True)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        return conn

    yield connect, go
    listener.close()


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_answered_only_by_response_bytes(server, tls):
    connect, go = server
    conn = connect(tls)
    try:
        time.sleep(0.3)     # TLS 1.3 session tickets have arrived by now
        if tls:
            assert conn.sock.version() == "TLSv1.3"
        assert not answered(conn, wait=0.2)
        assert not answered(conn, wait=0.2)
        go.set()
        end = time.monotonic() + 10
        while not answered(conn, wait=0.2):
            assert time.monotonic() < end, "no answer in 10 s"
        assert conn.sock.gettimeout() == 10     # answered() leaves the timeout as it was
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (400, b"{\"code\": 400}\n")
    finally:
        conn.close()
