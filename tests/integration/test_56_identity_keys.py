"""Where auth meets rate limits and TLS: rate limits keyed by the authenticated consumer or by a
JWT claim, and a verified TLS client certificate as a credential (its subject names a consumer,
whose roles RBAC uses)."""

import hashlib
import json
import shutil
import subprocess
import time

import pytest

from harness import Client, config
from test_52_tls import certs, pki, run, tls_config  # noqa: F401 (pki is a fixture)

SECRET = "hs256-secret-at-least-16"


def key_hash(key):
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def hs256(claims):
    jwt = pytest.importorskip("jwt")
    claims = {"iss": "https://idp.test", "aud": "api", "exp": int(time.time()) + 300, **claims}
    token = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": "hs"})
    return token if isinstance(token, str) else token.decode()


def test_rate_limit_by_consumer_counts_all_keys_of_a_consumer(backend, sluice):
    be = backend()
    gw = sluice(config(f"""
        consumers:
          - {{name: alice, api_keys: ["{key_hash('alice-key-1-xxxxxxxx')}",
                                      "{key_hash('alice-key-2-xxxxxxxx')}"]}}
          - {{name: bob, api_keys: ["{key_hash('bob-key-xxxxxxxxxxxx')}"]}}
        upstreams: [{{name: api, targets: [{{address: {be.address}}}]}}]
        routes:
          - name: api
            match: {{path: "/api/{{*rest}}"}}
            upstream: api
            security: {{auth: {{api_key: true}}}}
            rate_limits:
              - {{name: per-consumer, key: consumer, algorithm: fixed_window, limit: 3,
                  period: 1h}}
    """))
    with Client(gw.port) as c:
        def get(key):
            return c.request("GET", "/api/x", headers={"x-api-key": key}).status
        assert [get("alice-key-1-xxxxxxxx"), get("alice-key-2-xxxxxxxx"),
                get("alice-key-1-xxxxxxxx")] == [200, 200, 200]
        assert get("alice-key-2-xxxxxxxx") == 429  # both keys are alice's
        assert get("bob-key-xxxxxxxxxxxx") == 200
        assert get("wrong-key-xxxxxxxxxxx") == 401  # auth runs before the limits


def test_rate_limit_by_jwt_claim(backend, sluice):
    be = backend()
    gw = sluice(config(f"""
        jwt_providers:
          - name: corp
            issuer: https://idp.test
            audiences: [api]
            keys: [{{secret: "{SECRET}", alg: HS256, kid: hs}}]
        upstreams: [{{name: api, targets: [{{address: {be.address}}}]}}]
        routes:
          - name: api
            match: {{path: "/api/{{*rest}}"}}
            upstream: api
            security: {{auth: {{jwt: [corp]}}}}
            rate_limits:
              - {{name: per-tenant, key: "jwt_claim:tenant", algorithm: fixed_window, limit: 2,
                  period: 1h}}
    """))
    t1a = hs256({"sub": "u1", "tenant": "t1"})
    t1b = hs256({"sub": "u2", "tenant": "t1"})
    t2 = hs256({"sub": "u3", "tenant": "t2"})
    with Client(gw.port) as c:
        def get(token):
            r = c.request("GET", "/api/x", headers={"authorization": f"Bearer {token}"})
            return r.status
        assert [get(t1a), get(t1b)] == [200, 200]
        assert get(t1a) == 429  # the tenant's limit, whoever the user
        assert get(t2) == 200


@pytest.mark.skipif(not shutil.which("curl"), reason="curl is installed by scripts/setup.sh")
def test_client_certificate_names_the_consumer(pki, backend, sluice):  # noqa: F811
    be = backend()
    extra = (f"      client_ca: {pki / 'ca.pem'}\n"
             "      require_client_cert: false\n")
    text = tls_config(be.address, certs(pki, "a", extra=extra)) + """consumers:
  - {name: alice, cert_subjects: ["O=Clients,CN=alice"], roles: [admin]}
"""
    text = text.replace("""    upstream: echo
""", """    upstream: echo
    security: {auth: {client_cert: true, roles: [admin]}}
""")
    gw = sluice(text)
    base = ["curl", "-sS", "-i", "--cacert", str(pki / "ca.pem"), "--resolve",
            f"a.test:{gw.port}:127.0.0.1", f"https://a.test:{gw.port}/m",
            "-H", "x-consumer: mallory"]
    r = run(*base, "--cert", str(pki / "client.pem"), "--key", str(pki / "client.key"))
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.replace("\r\n", "\n").partition("\n\n")
    assert head.startswith("HTTP/1.1 200"), head
    assert body.startswith("{"), r.stdout
    headers = json.loads(body)["headers"]
    assert [v for n, v in headers if n.lower() == "x-consumer"] == ["alice"]
    # No certificate: no credential at all.
    r = run(*base)
    assert r.stdout.startswith("HTTP/1.1 401"), r.stdout
    assert "missing credentials" in r.stdout


def test_identity_headers_are_dropped_on_routes_without_auth(backend, sluice):
    be = backend()
    gw = sluice(config(f"""
        consumers: [{{name: alice, api_keys: ["{key_hash('alice-key-1-xxxxxxxx')}"]}}]
        jwt_providers:
          - name: corp
            keys: [{{secret: "{SECRET}", alg: HS256, kid: hs}}]
            forward_claims: {{x-user-id: sub}}
        upstreams: [{{name: api, targets: [{{address: {be.address}}}]}}]
        routes:
          - name: open
            match: {{path: "/open"}}
            upstream: api
    """))
    with Client(gw.port) as c:
        r = c.request("GET", "/open", headers={"x-consumer": "admin", "x-user-id": "root"})
        assert r.status == 200
        names = {n.lower() for n, _ in r.json()["headers"]}
        assert "x-consumer" not in names and "x-user-id" not in names
