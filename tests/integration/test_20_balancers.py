"""Load-balancing algorithms through the real binary: round_robin, weighted_round_robin,
consistent_hash (header key), random, p2c and least_connections (idle backend preferred while
another has slow requests in flight)."""

import collections
import threading
import time

import pytest

from harness import Client, pool_config, request, wait_for


def lb_config(targets, balancer, extra="", workers=None, route=""):
    return pool_config(targets, balancer, upstream=extra, workers=workers, route=route)


@pytest.fixture
def three(backend):
    return [backend(name=n) for n in ("a", "b", "c")]


def backend_of(r):
    assert r.status == 200, r
    name = r.header("x-backend")
    assert name == r.json()["backend"], r
    return name


def keepalive_sequence(port, n, path="/lb", headers=None):
    seen = []
    with Client(port) as c:
        for i in range(n):
            seen.append(backend_of(c.request("GET", f"{path}/{i}", headers=headers)))
    return seen


def test_round_robin_even(three, sluice):
    gw = sluice(lb_config([b.address for b in three], "round_robin", workers=1))
    seen = keepalive_sequence(gw.port, 30)
    counts = collections.Counter(seen)
    print(f"\nround_robin shares over 30: {dict(counts)}")
    assert counts == {"a": 10, "b": 10, "c": 10}, seen
    for i in range(len(seen) - 2):  # strict rotation: any three in a row are all different
        assert len(set(seen[i:i + 3])) == 3, seen


def test_round_robin_fresh_connections_all_workers(three, sluice):
    gw = sluice(lb_config([b.address for b in three], "round_robin"))
    counts = collections.Counter(backend_of(request(gw.port, "GET", f"/f/{i}")) for i in range(60))
    print(f"\nround_robin (default workers, fresh connections) shares over 60: {dict(counts)}")
    assert set(counts) == {"a", "b", "c"}, counts
    assert min(counts.values()) >= 10, counts


def test_weighted_round_robin_exact_shares(three, sluice):
    a, b, c = three
    gw = sluice(lb_config([(a.address, 3), (b.address, 1), (c.address, 1)],
                          "weighted_round_robin", workers=1))
    seen = keepalive_sequence(gw.port, 50)
    counts = collections.Counter(seen)
    print(f"\nweighted_round_robin 3:1:1 shares over 50: {dict(counts)} "
          f"order {''.join(seen[:15])}...")
    assert counts == {"a": 30, "b": 10, "c": 10}, seen
    assert "aaaa" not in "".join(seen), seen  # smooth interleaving


def test_consistent_hash_header_key(three, sluice):
    gw = sluice(lb_config([b.address for b in three], "consistent_hash",
                          extra="hash_key: header:x-user"))
    owner = {}
    for u in range(40):  # fresh connections (any worker)
        owner[f"user-{u}"] = backend_of(request(gw.port, "GET", f"/h/{u}",
                                                headers=[("X-User", f"user-{u}")]))
    with Client(gw.port) as c:  # keep-alive connection, other paths: the same owner per key
        for round_ in range(2):
            for u in range(40):
                user = f"user-{u}"
                got = backend_of(c.request("GET", f"/other/{round_}/{u}?q={round_}",
                                           headers=[("x-user", user)]))
                assert owner[user] == got, (user, owner[user], got)
    counts = collections.Counter(owner.values())
    print(f"\nconsistent_hash: 40 keys over backends {dict(counts)}")
    assert set(counts) == {"a", "b", "c"}, counts


def test_consistent_hash_keys_stay_when_a_target_fails(backend, sluice):
    bes = [backend(name=n) for n in "abcd"]
    gw = sluice(lb_config([b.address for b in bes], "consistent_hash", extra=(
        "hash_key: header:x-user\n"
        "outlier: {consecutive_failures: 1, base_ejection: 10s}"),
        route="retry: {attempts: 3, on: [connect_failure]}"))

    def owners():
        return {u: backend_of(request(gw.port, "GET", "/k", headers=[("x-user", f"u{u}")]))
                for u in range(60)}

    before = owners()
    bes[0].stop()
    after = owners()
    moved = [u for u in before if before[u] != "a" and after[u] != before[u]]
    spread = collections.Counter(after[u] for u in before if before[u] == "a")
    print(f"\nconsistent_hash: a stopped; keys of a now on {dict(spread)}, "
          f"{len(moved)} other keys moved")
    assert "a" not in after.values()
    assert not moved, moved


@pytest.mark.parametrize("key,how", [
    ("cookie:sid", "cookie"), ("query:user", "query"), ("path", "path"),
])
def test_consistent_hash_other_keys(three, sluice, key, how):
    gw = sluice(lb_config([b.address for b in three], "consistent_hash", extra=f"hash_key: {key}"))

    def send(c, k, round_):
        if how == "cookie":
            return c.request("GET", f"/c/{round_}", headers=[("Cookie", f"a=1; sid={k}")])
        if how == "query":
            return c.request("GET", f"/q/{round_}?x={round_}&user={k}")
        return c.request("GET", f"/p/{k}")

    owner = {}
    for round_ in range(2):
        with Client(gw.port) as c:
            for u in range(30):
                got = backend_of(send(c, f"k{u}", round_))
                assert owner.setdefault(u, got) == got, (key, u, owner[u], got)
    counts = collections.Counter(owner.values())
    print(f"\nconsistent_hash {key}: 30 keys over backends {dict(counts)}")
    assert len(counts) >= 2, counts


@pytest.mark.parametrize("balancer", ["random", "p2c", "least_connections"])
def test_spreads_over_all(three, sluice, balancer):
    gw = sluice(lb_config([b.address for b in three], balancer))
    counts = collections.Counter(backend_of(request(gw.port, "GET", f"/s/{i}"))
                                 for i in range(60))
    with Client(gw.port) as c:
        for i in range(60):
            counts[backend_of(c.request("GET", f"/k/{i}"))] += 1
    print(f"\n{balancer} shares over 120: {dict(counts)}")
    assert set(counts) == {"a", "b", "c"}, counts
    assert min(counts.values()) >= 10, counts


@pytest.mark.parametrize("workers", [1, 4])
def test_least_connections_prefers_idle(backend, sluice, workers):
    a = backend(name="a")
    b = backend(name="b")
    gw = sluice(lb_config([a.address, b.address], "least_connections",
                          workers=workers))
    results = []

    def slow(i):
        results.append(request(gw.port, "GET", f"/slow/{i}?delay_ms=1500", timeout=10))

    threads = []
    for i in range(3):
        t = threading.Thread(target=slow, args=(i,), daemon=True)
        t.start()
        threads.append(t)
        wait_for(lambda: a.stats()["heads"] + b.stats()["heads"] == i + 1, 2.0,
                 what=f"slow request {i} to reach a backend")
    try:
        slow_a, slow_b = a.stats()["heads"], b.stats()["heads"]
        # least connections: the second slow request goes to the other backend, so 2:1
        assert sorted((slow_a, slow_b)) == [1, 2], (slow_a, slow_b)
        idle = "a" if slow_a < slow_b else "b"
        t0 = time.monotonic()
        fast = [backend_of(request(gw.port, "GET", f"/fast/{i}")) for i in range(10)]
        elapsed = time.monotonic() - t0
        print(f"\nleast_connections ({workers} workers): slow in flight a={slow_a} b={slow_b}; "
              f"10 fast requests went to {dict(collections.Counter(fast))} in {elapsed:.3f}s")
        assert elapsed < 1.2, "fast requests waited for the slow ones"
        assert fast == [idle] * 10, fast
    finally:
        for t in threads:
            t.join(10)
    assert len(results) == 3 and all(r.status == 200 for r in results), results
