"""Edge security helpers of the integration tests (see harness.py, which re-exports them): signing
keys and JWKS documents, JWT / HMAC signers (the scripts), a JWKS server the test controls, a
client bound to a source address, metrics samples and the spec's config (edge_config)."""

import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from harness_base import REPO, config, free_port
from harness_http import Client, _Source

__all__ = ["JWT_SIGN_SCRIPT", "SIGN_REQUEST_SCRIPT", "SYSTEM_PYTHON", "ALICE_API_KEY",
           "BOB_API_KEY", "ALICE_HMAC_KEY_ID", "ALICE_HMAC_SECRET", "HS256_SECRET", "JWT_ISSUER",
           "JWT_AUDIENCE", "b64url", "api_key_hash", "KEY_KINDS", "gen_key", "public_pem", "jwk_of",
           "jwt_token", "handmade_jwt", "jwt_parts", "std_claims", "hmac_headers", "metric_samples",
           "metrics_of", "BoundClient", "JwksServer", "edge_config"]


# ---------------------------------------------------------------------------------------------
# Edge security (issue 5): signing keys and JWKS documents, JWT / HMAC signers (the scripts),
# a JWKS server the test controls, a client bound to a source address, the spec's config


JWT_SIGN_SCRIPT = REPO / "scripts" / "jwt_sign.py"
SIGN_REQUEST_SCRIPT = REPO / "scripts" / "sign_request.py"
SYSTEM_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable

# The consumers of edge_config(): API keys (clear text; the config holds their sha256), HMAC keys.
ALICE_API_KEY = "alice-key-5f1c0e7d9a2b4c6e"
BOB_API_KEY = "bob-key-0a9b8c7d6e5f4a3b"
ALICE_HMAC_KEY_ID = "alice-1"
ALICE_HMAC_SECRET = "0123456789abcdef-alice"
HS256_SECRET = "hs256-secret-at-least-16"
JWT_ISSUER = "https://idp.test"
JWT_AUDIENCE = "api"


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def api_key_hash(key):
    """The config form of an API key: "sha256:" + hex SHA-256 of the key's bytes."""
    if isinstance(key, str):
        key = key.encode()
    return "sha256:" + hashlib.sha256(key).hexdigest()


# openssl genpkey arguments per key kind
KEY_KINDS = {
    "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "ec256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "ec384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    "ed25519": ["-algorithm", "ED25519"],
}


def gen_key(directory, kind, name=None):
    """Generates a private key with the openssl CLI (kind: rsa | ec256 | ec384 | ed25519) into
    directory/NAME.pem (PKCS#8) and writes the public key next to it as NAME.pub.pem; returns the
    private key's Path."""
    directory = Path(directory)
    name = name or f"{kind}-{os.urandom(4).hex()}"
    priv = directory / f"{name}.pem"
    pub = directory / f"{name}.pub.pem"
    for argv in (["openssl", "genpkey", *KEY_KINDS[kind], "-out", str(priv)],
                 ["openssl", "pkey", "-in", str(priv), "-pubout", "-out", str(pub)]):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"{' '.join(argv)}: {p.stderr}"
    return priv


def public_pem(private_path):
    """The bytes of the public key PEM that gen_key wrote next to private_path."""
    p = Path(private_path)
    return p.with_name(p.name[:-len(".pem")] + ".pub.pem").read_bytes()


def jwk_of(private_path, kid, alg=None):
    """The public JWK (RFC 7517/7518/8037) of a PEM private key, via python3-cryptography."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    key = serialization.load_pem_private_key(Path(private_path).read_bytes(), password=None)
    pub = key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        jwk = {"kty": "RSA", "n": b64url(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")),
               "e": b64url(nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big"))}
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        size = (pub.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[pub.curve.name]
        nums = pub.public_numbers()
        jwk = {"kty": "EC", "crv": crv, "x": b64url(nums.x.to_bytes(size, "big")),
               "y": b64url(nums.y.to_bytes(size, "big"))}
    elif isinstance(pub, ed25519.Ed25519PublicKey):
        raw_bytes = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw_bytes)}
    else:
        raise AssertionError(f"unsupported key type {type(pub)}")
    jwk.update({"kid": kid, "use": "sig"})
    if alg:
        jwk["alg"] = alg
    return jwk


def jwt_token(alg, key=None, secret=None, kid=None, claims=None, exp_in=300, nbf_in=None,
              iat=False, header=None):
    """A JWT signed by scripts/jwt_sign.py (PyJWT). key: PEM private key path (or, for HS*, a
    file holding the secret); secret: inline HS* secret; exp_in=None leaves exp out."""
    argv = [SYSTEM_PYTHON, str(JWT_SIGN_SCRIPT), "--alg", alg,
            "--claims", json.dumps(claims if claims is not None else {})]
    if key is not None:
        argv += ["--key", str(key)]
    if secret is not None:
        argv += ["--secret", secret]
    if kid is not None:
        argv += ["--kid", kid]
    if exp_in is not None:
        argv += ["--exp-in", str(exp_in)]
    if nbf_in is not None:
        argv += ["--nbf-in", str(nbf_in)]
    if iat:
        argv.append("--iat")
    if header:
        argv += ["--header", json.dumps(header)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"jwt_sign.py failed: {p.stderr}"
    token = p.stdout.strip()
    assert token.count(".") == 2, token
    return token


def handmade_jwt(header, claims, hmac_secret=None, signature=b""):
    """A JWT built without a library: base64url(header).base64url(claims).signature, the signature
    being HMAC-SHA256 over the first two parts with hmac_secret (bytes) when given, else the raw
    signature bytes (b"" for alg none). For tokens a library refuses to make (alg none,
    algorithm confusion)."""
    import hmac as hmac_mod
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    if hmac_secret is not None:
        signature = hmac_mod.new(hmac_secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def jwt_parts(token):
    """(header dict, claims dict, signature str) of a compact JWT (no verification)."""
    import base64
    h, c, s = token.split(".")
    dec = lambda x: json.loads(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))  # noqa: E731
    return dec(h), dec(c), s


def std_claims(**more):
    """The claims a token of edge_config()'s provider needs (iss, aud, sub) plus more; a value
    of None removes the claim."""
    claims = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "u1"}
    claims.update(more)
    return {k: v for k, v in claims.items() if v is not None}


def _sign_request_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("sign_request", SIGN_REQUEST_SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def hmac_headers(url, key_id=ALICE_HMAC_KEY_ID, secret=ALICE_HMAC_SECRET, method="GET",
                 headers=(), body=None, now=None, nonce=None, cli=False):
    """The headers scripts/sign_request.py adds to a request (a list of (name, value), the given
    headers included). cli=True runs the script as a command (its printed headers); otherwise
    its signed_request_headers() is called, which also takes now= (a past X-Date) and nonce=."""
    if cli:
        assert now is None and nonce is None, "the CLI signs with the current time"
        argv = [SYSTEM_PYTHON, str(SIGN_REQUEST_SCRIPT), "--key-id", key_id, "--secret", secret,
                "--method", method]
        for n, v in headers:
            argv += ["--header", f"{n}: {v}"]
        if body is not None:
            argv += ["--data", body.decode() if isinstance(body, bytes) else body]
        argv.append(url)
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"sign_request.py failed: {p.stderr}"
        out = []
        for line in p.stdout.splitlines():
            n, sep, v = line.partition(":")
            if sep:
                out.append((n.strip(), v.strip()))
        return out
    body = body.encode() if isinstance(body, str) else (body or b"")
    return _sign_request_module().signed_request_headers(key_id, secret, method, url,
                                                         list(headers), body, now=now,
                                                         nonce=nonce)


def metric_samples(text, name, **labels):
    """Values of the samples of metric `name` whose labels include `labels` (Prometheus text)."""
    import re
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            out.append(float(m.group(4)))
    return out


def metrics_of(gw):
    status, _, body = gw.admin("GET", "/metrics")
    assert status == 200, (status, body)
    return body.decode() if isinstance(body, bytes) else str(body)


class BoundClient(Client):
    """A Client whose socket is bound to a source address first (e.g. 127.0.0.2: any 127/8
    address works as a source on Linux loopback), for IP rules."""

    def __init__(self, port, source, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.src = _Source(self.sock, timeout=timeout)


class JwksServer:
    """A JWKS endpoint the test controls: http.server in a thread on a free loopback port,
    serving GET /jwks.json (one request per connection). set_keys(*jwks) publishes a document
    ({"keys": [...]}); status = 500 (fail()) answers errors instead; stop() closes the listener
    (connections are refused) and start() opens it again on the same port. fetches counts every
    request to /jwks.json (ok_fetches: those answered 200); cache_control, when set, is sent as
    the Cache-Control header.

        jwks = JwksServer([jwk_of(k1, "k1")])
        ... jwks_url: jwks.url ...
        jwks.set_keys(jwk_of(k1, "k1"), jwk_of(k2, "k2"))   # rotate
        jwks.fail()                                          # 500 from now on
        jwks.stop()

    tls=(cert_pem, key_pem) serves https (url says https://127.0.0.1:PORT/...); set_tls() swaps
    the certificate for the next start().
    """

    def __init__(self, keys=(), port=None, path="/jwks.json", tls=None):
        self.path = path
        self.tls = tls
        self.lock = threading.Lock()
        self.document = {"keys": list(keys)}
        self.status = 200
        self.cache_control = None
        self.fetches = 0
        self.ok_fetches = 0
        self.fetch_times = []
        self.server = None
        self.thread = None
        self.port = port or free_port()
        self.start()

    @property
    def url(self):
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}{self.path}"

    def set_tls(self, tls):
        self.tls = tls

    def set_keys(self, *keys):
        with self.lock:
            self.document = {"keys": list(keys)}
            self.status = 200

    def set_document(self, document):
        """Any JSON value (or bytes, sent as they are) as the answer."""
        with self.lock:
            self.document = document
            self.status = 200

    def fail(self, status=500):
        with self.lock:
            self.status = status

    def counts(self):
        with self.lock:
            return self.fetches, self.ok_fetches

    def _handler(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):
                if self.path.split("?", 1)[0] != outer.path:
                    return self._send(404, b'{"error":"not found"}')
                with outer.lock:
                    outer.fetches += 1
                    outer.fetch_times.append(time.monotonic())
                    status, doc = outer.status, outer.document
                    if status == 200:
                        outer.ok_fetches += 1
                if status != 200:
                    return self._send(status, b'{"error":"jwks unavailable"}')
                body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self._send(200, body)

            def _send(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if outer.cache_control and status == 200:
                    self.send_header("Cache-Control", outer.cache_control)
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler

    @property
    def running(self):
        return self.server is not None

    def start(self):
        assert self.server is None, "already running"
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        srv.daemon_threads = True
        if self.tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        self.server = srv
        self.thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
        self.server = None
        self.thread = None


def edge_config(be_address, jwks_url, jwks_min_refresh="1s", extra_routes="", extra_top="",
                extra_upstreams="", workers=None):
    """The config of the issue-5 spec: consumers alice (API key, HMAC key alice-1, role admin)
    and bob (API key, role reader), JWT provider corp (JWKS at jwks_url plus the inline HS256
    key "hs"), default security headers and the routes jwt, keys, signed, ips and cors to
    upstream api (be_address). extra_routes: more route entries (YAML list items "- name: ...",
    any common indentation); extra_upstreams: more upstream entries (likewise); extra_top: more
    top-level YAML."""
    routes = textwrap.dedent("""\
      - name: jwt
        match: {path: "/jwt/{*rest}"}
        upstream: api
        security:
          auth: {jwt: [corp], roles: [reader, admin], method_roles: {DELETE: [admin]}}
      - name: keys
        match: {path: "/keys/{*rest}"}
        upstream: api
        security: {auth: {api_key: {header: x-api-key}}}
      - name: signed
        match: {path: "/signed/{*rest}"}
        upstream: api
        security: {auth: {hmac: {window: 300s}}}
      - name: ips
        match: {path: "/ips/{*rest}"}
        upstream: api
        security: {ip_rules: {allow: [127.0.0.0/8], deny: [127.0.0.2/32]}, auth: off}
      - name: cors
        match: {path: "/cors/{*rest}"}
        upstream: api
        security: {cors: {origins: ["https://app.test", "https://*.example.test"], methods: [GET, POST], headers: [content-type, authorization], expose: [x-request-id], credentials: true, max_age: 600s}}
    """)
    routes = textwrap.indent(routes, "  ")
    if extra_routes:
        routes += textwrap.indent(textwrap.dedent(extra_routes).strip("\n"), "  ") + "\n"
    body = textwrap.dedent(f"""\
    consumers:
      - name: alice
        api_keys: ["{api_key_hash(ALICE_API_KEY)}"]
        hmac_keys: [{{key_id: {ALICE_HMAC_KEY_ID}, secret: "{ALICE_HMAC_SECRET}"}}]
        roles: [admin]
      - name: bob
        api_keys: ["{api_key_hash(BOB_API_KEY)}"]
        roles: [reader]
    jwt_providers:
      - name: corp
        issuer: {JWT_ISSUER}
        audiences: [{JWT_AUDIENCE}]
        algorithms: [RS256, ES256, ES384, PS256, EdDSA, HS256]
        jwks_url: {jwks_url}
        jwks_min_refresh: {jwks_min_refresh}
        keys: [{{secret: "{HS256_SECRET}", alg: HS256, kid: hs}}]
        clock_skew: 30s
        required_claims: [sub]
        roles_claim: roles
        from: [bearer, "cookie:session", "query:access_token"]
        forward_claims: {{x-user-id: sub}}
    security:
      headers: {{hsts: {{max_age: 31536000s, include_subdomains: true}}, nosniff: true, frame_options: DENY, referrer_policy: no-referrer, server: hide}}
    upstreams:
      - name: api
        targets: [{{address: {be_address}}}]
    """)
    if extra_upstreams:
        body += textwrap.indent(textwrap.dedent(extra_upstreams).strip("\n"), "  ") + "\n"
    if extra_top:
        body += textwrap.dedent(extra_top).strip("\n") + "\n"
    return config(body + "routes:\n" + routes, workers=workers)
