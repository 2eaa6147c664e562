"""Circuit breaker: opens on the error rate after min_requests, answers 503 locally and fast
while open (the target gets nothing), lets a probe through after `open` (half-open), re-opens
on a failed probe and closes on a good one; max_requests rejects the request over the limit at
once."""

import statistics
import threading
import time

from harness import Client, build_request, pool_config, request, wait_for

BREAKER = "breaker: {error_rate: 50%, min_requests: 10, window: 2s, consecutive_failures: 0, " \
          "open: 1s, half_open_requests: 1}\noutlier: off"


def assert_breaker_503(r, text="circuit breaker open"):
    assert r.status == 503, r
    assert r.header("x-backend") is None, f"answered by the target, not the breaker: {r!r}"
    j = r.json()
    assert j["status"] == 503, j
    assert text in j["error"].lower(), j


def test_breaker_opens_half_opens_and_closes(stub, sluice):
    bad = stub(name="bad", status=500)
    gw = sluice(pool_config([bad.address], upstream=BREAKER, workers=1))
    with Client(gw.port) as c:
        for i in range(10):
            r = c.request("GET", f"/b/{i}")
            assert r.status == 500 and r.header("x-backend") == "bad", (i, r)
        # 10 requests, 100 % errors: open
        r = c.request("GET", "/b/open")
        t_open = time.monotonic()
        assert_breaker_503(r)
        assert bad.hits == 10, bad.hits

        # while open: answered locally, fast
        req = build_request("GET", "/b/fast")
        times = []
        for _ in range(50):
            t0 = time.perf_counter()
            c.send(req)
            r = c.read_response()
            times.append(time.perf_counter() - t0)
            assert_breaker_503(r)
        median = statistics.median(times)
        print(f"\nbreaker open: 503 median {median * 1e6:.0f} us, max {max(times) * 1e6:.0f} us "
              f"over 50 keep-alive requests (client side)")
        assert median < 0.001, median
        assert bad.hits == 10, f"target got {bad.hits - 10} requests while the breaker was open"
        assert time.monotonic() - t_open < 0.9, "test too slow: the breaker may have half-opened"

        # after open (1 s): one probe goes through; it fails: open again
        time.sleep(max(0.0, t_open + 1.1 - time.monotonic()))
        r = c.request("GET", "/b/probe")
        t_reopen = time.monotonic()
        assert r.status == 500 and r.header("x-backend") == "bad", f"no half-open probe: {r!r}"
        assert bad.hits == 11
        assert_breaker_503(c.request("GET", "/b/reopened"))
        assert bad.hits == 11

        # fixed target: the next probe succeeds and the breaker closes
        bad.status = 200
        time.sleep(max(0.0, t_reopen + 1.1 - time.monotonic()))
        r = c.request("GET", "/b/probe2")
        assert r.status == 200 and r.header("x-backend") == "bad", r
        for i in range(20):
            r = c.request("GET", f"/b/closed/{i}")
            assert r.status == 200 and r.header("x-backend") == "bad", (i, r)
        assert bad.hits == 32, bad.hits


def test_breaker_half_open_admits_one_probe(stub, sluice):
    s = stub(name="s", status=500)
    gw = sluice(pool_config([s.address], upstream=BREAKER, workers=1))
    with Client(gw.port) as c:
        for i in range(10):
            assert c.request("GET", f"/h/{i}").status == 500
        assert_breaker_503(c.request("GET", "/h/open"))
    time.sleep(1.1)
    s.status = 200
    s.delay = 0.5  # the probe stays in flight; a second request meanwhile is rejected
    probe = {}
    t = threading.Thread(target=lambda: probe.update(r=request(gw.port, "GET", "/h/probe")),
                         daemon=True)
    t.start()
    try:
        wait_for(lambda: s.hits == 11, 1.0, what="the probe to reach the target")
        r = request(gw.port, "GET", "/h/second")
        assert_breaker_503(r, "circuit breaker")
        assert s.hits == 11
    finally:
        t.join(5)
    assert probe["r"].status == 200, probe
    s.delay = 0
    assert request(gw.port, "GET", "/h/closed").status == 200


def test_breaker_under_error_rate_stays_closed(stub, sluice):
    s = stub(name="s", status=200)
    gw = sluice(pool_config([s.address], upstream=BREAKER, workers=1))
    with Client(gw.port) as c:
        for i in range(10):
            assert c.request("GET", f"/ok/{i}").status == 200
        s.status = 500
        for i in range(9):  # at most 9 errors in 19 results: under 50 %
            r = c.request("GET", f"/err/{i}")
            assert r.status == 500 and r.header("x-backend") == "s", (i, r)
        s.status = 200
        for i in range(10):
            r = c.request("GET", f"/ok2/{i}")
            assert r.status == 200 and r.header("x-backend") == "s", (i, r)
    assert s.hits == 29


def test_breaker_consecutive_failures_rule(stub, sluice):
    s = stub(name="s", status=500)
    gw = sluice(pool_config([s.address], workers=1, upstream=(
        "breaker: {error_rate: 50%, min_requests: 100, consecutive_failures: 3, open: 5s}\n"
        "outlier: off")))
    with Client(gw.port) as c:
        for i in range(3):
            assert c.request("GET", f"/c/{i}").status == 500
        assert_breaker_503(c.request("GET", "/c/open"))
    assert s.hits == 3


def test_max_requests_rejects_at_once(backend, sluice):
    be = backend(name="slow")
    gw = sluice(pool_config([be.address], upstream="breaker: {max_requests: 1}"))
    first = {}
    t = threading.Thread(target=lambda: first.update(
        r=request(gw.port, "GET", "/slow?delay_ms=1000")), daemon=True)
    t.start()
    try:
        wait_for(lambda: be.stats()["heads"] == 1, 2.0, what="the first request in flight")
        t0 = time.monotonic()
        r = request(gw.port, "GET", "/second?delay_ms=1000")
        elapsed = time.monotonic() - t0
        print(f"\nmax_requests 1: second concurrent request answered {r.status} "
              f"in {elapsed * 1000:.1f} ms")
        assert r.status == 503 and r.header("x-backend") is None, r
        assert r.json()["status"] == 503
        assert elapsed < 0.3, elapsed
        assert be.stats()["heads"] == 1
    finally:
        t.join(5)
    assert first["r"].status == 200, first
    r = request(gw.port, "GET", "/third")
    assert r.status == 200, r
