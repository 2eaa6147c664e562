"""The filter chain through the binary: request and response header edits with variables, path
rewrites, query edits, mocks (templates, examples, files, delays, HEAD), `when:`, filter
timeouts, top-level defaults merged by name, the effective chain on GET /routes, and config
errors with file:line:key. The echo backend shows what arrived."""

import json
import subprocess
import time

import pytest

from harness import config, request


def seen(r):
    """Request headers the echo backend saw: lower-case name -> list of values."""
    out = {}
    for n, v in r.json()["headers"]:
        out.setdefault(n.lower(), []).append(v)
    return out


def routes_of(gw):
    status, _, body = gw.admin("GET", "/routes")
    assert status == 200, (status, body)
    return {r["name"]: r for r in body["routes"]}


TRANSFORM = """
    upstreams:
      - name: echo
        targets: [{{address: {be}}}]
    filters:
      response_headers: {{set: {{x-served-by: sluice}}}}
    routes:
      - name: users
        match: {{path: "/api/users/{{id}}"}}
        upstream: echo
        filters:
          request_headers:
            set: {{x-user-id: "${{path.id}}", x-client-ip: "${{client_ip}}", x-route: "${{route}}",
                  x-tenant: "${{header.x-tenant-in}}", x-page: "${{query.page}}", x-rid: "${{request_id}}"}}
            add: {{x-via: sluice}}
            remove: [x-debug]
          path_rewrite: {{regex: "^/api/users/([0-9]+)$", to: "/v2/users/$1"}}
          query: {{set: {{version: "2", who: "${{path.id}} & co"}}, remove: [debug]}}
          response_headers:
            set: {{x-status: "${{status}}", x-upstream: "${{upstream_addr}}"}}
            remove: [x-backend]
      - name: legacy
        match: {{path: "/old/{{*rest}}"}}
        upstream: echo
        filters:
          path_rewrite: {{prefix: /old, to: /new}}
          response_headers: off
      - name: plain
        match: {{path: "/plain/{{*rest}}"}}
        upstream: echo
"""


@pytest.fixture
def transform_gw(backend, sluice):
    be = backend(name="echo")
    gw = sluice(config(TRANSFORM.format(be=be.address)))
    gw.be = be
    return gw


def test_request_edits_reach_the_upstream(transform_gw):
    r = request(transform_gw.port, "GET", "/api/users/42?debug=1&page=3",
                headers=[("x-debug", "yes"), ("x-tenant-in", "acme"), ("x-user-id", "spoofed")])
    assert r.status == 200, r.body
    j = r.json()
    assert j["path"] == "/v2/users/42"
    assert j["query"] == "page=3&version=2&who=42%20%26%20co"
    h = seen(r)
    assert h["x-user-id"] == ["42"], "set replaces the client's copy"
    assert h["x-client-ip"] == ["127.0.0.1"]
    assert h["x-route"] == ["users"]
    assert h["x-tenant"] == ["acme"]
    assert h["x-page"] == ["3"]
    r2 = request(transform_gw.port, "GET", "/api/users/42", headers=[("x-tenant-in", "")])
    assert "x-tenant" not in seen(r2) and "x-page" not in seen(r2), "empty values are not sent"
    assert h["x-rid"] == [r.header("x-request-id")]
    assert h["x-via"] == ["sluice"]
    assert "x-debug" not in h


def test_response_edits_reach_the_client(transform_gw):
    r = request(transform_gw.port, "GET", "/api/users/7")
    assert r.status == 200
    assert r.header("x-status") == "200"
    assert r.header("x-upstream") == transform_gw.be.address
    assert r.header("x-backend") is None, "removed"
    # The route's response_headers replaces the top-level default of the same name.
    assert r.header("x-served-by") is None


def test_defaults_apply_and_off_removes_them(transform_gw):
    plain = request(transform_gw.port, "GET", "/plain/x")
    assert plain.header("x-served-by") == "sluice"
    legacy = request(transform_gw.port, "GET", "/old/a/b?q=1")
    assert legacy.json()["target"] == "/new/a/b?q=1"
    assert legacy.header("x-served-by") is None, "response_headers: off"
    # 404s have no route, hence no chain.
    assert request(transform_gw.port, "GET", "/nope").header("x-served-by") is None


def test_regex_that_does_not_match_leaves_the_path(transform_gw):
    r = request(transform_gw.port, "GET", "/api/users/abc")
    assert r.json()["path"] == "/api/users/abc"


def test_effective_chain_on_admin_routes(transform_gw):
    routes = routes_of(transform_gw)
    names = [f["name"] for f in routes["users"]["filters"]]
    assert names == ["path_rewrite", "query", "request_headers", "response_headers"]
    assert all(f["source"] == "route" for f in routes["users"]["filters"])
    assert [f["name"] for f in routes["plain"]["filters"]] == ["response_headers"]
    assert routes["plain"]["filters"][0]["source"] == "default"
    assert routes["plain"]["filters"][0]["phases"] == ["response_headers"]
    assert [f["name"] for f in routes["legacy"]["filters"]] == ["path_rewrite"]
    assert routes["users"]["upstream"] == "echo"


MOCKS = """
    upstreams:
      - name: echo
        targets: [{{address: {be}}}]
    routes:
      - name: user
        match: {{path: "/users/{{id}}"}}
        mock:
          status: 200
          headers: {{x-mock: "yes", x-id: "${{path.id}}"}}
          body: '{{"id": "${{path.id}}", "via": "${{method}}"}}'
          examples:
            missing: {{status: 404, body: '{{"error": "no such user"}}'}}
            teapot: {{status: 418, body: "short and stout", headers: {{content-type: text/plain}}}}
      - name: by-query
        match: {{path: /q}}
        mock:
          body: default
          example_from: query:example
          examples:
            other: {{body: other, status: 201}}
      - name: from-file
        match: {{path: /file}}
        mock: {{file: {file}}}
      - name: slow
        match: {{path: /slow}}
        mock: {{body: late, delay: 400ms, timeout: 100ms, on_timeout: 503}}
      - name: delayed
        match: {{path: /delayed}}
        mock: {{body: on time, delay: 150ms}}
      - name: fallback
        match: {{path: "/fallback/{{*rest}}"}}
        upstream: echo
        filters:
          mock: {{body: mocked, delay: 400ms, timeout: 100ms, on_timeout: continue}}
      - name: post-only
        match: {{path: "/only/{{*rest}}"}}
        upstream: echo
        filters:
          mock: {{body: mocked post, when: {{methods: [POST], headers: {{x-mock: "on"}}, path_prefix: /only/a}}}}
"""


@pytest.fixture
def mock_gw(backend, sluice, tmp_path):
    be = backend(name="echo")
    f = tmp_path / "body.json"
    f.write_text('{"from": "file", "path": "${path}"}\n')
    gw = sluice(config(MOCKS.format(be=be.address, file=f)))
    return gw


def test_mock_answers_with_variables(mock_gw):
    r = request(mock_gw.port, "GET", "/users/42")
    assert r.status == 200
    assert r.json() == {"id": "42", "via": "GET"}
    assert r.header("content-type") == "application/json"
    assert r.header("x-mock") == "yes" and r.header("x-id") == "42"
    assert r.header("x-request-id")


def test_mock_examples_by_header_and_query(mock_gw):
    r = request(mock_gw.port, "GET", "/users/1", headers=[("x-mock-example", "missing")])
    assert r.status == 404 and r.json() == {"error": "no such user"}
    r = request(mock_gw.port, "GET", "/users/1", headers=[("x-mock-example", "teapot")])
    assert r.status == 418 and r.body == b"short and stout"
    assert r.header("content-type") == "text/plain"
    r = request(mock_gw.port, "GET", "/users/1", headers=[("x-mock-example", "unknown")])
    assert r.status == 200, "an unknown example gets the default answer"
    assert request(mock_gw.port, "GET", "/q?example=other").body == b"other"
    assert request(mock_gw.port, "GET", "/q?example=other").status == 201
    assert request(mock_gw.port, "GET", "/q").body == b"default"


def test_mock_from_file_and_head(mock_gw):
    r = request(mock_gw.port, "GET", "/file")
    assert r.json() == {"from": "file", "path": "/file"}
    h = request(mock_gw.port, "HEAD", "/users/5")
    assert h.status == 200 and h.body == b""
    assert int(h.header("content-length")) == len(b'{"id": "5", "via": "HEAD"}')


def test_mock_delay(mock_gw):
    t0 = time.monotonic()
    r = request(mock_gw.port, "GET", "/delayed")
    took = time.monotonic() - t0
    assert r.status == 200 and r.body == b"on time"
    assert took >= 0.14, took


def test_filter_timeout_answers(mock_gw):
    t0 = time.monotonic()
    r = request(mock_gw.port, "GET", "/slow")
    took = time.monotonic() - t0
    assert r.status == 503, r.body
    assert r.json()["error"] == "filter timeout"
    assert took < 0.35, took


def test_filter_timeout_continue_goes_upstream(mock_gw):
    r = request(mock_gw.port, "GET", "/fallback/x")
    assert r.status == 200
    assert r.json()["backend"] == "echo"


def test_when_selects_requests(mock_gw):
    hit = request(mock_gw.port, "POST", "/only/a/1", headers=[("x-mock", "on")], body=b"x")
    assert hit.body == b"mocked post"
    for method, path, headers in (("GET", "/only/a/1", [("x-mock", "on")]),
                                  ("POST", "/only/a/1", [("x-mock", "off")]),
                                  ("POST", "/only/a/1", []),
                                  ("POST", "/only/b/1", [("x-mock", "on")])):
        r = request(mock_gw.port, method, path, headers=headers, body=b"x")
        assert r.status == 200 and r.json()["backend"] == "echo", (method, path, headers)


def test_keep_alive_after_mock_and_pause(mock_gw):
    from harness import Client
    with Client(mock_gw.port) as c:
        for path in ("/users/1", "/delayed", "/users/2", "/slow", "/users/3"):
            r = c.request("GET", path)
            assert r.status in (200, 503), (path, r.status)
        assert c.request("GET", "/users/9").json()["id"] == "9"


def run_validate(sluice_path, path):
    p = subprocess.run([sluice_path, "validate", "--config", str(path)], capture_output=True,
                       text=True, timeout=10)
    return p.returncode, p.stdout + p.stderr


BAD = """\
listeners:
  - address: 127.0.0.1:18080
upstreams:
  - name: echo
    targets: [{address: 127.0.0.1:9}]
filters:
  reqest_headers: {set: {x-a: b}}
routes:
  - name: a
    match: {path: "/a/{id}"}
    upstream: echo
    filters:
      path_rewrite: {regex: "^/a/(", to: /b}
      request_headers: {set: {content-length: "5", x-b: "${nope}"}}
      mock: {body: x, timeout: 1s, on_timeout: maybe}
      query: {set: {"a b": c}}
"""


def test_bad_filter_configs_are_refused_with_file_line_key(sluice_path, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    code, out = run_validate(sluice_path, f)
    assert code == 1, out
    assert f"{f}:7:3: filters.reqest_headers: unknown filter 'reqest_headers' (did you mean " \
           "'request_headers'?)" in out, out
    assert "routes[0].filters.path_rewrite.regex: invalid regular expression" in out, out
    assert "routes[0].filters.request_headers.set.content-length: 'content-length' is set by " \
           "the gateway" in out, out
    assert "unknown variable ${nope}" in out, out
    assert "routes[0].filters.mock.on_timeout: expected 'continue' or a status" in out, out
    assert "routes[0].filters.query.set.a b: invalid query parameter name" in out, out
    assert ":13:" in out, "errors carry the line of the key"


def test_bad_filter_config_on_reload_keeps_the_running_one(transform_gw):
    bad = config(TRANSFORM.format(be=transform_gw.be.address).replace(
        "to: \"/v2/users/$1\"", "to: \"/v2/users/$2\""))
    status, body = transform_gw.reload(bad)
    assert status == 400, body
    assert any("names a group the regex does not have" in e for e in body["errors"]), body
    r = request(transform_gw.port, "GET", "/api/users/42")
    assert r.json()["path"] == "/v2/users/42"


IDENTITY = """
    consumers:
      - name: alice
        api_keys: ["{key_hash}"]
    jwt_providers:
      - name: corp
        algorithms: [HS256]
        keys: [{{secret: "{secret}", alg: HS256, kid: hs}}]
    upstreams:
      - name: echo
        targets: [{{address: {be}}}]
    routes:
      - name: keyed
        match: {{path: "/keyed/{{*rest}}"}}
        upstream: echo
        security: {{auth: {{api_key: {{header: x-api-key}}}}}}
        filters:
          request_headers: {{set: {{x-who: "${{consumer}}"}}}}
      - name: token
        match: {{path: "/token/{{*rest}}"}}
        upstream: echo
        security: {{auth: {{jwt: [corp]}}}}
        filters:
          request_headers: {{set: {{x-tenant: "${{jwt.tenant}}", x-sub: "${{jwt.sub}}", x-who: "${{consumer}}"}}}}
          response_headers: {{set: {{x-tenant-back: "${{jwt.tenant}}"}}}}
"""


def test_identity_variables(backend, sluice):
    from harness import ALICE_API_KEY, HS256_SECRET, api_key_hash, jwt_token
    be = backend(name="echo")
    gw = sluice(config(IDENTITY.format(key_hash=api_key_hash(ALICE_API_KEY), secret=HS256_SECRET,
                                       be=be.address)))
    r = request(gw.port, "GET", "/keyed/x", headers=[("x-api-key", ALICE_API_KEY)])
    assert r.status == 200, r.body
    assert seen(r)["x-who"] == ["alice"]
    token = jwt_token("HS256", secret=HS256_SECRET, kid="hs",
                      claims={"sub": "u-1", "tenant": "acme"})
    r = request(gw.port, "GET", "/token/x", headers=[("authorization", "Bearer " + token)])
    assert r.status == 200, r.body
    h = seen(r)
    assert h["x-tenant"] == ["acme"] and h["x-sub"] == ["u-1"] and h["x-who"] == ["u-1"]
    assert r.header("x-tenant-back") == "acme"
    # Refused before the chain: the route's response edits still run on the 401; a value that
    # expands to nothing (no token, no claim) is not sent.
    r = request(gw.port, "GET", "/token/x")
    assert r.status == 401
    assert r.header("x-tenant-back") is None


IP_RULES = """
    security:
      headers: {{nosniff: true}}
    upstreams:
      - name: echo
        targets: [{{address: {be}}}]
    routes:
      - name: old-key
        match: {{path: "/old/{{*rest}}"}}
        upstream: echo
        security: {{ip_rules: {{deny: [127.0.0.1/32]}}}}
      - name: new-key
        match: {{path: "/new/{{*rest}}"}}
        upstream: echo
        filters:
          ip_rules: {{allow: [10.0.0.0/8]}}
          mock: {{body: never}}
      - name: open
        match: {{path: "/open/{{*rest}}"}}
        upstream: echo
        filters:
          ip_rules: {{allow: [127.0.0.0/8]}}
          request_headers: {{set: {{x-seen: "1"}}}}
"""


def test_ip_rules_is_a_filter_under_both_keys(backend, sluice):
    from harness import metric_samples, metrics_of
    be = backend(name="echo")
    gw = sluice(config(IP_RULES.format(be=be.address)))
    for path in ("/old/x", "/new/x"):
        r = request(gw.port, "GET", path)
        assert r.status == 403, (path, r.body)
        assert r.json()["error"] == "address not allowed"
        assert r.header("x-content-type-options") == "nosniff", "security headers on refusals"
    r = request(gw.port, "GET", "/open/x")
    assert r.status == 200 and seen(r)["x-seen"] == ["1"]
    routes = routes_of(gw)
    assert [f["name"] for f in routes["old-key"]["filters"]][0] == "ip_rules"
    assert [f["name"] for f in routes["new-key"]["filters"]] == \
        ["ip_rules", "security_headers", "mock"]
    assert [f["priority"] for f in routes["open"]["filters"]] == [100, 250, 720]
    refused = metric_samples(metrics_of(gw), "sluice_auth_failures_total", reason="address")
    assert sum(refused) >= 2, refused
