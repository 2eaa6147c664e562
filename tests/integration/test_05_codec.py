"""HTTP/1.1 codec strictness: malformed or over-limit requests are answered by sluice itself
(400/414/431/413/501) and never reach the backend."""

import pytest

from harness import (build_request, config, parse_response, parse_responses, raw, request,
                     require_sluice)

MAX_HEADER_BYTES = 4096
MAX_HEADERS = 20
MAX_URI_BYTES = 1024


@pytest.fixture(scope="module")
def gw(module_procs):
    require_sluice()
    be = module_procs.backend(name="codec")
    g = module_procs.sluice(config(f"""
        upstreams:
          - name: codec
            targets: [{{address: {be.address}}}]
        routes:
          - name: small
            match: {{path: /small}}
            upstream: codec
            max_body_bytes: 100
          - name: all
            match: {{path: "/{{*rest}}"}}
            upstream: codec
        limits:
          max_header_bytes: {MAX_HEADER_BYTES}
          max_headers: {MAX_HEADERS}
          max_uri_bytes: {MAX_URI_BYTES}
        timeouts:
          idle: 30s
          client_header: 30s
    """))
    g.be = be
    return g


def H(*lines, body=b""):
    """A request from raw lines (str), joined with CRLF, then the blank line and body."""
    return "".join(l + "\r\n" for l in lines).encode("latin-1") + b"\r\n" + body


BAD_400 = {
    "cl_and_te": H("POST / HTTP/1.1", "Host: a", "Content-Length: 5",
                   "Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
    "te_and_cl": H("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked",
                   "Content-Length: 5", body=b"0\r\n\r\n"),
    "two_differing_cl": H("POST / HTTP/1.1", "Host: a", "Content-Length: 5",
                          "Content-Length: 6", body=b"hello!"),
    "cl_list_differing": H("POST / HTTP/1.1", "Host: a", "Content-Length: 5, 6",
                           body=b"hello!"),
    "cl_negative": H("POST / HTTP/1.1", "Host: a", "Content-Length: -1", body=b"x"),
    "cl_hex": H("POST / HTTP/1.1", "Host: a", "Content-Length: 0x10", body=b"x" * 16),
    "cl_inner_space": H("POST / HTTP/1.1", "Host: a", "Content-Length: 1 0", body=b"x" * 10),
    "cl_plus": H("POST / HTTP/1.1", "Host: a", "Content-Length: +5", body=b"hello"),
    "cl_empty": H("POST / HTTP/1.1", "Host: a", "Content-Length: ", body=b""),
    "bare_lf": b"GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n",
    "bare_lf_everywhere": b"GET / HTTP/1.1\nHost: a\n\n",
    "bare_cr": b"GET / HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n",
    "obs_fold": H("GET / HTTP/1.1", "Host: a", "X-A: b", " c"),
    "obs_fold_tab": H("GET / HTTP/1.1", "Host: a", "X-A: b", "\tc"),
    "space_before_colon": H("GET / HTTP/1.1", "Host: a", "X-A : b"),
    "space_before_colon_host": H("GET / HTTP/1.1", "Host : a"),
    "no_host_http11": H("GET / HTTP/1.1", "X-A: b"),
    "two_hosts_differing": H("GET / HTTP/1.1", "Host: a", "Host: b"),
    "two_hosts_same": H("GET / HTTP/1.1", "Host: a", "Host: a"),
    "ctl_in_header_value": H("GET / HTTP/1.1", "Host: a", "X-A: b\x01c"),
    "nul_in_header_value": H("GET / HTTP/1.1", "Host: a", "X-A: b\x00c"),
    "del_in_header_value": H("GET / HTTP/1.1", "Host: a", "X-A: b\x7fc"),
    "bad_header_name": H("GET / HTTP/1.1", "Host: a", "X(A): b"),
    "empty_header_name": H("GET / HTTP/1.1", "Host: a", ": b"),
    "relative_target": H("GET foo HTTP/1.1", "Host: a"),
    "fragment_in_target": H("GET /a#b HTTP/1.1", "Host: a"),
    "space_in_target": H("GET /a b HTTP/1.1", "Host: a"),
    "ctl_in_target": H("GET /a\x01b HTTP/1.1", "Host: a"),
    "bad_version": H("GET / HTTP/1.x", "Host: a"),
    "lowercase_version": H("GET / http/1.1", "Host: a"),
    "bad_method_token": H("G(T / HTTP/1.1", "Host: a"),
}

# Errors in the body framing: the head may already be on its way, but the backend must not
# get a complete request.
BAD_BODY_400 = {
    "chunk_size_zz": H("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked",
                       body=b"zz\r\nhello\r\n0\r\n\r\n"),
    "chunk_no_crlf_after_data": H("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked",
                                  body=b"5\r\nhelloXX0\r\n\r\n"),
    "chunk_size_negative": H("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked",
                             body=b"-5\r\nhello\r\n0\r\n\r\n"),
    "chunk_size_0x": H("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked",
                       body=b"0x5\r\nhello\r\n0\r\n\r\n"),
    "chunk_size_overflow": H("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked",
                             body=b"fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
}

BAD_501 = {
    "te_gzip_chunked": H("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, chunked",
                         body=b"0\r\n\r\n"),
    "te_identity": H("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: identity",
                     body=b"hello"),
}


def backend_counts(gw):
    s = gw.be.stats()
    return s["heads"], s["requests"]


def check_rejected(gw, data, status, must_close=True, head_may_reach_backend=False):
    heads0, reqs0 = backend_counts(gw)
    got = raw(gw.port, data, read_timeout=3.0, responses=None if must_close else 1)
    assert got, "no response at all"
    r = parse_response(got)
    assert r.status == status, r
    assert r.header("content-type", "").startswith("application/json"), r
    j = r.json()
    assert j["status"] == status and j["error"], j
    if must_close:
        assert got.closed, f"connection not closed after {status} (waited {got.elapsed:.1f}s)"
        # nothing after the error response (the rest of the bytes were not processed)
        assert len(parse_responses(got)) == 1
    heads1, reqs1 = backend_counts(gw)
    assert reqs1 == reqs0, "the backend received the request"
    if not head_may_reach_backend:
        assert heads1 == heads0, "the backend received the request head"


def test_control_request_reaches_backend(gw):
    heads0, reqs0 = backend_counts(gw)
    r = request(gw.port, "POST", "/ok", body=b"hello")
    assert r.status == 200 and r.json()["body_length"] == 5
    assert backend_counts(gw) == (heads0 + 1, reqs0 + 1)


@pytest.mark.parametrize("name", list(BAD_400))
def test_bad_request_400(gw, name):
    check_rejected(gw, BAD_400[name], 400)


@pytest.mark.parametrize("name", list(BAD_BODY_400))
def test_bad_chunked_body_400(gw, name):
    check_rejected(gw, BAD_BODY_400[name], 400, head_may_reach_backend=True)


@pytest.mark.parametrize("name", list(BAD_501))
def test_unsupported_transfer_encoding_501(gw, name):
    check_rejected(gw, BAD_501[name], 501)


def test_bad_request_after_good_one_on_same_connection(gw):
    heads0, reqs0 = backend_counts(gw)
    data = build_request("GET", "/first") + H("GET / HTTP/1.1", "Host: a", "X-A : b")
    got = raw(gw.port, data)
    rs = parse_responses(got)
    assert [r.status for r in rs] == [200, 400]
    assert got.closed
    assert backend_counts(gw) == (heads0 + 1, reqs0 + 1)


def test_header_section_too_large_431(gw):
    data = build_request("GET", "/big-head", [("X-Big", "a" * (MAX_HEADER_BYTES + 100))])
    check_rejected(gw, data, 431, must_close=False)


def test_header_section_just_under_limit_ok(gw):
    # request line + headers well under the limit pass
    r = request(gw.port, "GET", "/ok-head", headers=[("X-Big", "a" * (MAX_HEADER_BYTES // 2))])
    assert r.status == 200


def test_too_many_headers_431(gw):
    headers = [(f"X-H{i}", "v") for i in range(MAX_HEADERS + 5)]
    check_rejected(gw, build_request("GET", "/many", headers), 431, must_close=False)


def test_max_headers_allowed(gw):
    headers = [(f"X-H{i}", "v") for i in range(MAX_HEADERS - 2)]  # + Host = MAX_HEADERS - 1
    r = request(gw.port, "GET", "/many-ok", headers=headers)
    assert r.status == 200


def test_uri_too_long_414(gw):
    target = "/" + "u" * (MAX_URI_BYTES + 10)
    check_rejected(gw, build_request("GET", target), 414, must_close=False)


def test_uri_with_long_query_414(gw):
    target = "/q?" + "k=v&" * (MAX_URI_BYTES // 4 + 10)
    check_rejected(gw, build_request("GET", target), 414, must_close=False)


def test_body_over_route_limit_413(gw):
    check_rejected(gw, build_request("POST", "/small", body=b"b" * 1000), 413, must_close=False)


def test_body_over_route_limit_413_without_sending_body(gw):
    # sluice must answer from the Content-Length alone, without waiting for the body
    data = build_request("POST", "/small", [("Content-Length", "100000")])
    heads0, reqs0 = backend_counts(gw)
    got = raw(gw.port, data, read_timeout=3.0, responses=1)
    assert got, "no response without the body"
    assert parse_response(got).status == 413
    assert backend_counts(gw) == (heads0, reqs0)


def test_chunked_body_over_route_limit_413(gw):
    data = build_request("POST", "/small", [("Transfer-Encoding", "chunked")],
                         b"40\r\n" + b"c" * 64 + b"\r\n40\r\n" + b"c" * 64 + b"\r\n0\r\n\r\n")
    check_rejected(gw, data, 413, must_close=False, head_may_reach_backend=True)


def test_body_within_route_limit_ok(gw):
    r = request(gw.port, "POST", "/small", body=b"b" * 100)
    assert r.status == 200 and r.json()["body_length"] == 100


def test_http10_without_host_ok(gw):
    got = raw(gw.port, b"GET /old HTTP/1.0\r\n\r\n")
    assert got.closed
    r = parse_response(got)
    assert r.status == 200 and r.json()["version"] in ("HTTP/1.0", "HTTP/1.1")


# ---------------------------------------------------------------------------------------------
# header names with underscores (limits.headers_with_underscores)

UNDERSCORE_REQUEST = [("Transfer_Encoding", "chunked"), ("X_Tenant", "evil"),
                      ("X-Tenant", "good")]


def underscore_gw(procs, policy):
    be = procs.backend(name="u")
    limits = "" if policy is None else f"limits: {{headers_with_underscores: {policy}}}"
    return procs.sluice(config(f"""
        {limits}
        upstreams:
          - name: u
            targets: [{{address: {be.address}}}]
        routes:
          - name: all
            match: {{path: "/{{*rest}}"}}
            upstream: u
    """))


def received(r):
    return [(n.lower(), v) for n, v in r.json()["headers"]]


def test_underscore_headers_are_dropped_by_default(procs):
    require_sluice()
    from harness_auth import metric_samples, metrics_of
    gw = underscore_gw(procs, None)
    r = request(gw.port, "GET", "/u", headers=UNDERSCORE_REQUEST)
    assert r.status == 200, r
    got = received(r)
    assert ("x-tenant", "good") in got
    assert not [n for n, _ in got if "_" in n], got
    assert r.json()["body_length"] == 0, "Transfer_Encoding must not frame anything"
    assert metric_samples(metrics_of(gw), "sluice_request_headers_dropped_total",
                          reason="underscore") == [2.0]


def test_underscore_headers_rejected_or_allowed(procs):
    require_sluice()
    gw = underscore_gw(procs, "reject")
    r = request(gw.port, "GET", "/u", headers=UNDERSCORE_REQUEST)
    assert r.status == 400, r
    assert r.json()["error"] == "header name with an underscore"
    assert request(gw.port, "GET", "/u", headers=[("X-Tenant", "good")]).status == 200
    gw = underscore_gw(procs, "allow")
    got = received(request(gw.port, "GET", "/u", headers=UNDERSCORE_REQUEST))
    assert ("x_tenant", "evil") in got and ("transfer_encoding", "chunked") in got, got
