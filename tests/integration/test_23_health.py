"""Passive and active health: outlier ejection after consecutive failures (no traffic while
ejected, back after the ejection time), active health checks (an unhealthy target gets no
traffic, and traffic again soon after it recovers), panic mode (every target unavailable:
traffic goes to all of them rather than a 503, and the log says so)."""

import collections
import time

from harness import Client, pool_config, wait_for

HC = "health_check: {path: /health, interval: 200ms, timeout: 100ms, healthy_threshold: 1, " \
     "unhealthy_threshold: 1, expected_statuses: [200-299]}"


def test_outlier_ejection_and_return(backend, stub, sluice):
    bad = stub(name="bad", status=500)
    good = [backend(name=n) for n in ("a", "b")]
    gw = sluice(pool_config(
        [bad.address] + [b.address for b in good],
        upstream="outlier: {consecutive_failures: 3, base_ejection: 1s, max_ejection: 10s, "
                 "max_ejection_percent: 50}",
        workers=1))
    statuses = collections.Counter()
    with Client(gw.port) as c:
        for i in range(30):
            statuses[c.request("GET", f"/o/{i}").status] += 1
            if bad.hits >= 3:
                break
        t_ejected = time.monotonic()
        assert bad.hits == 3, (bad.hits, statuses)
        assert statuses[500] == 3, statuses
        for i in range(20):
            r = c.request("GET", f"/ejected/{i}")
            assert r.status == 200 and r.header("x-backend") in ("a", "b"), r
        assert bad.hits == 3, f"ejected target got {bad.hits - 3} requests"
        during = 20
        # comes back after the ejection time (1 s)
        t_back = None
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            c.request("GET", "/wait")
            if bad.hits > 3:
                t_back = time.monotonic()
                break
            during += 1
            time.sleep(0.02)
    assert t_back is not None, "ejected target never received traffic again within 3 s"
    back_after = t_back - t_ejected
    print(f"\noutlier: ejected after 3 failures; {during} requests while ejected went "
          f"elsewhere; back after {back_after:.2f}s (base_ejection 1s)")
    assert 0.8 <= back_after <= 2.0, back_after


def test_repeated_ejection_backs_off(backend, stub, sluice):
    bad = stub(name="bad", status=500)
    good = backend(name="good")
    gw = sluice(pool_config([bad.address, good.address], workers=1, upstream=(
        "outlier: {consecutive_failures: 1, base_ejection: 300ms, max_ejection: 10s}")))
    gaps = []
    last_hits, last_t = 0, None
    deadline = time.monotonic() + 4.0
    with Client(gw.port) as c:
        while len(gaps) < 2 and time.monotonic() < deadline:
            c.request("GET", "/x")
            if bad.hits > last_hits:
                now = time.monotonic()
                if last_t is not None:
                    gaps.append(now - last_t)
                last_hits, last_t = bad.hits, now
            time.sleep(0.01)
    print(f"\nejection back-off (base 300ms): back after {[round(g, 2) for g in gaps]}")
    assert len(gaps) == 2, gaps
    assert 0.25 <= gaps[0] <= 0.6, gaps
    assert gaps[1] >= 1.5 * gaps[0] and gaps[1] <= 1.2, gaps


def test_health_check_unhealthy_then_recovers(backend, stub, sluice):
    s = stub(name="s", health_status=503)
    b = backend(name="b")
    gw = sluice(pool_config([s.address, b.address], upstream=HC, workers=1))
    wait_for(lambda: s.health_hits >= 2, 3.0, what="two health checks of the stub")
    h0 = s.hits
    with Client(gw.port) as c:
        for i in range(20):
            r = c.request("GET", f"/hc/{i}")
            assert r.status == 200 and r.header("x-backend") == "b", r
    assert s.hits == h0, f"unhealthy target got {s.hits - h0} requests"
    assert b.stats()["heads"] >= 20
    s.health_status = 200
    t0 = time.monotonic()
    t_back = None
    with Client(gw.port) as c:
        while time.monotonic() - t0 < 3.0:
            c.request("GET", "/recover")
            if s.hits > h0:
                t_back = time.monotonic() - t0
                break
            time.sleep(0.02)
    print(f"\nhealth check: {s.health_hits} checks on /health; recovered target got traffic "
          f"{t_back if t_back is None else round(t_back, 3)}s after /health turned 200")
    assert t_back is not None and t_back <= 1.0, t_back


def test_health_check_timeout_is_unhealthy(backend, stub, sluice):
    s = stub(name="s")
    s.health_delay = 0.5  # over the 100 ms check timeout
    b = backend(name="b")
    gw = sluice(pool_config([s.address, b.address], upstream=HC, workers=1))
    wait_for(lambda: s.health_hits >= 2, 3.0, what="two health checks of the stub")
    time.sleep(0.15)  # the second check has timed out too
    h0 = s.hits
    with Client(gw.port) as c:
        for i in range(10):
            r = c.request("GET", f"/to/{i}")
            assert r.status == 200 and r.header("x-backend") == "b", r
    assert s.hits == h0, f"target whose health check times out got {s.hits - h0} requests"


def test_health_check_path_and_expected_statuses(stub, sluice):
    ok = stub(name="ok", health_status=299)      # inside expected_statuses 200-299
    bad = stub(name="bad", health_status=300)    # outside
    gw = sluice(pool_config([ok.address, bad.address], upstream=HC, workers=1))
    wait_for(lambda: ok.health_hits >= 2 and bad.health_hits >= 2, 3.0,
             what="health checks on /health")
    assert ok.hits == 0 and bad.hits == 0, "health checks went to another path"
    with Client(gw.port) as c:
        for i in range(6):
            r = c.request("GET", f"/x/{i}")
            assert r.status == 200 and r.header("x-backend") == "ok", r
    assert bad.hits == 0 and ok.hits == 6


def test_panic_all_unhealthy(stub, sluice):
    s1 = stub(name="s1", health_status=503)
    s2 = stub(name="s2", health_status=503)
    gw = sluice(pool_config([s1.address, s2.address], upstream=HC, workers=1))
    wait_for(lambda: s1.health_hits >= 2 and s2.health_hits >= 2, 3.0,
             what="two health checks of each target")
    seen = collections.Counter()
    with Client(gw.port) as c:
        for i in range(20):
            r = c.request("GET", f"/panic/{i}")
            assert r.status == 200, f"panic mode should still proxy: {r!r}"
            seen[r.header("x-backend")] += 1
    print(f"\npanic (all unhealthy): 20 requests went to {dict(seen)}")
    assert set(seen) == {"s1", "s2"}, seen
    wait_for(lambda: "panic" in gw.log_tail(20000).lower(), 2.0, what="'panic' in the log")
    # one target healthy again: panic over, only that one gets traffic
    s1.health_status = 200
    with Client(gw.port) as c:
        wait_for(lambda: all(c.request("GET", "/p").header("x-backend") == "s1"
                             for _ in range(4)), 1.5, what="traffic only to the recovered s1")
        h2 = s2.hits
        for i in range(10):
            assert c.request("GET", f"/over/{i}").header("x-backend") == "s1"
    assert s2.hits == h2


def test_panic_all_ejected(stub, sluice):
    s1 = stub(name="s1", status=500)
    s2 = stub(name="s2", status=500)
    gw = sluice(pool_config(
        [s1.address, s2.address],
        upstream="outlier: {consecutive_failures: 1, base_ejection: 10s, "
                 "max_ejection_percent: 100}",
        workers=1))
    with Client(gw.port) as c:
        for i in range(2):  # one failure each: both ejected
            assert c.request("GET", f"/e/{i}").status == 500
        assert s1.hits == 1 and s2.hits == 1
        for i in range(10):
            r = c.request("GET", f"/panic/{i}")
            assert r.status == 500 and r.header("x-backend") in ("s1", "s2"), \
                f"all ejected: expected the targets' own answers, got {r!r}"
    print(f"\npanic (all ejected): s1 {s1.hits} s2 {s2.hits} requests")
    assert s1.hits >= 3 and s2.hits >= 3, (s1.hits, s2.hits)
    wait_for(lambda: "panic" in gw.log_tail(20000).lower(), 2.0, what="'panic' in the log")


def test_max_ejection_percent_caps_ejections(backend, stub, sluice):
    s1, s2 = stub(name="s1", status=500), stub(name="s2", status=500)
    good = backend(name="good")
    gw = sluice(pool_config(
        [s1.address, s2.address, good.address],
        upstream="outlier: {consecutive_failures: 1, base_ejection: 10s, max_ejection_percent: 50}",
        workers=1))
    with Client(gw.port) as c:
        for i in range(30):
            c.request("GET", f"/m/{i}")
    # 50 % of 3 targets: one ejection at most; the other failing target keeps its share
    hits = sorted((s1.hits, s2.hits))
    print(f"\nmax_ejection_percent 50: failing targets got {hits} of 30 requests")
    assert hits[0] == 1 and hits[1] >= 10, hits


def test_outlier_off_never_ejects(stub, backend, sluice):
    bad = stub(name="bad", status=500)
    good = backend(name="good")
    gw = sluice(pool_config([bad.address, good.address], upstream="outlier: off", workers=1))
    with Client(gw.port) as c:
        for i in range(20):
            c.request("GET", f"/n/{i}")
    assert bad.hits == 10, bad.hits


def test_default_outlier_ejects_after_five(stub, backend, sluice):
    bad = stub(name="bad", status=500)
    good = backend(name="good")
    gw = sluice(pool_config([bad.address, good.address], workers=1))
    with Client(gw.port) as c:
        for i in range(30):
            c.request("GET", f"/d/{i}")
    assert bad.hits == 5, f"default outlier (5 failures, 30 s): failing target got {bad.hits}"


def eject_then_recover(stub, backend, sluice, uneject):
    """A target ejected for 30 s (500s, then its health checks fail too) comes back: returns the
    seconds until it got traffic again after its checks passed, or None within 2 s."""
    s = stub(name="s", status=500, health_status=200)
    b = backend(name="b")
    flag = "" if uneject is None else f", uneject_on_health_check: {str(uneject).lower()}"
    gw = sluice(pool_config(
        [s.address, b.address],
        upstream=HC + "\noutlier: {consecutive_failures: 3, base_ejection: 30s, "
                      "max_ejection_percent: 50" + flag + "}", workers=1))
    with Client(gw.port) as c:
        # While its checks still pass the stub gets traffic: three 500s eject it.
        wait_for(lambda: s.health_hits >= 2, 3.0, what="health checks of the stub")
        for i in range(40):
            c.request("GET", f"/e/{i}")
            if s.hits >= 3:
                break
        assert s.hits == 3, s.hits
        s.health_status = 503  # down: its checks fail
        time.sleep(0.5)
        h0 = s.hits
        s.status = 200
        s.health_status = 200  # restarted: checks pass within one interval
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.0:
            r = c.request("GET", "/back")
            assert r.status == 200, r
            if s.hits > h0:
                return time.monotonic() - t0
            time.sleep(0.02)
    return None


def test_a_passing_health_check_ends_an_ejection(backend, stub, sluice):
    back = eject_then_recover(stub, backend, sluice, None)
    print(f"\nejected for 30 s, checks pass again: traffic back after "
          f"{back if back is None else round(back, 2)}s")
    assert back is not None and back <= 1.0, back


def test_uneject_on_health_check_off_keeps_the_ejection(backend, stub, sluice):
    assert eject_then_recover(stub, backend, sluice, False) is None


def test_checks_passing_all_along_do_not_end_an_ejection(backend, stub, sluice):
    # Traffic fails (500) while the health endpoint answers 200: the ejection stands.
    s = stub(name="s", status=500, health_status=200)
    b = backend(name="b")
    gw = sluice(pool_config(
        [s.address, b.address],
        upstream=HC + "\noutlier: {consecutive_failures: 3, base_ejection: 30s, "
                      "max_ejection_percent: 50}", workers=1))
    wait_for(lambda: s.health_hits >= 2, 3.0, what="health checks of the stub")
    with Client(gw.port) as c:
        for i in range(40):
            c.request("GET", f"/e/{i}")
            if s.hits >= 3:
                break
        assert s.hits == 3, s.hits
        checks = s.health_hits
        for i in range(50):
            r = c.request("GET", f"/x/{i}")
            assert r.status == 200 and r.header("x-backend") == "b", r
            time.sleep(0.02)
        assert s.health_hits >= checks + 3, "the checks went on (and passed)"
    assert s.hits == 3, f"the ejected target got {s.hits - 3} requests"
