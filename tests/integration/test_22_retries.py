"""Retries: a target killed under load costs no failed request; a connect failure is retried for
any method (no byte reached the upstream) but a POST whose bytes were sent, or that got a 502, is
not; per_try_timeout moves a request off a slow target; the route timeout bounds all tries."""

import collections
import threading
import time

from harness import Client, free_port, pool_config, request

RETRY = "retry: {attempts: 3, on: [connect_failure, reset, timeout, 502, 503, 504], " \
        "per_try_timeout: 300ms, backoff: {base: 10ms, max: 50ms}}\ntimeout: 5s"


class GetLoop(threading.Thread):
    """Keep-alive GETs in a loop, bounded in requests and seconds; records every failure."""

    def __init__(self, port, stop, max_requests=30000, max_seconds=6.0):
        super().__init__(daemon=True)
        self.port, self.stop, self.max_requests, self.max_seconds = \
            port, stop, max_requests, max_seconds
        self.count = 0
        self.failures = []
        self.backends = collections.Counter()

    def run(self):
        deadline = time.monotonic() + self.max_seconds
        c = None
        try:
            while not self.stop.is_set() and self.count < self.max_requests \
                    and time.monotonic() < deadline:
                if c is None:
                    c = Client(self.port, timeout=5)
                try:
                    r = c.request("GET", f"/load/{self.count}")
                except Exception as e:
                    self.failures.append(f"{type(e).__name__}: {e}")
                    c.close()
                    c = None
                    continue
                finally:
                    self.count += 1
                if r.status != 200:
                    self.failures.append(f"status {r.status} {r.body[:200]!r}")
                else:
                    self.backends[r.header("x-backend")] += 1
                if "close" in r.tokens("connection"):
                    c.close()
                    c = None
        finally:
            if c:
                c.close()


def under_load(port, loops, action, max_seconds=6.0, settle=1.5):
    """Runs `loops` GetLoops, calls action() after 0.5 s, stops `settle` s later. Returns
    (requests before the action, requests in all, failures, backends' shares)."""
    stop = threading.Event()
    threads = [GetLoop(port, stop, max_seconds=max_seconds) for _ in range(loops)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        before = sum(t.count for t in threads)
        action()
        time.sleep(settle)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    total = sum(t.count for t in threads)
    failures = [f for t in threads for f in t.failures]
    shares = sum((t.backends for t in threads), collections.Counter())
    return before, total, failures, shares


def test_killed_target_under_load_no_failures(backend, sluice):
    bes = [backend(name=n) for n in ("a", "b", "c")]
    gw = sluice(pool_config([b.address for b in bes], route=RETRY))
    before, total, failures, shares = under_load(gw.port, 2, bes[1].stop)
    print(f"\nkilled target under load: {total} requests ({before} before the kill), "
          f"{len(failures)} failed, backends {dict(shares)}")
    assert not failures, failures[:10]
    assert total >= 100 and total - before >= 50, (before, total)


def test_kill_9_under_load_with_default_budget_costs_nothing(backend, sluice):
    # Retries with their defaults (connect failures, resets, timeouts, 502-504) and the default
    # retry budget (20%, min_concurrent 3): the refused connects after the kill are retried
    # without charging the budget, the few requests in flight on the killed target (reset) with it.
    bes = [backend(name=n) for n in ("a", "b", "c")]
    gw = sluice(pool_config([b.address for b in bes], route="retry: {attempts: 3}", workers=2))
    before, total, failures, _ = under_load(gw.port, 4, bes[1].kill, max_seconds=8.0, settle=2.0)
    print(f"\nkill -9 under load, default retry budget: {total} requests ({before} before the "
          f"kill), {len(failures)} failed")
    assert not failures, failures[:10]
    assert total - before >= 200, (before, total)


def test_post_connect_failure_is_retried(backend, sluice):
    live = backend(name="live")
    dead = f"127.0.0.1:{free_port()}"
    gw = sluice(pool_config([dead, live.address], upstream="outlier: off",
                            route="retry: {attempts: 2, on: [connect_failure]}", workers=1))
    body = b"payload-" * 1000
    with Client(gw.port) as c:
        for i in range(4):  # round robin: the first try of two of them goes to the dead target
            r = c.request("POST", f"/p/{i}", body=body)
            assert r.status == 200, (i, r)
            j = r.json()
            assert j["backend"] == "live" and j["body_length"] == len(body), j
    assert live.stats()["requests"] == 4  # each POST reached the live target once


def test_get_retried_after_reset_post_not(backend, sluice):
    a, b = backend(name="a"), backend(name="b")
    gw = sluice(pool_config([a.address, b.address], upstream="outlier: off", route=RETRY))

    def heads():
        return a.stats()["heads"] + b.stats()["heads"]

    r = request(gw.port, "GET", "/g?drop=1")  # every try drops the connection: 3 tries
    assert r.status == 502, r
    assert heads() == 3, f"GET dropped by the upstream: {heads()} tries, expected 3"
    r = request(gw.port, "POST", "/p?drop=1", body=b"x" * 5000)
    assert r.status == 502, r
    assert heads() == 4, f"POST whose bytes were sent was retried: {heads() - 3} tries"


def test_post_502_not_retried_get_is(backend, sluice):
    a, b = backend(name="a"), backend(name="b")
    gw = sluice(pool_config([a.address, b.address], upstream="outlier: off", route=RETRY))

    def requests_seen():
        return a.stats()["requests"] + b.stats()["requests"]

    r = request(gw.port, "POST", "/p?status=502", body=b"data")
    assert r.status == 502 and r.header("x-backend") in ("a", "b"), r
    assert requests_seen() == 1, f"POST answered 502 was retried ({requests_seen()} requests)"
    r = request(gw.port, "GET", "/g?status=503")
    assert r.status == 503 and r.header("x-backend") in ("a", "b"), r
    assert requests_seen() == 4, f"GET answered 503: {requests_seen() - 1} tries, expected 3"
    r = request(gw.port, "GET", "/g?status=500")  # 500 is not in retry.on
    assert r.status == 500
    assert requests_seen() == 5


def test_per_try_timeout_moves_to_other_target(backend, stub, sluice):
    slow = stub(name="slow", delay=2.0)
    fast = backend(name="fast")
    gw = sluice(pool_config([slow.address, fast.address], upstream="outlier: off", route=RETRY,
                            workers=1))
    times = []
    for i in range(4):  # round robin: at least two of them try the slow target first
        t0 = time.monotonic()
        r = request(gw.port, "GET", f"/t/{i}")
        times.append(time.monotonic() - t0)
        assert r.status == 200 and r.header("x-backend") == "fast", r
    print(f"\nper_try_timeout 300ms: request times {[round(t, 3) for t in times]}, "
          f"slow target tried {slow.hits} times")
    assert slow.hits >= 2, slow.hits
    assert sum(1 for t in times if t >= 0.28) == slow.hits, times
    assert max(times) < 0.8, times


def test_post_timeout_not_retried(backend, stub, sluice):
    slow = stub(name="slow", delay=2.0)
    fast = backend(name="fast")
    gw = sluice(pool_config([slow.address, fast.address], upstream="outlier: off", route=RETRY,
                            workers=1))
    results = []
    for i in range(2):  # round robin: one of them goes to the slow target first
        t0 = time.monotonic()
        r = request(gw.port, "POST", f"/t/{i}", body=b"body")
        results.append((r.status, r.header("x-backend"), round(time.monotonic() - t0, 3)))
    print(f"\nPOST with per_try_timeout 300ms: {results}")
    assert slow.hits == 1, slow.hits
    assert sorted(s for s, _, _ in results) == [200, 504], results
    assert fast.stats()["requests"] == 1


def test_route_timeout_bounds_all_tries(stub, sluice):
    s1, s2 = stub(name="s1", delay=3.0), stub(name="s2", delay=3.0)
    gw = sluice(pool_config(
        [s1.address, s2.address], upstream="outlier: off",
        route="retry: {attempts: 5, on: [timeout], per_try_timeout: 300ms, "
              "backoff: {base: 10ms, max: 10ms}}\ntimeout: 700ms"))
    t0 = time.monotonic()
    r = request(gw.port, "GET", "/slow")
    elapsed = time.monotonic() - t0
    print(f"\nroute timeout 700ms, per-try 300ms: {r.status} after {elapsed:.3f}s, "
          f"{s1.hits + s2.hits} tries")
    assert r.status == 504, r
    assert 0.6 <= elapsed < 1.2, elapsed
    assert s1.hits + s2.hits <= 3


def test_retry_budget_limits_retries(stub, sluice):
    s = stub(name="s", status=503, delay=0.3)
    gw = sluice(pool_config(
        [s.address], upstream="outlier: off\nretry_budget: {percent: 20, min_concurrent: 3}",
        route="retry: {attempts: 3, on: [503], backoff: {base: 10ms, max: 10ms}}"))
    statuses = []
    def one():
        statuses.append(request(gw.port, "GET", "/b").status)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    print(f"\nretry budget 20 %/3: 20 concurrent failing requests made {s.hits} tries "
          f"(60 without a budget)")
    assert statuses == [503] * 20, statuses
    # 20 first tries; retries in flight at most max(3, 20 % of 20) = 4 at a time, two rounds
    assert 20 < s.hits <= 34, s.hits
