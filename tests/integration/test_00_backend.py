"""The echo backend on its own (no sluice): the other tests rely on its behaviour."""

import hashlib
import json
import time

from harness import (Client, build_request, chunked_body, parse_response, parse_responses,
                     raw, request, sha256_hex)


def test_echo_json(backend):
    be = backend(name="alpha")
    body = b"hello world"
    r = request(be.port, "POST", "/a/./b%20c?x=1&y=%41",
                headers=[("X-One", "1"), ("x-two", "2"), ("X-One", "again")], body=body)
    assert r.status == 200
    assert r.header("content-type") == "application/json"
    assert r.header("x-backend") == "alpha"
    j = r.json()
    assert j["backend"] == "alpha"
    assert j["method"] == "POST"
    assert j["target"] == "/a/./b%20c?x=1&y=%41"
    assert j["path"] == "/a/./b%20c"
    assert j["query"] == "x=1&y=%41"
    assert j["version"] == "HTTP/1.1"
    assert j["headers"] == [["Host", "test.local"], ["X-One", "1"], ["x-two", "2"],
                            ["X-One", "again"], ["Content-Length", "11"]]
    assert j["body_length"] == len(body)
    assert j["body_sha256"] == sha256_hex(body)


def test_keep_alive_and_pipelining_in_order(backend):
    be = backend()
    reqs = (build_request("GET", "/1?delay_ms=200") + build_request("HEAD", "/2")
            + build_request("GET", "/3"))
    with Client(be.port) as c:
        c.send(reqs)
        r1, r2, r3 = c.read_response(), c.read_response("HEAD"), c.read_response()
        assert r1.json()["target"] == "/1?delay_ms=200"
        assert r2.status == 200 and r2.body == b"" and int(r2.header("content-length")) > 0
        assert r3.json()["target"] == "/3"
        r4 = c.request("GET", "/4")
        assert r4.json()["target"] == "/4"
    assert be.stats()["connections"] >= 1


def test_chunked_request_with_extensions_and_trailers(backend):
    be = backend()
    pieces = [b"a" * 10, b"b" * 70000, b"c"]
    body = chunked_body(pieces, trailers=[("X-Trail", "t1")], ext="name=val")
    r = request(be.port, "POST", "/c", headers=[("Transfer-Encoding", "chunked")], body=body)
    j = r.json()
    assert j["body_length"] == sum(map(len, pieces))
    assert j["body_sha256"] == sha256_hex(b"".join(pieces))
    assert j["trailers"] == [["X-Trail", "t1"]]


def test_bad_chunk_size_is_400(backend):
    be = backend()
    data = raw(be.port, build_request("POST", "/", [("Transfer-Encoding", "chunked")],
                                      b"zz\r\nhello\r\n0\r\n\r\n"))
    assert data.closed and parse_response(data).status == 400
    data = raw(be.port, build_request("POST", "/", [("Transfer-Encoding", "chunked")],
                                      b"5\r\nhelloXX0\r\n\r\n"))
    assert data.closed and parse_response(data).status == 400
    assert be.stats()["requests"] == 0


def test_http10(backend):
    be = backend()
    data = raw(be.port, b"GET /old HTTP/1.0\r\n\r\n")
    assert data.closed
    r = parse_response(data)
    assert r.status == 200 and r.json()["version"] == "HTTP/1.0"
    with Client(be.port) as c:
        for i in range(2):
            c.send(b"GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.read_response()
            assert r.status == 200 and "keep-alive" in r.tokens("connection")


def test_expect_100_continue(backend):
    be = backend()
    with Client(be.port) as c:
        c.send(build_request("POST", "/e", [("Expect", "100-continue"),
                                           ("Content-Length", "5")]))
        r = c.read_response()
        assert r.status == 100
        c.send(b"hello")
        r = c.read_response()
        assert r.status == 200 and r.json()["body_length"] == 5


def test_status_delay_headers(backend):
    be = backend()
    t = time.monotonic()
    r = request(be.port, "GET", "/s?status=418&delay_ms=300&header_X-Test=yes&header_x-b=2")
    assert time.monotonic() - t >= 0.29
    assert r.status == 418
    assert r.header("x-test") == "yes" and r.header("x-b") == "2"
    r = request(be.port, "GET", "/s?status=204")
    assert r.status == 204 and r.body == b""


def test_size_and_chunked_and_slow(backend):
    be = backend()
    r = request(be.port, "GET", "/big?size=200000")
    assert r.framing == "length" and r.body == b"x" * 200000
    r = request(be.port, "GET", "/big?size=200000&chunked=1")
    assert r.framing == "chunked" and r.complete and r.body == b"x" * 200000
    r = request(be.port, "GET", "/j?chunked=1")
    assert r.framing == "chunked" and r.json()["target"] == "/j?chunked=1"
    # several chunks on the wire
    data = raw(be.port, build_request("GET", "/j?chunked=1", [("Connection", "close")]))
    assert data.count(b"\r\n") > 8
    t = time.monotonic()
    r = request(be.port, "GET", "/slow?size=262144&slow_ms=100")
    assert time.monotonic() - t >= 0.29 and len(r.body) == 262144


def test_close_delimited(backend):
    be = backend()
    data = raw(be.port, build_request("GET", "/c?close=1&size=100000"))
    assert data.closed
    r = parse_response(data)
    assert r.framing == "close" and "close" in r.tokens("connection")
    assert r.body == b"x" * 100000
    data = raw(be.port, build_request("GET", "/c?close=1"))
    r = parse_response(data)
    assert r.framing == "close" and r.json()["target"] == "/c?close=1"


def test_drop_and_drop_mid(backend):
    be = backend()
    data = raw(be.port, build_request("POST", "/d?drop=1", body=b"abc"))
    assert data.closed and data == b""
    data = raw(be.port, build_request("GET", "/d?drop_mid=1"))
    assert data.closed
    r = parse_response(data)
    assert r.header("content-length") == "100000"
    assert len(r.body) == 10 and not r.complete


def test_stats(backend):
    be = backend()
    s0 = be.stats()
    request(be.port, "GET", "/x")
    request(be.port, "POST", "/y", body=b"z" * 100)
    s1 = be.stats()
    assert s1["requests"] - s0["requests"] == 2
    assert s1["heads"] - s0["heads"] == 2
    assert s1["connections"] - s0["connections"] == 3  # two requests + one /__stats


def test_upload_100mib_streams(backend):
    be = backend()
    n = 100 << 20
    block = bytes(range(256)) * 4096
    h = hashlib.sha256()
    with Client(be.port, timeout=30) as c:
        c.send(build_request("PUT", "/up", [("Content-Length", str(n))]))
        for _ in range(n // len(block)):
            c.send(block)
            h.update(block)
        r = c.read_response()
    assert r.json()["body_length"] == n
    assert r.json()["body_sha256"] == h.hexdigest()


def test_parse_responses_helper():
    data = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n"
            b"HTTP/1.1 204 No Content\r\n\r\n")
    rs = parse_responses(data)
    assert [r.body for r in rs] == [b"hi", b"abc", b""]
    assert all(r.complete for r in rs)
    assert json.loads(b'{"a": 1}') == {"a": 1}
