"""OpenTelemetry tracing through the real binary: W3C traceparent accepted and propagated, a
server span per request and a client span per upstream try, head sampling plus "always sample
errors", and OTLP/HTTP protobuf export checked by a receiver that decodes with the OpenTelemetry
JS definitions (tests/integration/otlp_receiver)."""

import re
import time

import pytest

from harness import Client, config, request

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def traced(be, rx, sample_ratio="1", extra=""):
    return config(f"""
        tracing:
          endpoint: {rx.url}
          sample_ratio: {sample_ratio}
          flush_interval: 100ms
          service_name: edge-test
{extra}
        upstreams:
          - name: api
            targets: [{{address: {be.address}}}]
          - name: flaky
            targets: [{{address: 127.0.0.1:1}}, {{address: {be.address}}}]
        routes:
          - name: users
            match: {{path: "/users/{{id}}"}}
            upstream: api
          - name: retried
            match: {{path: "/retried"}}
            upstream: flaky
            retry: {{attempts: 2, on: [connect_failure], backoff: 1ms}}
    """, workers=1)


def header(echo, name):
    for n, v in echo["headers"]:
        if n.lower() == name:
            return v
    return None


def by_kind(spans, kind):
    return [s for s in spans if s["kind"] == kind]


SERVER, CLIENT = 2, 3


def test_continues_the_callers_trace_and_upstream_sees_the_client_span(backend, sluice,
                                                                       otlp_receiver):
    be = backend()
    rx = otlp_receiver()
    gw = sluice(traced(be, rx))
    r = request(gw.port, "GET", "/users/7?x=1", headers={
        "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
        "tracestate": "vendor=abc,other=1",
        "user-agent": "tracing-test/1"})
    assert r.status == 200
    echo = r.json()
    tp = header(echo, "traceparent")
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", tp), tp
    assert tp.split("-")[1] == TRACE_ID
    assert tp.split("-")[2] != PARENT_ID
    assert header(echo, "tracestate") == "vendor=abc,other=1"

    spans = rx.wait_for(2, timeout=10)
    server = by_kind(spans, SERVER)
    client = by_kind(spans, CLIENT)
    assert len(server) == 1 and len(client) == 1, spans
    s, c = server[0], client[0]
    assert s["trace_id"] == c["trace_id"] == TRACE_ID
    assert s["parent_span_id"] == PARENT_ID
    assert c["parent_span_id"] == s["span_id"]
    # The upstream's parent is the client span of its try.
    assert tp.split("-")[2] == c["span_id"]
    assert s["name"] == "GET /users/{id}"
    a = s["attributes"]
    assert a["http.request.method"] == "GET"
    assert a["url.path"] == "/users/7"
    assert a["url.query"] == "x=1"
    assert a["http.route"] == "/users/{id}"
    assert int(a["http.response.status_code"]) == 200
    assert a["server.address"] == "test.local"
    assert a["client.address"] == "127.0.0.1"
    assert a["user_agent.original"] == "tracing-test/1"
    assert a["sluice.request_id"] == r.header("x-request-id")
    assert c["name"] == "GET"
    ca = c["attributes"]
    assert ca["server.address"] == "127.0.0.1"
    assert int(ca["server.port"]) == be.port
    assert int(ca["http.response.status_code"]) == 200
    assert s["resource"]["service.name"] == "edge-test"
    assert s["start_ns"] <= c["start_ns"] <= c["end_ns"] <= s["end_ns"]
    now_ns = time.time_ns()
    assert abs(now_ns - int(s["start_ns"])) < 60 * 10**9


def test_starts_a_trace_when_traceparent_is_absent_or_invalid(backend, sluice, otlp_receiver):
    be = backend()
    rx = otlp_receiver()
    gw = sluice(traced(be, rx))
    bad = ["", "00-" + "0" * 32 + "-" + PARENT_ID + "-01", "zz-garbage",
           f"00-{TRACE_ID.upper()}-{PARENT_ID}-01"]
    seen = set()
    for value in bad:
        headers = {"tracestate": "a=b"}
        if value:
            headers["traceparent"] = value
        r = request(gw.port, "GET", "/users/1", headers=headers)
        echo = r.json()
        tp = header(echo, "traceparent")
        assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", tp), tp
        assert tp.split("-")[1] != TRACE_ID
        seen.add(tp.split("-")[1])
        # A tracestate without a valid traceparent is not forwarded.
        assert header(echo, "tracestate") is None
    assert len(seen) == len(bad)
    spans = rx.wait_for(2 * len(bad), timeout=10)
    roots = [s for s in by_kind(spans, SERVER) if s["parent_span_id"] == ""]
    assert len(roots) == len(bad)


def test_a_client_span_per_try(backend, sluice, otlp_receiver):
    be = backend()
    rx = otlp_receiver()
    gw = sluice(traced(be, rx))
    # One worker: round robin starts at the dead target for one of two requests; send two.
    ids = set()
    for _ in range(2):
        r = request(gw.port, "GET", "/retried")
        assert r.status == 200
        ids.add(header(r.json(), "traceparent").split("-")[2])
    spans = rx.wait_for(5, timeout=10)
    servers = by_kind(spans, SERVER)
    assert len(servers) == 2
    tries = sorted((len([c for c in by_kind(spans, CLIENT)
                         if c["parent_span_id"] == s["span_id"]]), s["span_id"])
                   for s in servers)
    assert [n for n, _ in tries] == [1, 2]
    retried = tries[1][1]
    kids = sorted((c for c in by_kind(spans, CLIENT) if c["parent_span_id"] == retried),
                  key=lambda c: int(c["start_ns"]))
    assert kids[0]["attributes"]["error.type"] == "connect_failure"
    assert kids[0]["status_code"] == 2
    assert int(kids[1]["attributes"]["http.request.resend_count"]) == 1
    assert int(kids[1]["attributes"]["http.response.status_code"]) == 200
    # The upstream saw the span id of the try that reached it.
    assert kids[1]["span_id"] in ids


def test_sampling_ratio_and_always_sample_errors(backend, sluice, otlp_receiver):
    be = backend()
    rx = otlp_receiver()
    gw = sluice(traced(be, rx, sample_ratio="0"))
    with Client(gw.port) as c:
        for _ in range(20):
            r = c.request("GET", "/users/1")
            assert r.status == 200
            assert header(r.json(), "traceparent").endswith("-00")
        assert c.request("GET", "/users/1?status=503").status == 503
    spans = rx.wait_for(2, timeout=10)
    time.sleep(0.5)
    spans = rx.spans()
    servers = by_kind(spans, SERVER)
    assert len(servers) == 1, spans
    assert int(servers[0]["attributes"]["http.response.status_code"]) == 503
    assert servers[0]["status_code"] == 2
    assert servers[0]["attributes"]["error.type"] == "503"


def test_parent_sampled_flag_decides(backend, sluice, otlp_receiver):
    be = backend()
    rx = otlp_receiver()
    gw = sluice(traced(be, rx, sample_ratio="1"))
    r = request(gw.port, "GET", "/users/1",
                headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"})
    assert header(r.json(), "traceparent").endswith("-00")
    r = request(gw.port, "GET", "/users/2",
                headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert header(r.json(), "traceparent").endswith("-01")
    spans = rx.wait_for(2, timeout=10)
    time.sleep(0.5)
    assert [s["attributes"]["url.path"] for s in by_kind(rx.spans(), SERVER)] == ["/users/2"]


def test_a_failing_collector_never_slows_requests_and_is_counted(backend, sluice,
                                                                  otlp_receiver):
    be = backend()
    rx = otlp_receiver(status=503)
    gw = sluice(traced(be, rx))
    with Client(gw.port) as c:
        for _ in range(50):
            assert c.request("GET", "/users/1").status == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, _, text = gw.admin("GET", "/metrics")
        text = text.decode() if isinstance(text, bytes) else text
        m = re.search(r"^sluice_tracing_spans_failed_total (\d+)", text, re.M)
        if m and int(m.group(1)) >= 100:
            break
        time.sleep(0.2)
    assert m and int(m.group(1)) == 100, text


def test_tracing_turned_on_by_reload(backend, sluice, otlp_receiver):
    be = backend()
    rx = otlp_receiver()
    gw = sluice(config(f"""
        upstreams:
          - name: api
            targets: [{{address: {be.address}}}]
        routes:
          - name: users
            match: {{path: "/users/{{id}}"}}
            upstream: api
    """))
    r = request(gw.port, "GET", "/users/1",
                headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    # Not tracing: the caller's header passes through untouched.
    assert header(r.json(), "traceparent") == f"00-{TRACE_ID}-{PARENT_ID}-01"
    status, body = gw.reload(traced(be, rx))
    assert status == 200, body
    r = request(gw.port, "GET", "/users/1")
    assert r.status == 200
    spans = rx.wait_for(2, timeout=10)
    assert by_kind(spans, SERVER)[0]["attributes"]["url.path"] == "/users/1"
