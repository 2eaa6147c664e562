"""The ported features as filters (issue 10, item 4), through the real binary: auth, rbac,
rate_limit, respond, cors and security_headers written under `filters:` behave as their older
keys (`security.*`, `rate_limits`, `respond`) do; a top-level entry is every route's default, a
route's entry replaces it and `off` removes it; GET /routes lists them at their priorities; giving
both forms, a per-route filter as a default, or an rbac without roles is refused with
file:line:key."""

import subprocess

import pytest

from harness import (ALICE_API_KEY, BOB_API_KEY, api_key_hash, config, metric_samples,
                     metrics_of, request)

PORTED = """
    consumers:
      - name: alice
        api_keys: ["{alice}"]
        roles: [admin]
      - name: bob
        api_keys: ["{bob}"]
        roles: [reader]
    filters:
      auth: {{api_key: true}}
      security_headers: {{nosniff: true}}
    upstreams:
      - name: echo
        targets: [{{address: {be}}}]
    routes:
      - name: keyed
        match: {{path: "/keyed/{{*rest}}"}}
        upstream: echo
        filters:
          rbac: {{roles: [reader, admin], method_roles: {{DELETE: [admin]}}}}
          rate_limit:
            - {{name: per-consumer, key: consumer, limit: 3, period: 1m}}
      - name: open
        match: {{path: "/open/{{*rest}}"}}
        upstream: echo
        filters:
          auth: off
          cors: {{origins: ["https://app.test"], methods: [GET]}}
      - name: writes
        match: {{path: "/writes/{{*rest}}"}}
        upstream: echo
        filters:
          auth: {{api_key: true, when: {{methods: [POST]}}}}
          rate_limit:
            policies: [{{name: flagged, key: route, limit: 1, period: 1m}}]
            when: {{headers: [x-flagged]}}
      - name: made
        match: {{path: "/made"}}
        filters:
          auth: off
          respond: {{status: 201, headers: {{x-made: "yes"}}, body: "made here"}}
"""


def seen(r):
    out = {}
    for n, v in r.json()["headers"]:
        out.setdefault(n.lower(), []).append(v)
    return out


@pytest.fixture
def ported(backend, sluice):
    be = backend(name="echo")
    gw = sluice(config(PORTED.format(alice=api_key_hash(ALICE_API_KEY),
                                     bob=api_key_hash(BOB_API_KEY), be=be.address)))
    gw.be = be
    return gw


def test_default_auth_and_route_rbac(ported):
    r = request(ported.port, "GET", "/keyed/a")
    assert r.status == 401, r.body
    assert r.json()["error"] == "missing credentials"
    assert r.header_all("www-authenticate") == ['ApiKey realm="sluice"']
    assert r.header("x-content-type-options") == "nosniff", "the default's headers on refusals"
    r = request(ported.port, "GET", "/keyed/a", headers=[("x-api-key", "wrong")])
    assert r.status == 401 and r.json()["error"] == "invalid api key"
    r = request(ported.port, "GET", "/keyed/a",
                headers=[("x-api-key", BOB_API_KEY), ("x-consumer", "root")])
    assert r.status == 200, r.body
    assert seen(r)["x-consumer"] == ["bob"], "the client's x-consumer is dropped"
    r = request(ported.port, "DELETE", "/keyed/a", headers=[("x-api-key", BOB_API_KEY)])
    assert r.status == 403 and r.json()["error"] == "forbidden"
    r = request(ported.port, "DELETE", "/keyed/a", headers=[("x-api-key", ALICE_API_KEY)])
    assert r.status == 200, r.body
    failures = metrics_of(ported)
    assert sum(metric_samples(failures, "sluice_auth_failures_total", reason="missing")) >= 1
    assert sum(metric_samples(failures, "sluice_auth_failures_total",
                              reason="invalid_api_key")) >= 1
    assert sum(metric_samples(failures, "sluice_auth_failures_total", reason="forbidden")) >= 1


def test_route_rate_limit_counts_the_consumer(ported):
    codes = []
    for _ in range(3):
        r = request(ported.port, "GET", "/keyed/b", headers=[("x-api-key", ALICE_API_KEY)])
        codes.append(r.status)
        assert r.header("ratelimit-limit") == "3", r
        assert r.header("ratelimit-policy") == "3;w=60"
    assert codes == [200, 200, 200], codes
    r = request(ported.port, "GET", "/keyed/b", headers=[("x-api-key", ALICE_API_KEY)])
    assert r.status == 429, (codes, r.body)
    assert r.json()["error"] == "rate limit exceeded"
    assert int(r.header("retry-after")) >= 1
    assert r.header("ratelimit-remaining") == "0"
    # Another consumer has a count of its own.
    r = request(ported.port, "GET", "/keyed/b", headers=[("x-api-key", BOB_API_KEY)])
    assert r.status == 200, r.body


def test_auth_off_and_cors_alias(ported):
    r = request(ported.port, "GET", "/open/x", headers=[("origin", "https://app.test")])
    assert r.status == 200, r.body
    assert r.header("access-control-allow-origin") == "https://app.test"
    r = request(ported.port, "OPTIONS", "/open/x",
                headers=[("origin", "https://app.test"), ("access-control-request-method", "GET")])
    assert r.status == 204, r.body
    assert "GET" in r.header("access-control-allow-methods")


def test_when_on_the_ported_filters(ported):
    for _ in range(3):
        r = request(ported.port, "GET", "/writes/a")
        assert r.status == 200, r.body
        assert r.header("ratelimit-limit") is None, "the limit applies to flagged requests only"
    r = request(ported.port, "POST", "/writes/a", body=b"{}")
    assert r.status == 401 and r.json()["error"] == "missing credentials"
    r = request(ported.port, "POST", "/writes/a", body=b"{}", headers=[("x-api-key", BOB_API_KEY)])
    assert r.status == 200 and seen(r)["x-consumer"] == ["bob"]
    r = request(ported.port, "GET", "/writes/a", headers=[("x-flagged", "1")])
    assert r.status == 200 and r.header("ratelimit-limit") == "1"
    r = request(ported.port, "GET", "/writes/a", headers=[("x-flagged", "1")])
    assert r.status == 429, r.body
    status, _, body = ported.admin("GET", "/routes")
    chain = {f["name"]: f for r in body["routes"] if r["name"] == "writes" for f in r["filters"]}
    assert chain["auth"]["when"] == {"methods": ["POST"]} and chain["auth"]["source"] == "route"
    assert chain["rate_limit"]["when"] == {"headers": {"x-flagged": None}}


def test_respond_alias_needs_no_upstream(ported):
    r = request(ported.port, "GET", "/made")
    assert r.status == 201 and r.body == b"made here", r
    assert r.header("x-made") == "yes"
    assert r.header("x-content-type-options") == "nosniff"
    r = request(ported.port, "HEAD", "/made")
    assert r.status == 201 and r.body == b""
    assert r.header("content-length") == "9"


def test_effective_chain_lists_the_ported_filters(ported):
    status, _, body = ported.admin("GET", "/routes")
    assert status == 200, body
    routes = {r["name"]: r for r in body["routes"]}
    keyed = [(f["name"], f["priority"], f["source"]) for f in routes["keyed"]["filters"]]
    assert keyed == [("security_headers", 250, "default"), ("auth", 300, "default"),
                     ("rbac", 400, "route"), ("rate_limit", 500, "route")], keyed
    assert routes["keyed"]["filters"][3]["policies"] == ["per-consumer"]
    assert [f["name"] for f in routes["open"]["filters"]] == ["cors", "security_headers"]
    made = [(f["name"], f["priority"]) for f in routes["made"]["filters"]]
    assert made == [("security_headers", 250), ("respond", 900)], made


BAD = """\
listeners:
  - address: 127.0.0.1:18080
upstreams:
  - name: echo
    targets: [{address: 127.0.0.1:9}]
filters:
  rate_limit: [{name: a, key: client_ip, limit: 1, period: 1s}]
routes:
  - name: a
    match: {path: "/a"}
    upstream: echo
    security: {auth: {api_key: true}}
    filters:
      auth: {api_key: true}
      rbac: {}
  - name: b
    match: {path: "/b"}
    respond: {status: 200}
    filters:
      respond: {status: 204}
  - name: c
    match: {path: "/c"}
    upstream: echo
    filters:
      rate_limit: {policy: []}
"""

# Valid for the loader; the keys every entry takes are checked when the chains are built.
BAD_WHEN = """listeners:
  - address: 127.0.0.1:18080
consumers:
  - {name: a, api_keys: ["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}
upstreams:
  - name: echo
    targets: [{address: 127.0.0.1:9}]
routes:
  - name: c
    match: {path: "/c"}
    upstream: echo
    filters:
      auth: {api_key: true, when: {method: [GET]}, on_timeout: soon}
"""


def test_bad_ported_filter_configs_are_refused(sluice_path, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    p = subprocess.run([sluice_path, "validate", "--config", str(f)], capture_output=True,
                       text=True, timeout=10)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert f"{f}:7:3: filters.rate_limit: 'rate_limit' is set per route, not as a default" \
        in out, out
    assert f"{f}:14:7: routes[0].filters.auth: give 'security.auth' or 'filters.auth', " \
           "not both" in out, out
    assert "routes[0].filters.rbac: rbac needs 'roles', 'method_roles' or both" in out, out
    assert "routes[1].filters.respond: give 'respond' or 'filters.respond', not both" in out, out
    assert "routes[2].filters.rate_limit.policy: unknown key 'policy'" in out, out
    f.write_text(BAD_WHEN)
    p = subprocess.run([sluice_path, "validate", "--config", str(f)], capture_output=True,
                       text=True, timeout=10)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert f"{f}:13:36: routes[0].filters.auth.when.method: unknown key 'method'" in out, out
    assert "routes[0].filters.auth.on_timeout: expected 'continue' or a status" in out, out


LATE_LEASE = """
    redis:
      address: {redis}
      on_error: deny
      command_timeout: 3s
    upstreams:
      - name: echo
        targets: [{{address: {be}}}]
    routes:
      - name: lenient
        match: {{path: "/lenient"}}
        upstream: echo
        filters:
          rate_limit:
            policies: [{{name: c, key: route, limit: 1000, period: 10s, scope: cluster, exact: true}}]
            timeout: 150ms
            on_timeout: continue
      - name: strict
        match: {{path: "/strict"}}
        upstream: echo
        filters:
          rate_limit:
            policies: [{{name: c, key: route, limit: 1000, period: 10s, scope: cluster, exact: true}}]
            timeout: 150ms
            on_timeout: 503
"""


def test_a_late_cluster_lease_ends_as_on_timeout_says(backend, sluice, redis_server):
    """exact: true costs a Redis round trip per request; with Redis stopped (SIGSTOP: connected
    but silent) each request waits for its lease until the filter's timeout, far shorter than the
    command timeout: `continue` goes upstream, a status answers."""
    import os
    import signal
    import time

    from harness import wait_for
    redis = redis_server()
    be = backend(name="echo")
    gw = sluice(config(LATE_LEASE.format(redis=redis.address, be=be.address), workers=1))
    wait_for(lambda: request(gw.port, "GET", "/lenient").status == 200, 5.0, interval=0.1,
             what="a 200 with Redis up")
    assert request(gw.port, "GET", "/strict").status == 200
    os.kill(redis.proc.pid, signal.SIGSTOP)
    try:
        for path, status in (("/lenient", 200), ("/strict", 503), ("/lenient", 200)):
            t0 = time.monotonic()
            r = request(gw.port, "GET", path, timeout=5)
            took = time.monotonic() - t0
            assert r.status == status, (path, r)
            assert 0.1 < took < 1.5, (path, took)
            if status == 503:
                assert r.json()["error"] == "filter timeout"
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)
    wait_for(lambda: request(gw.port, "GET", "/strict").status == 200, 10.0, interval=0.2,
             what="leases again after Redis resumed")
