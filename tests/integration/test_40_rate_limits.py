"""Rate limits under a route's `rate_limits:` with scope local (exact across one instance's
workers), through the real binary: the admitted count of a fixed window under concurrent
keep-alive load, 429 answers with Retry-After and the RateLimit-* headers, absent keys, header /
query / client_ip keys (X-Forwarded-For honoured only from trusted proxies), counters kept across
a reload, LRU eviction under max_keys and the decision counters in /metrics, the sliding window
and the token bucket. The cluster scope (Redis) is in test_41_rate_limits_cluster.py, which
imports the helpers of this module."""

import json
import re
import threading
import time
import uuid

import pytest

from harness import Client, ConnectionClosed, config, request
from harness import metric_samples as samples

LIMITED_BODY = {"status": 429, "error": "rate limit exceeded"}


# ---------------------------------------------------------------------------------------------
# helpers (also used by test_41_rate_limits_cluster.py)


def yaml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))  # a JSON string is a YAML double-quoted scalar


def policy(name="per-key", key="header:x-api-key", algorithm="fixed_window", limit=10,
           period="60s", **more):
    """One entry of rate_limits as a YAML flow mapping."""
    fields = dict(name=name, key=key, algorithm=algorithm, limit=limit, period=period, **more)
    return "{" + ", ".join(f"{k}: {yaml_value(v)}" for k, v in fields.items()) + "}"


def rl_config(be, policies, workers=None, top="", routes=()):
    """A config with upstream `api` (be) and route `api` on /api/{*rest} with these policies
    (strings from policy()); routes: more (name, path, [policies]) routes to the same upstream;
    top: more top-level YAML (no indentation)."""
    lines = [x for x in top.strip("\n").splitlines()]
    lines += ["upstreams:", "  - name: api", f"    targets: [{{address: {be.address}}}]",
              "routes:"]
    for name, path, pols in [("api", "/api/{*rest}", policies)] + list(routes):
        lines += [f"  - name: {name}", f"    match: {{path: \"{path}\"}}", "    upstream: api"]
        if pols:
            lines.append("    rate_limits:")
            lines += [f"      - {p}" for p in pols]
    return config("\n".join(lines), workers=workers)


def unique(prefix="k"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait_window_room(period_s, after=0.0, latest=None):
    """Sleeps until the current epoch-aligned window of period_s seconds has been open for at
    least `after` and at most `latest` seconds (default: until 1 s before its end); returns the
    window's index. Windows start when unix time is a multiple of the period."""
    if latest is None:
        latest = max(after, period_s - 1.0)
    while True:
        now = time.time()
        pos = now % period_s
        if after <= pos <= latest:
            return int(now // period_s)
        wait = (after - pos) if pos < after else (period_s - pos + after)
        time.sleep(max(0.001, wait))


def window_of(t, period_s):
    return int(t // period_s)


def rl_headers(r):
    """(limit, remaining, reset) of the RateLimit-* headers as ints (None when missing)."""
    def num(name):
        v = r.header(name)
        return None if v is None else int(v)
    return num("ratelimit-limit"), num("ratelimit-remaining"), num("ratelimit-reset")


def assert_limited(r, limit=None, period_s=None, max_retry=None):
    """A 429 of the rate limiter: JSON body, Retry-After >= 1 (and <= max_retry, default
    period_s) and the RateLimit headers."""
    assert r.status == 429, r
    assert r.header("x-backend") is None, f"answered by the upstream, not the limiter: {r!r}"
    body = r.json()
    assert {k: body.get(k) for k in LIMITED_BODY} == LIMITED_BODY, body
    ra = r.header("retry-after")
    assert ra is not None and re.fullmatch(r"[0-9]+", ra) and int(ra) >= 1, r
    lim, rem, reset = rl_headers(r)
    assert rem == 0, r
    assert reset is not None and reset >= 0, r
    if limit is not None:
        assert lim == limit, r
    if period_s is not None:
        assert int(ra) <= (max_retry or period_s), r
        assert r.header("ratelimit-policy") == f"{limit};w={period_s}", r
    return int(ra)


class Burst:
    """Sends `total` requests over `clients` keep-alive connections per port (threads), as fast
    as they go, and counts the statuses. ports: one port or a list (the clients are spread over
    them). headers: dict or a function of the request number. Records the wall-clock times of
    the first send and the last response (t_start, t_end) and per-request latencies."""

    def __init__(self, ports, total, clients, headers, path="/api/x"):
        self.ports = ports if isinstance(ports, list) else [ports]
        self.total = total
        self.clients = clients
        self.headers = headers
        self.path = path
        self.statuses = {}
        self.errors = []
        self.samples = []  # one 429 and one 200 kept for header checks
        self.max_latency = 0.0
        self.reconnects = 0
        self.lock = threading.Lock()
        self.next = 0

    def _take(self):
        with self.lock:
            if self.next >= self.total:
                return None
            self.next += 1
            return self.next - 1

    def _run(self, port):
        c = None
        try:
            while True:
                i = self._take()
                if i is None:
                    return
                h = self.headers(i) if callable(self.headers) else self.headers
                if c is None:
                    c = Client(port, timeout=10)
                t0 = time.monotonic()
                try:
                    r = c.request("GET", self.path, headers=h)
                except (ConnectionClosed, OSError, AssertionError) as e:
                    with self.lock:
                        self.errors.append(f"request {i} on port {port}: {e!r}")
                    c.close()
                    c = None
                    continue
                dt = time.monotonic() - t0
                with self.lock:
                    self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                    self.max_latency = max(self.max_latency, dt)
                    if not any(s.status == r.status for s in self.samples):
                        self.samples.append(r)
                if "close" in r.tokens("connection"):
                    c.close()
                    c = None
                    with self.lock:
                        self.reconnects += 1
        finally:
            if c is not None:
                c.close()

    def run(self):
        threads = [threading.Thread(target=self._run, args=(self.ports[k % len(self.ports)],),
                                    daemon=True)
                   for k in range(self.clients * len(self.ports))]
        self.t_start = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.t_end = time.time()
        assert not any(t.is_alive() for t in threads), "burst clients still running after 120 s"
        return self

    def count(self, status):
        return self.statuses.get(status, 0)

    def sample(self, status):
        for r in self.samples:
            if r.status == status:
                return r
        return None

    @property
    def elapsed(self):
        return self.t_end - self.t_start


def burst_in_one_window(ports, period_s, total, clients, key_prefix="burst", attempts=2):
    """Aligns to >= 1 s after a window start (and >= 5 s before its end; the retry starts 1 s
    after the next boundary), then sends a Burst with one fresh x-api-key; retries with a fresh
    key when the burst crossed a window boundary. Returns (burst, key)."""
    for attempt in range(attempts):
        if attempt == 0:
            wait_window_room(period_s, after=1.0, latest=period_s - 5.0)
        else:
            wait_window_room(period_s, after=1.0, latest=1.5)
        key = unique(key_prefix)
        b = Burst(ports, total, clients, {"x-api-key": key}).run()
        if window_of(b.t_start, period_s) == window_of(b.t_end, period_s):
            return b, key
        print(f"\nburst of {total} took {b.elapsed:.2f}s and crossed a {period_s}s window "
              f"boundary; retrying with a new key")
    pytest.fail(f"could not send {total} requests inside one {period_s}s window "
                f"(last took {b.elapsed:.2f}s)")


def metrics_text(gw):
    status, _, body = gw.admin("GET", "/metrics")
    assert status == 200, (status, body)
    return body.decode() if isinstance(body, bytes) else body


def metric_sum(text, name, **labels):
    """Sum of the matching samples (so per-worker series add up); None when there is none."""
    vals = samples(text, name, **labels)
    return sum(vals) if vals else None


def decisions(gw, route="api", name="per-key"):
    text = metrics_text(gw)
    return {res: metric_sum(text, "sluice_rate_limit_decisions_total", route=route,
                            policy=name, result=res) or 0
            for res in ("allowed", "denied", "error")}


# ---------------------------------------------------------------------------------------------
# 1. the admitted count of a fixed window under concurrent load, two workers


def test_fixed_window_admits_the_limit_under_concurrent_load_on_two_workers(backend, sluice):
    be = backend()
    gw = sluice(rl_config(be, [policy(limit=1000, period="10s")], workers=2))
    b, key = burst_in_one_window(gw.port, 10, total=3000, clients=8)
    ok, limited = b.count(200), b.count(429)
    err = (ok - 1000) / 1000
    print(f"\nlocal fixed window, 2 workers, 8 clients: admitted {ok} of 1000 "
          f"(error {err:+.2%}), {limited} answered 429, in {b.elapsed:.2f}s, "
          f"max latency {b.max_latency * 1000:.1f} ms, statuses {b.statuses}")
    assert not b.errors, b.errors[:10]
    assert set(b.statuses) <= {200, 429}, b.statuses
    assert ok + limited == 3000
    assert abs(ok - 1000) <= 10, f"admitted {ok}, expected 1000 (within 1%)"
    assert_limited(b.sample(429), limit=1000, period_s=10)
    lim, rem, reset = rl_headers(b.sample(200))
    assert lim == 1000 and 0 <= rem < 1000 and 0 <= reset <= 10, b.sample(200)
    d = decisions(gw)
    assert d["allowed"] == ok and d["denied"] == limited, d


# ---------------------------------------------------------------------------------------------
# 2. headers on allowed and denied responses; token bucket refill


def test_ratelimit_headers_and_429(backend, sluice):
    be = backend()
    gw = sluice(rl_config(be, [policy(limit=5, period="60s")], routes=[
        ("tb", "/tb/{*rest}", [policy(name="bucket", algorithm="token_bucket", limit=2,
                                      period="1s", burst=2)])]))
    wait_window_room(60, latest=48)
    key = unique()
    with Client(gw.port) as c:
        for i in range(5):
            # the 5th is an upstream error: the headers are on every response of the route
            path = "/api/x?status=503" if i == 4 else "/api/x"
            t = time.time()
            r = c.request("GET", path, headers={"x-api-key": key})
            assert r.status == (503 if i == 4 else 200), r
            assert r.header("x-backend") == "echo", r
            lim, rem, reset = rl_headers(r)
            assert (lim, rem) == (5, 4 - i), r
            window_left = 60 - t % 60
            assert 0 <= reset <= 60 and abs(reset - window_left) <= 1.5, (reset, window_left, r)
            assert r.header("ratelimit-policy") == "5;w=60", r
        r = c.request("GET", "/api/x", headers={"x-api-key": key})
        retry_after = assert_limited(r, limit=5, period_s=60)
        print(f"\n6th request: 429, Retry-After {retry_after}, "
              f"RateLimit-Reset {r.header('ratelimit-reset')}")
        assert abs(retry_after - (60 - time.time() % 60)) <= 1.5, r

        # token bucket: 2 tokens, 2 per second
        tb = [c.request("GET", "/tb/x", headers={"x-api-key": key}) for _ in range(3)]
        assert [x.status for x in tb] == [200, 200, 429], tb
        assert [rl_headers(x)[:2] for x in tb[:2]] == [(2, 1), (2, 0)], tb
        assert tb[0].header("ratelimit-policy") == "2;w=1", tb[0]
        assert_limited(tb[2], limit=2, period_s=1)
        time.sleep(0.6)
        r = c.request("GET", "/tb/x", headers={"x-api-key": key})
        assert r.status == 200, f"a token should be back after 0.6 s (1 per 0.5 s): {r!r}"


def test_most_restrictive_policy_sets_the_headers(backend, sluice):
    be = backend()
    gw = sluice(rl_config(be, [policy(limit=10, period="60s"),
                               policy(name="route", key="route", limit=3, period="120s")]))
    wait_window_room(120, latest=100)
    key = unique()
    with Client(gw.port) as c:
        r = c.request("GET", "/api/x", headers={"x-api-key": key})
        assert r.status == 200, r
        assert rl_headers(r)[:2] == (3, 2) and r.header("ratelimit-policy") == "3;w=120", r
        # without the header only the route-wide policy applies
        r = c.request("GET", "/api/x")
        assert r.status == 200 and rl_headers(r)[:2] == (3, 1), r
        r = c.request("GET", "/api/x", headers={"x-api-key": key})
        assert r.status == 200 and rl_headers(r)[:2] == (3, 0), r
        r = c.request("GET", "/api/x", headers={"x-api-key": unique()})
        assert_limited(r, limit=3, period_s=120)


# ---------------------------------------------------------------------------------------------
# 3. absent keys are not limited; keys are independent


def test_absent_key_is_not_limited_and_keys_are_independent(backend, sluice):
    be = backend()
    gw = sluice(rl_config(be, [policy(limit=3, period="60s")], routes=[
        ("q", "/q/{*rest}", [policy(name="per-user", key="query:user", limit=2,
                                    period="60s")])]))
    wait_window_room(60, latest=50)
    a, b = unique("a"), unique("b")
    with Client(gw.port) as c:
        absent = [c.request("GET", "/api/x").status for _ in range(30)]
        assert absent == [200] * 30, f"requests without x-api-key were limited: {absent}"
        sa = [c.request("GET", "/api/x", headers={"x-api-key": a}).status for _ in range(4)]
        sb = [c.request("GET", "/api/x", headers={"x-api-key": b}).status for _ in range(4)]
        assert sa == [200, 200, 200, 429], sa
        assert sb == [200, 200, 200, 429], sb
        absent = [c.request("GET", "/api/x").status for _ in range(5)]
        assert absent == [200] * 5, absent

        qx = [c.request("GET", f"/q/x?user={a}").status for _ in range(3)]
        qy = [c.request("GET", f"/q/x?other=1&user={b}").status for _ in range(3)]
        assert qx == [200, 200, 429], qx
        assert qy == [200, 200, 429], qy
        noq = [c.request("GET", "/q/x?other=1").status for _ in range(10)]
        assert noq == [200] * 10, f"requests without ?user= were limited: {noq}"


# ---------------------------------------------------------------------------------------------
# 4. client_ip and X-Forwarded-For from trusted proxies only


def xff_statuses(port, xff, n):
    out = []
    for _ in range(n):
        h = {"x-forwarded-for": xff} if xff is not None else None
        out.append(request(port, "GET", "/api/x", headers=h).status)
    return out


def test_client_ip_key_honours_xff_only_from_trusted_proxies(backend, sluice):
    be = backend()
    ip_policy = [policy(name="per-ip", key="client_ip", limit=3, period="60s")]
    trusted = sluice(rl_config(be, ip_policy, top="client_ip:\n  trusted_proxies: [127.0.0.1/32]"))
    untrusted = sluice(rl_config(be, ip_policy,
                                 top="client_ip:\n  trusted_proxies: [127.0.0.2/32]"))
    wait_window_room(60, latest=45)

    # peer 127.0.0.1 is a trusted proxy: the client is the rightmost untrusted XFF address
    assert xff_statuses(trusted.port, "203.0.113.5", 4) == [200, 200, 200, 429]
    assert xff_statuses(trusted.port, "203.0.113.6", 3) == [200, 200, 200], \
        "203.0.113.6 shares the limit of 203.0.113.5"
    # trusted hops on the right are skipped; a spoofed address on the left is not the client
    assert xff_statuses(trusted.port, "203.0.113.6, 127.0.0.1", 1) == [429], \
        "trusted hop 127.0.0.1 on the right was not skipped (client should be 203.0.113.6)"
    assert xff_statuses(trusted.port, "198.51.100.7, 203.0.113.5", 1) == [429], \
        "the leftmost (client-supplied) XFF entry was taken as the client"
    # without XFF the peer itself is the client, a key of its own
    assert xff_statuses(trusted.port, None, 3) == [200, 200, 200]

    # peer 127.0.0.1 is not trusted: XFF is ignored, every request is the peer's
    got = [xff_statuses(untrusted.port, f"203.0.113.{10 + i}", 1)[0] for i in range(4)]
    assert got == [200, 200, 200, 429], \
        f"X-Forwarded-For from an untrusted peer was honoured: {got}"
    assert xff_statuses(untrusted.port, None, 1) == [429]


# ---------------------------------------------------------------------------------------------
# 5. a reload keeps the counters


def test_reload_keeps_counters_of_existing_keys(backend, sluice):
    be = backend()
    gw = sluice(rl_config(be, [policy(limit=10, period="60s")]))
    wait_window_room(60, latest=40)
    key = unique()
    with Client(gw.port) as c:
        for i in range(8):
            r = c.request("GET", "/api/x", headers={"x-api-key": key})
            assert r.status == 200, r
        assert rl_headers(r)[:2] == (10, 2), r
    status, body = gw.reload(rl_config(be, [policy(limit=20, period="60s")]))
    assert status == 200 and body.get("ok") is True, (status, body)
    with Client(gw.port) as c:
        r = c.request("GET", "/api/x", headers={"x-api-key": key})
        assert r.status == 200, r
        lim, rem, _ = rl_headers(r)
        print(f"\nafter 8 of 10 and a reload to 20: Limit {lim}, Remaining {rem} (expected 11)")
        assert (lim, rem) == (20, 11), f"the reload did not keep the key's counter: {r!r}"
        assert r.header("ratelimit-policy") == "20;w=60", r


# ---------------------------------------------------------------------------------------------
# 6. max_keys eviction and the decision counters


def test_max_keys_evicts_and_decisions_are_counted(backend, sluice):
    be = backend()
    gw = sluice(rl_config(be, [policy(limit=2, period="60s", max_keys=10)]))
    wait_window_room(60, latest=40)
    sent = {200: 0, 429: 0}
    with Client(gw.port) as c:
        for k in range(100):
            key = unique(f"k{k}")
            for _ in range(3):
                r = c.request("GET", "/api/x", headers={"x-api-key": key})
                assert r.status in (200, 429), r
                sent[r.status] += 1
    text = metrics_text(gw)
    ev = metric_sum(text, "sluice_rate_limit_evictions_total", route="api", policy="per-key")
    keys = metric_sum(text, "sluice_rate_limit_keys", route="api", policy="per-key")
    d = decisions(gw)
    print(f"\nmax_keys 10, 100 keys x 3 requests: statuses {sent}, evictions {ev}, keys {keys}, "
          f"decisions {d}")
    # each key's 3 requests are back to back, so eviction never splits a key's count
    assert sent == {200: 200, 429: 100}, sent
    assert ev is not None and ev > 0, "sluice_rate_limit_evictions_total missing or 0"
    assert keys is not None and 0 < keys <= 100, keys
    assert d["allowed"] + d["denied"] + d["error"] == 300, d
    assert (d["allowed"], d["denied"], d["error"]) == (200, 100, 0), d


# ---------------------------------------------------------------------------------------------
# 7. sliding window


def test_sliding_window_admits_the_limit_then_429(backend, sluice):
    be = backend()
    gw = sluice(rl_config(be, [policy(algorithm="sliding_window", limit=10, period="2s")]))
    wait_window_room(2, latest=0.8)
    key = unique()
    with Client(gw.port) as c:
        got = [c.request("GET", "/api/x", headers={"x-api-key": key}) for _ in range(11)]
        assert [r.status for r in got] == [200] * 10 + [429], [r.status for r in got]
        assert [rl_headers(r)[1] for r in got[:10]] == list(range(9, -1, -1)), got
        # the sliding counter weighs the previous window: after 10 in this window, the 11th
        # passes ~10% into the next one, up to 2.2 s away, so Retry-After may be 3
        retry_after = assert_limited(got[10], limit=10, period_s=2, max_retry=3)
        print(f"\nsliding window 10 per 2 s: 11th request 429, Retry-After {retry_after}")
        time.sleep(retry_after + 0.1)
        r = c.request("GET", "/api/x", headers={"x-api-key": key})
        assert r.status == 200, f"still limited {retry_after}s later (Retry-After): {r!r}"
