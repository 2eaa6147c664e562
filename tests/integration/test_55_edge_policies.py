"""Edge policies (issue 5) through the real binary, with the spec's config (harness.edge_config)
and a few more routes: IP rules (clients bound to 127.0.0.1 / .2 / .3), CORS (preflights answered
by the gateway without reaching the upstream, a rejected origin, wildcard subdomains on simple
requests), the default security headers on every answer (upstream's and sluice's own, the
Server header hidden), RBAC for tokens (roles claim, method_roles) and for API-key consumers, the
filter order (IP rules before CORS before auth before RBAC before rate limits) and a reload with a
bad CIDR. (A request that matches no route gets no security headers: they belong to routes,
docs/configuration.md "security".)"""

import re
import types

import pytest

from harness import (ALICE_API_KEY, BOB_API_KEY, HS256_SECRET, JWT_AUDIENCE, JWT_ISSUER,
                     BoundClient, Client, JwksServer, edge_config, free_port, jwk_of, jwt_token,
                     request, require_sluice)

FORBIDDEN = {"status": 403, "error": "forbidden"}
ADDRESS_NOT_ALLOWED = {"status": 403, "error": "address not allowed"}

EXTRA_ROUTES = """
- name: admin-keys
  match: {path: "/admin-keys/{*rest}"}
  upstream: api
  security: {auth: {api_key: {header: x-api-key}, roles: [admin]}}
- name: ips-keys
  match: {path: "/ips-keys/{*rest}"}
  upstream: api
  security: {ip_rules: {deny: [127.0.0.2/32]}, auth: {api_key: {header: x-api-key}}}
- name: cors-jwt
  match: {path: "/cors-jwt/{*rest}"}
  upstream: api
  security:
    cors: {origins: ["https://app.test"], methods: [GET, POST], headers: [authorization], credentials: true, max_age: 600s}
    auth: {jwt: [corp]}
- name: dead
  match: {path: "/dead/{*rest}"}
  upstream: dead
- name: limited
  match: {path: "/limited/{*rest}"}
  upstream: api
  security: {auth: {api_key: {header: x-api-key}}}
  rate_limits:
    - {name: per-route, key: route, algorithm: fixed_window, limit: 2, period: 3600s}
"""


def extra_upstreams():
    return f"""
- name: dead
  targets: [{{address: "127.0.0.1:{free_port()}"}}]
"""


def subset(body, expected):
    return {k: body.get(k) for k in expected} == expected


@pytest.fixture(scope="module")
def edge(module_procs, signing_keys):
    require_sluice()
    jwks = JwksServer([jwk_of(signing_keys["ec256"], "ec256", "ES256")])
    try:
        be = module_procs.backend(name="api")
        gw = module_procs.sluice(edge_config(be.address, jwks.url, extra_routes=EXTRA_ROUTES,
                                             extra_upstreams=extra_upstreams()))
        yield types.SimpleNamespace(gw=gw, be=be, jwks=jwks)
    finally:
        jwks.stop()


def token(roles=None, sub="u1"):
    claims = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": sub}
    if roles is not None:
        claims["roles"] = roles
    return jwt_token("HS256", secret=HS256_SECRET, kid="hs", claims=claims)


def bearer(tok):
    return {"Authorization": f"Bearer {tok}"}


def seen(edge):
    return edge.be.stats()["requests"]


def from_source(edge, source, method, target, headers=None):
    with BoundClient(edge.gw.port, source) as c:
        return c.request(method, target, headers=headers)


# ---------------------------------------------------------------------------------------------
# IP rules


def test_ip_rules_allow_and_deny_by_source_address(edge):
    r = from_source(edge, "127.0.0.1", "GET", "/ips/a")
    assert r.status == 200 and r.header("x-backend") == "api", r
    r = from_source(edge, "127.0.0.3", "GET", "/ips/a")
    assert r.status == 200 and r.header("x-backend") == "api", r
    before = seen(edge)
    for method in ("GET", "POST", "OPTIONS"):
        r = from_source(edge, "127.0.0.2", method, "/ips/a")
        assert r.status == 403, r
        assert r.header("x-backend") is None, r
        assert subset(r.json(), ADDRESS_NOT_ALLOWED), r
    assert seen(edge) == before
    # other routes have no IP rules
    r = from_source(edge, "127.0.0.2", "GET", "/keys/a", headers={"x-api-key": ALICE_API_KEY})
    assert r.status == 200, r


def test_ip_rules_apply_before_auth(edge):
    r = from_source(edge, "127.0.0.2", "GET", "/ips-keys/a")
    assert r.status == 403 and subset(r.json(), ADDRESS_NOT_ALLOWED), r
    assert r.header("www-authenticate") is None, r
    r = from_source(edge, "127.0.0.2", "GET", "/ips-keys/a", headers={"x-api-key": ALICE_API_KEY})
    assert r.status == 403 and subset(r.json(), ADDRESS_NOT_ALLOWED), r
    r = from_source(edge, "127.0.0.3", "GET", "/ips-keys/a")
    assert r.status == 401, r
    r = from_source(edge, "127.0.0.3", "GET", "/ips-keys/a", headers={"x-api-key": BOB_API_KEY})
    assert r.status == 200, r


def test_ip_rules_ignore_x_forwarded_for_from_untrusted_clients(edge):
    # No trusted proxies are configured: the socket's address decides, not the header.
    r = from_source(edge, "127.0.0.2", "GET", "/ips/a", headers={"X-Forwarded-For": "127.0.0.1"})
    assert r.status == 403, r
    r = from_source(edge, "127.0.0.1", "GET", "/ips/a", headers={"X-Forwarded-For": "127.0.0.2"})
    assert r.status == 200, r


# ---------------------------------------------------------------------------------------------
# CORS

PREFLIGHT = {"Origin": "https://app.test", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type"}


def cors_headers(r):
    return [(n, v) for n, v in r.headers if n.lower().startswith("access-control-")]


def test_preflight_is_answered_by_the_gateway(edge):
    before = seen(edge)
    r = request(edge.gw.port, "OPTIONS", "/cors/x", headers=PREFLIGHT)
    assert r.status == 204, r
    assert r.header("x-backend") is None, r
    assert r.header_all("access-control-allow-origin") == ["https://app.test"], r
    assert "post" in r.tokens("access-control-allow-methods"), r
    assert "content-type" in r.tokens("access-control-allow-headers"), r
    assert r.header("access-control-allow-credentials") == "true", r
    assert r.header("access-control-max-age") == "600", r
    assert "origin" in r.tokens("vary"), r
    assert seen(edge) == before


def test_preflight_from_a_wildcard_subdomain(edge):
    h = dict(PREFLIGHT, Origin="https://a.example.test")
    r = request(edge.gw.port, "OPTIONS", "/cors/x", headers=h)
    assert r.status == 204, r
    assert r.header_all("access-control-allow-origin") == ["https://a.example.test"], r


@pytest.mark.parametrize("origin", ["https://evil-example.test", "https://example.test.evil",
                                    "http://app.test", "https://app.test.evil"])
def test_preflight_from_another_origin_is_403_without_cors_headers(edge, origin):
    before = seen(edge)
    r = request(edge.gw.port, "OPTIONS", "/cors/x", headers=dict(PREFLIGHT, Origin=origin))
    assert r.status == 403, r
    assert cors_headers(r) == [], r
    assert seen(edge) == before


def test_simple_request_gets_cors_headers_with_the_upstream_answer(edge):
    r = request(edge.gw.port, "GET", "/cors/x", headers={"Origin": "https://a.example.test"})
    assert r.status == 200, r
    assert r.header("x-backend") == "api", r
    assert r.json()["path"] == "/cors/x"
    assert r.header_all("access-control-allow-origin") == ["https://a.example.test"], r
    assert "x-request-id" in r.tokens("access-control-expose-headers"), r
    assert "origin" in r.tokens("vary"), r


def test_preflight_comes_before_auth(edge):
    before = seen(edge)
    h = {"Origin": "https://app.test", "Access-Control-Request-Method": "GET",
         "Access-Control-Request-Headers": "authorization"}
    r = request(edge.gw.port, "OPTIONS", "/cors-jwt/x", headers=h)
    assert r.status == 204, r
    assert r.header_all("access-control-allow-origin") == ["https://app.test"], r
    assert "authorization" in r.tokens("access-control-allow-headers"), r
    assert seen(edge) == before
    # the actual request still needs a token
    r = request(edge.gw.port, "GET", "/cors-jwt/x", headers={"Origin": "https://app.test"})
    assert r.status == 401, r
    r = request(edge.gw.port, "GET", "/cors-jwt/x",
                headers=dict(bearer(token(["reader"])), Origin="https://app.test"))
    assert r.status == 200, r
    assert r.header_all("access-control-allow-origin") == ["https://app.test"], r


# ---------------------------------------------------------------------------------------------
# security headers


def assert_security_headers(r):
    assert r.header_all("strict-transport-security") == ["max-age=31536000; includeSubDomains"], r
    assert r.header_all("x-content-type-options") == ["nosniff"], r
    assert r.header_all("x-frame-options") == ["DENY"], r
    assert r.header_all("referrer-policy") == ["no-referrer"], r
    assert r.header_all("server") == [], r


def test_security_headers_on_upstream_answers(edge):
    r = request(edge.gw.port, "GET", "/ips/x?header_server=foo")
    assert r.status == 200 and r.header("x-backend") == "api", r
    assert_security_headers(r)
    r = request(edge.gw.port, "GET", "/ips/x?status=503&header_server=foo")
    assert r.status == 503 and r.header("x-backend") == "api", r
    assert_security_headers(r)
    r = request(edge.gw.port, "GET", "/cors/x", headers={"Origin": "https://app.test"})
    assert r.status == 200, r
    assert_security_headers(r)
    r = request(edge.gw.port, "GET", "/keys/x?header_server=foo",
                headers={"x-api-key": ALICE_API_KEY})
    assert r.status == 200, r
    assert_security_headers(r)


def test_security_headers_on_the_gateways_own_errors(edge):
    answers = {
        "401 api key": request(edge.gw.port, "GET", "/keys/x"),
        "401 jwt": request(edge.gw.port, "GET", "/jwt/x", headers=bearer("bad")),
        "401 hmac": request(edge.gw.port, "GET", "/signed/x"),
        "403 rbac": request(edge.gw.port, "DELETE", "/jwt/x", headers=bearer(token(["reader"]))),
        "403 ip": from_source(edge, "127.0.0.2", "GET", "/ips/x"),
        "403 cors": request(edge.gw.port, "OPTIONS", "/cors/x",
                            headers=dict(PREFLIGHT, Origin="https://evil-example.test")),
        "502 upstream down": request(edge.gw.port, "GET", "/dead/x"),
    }
    for what, r in answers.items():
        assert r.status == int(what[:3]), (what, r)
        try:
            assert_security_headers(r)
        except AssertionError as e:
            raise AssertionError(f"{what}: {e}") from None


def test_auth_comes_before_rate_limits_and_429_has_security_headers(edge):
    # Refused requests do not use up the route's limit (2 per hour)...
    for _ in range(5):
        r = request(edge.gw.port, "GET", "/limited/x")
        assert r.status == 401, r
        assert_security_headers(r)
    for _ in range(2):
        r = request(edge.gw.port, "GET", "/limited/x", headers={"x-api-key": ALICE_API_KEY})
        assert r.status == 200, r
    # ...and the limiter's own 429 carries the security headers too
    r = request(edge.gw.port, "GET", "/limited/x", headers={"x-api-key": BOB_API_KEY})
    assert r.status == 429, r
    assert_security_headers(r)


# ---------------------------------------------------------------------------------------------
# RBAC


def test_rbac_roles_claim_and_method_roles(edge):
    reader, admin = token(["reader"], "r1"), token(["admin"], "a1")
    before = seen(edge)
    with Client(edge.gw.port) as c:
        assert c.request("GET", "/jwt/doc", headers=bearer(reader)).status == 200
        r = c.request("DELETE", "/jwt/doc", headers=bearer(reader))
        assert r.status == 403 and subset(r.json(), FORBIDDEN), r
        assert r.header("x-backend") is None
        r = c.request("DELETE", "/jwt/doc", headers=bearer(admin))
        assert r.status == 200 and r.json()["method"] == "DELETE", r
        assert c.request("GET", "/jwt/doc", headers=bearer(admin)).status == 200
        r = c.request("DELETE", "/jwt/doc", headers=bearer(token(["reader", "admin"])))
        assert r.status == 200, r
    assert seen(edge) == before + 4


@pytest.mark.parametrize("roles", [None, [], ["other"]],
                         ids=["no-roles-claim", "empty", "other"])
def test_rbac_without_a_required_role_is_403(edge, roles):
    before = seen(edge)
    r = request(edge.gw.port, "GET", "/jwt/doc", headers=bearer(token(roles)))
    assert r.status == 403, r
    assert subset(r.json(), FORBIDDEN), r
    assert seen(edge) == before


def test_rbac_for_api_key_consumers(edge):
    r = request(edge.gw.port, "GET", "/admin-keys/x", headers={"x-api-key": ALICE_API_KEY})
    assert r.status == 200, r
    r = request(edge.gw.port, "GET", "/admin-keys/x", headers={"x-api-key": BOB_API_KEY})
    assert r.status == 403 and subset(r.json(), FORBIDDEN), r
    # auth before RBAC: no key is 401, not 403
    r = request(edge.gw.port, "GET", "/admin-keys/x")
    assert r.status == 401, r


# ---------------------------------------------------------------------------------------------
# reload


@pytest.mark.parametrize("bad_cidr", ["127.0.0.300/32", "10.0.0.0/33", "not-an-address"])
def test_reload_with_a_bad_cidr_is_refused_and_old_config_serves(procs, signing_keys, bad_cidr):
    require_sluice()
    jwks = JwksServer([jwk_of(signing_keys["ec256"], "ec256", "ES256")])
    try:
        be = procs.backend(name="api")
        good = edge_config(be.address, jwks.url)
        gw = procs.sluice(good)
        bad = good.replace("deny: [127.0.0.2/32]", f'deny: ["{bad_cidr}"]')
        assert bad != good
        status, body = gw.reload(bad)
        assert status == 400, body
        assert body["ok"] is False and body["errors"], body
        assert any(re.search(r"sluice-\d+\.yaml:\d+", e) and "deny" in e for e in body["errors"]), \
            body
        with BoundClient(gw.port, "127.0.0.2") as c:
            r = c.request("GET", "/ips/x")
            assert r.status == 403 and subset(r.json(), ADDRESS_NOT_ALLOWED), r
        assert request(gw.port, "GET", "/ips/x").status == 200
        assert request(gw.port, "GET", "/keys/x", headers={"x-api-key": ALICE_API_KEY}).status \
            == 200
        cfg = gw.get_config()
        assert cfg["version"] == 1 and cfg["last_reload"]["ok"] is False
    finally:
        jwks.stop()


# ---------------------------------------------------------------------------------------------
# the helper itself (no sluice needed)


def test_helper_bound_client_connects_from_the_source_address():
    import socket
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    peers = []

    def serve():
        for _ in range(2):
            conn, peer = srv.accept()
            peers.append(peer[0])
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        for source in ("127.0.0.2", "127.0.0.3"):
            with BoundClient(srv.getsockname()[1], source) as c:
                assert c.request("GET", "/").body == b"ok"
        t.join(5)
    finally:
        srv.close()
    assert peers == ["127.0.0.2", "127.0.0.3"]
