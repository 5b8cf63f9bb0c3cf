"""examples/apache-tls/: what clients see of the TLS front door.

The certificate is made by the test (a throwaway CA, openssl CLI); every
client verifies it against that CA. Nothing here turns verification off.
"""

import http.client
import os
import socket
import ssl
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lab.client import Api
from lab.patterns import apache_tls

PATTERN = apache_tls.PATTERNS[0]
# Variables through which requests (python-glanceclient) picks a CA bundle.
CA_BUNDLE_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    with PATTERN.start(tmp_path_factory.mktemp("apache-tls")) as dep:
        yield dep


def _host_port(dep):
    parts = urlsplit(dep.base_url)
    return parts.hostname, parts.port, parts.path


def test_version_links_are_https(shipped):
    host, port, prefix = _host_port(shipped)
    resp = Api(shipped.base_url, shipped.ca_file).request("GET", "/")
    assert resp.status == 300, resp
    hrefs = {link["href"] for v in resp.json()["versions"] for link in v["links"]}
    assert hrefs == {"https://127.0.0.1:%d/image/v2/" % port}


@pytest.mark.parametrize("server_name", ["127.0.0.1", "localhost"])
def test_certificate_verifies_against_the_ca(shipped, server_name):
    """By IP address and by name (both are in the certificate's
    subjectAltName), with hostname checking on."""
    host, port, prefix = _host_port(shipped)
    ctx = ssl.create_default_context(cafile=shipped.ca_file)
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    with socket.create_connection((host, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls_versions(shipped, version):
    """SSLProtocol -all +TLSv1.2 +TLSv1.3: both negotiate."""
    host, port, prefix = _host_port(shipped)
    ctx = ssl.create_default_context(cafile=shipped.ca_file)
    ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, version)
    with socket.create_connection((host, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            assert tls.version() == version.replace("_", ".")


def test_https_responses_carry_hsts(shipped):
    """``Header always set Strict-Transport-Security``: on a success and on
    an error response of the TLS port alike."""
    api = Api(shipped.base_url, shipped.ca_file)
    for path, status in (("/", 300), ("/v2/images/%s" % uuid.uuid4(), 404)):
        resp = api.request("GET", path)
        assert resp.status == status, resp
        assert [value for name, value in resp.headers
                if name.lower() == "strict-transport-security"] == ["max-age=63072000"], \
            resp.headers


def test_http_redirects_to_https(shipped):
    """glancelet-redirect.conf: a plain HTTP request on its port gets 301 to
    the same path and query over https, which then answers."""
    host, port, prefix = _host_port(shipped)
    plain = shipped.workspace.port("9293")
    conn = http.client.HTTPConnection(host, plain, timeout=10)
    try:
        conn.request("GET", prefix + "/v2/images?limit=1")
        resp = conn.getresponse()
        resp.read()
    finally:
        conn.close()
    target = "https://%s:%d%s/v2/images?limit=1" % (host, port, prefix)
    assert (resp.status, resp.getheader("Location")) == (301, target)
    assert Api("https://%s:%d%s" % (host, port, prefix), shipped.ca_file).request(
        "GET", "/v2/images?limit=1").status == 200


@pytest.mark.parametrize("cipher,accepted", [("ECDHE-RSA-AES128-GCM-SHA256", True),
                                             ("ECDHE-RSA-CHACHA20-POLY1305", True),
                                             ("AES128-SHA", False), ("AES256-GCM-SHA384", False),
                                             ("ECDHE-RSA-AES128-SHA", False)])
def test_tls_1_2_ciphers_are_mozilla_intermediate(shipped, cipher, accepted):
    """Over TLS 1.2 the server takes only forward-secret AEAD ciphers; a
    client offering only a CBC or an RSA key exchange cipher gets a
    handshake failure."""
    host, port, prefix = _host_port(shipped)
    ctx = ssl.create_default_context(cafile=shipped.ca_file)
    ctx.set_ciphers(cipher + ":@SECLEVEL=0")
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection((host, port), timeout=10) as raw:
        if accepted:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                assert tls.cipher()[0] == cipher
        else:
            with pytest.raises(ssl.SSLError) as info:
                ctx.wrap_socket(raw, server_hostname=host)
            assert "SSLV3_ALERT_HANDSHAKE_FAILURE" in str(info.value), info.value


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
def test_tls_1_1_is_refused_by_the_server(shipped):
    """A client offering only TLS 1.1 (allowed on the client side by
    lowering OpenSSL's security level) gets the server's "protocol version"
    alert: the refusal is Apache's SSLProtocol, not the client's."""
    host, port, prefix = _host_port(shipped)
    ctx = ssl.create_default_context(cafile=shipped.ca_file)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection((host, port), timeout=10) as raw:
        with pytest.raises(ssl.SSLError) as info:
            ctx.wrap_socket(raw, server_hostname=host)
    assert "TLSV1_ALERT_PROTOCOL_VERSION" in str(info.value), info.value


def test_requests_verifies_with_the_ca(shipped, monkeypatch):
    """requests with verify=<CA file> per request: the bundle variables do
    not override an explicit per-request verify."""
    import requests
    system_bundle = ssl.get_default_verify_paths().openssl_cafile
    for var in CA_BUNDLE_VARS:
        monkeypatch.setenv(var, system_bundle)
    resp = requests.get(shipped.base_url + "/", verify=shipped.ca_file, timeout=30)
    assert resp.status_code == 300
    with pytest.raises(requests.exceptions.SSLError) as info:
        requests.get(shipped.base_url + "/", timeout=30)
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)


def test_client_without_the_ca_refuses_the_server(shipped, record):
    """A client that trusts only the system CAs refuses the certificate."""
    host, port, prefix = _host_port(shipped)
    ctx = ssl.create_default_context()
    conn = http.client.HTTPSConnection(host, port, timeout=10, context=ctx)
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        conn.request("GET", prefix + "/")
    conn.close()
    assert "certificate verify failed: unable to get local issuer certificate" \
        in str(info.value)
    record.symptom("tls-unknown-ca", PATTERN.name, str(info.value))


def test_plain_http_to_the_tls_port(shipped, record):
    host, port, prefix = _host_port(shipped)
    resp = Api("http://%s:%d%s" % (host, port, prefix)).request("GET", "/", timeout=10)
    assert resp.status == 400, resp
    assert "You're speaking plain HTTP to an SSL-enabled server port." in resp.text
    record.symptom("tls-plain-http", PATTERN.name,
                   "%s\n%s" % (resp.status_line, resp.text.strip()))


def _glance(dep, env, *args):
    argv = [str(Path(sys.prefix) / "bin" / "glance"), "--os-image-url", dep.base_url,
            "--os-auth-token", dep.token(), "--os-cacert", dep.ca_file] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


def test_glance_cli_os_cacert_and_requests_ca_bundle(shipped, record):
    """``glance --os-cacert CA`` works, unless REQUESTS_CA_BUNDLE (or
    CURL_CA_BUNDLE) is set: requests then verifies against that bundle
    instead, whatever --os-cacert says."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("OS_") and k not in CA_BUNDLE_VARS}
    ok = _glance(shipped, clean, "image-list")
    assert ok.returncode == 0, ok
    system_bundle = ssl.get_default_verify_paths().openssl_cafile
    for var in CA_BUNDLE_VARS:
        env = dict(clean, **{var: system_bundle})
        bad = _glance(shipped, env, "image-list")
        assert bad.returncode == 1, bad
        assert "CERTIFICATE_VERIFY_FAILED" in bad.stderr, bad
        assert "unable to get local issuer certificate" in bad.stderr, bad
    record.symptom("glanceclient-ca-bundle-env", PATTERN.name,
                   "glance --os-cacert %s image-list, with %s=%s set:\n%s"
                   % ("<the CA>", CA_BUNDLE_VARS[-1], system_bundle, bad.stderr.strip()))


def test_openstacksdk_verifies_with_the_ca_whatever_the_env(shipped, monkeypatch):
    """keystoneauth passes verify= with each request, so the bundle
    variables do not override it."""
    import openstack.connection
    from keystoneauth1 import session, token_endpoint
    system_bundle = ssl.get_default_verify_paths().openssl_cafile
    for var in CA_BUNDLE_VARS:
        monkeypatch.setenv(var, system_bundle)
    sess = session.Session(auth=token_endpoint.Token(shipped.base_url, shipped.token()),
                           verify=shipped.ca_file)
    conn = openstack.connection.Connection(session=sess,
                                           image_endpoint_override=shipped.base_url,
                                           image_api_version="2")
    image = conn.image.create_image(name="tls-sdk", disk_format="raw",
                                    container_format="bare")
    assert image.status == "queued"
    conn.image.delete_image(image)


def _served_certificate(dep):
    host, port, prefix = _host_port(dep)
    ctx = ssl.create_default_context(cafile=dep.ca_file)
    with socket.create_connection((host, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            return tls.getpeercert(binary_form=True)


def test_graceful_loads_a_renewed_certificate(tmp_path):
    """Replace the certificate and key files (a renewal), run
    ``apache2ctl graceful``: new connections get the new certificate."""
    from lab import apache
    with PATTERN.start(tmp_path) as dep:
        before = _served_certificate(dep)
        ws = dep.workspace
        renewed = apache.make_ca_and_server_cert(
            ws.root / "client-ca-renewed",
            cert_path=ws.path("/etc/glancelet/tls/glancelet.pem"),
            key_path=ws.path("/etc/glancelet/tls/glancelet.key"))
        # Until the reload, the old certificate is still served.
        assert _served_certificate(dep) == before
        apache.graceful(ws)
        dep.ca_file = str(renewed["ca_cert"])
        after = _served_certificate(dep)
        assert after != before
        assert ssl.DER_cert_to_PEM_cert(after).strip() == \
            renewed["cert"].read_text().strip()
