"""The fault filter through the real binary: a delay before the request goes upstream (the
upstream_request phase pauses; a request body waits and then streams whole), an abort instead
of forwarding, shares of requests, `when:` to hurt only marked requests, the entry's timeout
ending a long delay, and its config errors."""

import hashlib
import time

import pytest

from harness import config, request, validate_config

FAULT = """
    upstreams:
      - name: echo
        targets: [{{address: {be}}}]
    routes:
      - name: slow
        match: {{path: "/slow/{{*rest}}"}}
        upstream: echo
        filters:
          fault: {{delay: 300ms, when: {{headers: [x-chaos]}}}}
      - name: broken
        match: {{path: "/broken/{{*rest}}"}}
        upstream: echo
        filters:
          fault: {{abort: 503}}
      - name: never
        match: {{path: "/never/{{*rest}}"}}
        upstream: echo
        filters:
          fault: {{abort: 500, abort_percent: 0, delay: 1s, delay_percent: 0}}
      - name: late
        match: {{path: "/late/{{*rest}}"}}
        upstream: echo
        filters:
          fault: {{response_delay: 300ms}}
      - name: late-bounded
        match: {{path: "/late-bounded/{{*rest}}"}}
        upstream: echo
        filters:
          fault: {{response_delay: 5s, timeout: 150ms, on_timeout: 504}}
      - name: bounded
        match: {{path: "/bounded/{{*rest}}"}}
        upstream: echo
        filters:
          fault: {{delay: 5s, timeout: 150ms, on_timeout: continue}}
"""


@pytest.fixture
def fault_gw(backend, sluice):
    be = backend(name="echo")
    gw = sluice(config(FAULT.format(be=be.address)))
    gw.be = be
    return gw


def timed(gw, method, path, **kw):
    t0 = time.monotonic()
    r = request(gw.port, method, path, **kw)
    return r, time.monotonic() - t0


def test_delay_before_the_upstream_and_the_body_streams_after(fault_gw):
    r, took = timed(fault_gw, "GET", "/slow/a")
    assert r.status == 200 and took < 0.25, ("unmarked requests are not delayed", took)
    r, took = timed(fault_gw, "GET", "/slow/a", headers=[("x-chaos", "1")])
    assert r.status == 200, r.body
    assert r.header("x-backend") == "echo"
    assert took >= 0.28, took
    body = bytes(range(256)) * 400  # 100 KiB: more than the connection reads ahead
    r, took = timed(fault_gw, "POST", "/slow/b", headers=[("x-chaos", "1")], body=body)
    assert r.status == 200 and took >= 0.28, (r, took)
    j = r.json()
    assert j["body_length"] == len(body)
    assert j["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_response_delay_holds_the_upstreams_answer(fault_gw):
    """The response_headers phase pauses: the head waits in the exchange, the body in the
    upstream connection's buffer (which stops reading when full), then both go out whole."""
    r, took = timed(fault_gw, "GET", "/late/a")
    assert r.status == 200 and r.header("x-backend") == "echo", r
    assert took >= 0.28, took
    for query in ("size=262144", "size=262144&chunked=1"):  # more than the upstream buffer holds
        r, took = timed(fault_gw, "GET", "/late/b?" + query)
        assert r.status == 200 and took >= 0.28, (query, r, took)
        assert r.body == b"x" * 262144, (query, len(r.body))
    # Still keep-alive: a second request on a new exchange goes through.
    r = request(fault_gw.port, "GET", "/late/c")
    assert r.status == 200


def test_response_delay_bounded_by_the_timeout(fault_gw):
    r, took = timed(fault_gw, "GET", "/late-bounded/a")
    assert r.status == 504, r.body
    assert r.json()["error"] == "filter timeout"
    assert 0.1 < took < 1.5, took


def test_abort_answers_instead_of_the_upstream(fault_gw):
    before = fault_gw.be.stats()["requests"]
    r = request(fault_gw.port, "GET", "/broken/x")
    assert r.status == 503, r.body
    assert {k: r.json()[k] for k in ("status", "error")} == {"status": 503,
                                                             "error": "fault injected"}
    assert r.header("x-backend") is None
    assert fault_gw.be.stats()["requests"] == before


def test_zero_percent_hurts_nothing(fault_gw):
    for _ in range(20):
        r, took = timed(fault_gw, "GET", "/never/x")
        assert r.status == 200 and took < 0.5, (r, took)


def test_timeout_bounds_a_delay(fault_gw):
    r, took = timed(fault_gw, "GET", "/bounded/x")
    assert r.status == 200, r.body
    assert 0.1 < took < 1.5, took
    # The connection stays usable after a paused and resumed exchange.
    r, took = timed(fault_gw, "GET", "/bounded/y")
    assert r.status == 200


def test_fault_config_errors(tmp_path):
    code, out = validate_config(tmp_path, """\
listeners:
  - address: 127.0.0.1:18080
upstreams:
  - name: echo
    targets: [{address: 127.0.0.1:9}]
routes:
  - name: a
    match: {path: "/a"}
    upstream: echo
    filters:
      fault: {delay_percent: 50}
  - name: b
    match: {path: "/b"}
    upstream: echo
    filters:
      fault: {abort: 700, delay: 2m, abort_percent: 101}
""")
    assert code == 1, out
    assert "routes[0].filters.fault: give 'delay', 'abort', 'response_delay' or several" in out, out
    assert "routes[1].filters.fault.abort:" in out, out
    assert "routes[1].filters.fault.delay: at most 60s" in out, out
    assert "routes[1].filters.fault.abort_percent:" in out, out
