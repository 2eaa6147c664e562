"""TLS: listeners terminate TLS with certificates chosen by SNI (TLS 1.2 and 1.3, min_version),
mTLS (a missing or untrusted client certificate fails the handshake), certificates reloaded with
the config (open connections keep theirs, a bad certificate path is refused with its key), and
TLS to upstreams verified against a CA (a wrong CA answers 502).

Certificates are made with the openssl CLI in a temporary directory."""

import http.client
import http.server
import json
import shutil
import socket
import ssl
import subprocess
import threading

import pytest

from harness import free_port

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")


def run(*argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, **kw)


def make_key_csr(d, name, subj):
    r = run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"),
            "-subj", subj)
    assert r.returncode == 0, r.stderr


def sign(d, name, ext):
    (d / f"{name}.ext").write_text(ext + "\n")
    r = run("openssl", "x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"),
            "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2", "-out",
            str(d / f"{name}.pem"), "-extfile", str(d / f"{name}.ext"))
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    r = run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"), "-days", "2",
            "-subj", "/CN=Sluice Test CA")
    assert r.returncode == 0, r.stderr
    for name, subj, san in [("a", "/CN=a.test", "DNS:a.test"),
                            ("a2", "/CN=a.test/O=v2", "DNS:a.test"),
                            ("b", "/CN=b.test", "DNS:b.test"),
                            ("up", "/CN=upstream.test", "DNS:upstream.test,IP:127.0.0.1")]:
        make_key_csr(d, name, subj)
        sign(d, name, f"subjectAltName={san}")
    make_key_csr(d, "client", "/CN=alice/O=Clients")
    sign(d, "client", "extendedKeyUsage=clientAuth")
    r = run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", str(d / "bad.key"), "-out", str(d / "bad.pem"), "-days", "2",
            "-subj", "/CN=mallory")
    assert r.returncode == 0, r.stderr
    return d


def tls_config(backend_address, tls_lines, upstream_tls=""):
    return f"""listeners:
  - address: 127.0.0.1:$PORT
    tls:
{tls_lines}
admin:
  address: 127.0.0.1:$ADMIN
upstreams:
  - name: echo
{upstream_tls}    targets: [{{address: {backend_address}}}]
routes:
  - name: all
    match: {{path: "/{{*rest}}"}}
    upstream: echo
timeouts:
  idle: 30s
"""


def certs(pki, *names, extra=""):
    lines = "      certificates:\n"
    for n in names:
        lines += f"        - {{cert: {pki / (n + '.pem')}, key: {pki / (n + '.key')}}}\n"
    return lines + extra


def s_client(port, *args):
    """Output of an openssl s_client handshake (no request sent)."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args],
                       input="", capture_output=True, text=True, timeout=15)
    return r.returncode, r.stdout + r.stderr


def subject_of(out):
    for line in out.splitlines():
        if line.startswith("subject="):
            return line[len("subject="):].strip()
    return None


def https_conn(port, ca, host="a.test", cert=None):
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.sock = ctx.wrap_socket(raw, server_hostname=host)
    return c


def get(c, path):
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read()


def test_sni_chooses_the_certificate(pki, backend, sluice):
    gw = sluice(tls_config(backend().address, certs(pki, "a", "b")))
    assert "CN = a.test" in subject_of(s_client(gw.port, "-servername", "a.test")[1])
    assert "CN = b.test" in subject_of(s_client(gw.port, "-servername", "b.test")[1])
    # No SNI, or a name no certificate has: the first certificate.
    assert "CN = a.test" in subject_of(s_client(gw.port, "-noservername")[1])
    assert "CN = a.test" in subject_of(s_client(gw.port, "-servername", "zzz.test")[1])


def test_curl_through_tls_sets_forwarded_proto(pki, backend, sluice):
    gw = sluice(tls_config(backend().address, certs(pki, "a", "b")))
    for host in ("a.test", "b.test"):
        r = run("curl", "-sS", "--cacert", str(pki / "ca.pem"), "--resolve",
                f"{host}:{gw.port}:127.0.0.1", f"https://{host}:{gw.port}/hello")
        assert r.returncode == 0, r.stderr
        body = json.loads(r.stdout)
        headers = {n.lower(): v for n, v in body["headers"]}
        assert body["path"] == "/hello"
        assert headers["x-forwarded-proto"] == "https"
    # Keep-alive: several requests on one TLS connection.
    c = https_conn(gw.port, pki / "ca.pem")
    for i in range(5):
        status, body = get(c, f"/k{i}")
        assert status == 200 and json.loads(body)["path"] == f"/k{i}"
    c.close()


def test_tls12_and_tls13_and_min_version(pki, backend, sluice):
    gw = sluice(tls_config(backend().address, certs(pki, "a")))
    rc, out = s_client(gw.port, "-servername", "a.test", "-tls1_2")
    assert rc == 0 and "TLSv1.2" in out, out
    rc, out = s_client(gw.port, "-servername", "a.test", "-tls1_3")
    assert rc == 0 and "TLSv1.3" in out, out
    gw13 = sluice(tls_config(backend().address, certs(pki, "a", extra='      min_version: "1.3"\n')))
    rc, out = s_client(gw13.port, "-servername", "a.test", "-tls1_2")
    assert rc != 0 or "Cipher is (NONE)" in out, out
    rc, out = s_client(gw13.port, "-servername", "a.test", "-tls1_3")
    assert rc == 0 and "TLSv1.3" in out, out


def test_ciphers_and_alpn(pki, backend, sluice):
    extra = ('      ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384"\n'
             '      ciphersuites: "TLS_CHACHA20_POLY1305_SHA256"\n')
    gw = sluice(tls_config(backend().address, certs(pki, "a", extra=extra)))
    rc, out = s_client(gw.port, "-servername", "a.test", "-tls1_2")
    assert rc == 0 and "ECDHE-ECDSA-AES256-GCM-SHA384" in out, out
    rc, out = s_client(gw.port, "-servername", "a.test", "-tls1_3", "-alpn", "h2,http/1.1")
    assert rc == 0 and "TLS_CHACHA20_POLY1305_SHA256" in out, out
    assert "ALPN protocol: http/1.1" in out, out


def test_mtls(pki, backend, sluice):
    extra = f"      client_ca: {pki / 'ca.pem'}\n"
    gw = sluice(tls_config(backend().address, certs(pki, "a", extra=extra)))
    base = ["curl", "-sS", "--cacert", str(pki / "ca.pem"), "--resolve",
            f"a.test:{gw.port}:127.0.0.1", f"https://a.test:{gw.port}/m"]
    r = run(*base, "--cert", str(pki / "client.pem"), "--key", str(pki / "client.key"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["path"] == "/m"
    # Untrusted and missing client certificates fail the handshake (no HTTP answer at all).
    r = run(*base, "--cert", str(pki / "bad.pem"), "--key", str(pki / "bad.key"))
    assert r.returncode != 0 and r.stdout == "", (r.stdout, r.stderr)
    r = run(*base)
    assert r.returncode != 0 and r.stdout == "", (r.stdout, r.stderr)
    # Optional client certificates: none is fine, an untrusted one still fails.
    extra_opt = extra + "      require_client_cert: false\n"
    gw2 = sluice(tls_config(backend().address, certs(pki, "a", extra=extra_opt)))
    base2 = ["curl", "-sS", "--cacert", str(pki / "ca.pem"), "--resolve",
             f"a.test:{gw2.port}:127.0.0.1", f"https://a.test:{gw2.port}/o"]
    assert run(*base2).returncode == 0
    r = run(*base2, "--cert", str(pki / "bad.pem"), "--key", str(pki / "bad.key"))
    assert r.returncode != 0


def test_reload_new_certificate_keeps_open_connections(pki, backend, sluice):
    gw = sluice(tls_config(backend().address, certs(pki, "a")))
    old = https_conn(gw.port, pki / "ca.pem")
    assert get(old, "/before")[0] == 200
    status, body = gw.reload(tls_config(backend().address, certs(pki, "a2")))
    assert status == 200 and body["ok"] is True, body
    # The open keep-alive connection goes on with its session.
    assert get(old, "/after")[0] == 200
    assert ("organizationName", "v2") not in [x for rdn in old.sock.getpeercert()["subject"]
                                              for x in rdn]
    old.close()
    # New connections get the new certificate.
    assert "O = v2" in subject_of(s_client(gw.port, "-servername", "a.test")[1])


def test_reload_with_a_bad_certificate_is_refused(pki, backend, sluice, tmp_path):
    gw = sluice(tls_config(backend().address, certs(pki, "a")))
    bad = certs(pki, "a").replace(str(pki / "a.pem"), str(tmp_path / "missing.pem"))
    status, body = gw.reload(tls_config(backend().address, bad))
    assert body["ok"] is False, body
    assert any("listeners[0].tls.certificates[0].cert" in e for e in body["errors"]), body
    # A key that belongs to another certificate.
    mismatch = certs(pki, "a").replace(str(pki / "a.key"), str(pki / "b.key"))
    status, body = gw.reload(tls_config(backend().address, mismatch))
    assert body["ok"] is False, body
    assert any("listeners[0].tls.certificates[0].key" in e for e in body["errors"]), body
    # The old certificate stays in force.
    assert "CN = a.test" in subject_of(s_client(gw.port, "-servername", "a.test")[1])
    c = https_conn(gw.port, pki / "ca.pem")
    assert get(c, "/still")[0] == 200
    c.close()


def test_bad_cipher_string_is_a_config_error(pki, backend, tmp_path):
    from harness import sluice_bin
    cfg = tls_config(backend().address, certs(pki, "a", extra='      ciphers: "NOPE-NOPE"\n'))
    p = tmp_path / "bad.yaml"
    p.write_text(cfg.replace("$PORT", str(free_port())).replace("$ADMIN", str(free_port())))
    r = run(str(sluice_bin()), "validate", "--config", str(p))
    assert r.returncode != 0
    assert "listeners[0].tls.ciphers" in r.stdout + r.stderr, r.stdout + r.stderr


class _TlsEcho(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = json.dumps({"tls_path": self.path,
                           "host": self.headers.get("Host")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_upstream(pki):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TlsEcho)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki / "up.pem"), str(pki / "up.key"))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_upstream_tls_verified_against_the_ca(pki, tls_upstream, sluice):
    port = tls_upstream
    plain = f"""listeners:
  - address: 127.0.0.1:$PORT
admin:
  address: 127.0.0.1:$ADMIN
upstreams:
  - name: secure
    tls: {{ca_file: {pki / 'ca.pem'}, server_name: upstream.test}}
    targets: [{{address: 127.0.0.1:{port}}}]
  - name: by_ip
    tls: {{ca_file: {pki / 'ca.pem'}}}
    targets: [{{address: 127.0.0.1:{port}}}]
  - name: wrong_ca
    tls: {{ca_file: {pki / 'bad.pem'}}}
    targets: [{{address: 127.0.0.1:{port}}}]
  - name: wrong_name
    tls: {{ca_file: {pki / 'ca.pem'}, server_name: other.test}}
    targets: [{{address: 127.0.0.1:{port}}}]
  - name: unverified
    tls: {{ca_file: {pki / 'bad.pem'}, verify: false}}
    targets: [{{address: 127.0.0.1:{port}}}]
routes:
  - {{name: s, match: {{path: "/s/{{*rest}}"}}, upstream: secure}}
  - {{name: i, match: {{path: "/i/{{*rest}}"}}, upstream: by_ip}}
  - {{name: w, match: {{path: "/w/{{*rest}}"}}, upstream: wrong_ca}}
  - {{name: n, match: {{path: "/n/{{*rest}}"}}, upstream: wrong_name}}
  - {{name: u, match: {{path: "/u/{{*rest}}"}}, upstream: unverified}}
"""
    gw = sluice(plain)
    c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    for i in range(3):  # keep-alive to sluice; pooled TLS connections upstream
        status, body = get(c, f"/s/x{i}")
        assert status == 200, body
        assert json.loads(body)["tls_path"] == f"/s/x{i}"
    assert get(c, "/i/ip")[0] == 200  # verified against the IP SAN
    assert get(c, "/u/any")[0] == 200
    c.close()
    for path in ("/w/x", "/n/x"):
        c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        status, body = get(c, path)
        assert status == 502, (path, status, body)
        c.close()


def test_handshake_metrics(pki, backend, sluice):
    gw = sluice(tls_config(backend().address, certs(pki, "a")))
    s_client(gw.port, "-servername", "a.test")
    # A plain-text request on the TLS port fails the handshake.
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            s.recv(100)
        except OSError:
            pass
    import time
    deadline = time.monotonic() + 5
    while True:
        status, _, text = gw.admin("GET", "/metrics")
        text = text if isinstance(text, str) else text.decode()
        if ('sluice_tls_handshakes_total{listener="0",result="ok"}' in text and
                'sluice_tls_handshakes_total{listener="0",result="failed"}' in text) \
                or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    ok = [l for l in text.splitlines() if l.startswith('sluice_tls_handshakes_total{listener="0",result="ok"}')]
    failed = [l for l in text.splitlines() if l.startswith('sluice_tls_handshakes_total{listener="0",result="failed"}')]
    assert ok and int(ok[0].split()[-1]) >= 1, text
    assert failed and int(failed[0].split()[-1]) >= 1, text
