"""Connection management and message framing: keep-alive, pipelining, HTTP/1.0,
Expect: 100-continue, chunked request and response bodies, close-delimited responses."""

import hashlib
import random

import pytest

from harness import (Client, build_request, chunked_body, config, parse_response,
                     parse_responses, raw, request)


@pytest.fixture
def gw(backend, sluice):
    be = backend(name="ka")
    g = sluice(config(f"""
        upstreams:
          - name: ka
            targets: [{{address: {be.address}}}]
        routes:
          - name: hello
            match: {{path: /hello}}
            respond: {{status: 200, body: "hello"}}
          - name: all
            match: {{path: "/{{*rest}}"}}
            upstream: ka
        timeouts:
          idle: 30s
    """))
    g.be = be
    return g


def test_pipelined_requests_answered_in_order(gw):
    # the first is the slowest: the answers must still come in request order
    data = (build_request("GET", "/p1?delay_ms=300")
            + build_request("POST", "/p2?delay_ms=100", body=b"two")
            + build_request("GET", "/hello")
            + build_request("GET", "/p4"))
    with Client(gw.port) as c:
        c.send(data)
        rs = [c.read_response() for _ in range(4)]
        assert [r.status for r in rs] == [200] * 4
        assert rs[0].json()["target"] == "/p1?delay_ms=300"
        assert rs[1].json()["target"] == "/p2?delay_ms=100"
        assert rs[1].json()["body_length"] == 3
        assert rs[2].body == b"hello"
        assert rs[3].json()["target"] == "/p4"
        # and the connection is still usable
        assert c.request("GET", "/p5").json()["target"] == "/p5"


def test_three_pipelined_in_one_send(gw):
    data = b"".join(build_request("GET", f"/pipe/{i}") for i in range(3))
    got = raw(gw.port, data, read_timeout=5.0, responses=3)
    rs = parse_responses(got)
    assert len(rs) == 3
    assert [r.json()["target"] for r in rs] == ["/pipe/0", "/pipe/1", "/pipe/2"]


def test_many_pipelined(gw):
    n = 50
    data = b"".join(build_request("GET", f"/m/{i}") for i in range(n))
    with Client(gw.port) as c:
        c.send(data)
        for i in range(n):
            assert c.read_response().json()["target"] == f"/m/{i}"


def test_http10_closes(gw):
    got = raw(gw.port, b"GET /ten HTTP/1.0\r\nHost: a\r\n\r\n", read_timeout=5.0)
    assert got.closed, "HTTP/1.0 connection not closed"
    r = parse_response(got)
    assert r.status == 200
    assert r.framing in ("length", "close")  # never chunked to a 1.0 client
    assert r.json()["target"] == "/ten"


def test_http10_keep_alive(gw):
    with Client(gw.port) as c:
        for i in range(3):
            c.send(b"GET /ten-ka/%d HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n" % i)
            r = c.read_response()
            assert r.status == 200 and r.framing == "length"
            assert r.json()["target"] == f"/ten-ka/{i}"
            assert "keep-alive" in r.tokens("connection")
        assert not c.closed_by_peer(0.2)


def test_http10_chunked_upstream_response_not_chunked(gw):
    got = raw(gw.port, b"GET /ten?chunked=1&size=100000 HTTP/1.0\r\n\r\n", read_timeout=5.0)
    r = parse_response(got)
    assert r.status == 200 and r.framing in ("length", "close")
    assert r.body == b"x" * 100000


def test_connection_close_honoured(gw):
    got = raw(gw.port, build_request("GET", "/c", [("Connection", "close")]), read_timeout=5.0)
    assert got.closed
    r = parse_response(got)
    assert r.status == 200 and "close" in r.tokens("connection")


def test_expect_100_continue(gw):
    body = b"expected body"
    with Client(gw.port) as c:
        c.send(build_request("POST", "/exp", [("Expect", "100-continue"),
                                              ("Content-Length", str(len(body)))]))
        head = c.src.read_line()
        assert head == b"HTTP/1.1 100 Continue\r\n", head
        while c.src.read_line() != b"\r\n":  # (headers on the 100 are allowed)
            pass
        c.send(body)
        r = c.read_response()
        while r.status == 100:  # tolerate a second 100 relayed from the upstream
            r = c.read_response()
        assert r.status == 200
        j = r.json()
        assert j["body_length"] == len(body)
        assert j["body_sha256"] == hashlib.sha256(body).hexdigest()
        assert c.request("GET", "/after").status == 200


def test_chunked_request_body_intact(gw):
    rnd = random.Random(7)
    pieces = [bytes(rnd.getrandbits(8) for _ in range(n)) for n in (1, 17, 4096, 70000, 3, 1 << 16)]
    body = b"".join(pieces)
    r = request(gw.port, "POST", "/chunked", headers=[("Transfer-Encoding", "chunked")],
                body=chunked_body(pieces))
    assert r.status == 200
    j = r.json()
    assert j["body_length"] == len(body)
    assert j["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_chunked_request_with_extensions_and_trailers(gw):
    pieces = [b"abc", b"defgh"]
    r = request(gw.port, "POST", "/chunked-ext", headers=[("Transfer-Encoding", "chunked")],
                body=chunked_body(pieces, trailers=[("X-Checksum", "1234")], ext="a=b"))
    assert r.status == 200
    j = r.json()
    assert j["body_length"] == 8 and j["body_sha256"] == hashlib.sha256(b"abcdefgh").hexdigest()


def test_chunked_request_sent_slowly(gw):
    pieces = [b"a" * 1000, b"b" * 3000, b"c" * 10]
    wire = build_request("POST", "/slowchunks", [("Transfer-Encoding", "chunked")],
                         chunked_body(pieces))
    # split at awkward places: inside the size line, inside data, inside CRLFs
    cuts = [len(wire) - len(chunked_body(pieces)) + k for k in (1, 5, 500, 1006, 1007, 4020)]
    parts = [wire[a:b] for a, b in zip([0] + cuts, cuts + [len(wire)])]
    got = raw(gw.port, parts, read_timeout=5.0, responses=1)
    r = parse_response(got)
    assert r.json()["body_sha256"] == hashlib.sha256(b"".join(pieces)).hexdigest()


def test_chunked_response_intact(gw):
    r = request(gw.port, "GET", "/cr?chunked=1")
    assert r.status == 200 and r.complete
    assert r.json()["target"] == "/cr?chunked=1"
    r = request(gw.port, "GET", "/cr?chunked=1&size=300000")
    assert r.status == 200 and r.complete
    assert r.body == b"x" * 300000


def test_chunked_response_keeps_connection_usable(gw):
    with Client(gw.port) as c:
        for i in range(3):
            r = c.request("GET", f"/cr{i}?chunked=1&size=70000")
            assert r.complete and r.body_length == 70000
        assert c.request("GET", "/after").json()["target"] == "/after"


def test_close_delimited_response_intact(gw):
    for target, expect in (("/cd?close=1&size=500000", b"x" * 500000), ("/cd?close=1", None)):
        # sluice may keep the client connection (re-framed as chunked) or close it
        got = raw(gw.port, build_request("GET", target), read_timeout=10.0, responses=1)
        r = parse_response(got)
        assert r.status == 200 and r.complete, r
        if expect is not None:
            assert r.body == expect
        else:
            assert r.json()["target"] == target


def test_close_delimited_response_on_keepalive_connection(gw):
    # sluice may re-frame (chunked) and keep the client connection, or close it; either way
    # the body must be complete and correct
    with Client(gw.port) as c:
        r = c.request("GET", "/cd?close=1&size=200000")
        assert r.complete and r.body == b"x" * 200000
        if r.framing == "close" or "close" in r.tokens("connection"):
            return
        assert c.request("GET", "/after").status == 200


def test_head_of_big_response(gw):
    with Client(gw.port) as c:
        r = c.request("HEAD", "/big?size=1000000")
        assert r.status == 200 and r.body == b""
        assert c.request("GET", "/after").json()["target"] == "/after"
