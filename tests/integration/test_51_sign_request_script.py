"""scripts/sign_request.py, the reference client of the SLUICE-HMAC-SHA256 scheme: its headers
verify under the canonical-string rules of docs/hmac-signatures.md, reimplemented here
independently of the script, and --curl / --send do what they say. (The C++ side checks the same
output with verify_signature in tests/unit/auth/hmac_signature_test.cc.)"""

import base64
import hashlib
import hmac
import http.server
import os
import re
import shlex
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "sign_request.py")
AUTH_RE = re.compile(
    r'^SLUICE-HMAC-SHA256 keyId="([^"]*)", signedHeaders="([^"]*)", nonce="([^"]*)", '
    r'signature="([^"]*)"$')


def run(*args):
    p = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def headers_of(text):
    out = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


def expected_signature(secret, method, path, query, signed, x_date, nonce, body_hex):
    # Written from the documentation, not copied from the script.
    canonical = "SLUICE-HMAC-SHA256\n" + method + "\n" + path + "\n" + query + "\n"
    for name, value in signed:
        canonical += name + ":" + value + "\n"
    canonical += x_date + "\n" + nonce + "\n" + body_hex
    return base64.b64encode(hmac.new(secret.encode(), canonical.encode(),
                                     hashlib.sha256).digest()).decode()


def test_headers_verify_with_body_and_query():
    body = '{"amount": 100}'
    rc, out, err = run("--key-id", "billing", "--secret", "s3cr3t", "--method", "put",
                       "--header", "Content-Type:  application/json ",
                       "--header", "X-Tenant: acme", "--data", body,
                       "https://api.example.com/v1/pay%2Fments?b=2&a=1")
    assert rc == 0, err
    h = headers_of(out)
    assert h["content-type"] == "application/json"
    assert h["x-content-sha256"] == hashlib.sha256(body.encode()).hexdigest()
    assert abs(int(h["x-date"]) - time.time()) < 30
    m = AUTH_RE.match(h["authorization"])
    assert m, h["authorization"]
    key_id, signed_headers, nonce, signature = m.groups()
    assert key_id == "billing"
    assert signed_headers == "host;content-type;x-tenant"
    assert 8 <= len(nonce) <= 128
    assert signature == expected_signature(
        "s3cr3t", "PUT", "/v1/pay%2Fments", "b=2&a=1",
        [("host", "api.example.com"), ("content-type", "application/json"),
         ("x-tenant", "acme")], h["x-date"], nonce, h["x-content-sha256"])
    assert signature != expected_signature(
        "wrong", "PUT", "/v1/pay%2Fments", "b=2&a=1",
        [("host", "api.example.com"), ("content-type", "application/json"),
         ("x-tenant", "acme")], h["x-date"], nonce, h["x-content-sha256"])


def test_get_without_body_signs_empty_digest_and_root_path():
    rc, out, err = run("--key-id", "k", "--secret", "s", "http://127.0.0.1:8080")
    assert rc == 0, err
    h = headers_of(out)
    empty = hashlib.sha256(b"").hexdigest()
    assert h["x-content-sha256"] == empty
    key_id, signed_headers, nonce, signature = AUTH_RE.match(h["authorization"]).groups()
    assert signed_headers == "host"
    assert signature == expected_signature("s", "GET", "/", "", [("host", "127.0.0.1:8080")],
                                           h["x-date"], nonce, empty)


def test_nonces_differ_between_runs():
    nonces = set()
    for _ in range(3):
        _, out, _ = run("--key-id", "k", "--secret", "s", "http://h/")
        nonces.add(AUTH_RE.match(headers_of(out)["authorization"]).group(3))
    assert len(nonces) == 3


def test_curl_mode_prints_a_curl_command():
    rc, out, err = run("--key-id", "k", "--secret", "s", "--data", "a b", "--curl", "http://h/x")
    assert rc == 0, err
    argv = shlex.split(out)
    assert argv[:4] == ["curl", "-sS", "-X", "POST"]
    assert argv[-1] == "http://h/x"
    assert argv[argv.index("--data-binary") + 1] == "a b"
    assert any(a.startswith("Authorization: SLUICE-HMAC-SHA256 ") for a in argv)


def test_bad_url_is_an_error():
    rc, _, err = run("--key-id", "k", "--secret", "s", "ftp://h/x")
    assert rc == 2
    assert "URL" in err


def test_send_mode_sends_a_request_that_verifies():
    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            seen["body"] = self.rfile.read(n)
            seen["headers"] = {k.lower(): v for k, v in self.headers.items()}
            seen["path"] = self.path
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = "http://127.0.0.1:%d/echo?x=1" % srv.server_address[1]
        rc, out, err = run("--key-id", "k", "--secret", "s", "--data", "hello", "--send", url)
    finally:
        srv.shutdown()
    assert rc == 0, err
    assert out.startswith("HTTP 200")
    assert out.rstrip().endswith("ok")
    h = seen["headers"]
    assert seen["body"] == b"hello"
    _, signed_headers, nonce, signature = AUTH_RE.match(h["authorization"]).groups()
    values = [(n, h[n]) for n in signed_headers.split(";")]
    path, _, query = seen["path"].partition("?")
    assert signature == expected_signature("s", "POST", path, query, values, h["x-date"], nonce,
                                           hashlib.sha256(b"hello").hexdigest())
