"""JWT authentication (issue 5) through the real binary: tokens signed by an independent signer
(scripts/jwt_sign.py, PyJWT) with RSA 2048, EC P-256/P-384, Ed25519 keys from the openssl CLI,
published by a JWKS server the test controls (harness.JwksServer), plus an inline HS256 key.
Every algorithm of the provider, the three token sources (bearer, cookie, query), the 401
answers and their WWW-Authenticate challenges (expired beyond the clock skew, not yet valid,
wrong issuer / audience, missing sub, tampered, alg none, algorithm confusion), forward_claims
(x-user-id cannot be spoofed), JWKS rotation (an unknown kid refreshes at most once per
jwks_min_refresh; the last good keys survive a failing or stopped JWKS endpoint), the counters
in /metrics and a reload naming an unknown provider. The config is harness.edge_config(), the
spec's."""

import base64
import json
import re
import time
import types

import pytest

from harness import (ALICE_API_KEY, HS256_SECRET, JWT_AUDIENCE, JWT_ISSUER, Client, JwksServer,
                     edge_config, handmade_jwt, jwk_of, jwt_parts, jwt_token,
                     metric_samples, metrics_of, public_pem, request, require_sluice, wait_for)

SPEC_REASONS = {"missing credentials", "invalid token", "token expired", "token not yet valid",
                "invalid issuer", "invalid audience", "missing claim", "unknown key",
                "unsupported algorithm", "invalid api key", "invalid signature",
                "stale signature", "replayed signature"}

# (alg, signing key name in signing_keys or None for the inline HS256 secret, kid)
ALGORITHMS = [
    ("RS256", "rsa", "rsa-rs"),
    ("PS256", "rsa", "rsa-ps"),
    ("ES256", "ec256", "ec256"),
    ("ES384", "ec384", "ec384"),
    ("EdDSA", "ed25519", "ed"),
    ("HS256", None, "hs"),
]


def claims(**more):
    """iss / aud / sub of the provider and roles ["reader"] (the jwt route needs reader or
    admin); a value of None removes that claim."""
    c = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "u1", "roles": ["reader"]}
    c.update(more)
    return {k: v for k, v in c.items() if v is not None}


def upstream_header(r, name):
    """Values of header `name` that the echo backend received (from its JSON answer)."""
    return [v for n, v in r.json()["headers"] if n.lower() == name]


def assert_unauthorized(r, reason=None, reasons=None, token_present=True, secret=None):
    """A 401 of the JWT filter: JSON body {"status":401,"error":reason}, the Bearer challenge
    (with error="invalid_token" and the reason when a token was sent), never the upstream's."""
    assert r.status == 401, r
    assert r.header("x-backend") is None, f"answered by the upstream: {r!r}"
    body = r.json()
    assert body.get("status") == 401, body
    got = body.get("error")
    if reason is not None:
        assert got == reason, f"reason {got!r}, expected {reason!r}: {r!r}"
    else:
        assert got in (reasons or SPEC_REASONS), f"reason {got!r} not in {reasons}: {r!r}"
    challenge = r.header_all("www-authenticate")
    if token_present:
        assert challenge == [f'Bearer realm="sluice", error="invalid_token", '
                             f'error_description="{got}"'], r
    else:
        assert challenge == ['Bearer realm="sluice"'], r
    if secret is not None:
        assert secret.encode() not in r.body and all(secret not in v for _, v in r.headers), r
    return got


@pytest.fixture(scope="module")
def edge(module_procs, signing_keys):
    """One gateway for the module: JWKS with every asymmetric key, the spec's config."""
    require_sluice()
    k = signing_keys
    jwks = JwksServer([jwk_of(k["rsa"], "rsa-rs", "RS256"), jwk_of(k["rsa"], "rsa-ps", "PS256"),
                       jwk_of(k["ec256"], "ec256", "ES256"), jwk_of(k["ec384"], "ec384", "ES384"),
                       jwk_of(k["ed25519"], "ed", "EdDSA")])
    try:
        be = module_procs.backend(name="api")
        gw = module_procs.sluice(edge_config(be.address, jwks.url))
        tok = jwt_token("RS256", key=k["rsa"], kid="rsa-rs", claims=claims())
        # The first JWKS fetch may complete after /readyz: wait for it.
        wait_for(lambda: request(gw.port, "GET", "/jwt/ready",
                                 headers={"Authorization": f"Bearer {tok}"}).status == 200,
                 10, 0.1, "an RS256 token from the JWKS to be accepted")
        yield types.SimpleNamespace(gw=gw, be=be, jwks=jwks, keys=k)
    finally:
        jwks.stop()


def sign(edge, alg, keyname, kid, **kw):
    if keyname is None:
        return jwt_token(alg, secret=HS256_SECRET, kid=kid, **kw)
    return jwt_token(alg, key=edge.keys[keyname], kid=kid, **kw)


def get(gw, path, token=None, headers=None, method="GET"):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return request(gw.port, method, path, headers=h)


# ---------------------------------------------------------------------------------------------
# accepted tokens


@pytest.mark.parametrize("alg,keyname,kid", ALGORITHMS, ids=[a[0] for a in ALGORITHMS])
def test_every_algorithm_of_the_provider_is_accepted(edge, alg, keyname, kid):
    tok = sign(edge, alg, keyname, kid, claims=claims(sub=f"user-{alg}"))
    assert jwt_parts(tok)[0]["alg"] == alg
    r = get(edge.gw, "/jwt/a", tok)
    assert r.status == 200, r
    assert r.header("x-backend") == "api", r
    assert upstream_header(r, "x-user-id") == [f"user-{alg}"], r.json()["headers"]


def test_token_from_cookie_and_query(edge):
    tok = sign(edge, "ES256", "ec256", "ec256", claims=claims(sub="cookie-user"))
    r = request(edge.gw.port, "GET", "/jwt/c", headers={"Cookie": f"theme=dark; session={tok}"})
    assert r.status == 200, r
    assert upstream_header(r, "x-user-id") == ["cookie-user"]
    r = request(edge.gw.port, "GET", f"/jwt/q?x=1&access_token={tok}")
    assert r.status == 200, r
    assert upstream_header(r, "x-user-id") == ["cookie-user"]
    # A token under another cookie / parameter name is not looked at.
    r = request(edge.gw.port, "GET", f"/jwt/q?token={tok}", headers={"Cookie": f"sess={tok}"})
    assert_unauthorized(r, "missing credentials", token_present=False)


def test_audience_list_and_expiry_within_clock_skew(edge):
    tok = sign(edge, "RS256", "rsa", "rsa-rs", claims=claims(aud=["other", JWT_AUDIENCE]))
    assert get(edge.gw, "/jwt/aud", tok).status == 200
    # expired 10 s ago: inside clock_skew 30s
    tok = sign(edge, "RS256", "rsa", "rsa-rs", claims=claims(), exp_in=-10)
    r = get(edge.gw, "/jwt/skew", tok)
    assert r.status == 200, r
    # not valid for another 10 s: inside the skew too
    tok = sign(edge, "RS256", "rsa", "rsa-rs", claims=claims(), nbf_in=10)
    r = get(edge.gw, "/jwt/skew", tok)
    assert r.status == 200, r


def test_forward_claims_replace_a_client_sent_x_user_id(edge):
    tok = sign(edge, "EdDSA", "ed25519", "ed", claims=claims(sub="user-42"))
    r = request(edge.gw.port, "GET", "/jwt/spoof",
                headers=[("Authorization", f"Bearer {tok}"), ("X-User-Id", "admin"),
                         ("x-user-id", "root")])
    assert r.status == 200, r
    assert upstream_header(r, "x-user-id") == ["user-42"], r.json()["headers"]


# ---------------------------------------------------------------------------------------------
# refused tokens


def test_missing_token_is_401_with_bearer_challenge(edge):
    before = edge.be.stats()["requests"]
    r = get(edge.gw, "/jwt/none")
    assert_unauthorized(r, "missing credentials", token_present=False)
    # An Authorization header of another scheme is no bearer token either.
    r = request(edge.gw.port, "GET", "/jwt/basic", headers={"Authorization": "Basic dTpw"})
    assert r.status == 401, r
    assert edge.be.stats()["requests"] == before


def _tampered(tok):
    h, c, s = tok.split(".")
    payload = json.loads(base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)))
    payload["sub"] = "someone-else"
    c2 = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{h}.{c2}.{s}"


INVALID = [
    # id, signing kwargs, expected reason (or set of acceptable spec reasons)
    ("expired", dict(claims=claims(), exp_in=-120), "token expired"),
    ("not-yet-valid", dict(claims=claims(), nbf_in=120), "token not yet valid"),
    ("wrong-issuer", dict(claims=claims(iss="https://evil.test")), "invalid issuer"),
    ("wrong-audience", dict(claims=claims(aud="other")), "invalid audience"),
    ("missing-sub", dict(claims=claims(sub=None)), "missing claim"),
]


@pytest.mark.parametrize("name,kw,reason", INVALID, ids=[i[0] for i in INVALID])
@pytest.mark.parametrize("alg,keyname,kid", [ALGORITHMS[0], ALGORITHMS[5]], ids=["RS256", "HS256"])
def test_invalid_claims_are_401(edge, name, kw, reason, alg, keyname, kid):
    tok = sign(edge, alg, keyname, kid, **kw)
    before = edge.be.stats()["requests"]
    r = get(edge.gw, "/jwt/bad", tok)
    assert_unauthorized(r, reason, secret=HS256_SECRET)
    assert tok.encode() not in r.body
    assert edge.be.stats()["requests"] == before


def test_tampered_and_garbage_tokens_are_401(edge):
    for alg, keyname, kid in ALGORITHMS:
        tok = _tampered(sign(edge, alg, keyname, kid, claims=claims()))
        assert_unauthorized(get(edge.gw, "/jwt/t", tok), reasons={"invalid token",
                                                                  "invalid signature"})
    # HS256 with another secret
    tok = jwt_token("HS256", secret="not-the-secret-0123456789", kid="hs", claims=claims())
    assert_unauthorized(get(edge.gw, "/jwt/t", tok), reasons={"invalid token", "invalid signature"},
                        secret=HS256_SECRET)
    # a signature from another key under a published kid
    tok = jwt_token("RS256", key=edge.keys["rsa2"], kid="rsa-rs", claims=claims())
    assert_unauthorized(get(edge.gw, "/jwt/t", tok), reasons={"invalid token", "invalid signature"})
    for garbage in ("abc", "a.b.c", "eyJhbGciOiJSUzI1NiJ9..", "x" * 100):
        assert_unauthorized(get(edge.gw, "/jwt/t", garbage), "invalid token")


def test_unknown_kid_is_401_unknown_key(edge):
    tok = jwt_token("RS256", key=edge.keys["rsa2"], kid="never-published", claims=claims())
    assert_unauthorized(get(edge.gw, "/jwt/k", tok), "unknown key")


def test_alg_none_is_refused(edge):
    for header in ({"alg": "none", "typ": "JWT"}, {"alg": "None"}, {"alg": "NONE", "kid": "rsa-rs"},
                   {"alg": "none", "kid": "hs"}):
        c = claims(exp=int(time.time()) + 300)
        for tok in (handmade_jwt(header, c), handmade_jwt(header, c, signature=b"x" * 32)):
            r = get(edge.gw, "/jwt/none", tok)
            assert_unauthorized(r, reasons={"unsupported algorithm", "invalid token"})


def test_algorithm_confusion_rsa_public_key_as_hmac_secret_is_refused(edge):
    pem = public_pem(edge.keys["rsa"])
    c = claims(exp=int(time.time()) + 300)
    for header in ({"alg": "HS256", "typ": "JWT", "kid": "rsa-rs"}, {"alg": "HS256"},
                   {"alg": "HS256", "kid": "rsa-ps"}):
        for secret in (pem, pem.strip()):
            tok = handmade_jwt(header, c, hmac_secret=secret)
            r = get(edge.gw, "/jwt/confused", tok)
            assert_unauthorized(r, reasons=SPEC_REASONS - {"missing credentials"})


def test_algorithm_outside_the_providers_list_is_refused(edge):
    # RS384 / ES512-less: RS384 is not in algorithms (RS256, ES256, ES384, PS256, EdDSA, HS256)
    # One reason whichever algorithm it is: known to sluice or not, outside the list is refused
    # alike.
    tok = jwt_token("RS384", key=edge.keys["rsa"], kid="rsa-rs", claims=claims())
    assert_unauthorized(get(edge.gw, "/jwt/alg", tok), "unsupported algorithm")
    tok = jwt_token("HS512", secret=HS256_SECRET, kid="hs", claims=claims())
    assert_unauthorized(get(edge.gw, "/jwt/alg", tok), "unsupported algorithm")
    tok = handmade_jwt({"alg": "XS999", "kid": "hs"}, claims(exp=int(time.time()) + 300),
                       signature=b"x" * 32)
    assert_unauthorized(get(edge.gw, "/jwt/alg", tok), "unsupported algorithm")


def test_auth_failures_and_jwks_fetches_are_counted(edge):
    def failures():
        return sum(metric_samples(metrics_of(edge.gw), "sluice_auth_failures_total", route="jwt"))

    before = failures()
    for _ in range(3):
        assert get(edge.gw, "/jwt/m").status == 401
    tok = sign(edge, "RS256", "rsa", "rsa-rs", claims=claims(), exp_in=-120)
    assert get(edge.gw, "/jwt/m", tok).status == 401
    assert failures() >= before + 4, metrics_of(edge.gw)
    ok = metric_samples(metrics_of(edge.gw), "sluice_jwks_fetches_total", provider="corp",
                        result="ok")
    assert ok and ok[0] >= 1, metrics_of(edge.gw)


# ---------------------------------------------------------------------------------------------
# JWKS rotation and outages (own gateway: jwks_min_refresh 1s)


def test_jwks_rotation_refresh_rate_and_last_good_keys(procs, jwks_server, signing_keys):
    require_sluice()
    k = signing_keys
    k1, k2 = jwk_of(k["rsa"], "k1", "RS256"), jwk_of(k["rsa2"], "k2", "RS256")
    jwks = jwks_server([k1])
    be = procs.backend(name="api")
    gw = procs.sluice(edge_config(be.address, jwks.url, jwks_min_refresh="1s"))
    t1 = jwt_token("RS256", key=k["rsa"], kid="k1", claims=claims(sub="one"))
    t2 = jwt_token("RS256", key=k["rsa2"], kid="k2", claims=claims(sub="two"))
    t3 = jwt_token("ES256", key=k["ec256"], kid="k3", claims=claims(sub="three"))

    def status(tok):
        return get(gw, "/jwt/rot", tok).status

    wait_for(lambda: status(t1) == 200, 10, 0.1, "k1 from the first JWKS fetch")
    time.sleep(1.2)  # past jwks_min_refresh since the first fetch

    # k2 is not published yet: unknown key; a burst of such tokens refreshes at most once per 1s
    f0, _ = jwks.counts()
    t_burst = time.monotonic()
    with Client(gw.port) as c:
        for _ in range(15):
            r = c.request("GET", "/jwt/rot", headers={"Authorization": f"Bearer {t2}"})
            assert_unauthorized(r, "unknown key")
    wait_for(lambda: jwks.counts()[0] > f0, 3, 0.05, "an unknown kid to trigger a JWKS fetch")
    time.sleep(0.3)
    elapsed = time.monotonic() - t_burst
    f1, _ = jwks.counts()
    assert f1 - f0 <= 1 + int(elapsed / 1.0), \
        f"{f1 - f0} JWKS fetches in {elapsed:.2f}s of unknown-kid traffic (jwks_min_refresh 1s)"

    # rotate: {k1, k2}; the next k2 token (after at most one min_refresh) is accepted
    jwks.set_keys(k1, k2)
    t_rot = time.monotonic()
    wait_for(lambda: status(t2) == 200, 5, 0.1, "a k2 token after the rotation")
    assert time.monotonic() - t_rot < 3.5
    assert status(t1) == 200
    r = get(gw, "/jwt/rot", t2)
    assert r.json()["headers"] and upstream_header(r, "x-user-id") == ["two"]

    # the JWKS endpoint fails (500): the last good keys keep working
    jwks.fail(500)
    time.sleep(1.2)
    f2, _ = jwks.counts()
    assert_unauthorized(get(gw, "/jwt/rot", t3), "unknown key")
    wait_for(lambda: jwks.counts()[0] > f2, 3, 0.05, "a JWKS fetch (answered 500)")
    time.sleep(0.2)
    for tok in (t1, t2):
        assert status(tok) == 200
    wait_for(lambda: sum(metric_samples(metrics_of(gw), "sluice_jwks_fetches_total",
                                        provider="corp", result="error")) >= 1,
             5, 0.1, 'sluice_jwks_fetches_total{provider="corp",result="error"} >= 1')

    # the endpoint is gone (connection refused): still the last good keys
    jwks.stop()
    time.sleep(1.2)
    assert_unauthorized(get(gw, "/jwt/rot", t3), "unknown key")
    time.sleep(0.5)
    for tok in (t1, t2):
        assert status(tok) == 200
    assert status(t3) == 401

    def fetch_counts():
        text = metrics_of(gw)
        return (sum(metric_samples(text, "sluice_jwks_fetches_total", provider="corp",
                                   result="ok")),
                sum(metric_samples(text, "sluice_jwks_fetches_total", provider="corp",
                                   result="error")))
    # (failed fetches are retried with back-off, so the error count goes on rising by itself)
    wait_for(lambda: fetch_counts()[0] >= 2 and fetch_counts()[1] >= 2, 5, 0.1,
             f"ok >= 2 and error >= 2 JWKS fetches, have {fetch_counts()}")

    # and it comes back with {k2, k3}: k3 is accepted once a fetch succeeds again (within the
    # failure back-off, which has doubled a few times by now)
    jwks.set_keys(k2, jwk_of(k["ec256"], "k3", "ES256"))
    jwks.start()
    wait_for(lambda: status(t3) == 200, 20, 0.25, "a k3 token once the endpoint is back")
    assert status(t2) == 200


# ---------------------------------------------------------------------------------------------
# reload


def test_reload_with_unknown_provider_is_refused_and_old_config_serves(procs, jwks_server,
                                                                       signing_keys):
    require_sluice()
    jwks = jwks_server([jwk_of(signing_keys["rsa"], "rsa-rs", "RS256")])
    be = procs.backend(name="api")
    good = edge_config(be.address, jwks.url)
    gw = procs.sluice(good)
    tok = jwt_token("HS256", secret=HS256_SECRET, kid="hs", claims=claims())
    assert get(gw, "/jwt/r", tok).status == 200
    bad = edge_config(be.address, jwks.url, extra_routes="""
      - name: other
        match: {path: "/other/{*rest}"}
        upstream: api
        security:
          auth: {jwt: [nope]}
    """)
    status, body = gw.reload(bad)
    assert status == 400, body
    assert body["ok"] is False and body["errors"], body
    errs = [e for e in body["errors"] if "nope" in e]
    assert errs, body
    assert any(re.search(r"sluice-\d+\.yaml:\d+", e) and "jwt" in e for e in errs), body
    assert get(gw, "/jwt/r", tok).status == 200
    assert request(gw.port, "GET", "/jwt/r").status == 401
    assert request(gw.port, "GET", "/keys/r", headers={"x-api-key": ALICE_API_KEY}).status == 200
    assert request(gw.port, "GET", "/other/x").status == 404
    cfg = gw.get_config()
    assert cfg["version"] == 1 and cfg["last_reload"]["ok"] is False
    # a valid reload still works afterwards
    status, body = gw.reload(good)
    assert status == 200, body
    assert get(gw, "/jwt/r", tok).status == 200


# ---------------------------------------------------------------------------------------------
# the helpers themselves (no sluice needed): JWKS documents and tokens agree with PyJWT, the
# JWKS server rotates, fails and stops as the tests above assume


def test_helper_tokens_verify_with_pyjwt_against_the_jwks(signing_keys):
    jwt = pytest.importorskip("jwt")
    k = signing_keys
    published = {"rsa-rs": jwk_of(k["rsa"], "rsa-rs", "RS256"),
                 "rsa-ps": jwk_of(k["rsa"], "rsa-ps", "PS256"),
                 "ec256": jwk_of(k["ec256"], "ec256", "ES256"),
                 "ec384": jwk_of(k["ec384"], "ec384", "ES384"),
                 "ed": jwk_of(k["ed25519"], "ed", "EdDSA")}
    for alg, keyname, kid in ALGORITHMS:
        tok = (jwt_token(alg, secret=HS256_SECRET, kid=kid, claims=claims()) if keyname is None
               else jwt_token(alg, key=k[keyname], kid=kid, claims=claims()))
        header, payload, _ = jwt_parts(tok)
        assert header["alg"] == alg and header["kid"] == kid
        key = HS256_SECRET if keyname is None else jwt.PyJWK(published[kid]).key
        got = jwt.decode(tok, key, algorithms=[alg], audience=JWT_AUDIENCE, issuer=JWT_ISSUER)
        assert got["sub"] == "u1" and got["roles"] == ["reader"] and got["exp"] > time.time()
        if keyname is not None:
            with pytest.raises(jwt.InvalidSignatureError):
                jwt.decode(_tampered(tok), key, algorithms=[alg], audience=JWT_AUDIENCE)
    # the expired / nbf helpers really produce such tokens
    tok = jwt_token("HS256", secret=HS256_SECRET, claims=claims(), exp_in=-120)
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(tok, HS256_SECRET, algorithms=["HS256"], audience=JWT_AUDIENCE)
    tok = jwt_token("HS256", secret=HS256_SECRET, claims=claims(), nbf_in=120)
    with pytest.raises(jwt.ImmatureSignatureError):
        jwt.decode(tok, HS256_SECRET, algorithms=["HS256"], audience=JWT_AUDIENCE)
    # the confusion token is a valid HS256 MAC under the public PEM (what a naive verifier takes)
    import hmac as hmac_mod
    import hashlib
    pem = public_pem(k["rsa"])
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    tok = handmade_jwt({"alg": "HS256", "kid": "rsa-rs"}, claims(), hmac_secret=pem)
    h, c, s = tok.split(".")
    mac = hmac_mod.new(pem, f"{h}.{c}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)) == mac
    h, c, s = handmade_jwt({"alg": "none"}, claims()).split(".")
    assert s == "" and json.loads(base64.urlsafe_b64decode(h + "==")) == {"alg": "none"}


def test_helper_jwks_server_rotates_fails_and_stops(jwks_server, signing_keys):
    import urllib.error
    import urllib.request

    def fetch(url):
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, None

    k1 = jwk_of(signing_keys["rsa"], "k1", "RS256")
    k2 = jwk_of(signing_keys["ec256"], "k2", "ES256")
    s = jwks_server([k1])
    assert s.url.startswith("http://127.0.0.1:") and s.url.endswith("/jwks.json")
    assert fetch(s.url) == (200, {"keys": [k1]})
    assert k1["kty"] == "RSA" and k1["e"] == "AQAB" and len(base64.urlsafe_b64decode(
        k1["n"] + "=" * (-len(k1["n"]) % 4))) == 256
    assert k2["kty"] == "EC" and k2["crv"] == "P-256" and len(k2["x"]) == 43 and len(k2["y"]) == 43
    ed = jwk_of(signing_keys["ed25519"], "ed")
    assert ed["kty"] == "OKP" and ed["crv"] == "Ed25519" and len(ed["x"]) == 43
    assert jwk_of(signing_keys["ec384"], "p384")["crv"] == "P-384"
    s.set_keys(k1, k2)
    assert fetch(s.url) == (200, {"keys": [k1, k2]})
    assert fetch(s.url.replace("/jwks.json", "/other"))[0] == 404
    s.fail()
    assert fetch(s.url)[0] == 500
    assert s.counts() == (3, 2)  # /other is not a fetch
    s.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(s.url, timeout=2)
    s.set_keys(k2)
    s.start()
    assert fetch(s.url) == (200, {"keys": [k2]})
    assert s.counts() == (4, 3)
