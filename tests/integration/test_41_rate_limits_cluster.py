"""Cluster-wide rate limits (`scope: cluster`, leased from Redis) through the real binary: several
sluice instances sharing one redis-server admit the limit within a few percent and never more,
`exact: true` admits exactly the limit, and a Redis crash is handled by `on_error` (allow: every
request passes, none hangs; deny: 503 "rate limit store unavailable" with Retry-After: 1 within
the command timeout) and limiting comes back by itself when Redis returns. Also the RedisServer
helper of harness.py on its own."""

import threading
import time

import pytest

from harness import Client, ConnectionClosed, RedisError, request, wait_for
from test_40_rate_limits import (Burst, burst_in_one_window, decisions, metric_sum,
                                 metrics_text, policy, rl_config, samples, unique,
                                 wait_window_room)

PREFIX = "itest:rl:"
UNAVAILABLE = {"status": 503, "error": "rate limit store unavailable"}


def redis_top(redis, on_error="allow", extra=""):
    return (f"redis:\n  address: {redis.address}\n  on_error: {on_error}\n"
            f"  connect_timeout: 500ms\n  command_timeout: 200ms\n  key_prefix: \"{PREFIX}\"\n"
            + extra)


def cluster_policy(**kw):
    kw.setdefault("scope", "cluster")
    return policy(**kw)


def redis_keys(redis, db=None):
    return redis.command("KEYS", PREFIX + "*", db=db)


def connected(gw):
    """sum of sluice_redis_connected (one 0/1 sample per worker); None when missing."""
    return metric_sum(metrics_text(gw), "sluice_redis_connected")


def all_connected(gw):
    """True when every worker's sluice_redis_connected sample is 1."""
    vals = samples(metrics_text(gw), "sluice_redis_connected")
    return bool(vals) and min(vals) >= 1


def settle(*gws):
    """Gives each instance's Redis clients time to connect (in the background after start):
    with on_error allow, a request decided before that would be admitted without a lease.
    Waits for every worker's sluice_redis_connected to be 1 (at most 2 s in all: a worker
    that connects only on its first request never gets there), then 0.5 s more."""
    deadline = time.monotonic() + 2
    for g in gws:
        while not all_connected(g) and time.monotonic() < deadline:
            time.sleep(0.05)
    time.sleep(0.5)


# ---------------------------------------------------------------------------------------------
# the helper


def test_redis_server_helper_starts_kills_and_restarts(redis_server):
    redis = redis_server()
    assert redis.address == f"127.0.0.1:{redis.port}"
    assert redis.command("PING") == "PONG"
    assert redis.command("SET", "a", "1") == "OK"
    assert redis.command("INCRBY", "a", 41) == 42
    assert redis.command("GET", "a") == b"42"
    assert redis.command("GET", "missing") is None
    assert redis.command("RPUSH", "l", "x", "y") == 2
    assert redis.command("LRANGE", "l", 0, -1) == [b"x", b"y"]
    with pytest.raises(RedisError):
        redis.command("INCR", "l")
    assert redis.command("SET", "in2", "v", db=2) == "OK"
    assert redis.command("GET", "in2") is None
    assert redis.command("GET", "in2", db=2) == b"v"
    pid = redis.proc.pid
    redis.stop()
    assert not redis.running
    with pytest.raises(OSError):
        redis.command("PING", timeout=1)
    redis.start()
    assert redis.proc.pid != pid and redis.running
    assert redis.command("GET", "a") is None, "nothing should persist across a restart"
    secured = redis_server(args=("--requirepass", "s3cret"), password="s3cret")
    assert secured.command("PING") == "PONG"


# ---------------------------------------------------------------------------------------------
# 8. three instances share one limit


def test_three_instances_share_the_limit(backend, sluice, redis_server):
    redis = redis_server()
    be = backend()
    text = rl_config(be, [cluster_policy(limit=3000, period="10s")], workers=2,
                     top=redis_top(redis))
    gws = [sluice(text) for _ in range(3)]
    settle(*gws)
    b, key = burst_in_one_window([g.port for g in gws], 10, total=9000, clients=4)
    ok, limited = b.count(200), b.count(429)
    err = (ok - 3000) / 3000
    print(f"\ncluster admitted {ok} of 3000: error {err:+.2%} ({limited} answered 429, "
          f"{b.elapsed:.2f}s, max latency {b.max_latency * 1000:.1f} ms, statuses {b.statuses})")
    for i, g in enumerate(gws):
        print(f"  instance {i}: decisions {decisions(g)}")
    assert not b.errors, b.errors[:10]
    assert set(b.statuses) <= {200, 429}, b.statuses
    assert ok <= 3030, f"the cluster admitted {ok}, over the limit 3000 (+1%)"
    assert ok >= 2850, f"the cluster admitted {ok}, more than 5% under the limit 3000"
    keys = redis_keys(redis)
    assert any(key.encode() in k for k in keys), f"no Redis key for {key} under {PREFIX}: {keys}"


# ---------------------------------------------------------------------------------------------
# 9. exact mode


def test_exact_mode_admits_exactly_the_limit_across_two_instances(backend, sluice, redis_server):
    redis = redis_server()
    be = backend()
    text = rl_config(be, [cluster_policy(limit=50, period="60s", exact=True)], workers=2,
                     top=redis_top(redis))
    gws = [sluice(text) for _ in range(2)]
    settle(*gws)
    wait_window_room(60, latest=40)
    b = Burst([g.port for g in gws], 150, 3, {"x-api-key": unique()}).run()
    per = [decisions(g) for g in gws]
    print(f"\nexact mode, 2 instances: admitted {b.count(200)} of 50, statuses {b.statuses}, "
          f"decisions per instance {per}")
    assert not b.errors, b.errors[:10]
    assert b.statuses == {200: 50, 429: 100}, f"{b.statuses}; decisions per instance {per}"


def test_password_db_and_key_prefix(backend, sluice, redis_server):
    redis = redis_server(args=("--requirepass", "s3cret"), password="s3cret")
    be = backend()
    gw = sluice(rl_config(be, [cluster_policy(limit=5, period="60s")], top=redis_top(
        redis, extra="  password: s3cret\n  db: 2\n")))
    settle(gw)
    wait_window_room(60, latest=45)
    key = unique()
    with Client(gw.port) as c:
        got = [c.request("GET", "/api/x", headers={"x-api-key": key}).status for _ in range(12)]
    # one connection, one worker: its leases are used up, and never more than the limit passes
    assert got[0] == 200 and 429 in got and 4 <= got.count(200) <= 5, \
        f"{got}; decisions {decisions(gw)}"
    in_db2 = redis_keys(redis, db=2)
    assert any(key.encode() in k for k in in_db2), f"no key for {key} in db 2: {in_db2}"
    assert redis_keys(redis, db=0) == [], "keys written to db 0 instead of db 2"


# ---------------------------------------------------------------------------------------------
# 10-12. Redis down and back


class Load(threading.Thread):
    """Sends GET /api/x with x-api-key `key` every `interval` seconds on a keep-alive connection
    (a new one after a close or an error) and records (wall time, status or error, latency)."""

    def __init__(self, port, key, interval=0.05):
        super().__init__(daemon=True)
        self.port, self.key, self.interval = port, key, interval
        self.stop = threading.Event()
        self.results = []
        self.lock = threading.Lock()

    def run(self):
        c = None
        while not self.stop.is_set():
            t0 = time.monotonic()
            t_wall = time.time()
            try:
                if c is None:
                    c = Client(self.port, timeout=5)
                r = c.request("GET", "/api/x", headers={"x-api-key": self.key})
                outcome = r.status
                if "close" in r.tokens("connection"):
                    c.close()
                    c = None
            except (ConnectionClosed, OSError, AssertionError) as e:
                outcome = repr(e)
                if c is not None:
                    c.close()
                c = None
            with self.lock:
                self.results.append((t_wall, outcome, time.monotonic() - t0))
            self.stop.wait(self.interval)
        if c is not None:
            c.close()

    def since(self, t_wall):
        with self.lock:
            return [x for x in self.results if x[0] >= t_wall]

    def finish(self):
        self.stop.set()
        self.join(10)


def summary(results):
    out = {}
    for _, outcome, _ in results:
        out[outcome] = out.get(outcome, 0) + 1
    return out


def test_redis_crash_fails_open_and_limiting_resumes(backend, sluice, redis_server):
    redis = redis_server()
    be = backend()
    gw = sluice(rl_config(be, [cluster_policy(limit=20, period="10s")], workers=2,
                          top=redis_top(redis, on_error="allow")))
    settle(gw)
    wait_window_room(10, after=1.0, latest=2.0)
    load = Load(gw.port, unique(), interval=0.05)  # <= 20 requests a second
    load.start()
    try:
        time.sleep(0.4)  # <= 8 requests: under the limit
        before = summary(load.results)
        assert before and set(before) == {200}, f"before the crash: {before}"

        t_kill = time.time()
        redis.stop()
        time.sleep(2.5)  # ~50 requests in this window, over the limit 20: all must pass
        down = load.since(t_kill)
        slow = max(x[2] for x in down)
        print(f"\nRedis down 2.5 s, on_error allow: {summary(down)}, max latency "
              f"{slow * 1000:.1f} ms")
        assert summary(down) == {200: len(down)}, f"not all 200 while Redis was down: " \
            f"{summary(down)}"
        assert len(down) >= 25, f"only {len(down)} requests in 2.5 s: the load stalled"
        assert slow < 1.0, f"a request took {slow:.2f}s while Redis was down"

        t_back = time.time()
        redis.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any(x[1] == 429 for x in load.since(t_back)):
                break
            time.sleep(0.05)
        after = load.since(t_back)
        first_429 = next((x[0] - t_back for x in after if x[1] == 429), None)
        print(f"Redis back: first 429 after {first_429}s; {summary(after)}")
        assert first_429 is not None, f"no 429 within 10 s of Redis coming back: " \
            f"{summary(after)}"
        assert set(summary(after)) <= {200, 429}, summary(after)
        assert max(x[2] for x in after) < 1.0, "a request took over 1 s after the restart"
    finally:
        load.finish()


def test_redis_crash_with_on_error_deny_answers_503(backend, sluice, redis_server):
    redis = redis_server()
    be = backend()
    gw = sluice(rl_config(be, [cluster_policy(limit=1000, period="10s")], workers=2,
                          top=redis_top(redis, on_error="deny")))
    settle(gw)
    wait_for(lambda: request(gw.port, "GET", "/api/x",
                             headers={"x-api-key": unique()}).status == 200,
             5.0, interval=0.1, what="a 200 with Redis up")
    got = [request(gw.port, "GET", "/api/x", headers={"x-api-key": unique()}).status
           for _ in range(4)]
    assert got == [200] * 4, f"with Redis up (both workers): {got}"
    redis.stop()
    latencies = []
    for i in range(10):
        t0 = time.monotonic()
        r = request(gw.port, "GET", "/api/x", headers={"x-api-key": unique()}, timeout=5)
        latencies.append(time.monotonic() - t0)
        assert r.status == 503, f"request {i} with Redis down: {r!r}"
        assert r.header("x-backend") is None, r
        body = r.json()
        assert {k: body.get(k) for k in UNAVAILABLE} == UNAVAILABLE, body
        assert r.header("retry-after") == "1", r
    print(f"\nRedis down, on_error deny: 10 x 503, latencies "
          f"{[round(x * 1000, 1) for x in latencies]} ms")
    assert max(latencies) < 1.0, latencies

    redis.start()
    t0 = time.monotonic()
    wait_for(lambda: request(gw.port, "GET", "/api/x",
                             headers={"x-api-key": unique()}).status == 200,
             10.0, interval=0.1, what="a 200 after Redis came back")
    first = time.monotonic() - t0
    # Each worker reconnects on its own back-off (jittered, <= 5 s): the first 200 proves one
    # worker is back, not both; the decisive check is that every worker's connection is up.
    wait_for(lambda: all_connected(gw), 10.0, interval=0.1,
             what="sluice_redis_connected 1 on every worker after Redis came back")
    print(f"Redis back: first 200 after {first:.2f}s, every worker connected after "
          f"{time.monotonic() - t0:.2f}s")
    got = [request(gw.port, "GET", "/api/x", headers={"x-api-key": unique()}).status
           for _ in range(6)]
    assert got == [200] * 6, f"with Redis back (both workers): {got}"


def test_metrics_count_store_errors_and_connection_state(backend, sluice, redis_server):
    redis = redis_server()
    be = backend()
    gw = sluice(rl_config(be, [cluster_policy(limit=1000, period="10s")], workers=2,
                          top=redis_top(redis, on_error="allow")))
    settle(gw)
    for _ in range(5):
        assert request(gw.port, "GET", "/api/x", headers={"x-api-key": unique()}).status == 200
    wait_for(lambda: (connected(gw) or 0) >= 1, 5.0, what="sluice_redis_connected >= 1")
    before = decisions(gw)

    redis.stop()
    for _ in range(10):  # fresh keys: no lease to spend, every request asks the store
        assert request(gw.port, "GET", "/api/x", headers={"x-api-key": unique()}).status == 200
    wait_for(lambda: connected(gw) == 0, 5.0, what="sluice_redis_connected == 0")
    down = decisions(gw)
    print(f"\ndecisions after 5 requests with Redis up: {before}; after 10 more with Redis "
          f"down: {down}; sluice_redis_connected {connected(gw)}")
    assert down["error"] - before["error"] == 10, (before, down)
    assert down["denied"] == before["denied"], (before, down)

    redis.start()
    # every worker reconnects by itself (back-off <= 5 s), without traffic to prompt it
    wait_for(lambda: all_connected(gw), 10.0, interval=0.1,
             what="sluice_redis_connected 1 on every worker after Redis came back")
    assert (before["allowed"], before["denied"], before["error"]) == (5, 0, 0), \
        f"with Redis up, 5 requests should be 5 allowed decisions: {before}"
