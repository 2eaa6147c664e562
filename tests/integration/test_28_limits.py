"""Upstream limits under `breaker:`: max_connections answers 503 at once when every allowed
connection is busy (and the pooled connection is reused afterwards), max_pending answers 503 at
once when a connection attempt is already waiting, and per_target gives each target a breaker of
its own, so that one failing target is taken out while the upstream keeps serving."""

import select
import socket
import threading
import time

import pytest

from harness import (Client, admin_target, admin_upstream, pool_config, request, wait_for)

LIMIT_503 = {"status": 503, "error": "upstream connection limit reached"}


def assert_limit_503(r):
    assert r.status == 503, r
    assert r.header("x-backend") is None, f"answered by the target, not the limit: {r!r}"
    assert r.json() == LIMIT_503, r


def test_max_connections_rejects_at_once_and_reuses_the_pooled_connection(backend, sluice):
    be = backend(name="slow")
    gw = sluice(pool_config([be.address], upstream="breaker: {max_connections: 1}", workers=1))
    first = {}

    def slow_first():
        t0 = time.monotonic()
        first["r"] = request(gw.port, "GET", "/first?delay_ms=800")
        first["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=slow_first, daemon=True)
    t.start()
    try:
        wait_for(lambda: be.stats()["heads"] == 1, 2.0, what="the first request in flight")
        assert admin_upstream(gw, "pool")["connections"] == 1
        t0 = time.monotonic()
        r = request(gw.port, "GET", "/second?delay_ms=800")
        elapsed = time.monotonic() - t0
        print(f"\nmax_connections 1: second concurrent request answered {r.status} "
              f"in {elapsed * 1000:.1f} ms")
        assert_limit_503(r)
        assert elapsed < 0.2, elapsed
        assert be.stats()["heads"] == 1, "the rejected request reached the backend"
    finally:
        t.join(5)
    assert first["r"].status == 200 and first["r"].json()["backend"] == "slow", first
    assert first["elapsed"] >= 0.75, first

    # The connection of the first request is now idle in the pool: the next request reuses it
    # (a new one would be over the limit and answered 503).
    wait_for(lambda: admin_upstream(gw, "pool")["active"] == 0, 2.0,
             what="the first request to finish")
    u = admin_upstream(gw, "pool")
    assert u["connections"] == 1, u
    conns_before = be.stats()["connections"]  # each /__stats call opens one connection
    r = request(gw.port, "GET", "/third")
    assert r.status == 200 and r.json()["backend"] == "slow", r
    assert be.stats()["connections"] == conns_before + 1, "the third request opened a connection"
    assert be.stats()["heads"] == 2

    u = admin_upstream(gw, "pool")
    assert u["rejected"] >= 1, u
    assert u["connections"] == 1, u


# max_pending ----------------------------------------------------------------------------------


def _writable(sock, timeout):
    _, w, _ = select.select([], [sock], [], timeout)
    return bool(w)


def _full_backlog_listener():
    """A listener with backlog 0 that never accepts, its queue filled by two raw connections:
    a further connect to it stays in SYN-SENT. Returns (listener, fillers); skips the test when
    this kernel completes the handshake anyway."""
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    fillers = []
    try:
        for _ in range(2):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            fillers.append(c)
            c.connect_ex(("127.0.0.1", port))
            _writable(c, 0.3)
        # With backlog 0 Linux queues one connection; the second one's SYN must be dropped.
        if _writable(fillers[-1], 0.3):
            pytest.skip("a connect to a listener whose backlog (0) is full still completes "
                        "on this kernel: no way to hold an upstream connect pending on loopback")
    except BaseException:
        for c in fillers:
            c.close()
        lst.close()
        raise
    return lst, fillers


def test_max_pending_rejects_while_a_connect_is_pending(sluice):
    lst, fillers = _full_backlog_listener()
    address = "127.0.0.1:%d" % lst.getsockname()[1]
    try:
        gw = sluice(pool_config([address], workers=1, upstream=(
            "connect_timeout: 1s\nbreaker: {max_pending: 1}\noutlier: off")))
        first = {}

        def pending_first():
            t0 = time.monotonic()
            first["r"] = request(gw.port, "GET", "/first")
            first["elapsed"] = time.monotonic() - t0

        t = threading.Thread(target=pending_first, daemon=True)
        t.start()
        try:
            wait_for(lambda: admin_upstream(gw, "pool")["pending"] == 1, 0.8,
                     what="the first request's connect to be pending")
            t0 = time.monotonic()
            r = request(gw.port, "GET", "/second")
            elapsed = time.monotonic() - t0
            print(f"\nmax_pending 1: second request answered {r.status} {r.body!r} "
                  f"in {elapsed * 1000:.1f} ms")
            assert_limit_503(r)
            assert elapsed < 0.2, elapsed
        finally:
            t.join(5)
        r = first["r"]
        assert r.status == 503 and r.json() == {"status": 503,
                                                "error": "upstream connect timeout"}, r
        assert 0.8 <= first["elapsed"] < 2.0, first
        wait_for(lambda: admin_upstream(gw, "pool")["pending"] == 0, 2.0,
                 what="no connect pending")
    finally:
        for c in fillers:
            c.close()
        lst.close()


# per-target breaker ---------------------------------------------------------------------------

# error_rate 75 %, not 50 %: the upstream-level breaker (present with per_target too, same
# settings) sees the 500-target's errors alternate with the healthy target's successes, 50 %,
# which would open it at min_requests.
PER_TARGET = ("breaker: {per_target: true, error_rate: 75%, min_requests: 4, window: 2s, "
              "open: 1s}\noutlier: off")


def test_per_target_breaker_takes_out_only_the_failing_target(stub, backend, sluice):
    bad = stub(name="bad", status=500)
    good = backend(name="good")
    gw = sluice(pool_config([bad.address, good.address], upstream=PER_TARGET, workers=1))

    def states():
        u = admin_upstream(gw, "pool")
        return (admin_target(gw, "pool", bad.address)["breaker"],
                admin_target(gw, "pool", good.address)["breaker"],
                (u["breaker"] or {}).get("state"))

    assert states() == ("closed", "closed", "closed")
    with Client(gw.port) as c:
        # round robin: bad and good alternate; the bad target's breaker opens on its 4th error
        t_open = None
        for i in range(12):
            r = c.request("GET", f"/p/{i}")
            assert r.status in (200, 500), (i, r)
            assert r.header("x-backend") == ("bad" if r.status == 500 else "good"), (i, r)
            if states()[0] == "open":
                t_open = time.monotonic()
                break
        assert t_open is not None, f"bad target's breaker never opened: {states()}"
        assert bad.hits == 4, bad.hits
        bad_state, good_state, up_state = states()
        assert good_state == "closed", states()
        assert up_state != "open", f"the upstream-level breaker opened: {states()}"

        # while open: everything goes to the healthy target, the bad one gets nothing
        for i in range(10):
            r = c.request("GET", f"/open/{i}")
            assert r.status == 200 and r.header("x-backend") == "good", (i, r)
        assert bad.hits == 4, f"bad target got {bad.hits - 4} requests while its breaker was open"
        assert time.monotonic() - t_open < 0.9, "test too slow: the breaker may have half-opened"
        assert states() == ("open", "closed", "closed"), states()

        # after open (1 s): the bad target gets one probe; it fails, so its breaker re-opens
        time.sleep(max(0.0, t_open + 1.1 - time.monotonic()))
        assert states()[0] == "half_open", states()
        probe = None
        for i in range(4):
            r = c.request("GET", f"/probe/{i}")
            if r.header("x-backend") == "bad":
                assert r.status == 500, r
                probe = i
                break
            assert r.status == 200 and r.header("x-backend") == "good", (i, r)
        assert probe is not None, "the bad target got no probe after `open`"
        assert bad.hits == 5, bad.hits
        assert states()[0] == "open", states()
        for i in range(6):
            r = c.request("GET", f"/reopened/{i}")
            assert r.status == 200 and r.header("x-backend") == "good", (i, r)
        assert bad.hits == 5, bad.hits
        assert states()[1:] == ("closed", "closed"), states()
