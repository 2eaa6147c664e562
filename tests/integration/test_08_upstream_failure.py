"""Upstream failures: before the response started (502) and after it started (the client
connection is cut, never a falsely complete body)."""

import pytest

from harness import Client, build_request, config, parse_response, raw, request


@pytest.fixture
def gw(backend, sluice):
    be = backend(name="flaky")
    g = sluice(config(f"""
        upstreams:
          - name: flaky
            targets: [{{address: {be.address}}}]
        routes:
          - name: all
            match: {{path: "/{{*rest}}"}}
            upstream: flaky
        timeouts:
          idle: 30s
    """))
    g.be = be
    return g


def test_drop_before_response_502(gw):
    r = request(gw.port, "GET", "/d?drop=1")
    assert r.status == 502, r
    assert r.header("content-type", "").startswith("application/json")
    j = r.json()
    assert j["status"] == 502 and isinstance(j["error"], str) and j["error"]
    assert r.header("x-request-id")


def test_drop_with_request_body_502(gw):
    r = request(gw.port, "POST", "/d?drop=1", body=b"z" * 100000)
    assert r.status == 502, r


def test_drop_mid_response_closes_client(gw):
    got = raw(gw.port, build_request("GET", "/dm?drop_mid=1"), read_timeout=10.0)
    assert got.closed, f"client connection not closed ({got.elapsed:.1f}s)"
    r = parse_response(got)
    assert r.status == 200
    assert not r.complete, f"body falsely completed: framing={r.framing} {r!r}"
    if r.framing == "length":
        assert int(r.header("content-length")) == 100000
        assert len(r.body) < 100000
    else:
        # re-framed: chunked without the last chunk; close-delimited framing would make the
        # truncated body look complete, which is not allowed
        assert r.framing == "chunked", r.framing


def test_drop_mid_on_keepalive_connection(gw):
    with Client(gw.port) as c:
        assert c.request("GET", "/first").status == 200
        c.send(build_request("GET", "/dm?drop_mid=1"))
        r = c.read_response()
        assert r.status == 200 and not r.complete
        assert c.closed_by_peer(5.0)


def test_gateway_recovers_after_failures(gw):
    for _ in range(3):
        assert request(gw.port, "GET", "/d?drop=1").status == 502
        raw(gw.port, build_request("GET", "/dm?drop_mid=1"), read_timeout=5.0)
    with Client(gw.port) as c:
        for i in range(10):
            r = c.request("GET", f"/ok/{i}")
            assert r.status == 200 and r.json()["target"] == f"/ok/{i}"


def test_upstream_error_status_passes_through(gw):
    r = request(gw.port, "GET", "/e?status=503")
    assert r.status == 503 and r.header("x-backend") == "flaky"
    r = request(gw.port, "GET", "/e?status=500")
    assert r.status == 500 and r.header("x-backend") == "flaky"
