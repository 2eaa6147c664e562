"""Admin GET /upstreams: the shape of the answer and its fields in each situation (ejected
target, unhealthy target, open breaker, panic, requests in flight)."""

import threading

from harness import Client, admin_target, admin_upstream, admin_upstreams, config, request, \
    wait_for

HC = "{path: /health, interval: 200ms, timeout: 100ms, healthy_threshold: 1, " \
     "unhealthy_threshold: 1, expected_statuses: [200-299]}"


def admin_config(ej_bad, e1, e2, hc_bad, h1, br_bad, p1, p2, plain):
    return config(f"""
        upstreams:
          - name: ej
            balancer: random
            targets: [{{address: {ej_bad.address}}}, {{address: {e1.address}, weight: 2}},
                      {{address: {e2.address}}}]
            outlier: {{consecutive_failures: 2, base_ejection: 10s, max_ejection: 20s,
                       max_ejection_percent: 50}}
          - name: hc
            targets: [{{address: {hc_bad.address}}}, {{address: {h1.address}}}]
            health_check: {HC}
          - name: br
            targets: [{{address: {br_bad.address}}}]
            outlier: off
            breaker: {{error_rate: 50%, min_requests: 4, window: 5s, open: 10s}}
          - name: pa
            targets: [{{address: {p1.address}}}, {{address: {p2.address}}}]
            health_check: {HC}
          - name: plain
            balancer: least_connections
            targets: [{{address: {plain.address}}}]
        routes:
          - {{name: ej, match: {{path: "/ej/{{*rest}}"}}, upstream: ej}}
          - {{name: hc, match: {{path: "/hc/{{*rest}}"}}, upstream: hc}}
          - {{name: br, match: {{path: "/br/{{*rest}}"}}, upstream: br}}
          - {{name: pa, match: {{path: "/pa/{{*rest}}"}}, upstream: pa}}
          - {{name: plain, match: {{path: "/plain/{{*rest}}"}}, upstream: plain}}
    """, workers=1)


def check_shape(ups):
    for u in ups:
        assert isinstance(u["name"], str) and isinstance(u["balancer"], str), u
        assert isinstance(u["panic"], bool), u
        br = u["breaker"]
        assert br is None or (br["state"] in ("closed", "open", "half_open")
                              and isinstance(br["opened_total"], int)), u
        assert isinstance(u["targets"], list) and u["targets"], u
        for t in u["targets"]:
            assert isinstance(t["address"], str) and isinstance(t["weight"], int), t
            assert t["health"] in ("unknown", "healthy", "unhealthy"), t
            assert isinstance(t["ejected"], bool), t
            for k in ("ejections", "active", "requests", "failures"):
                assert isinstance(t[k], int) and t[k] >= 0, (k, t)
            assert isinstance(t["addresses"], list), t
            assert all(isinstance(a, str) for a in t["addresses"]), t


def test_upstreams_admin_reflects_state(backend, stub, sluice):
    ej_bad = stub(name="ej_bad", status=500)
    e1, e2 = backend(name="e1"), backend(name="e2")
    hc_bad, h1 = stub(name="hc_bad", health_status=503), backend(name="h1")
    br_bad = stub(name="br_bad", status=500)
    p1, p2 = stub(name="p1", health_status=503), stub(name="p2", health_status=503)
    plain = backend(name="plain")
    gw = sluice(admin_config(ej_bad, e1, e2, hc_bad, h1, br_bad, p1, p2, plain))

    ups = admin_upstreams(gw)
    check_shape(ups)
    assert [u["name"] for u in ups] == ["ej", "hc", "br", "pa", "plain"], ups
    by = {u["name"]: u for u in ups}
    assert by["ej"]["balancer"] == "random" and by["plain"]["balancer"] == "least_connections"
    assert by["ej"]["breaker"] is None and by["plain"]["breaker"] is None
    br = by["br"]["breaker"]
    assert br["state"] == "closed" and br["opened_total"] == 0, br
    ej = by["ej"]["targets"]
    assert [t["address"] for t in ej] == [ej_bad.address, e1.address, e2.address], ej
    assert [t["weight"] for t in ej] == [1, 2, 1], ej
    for t in ej:  # no health checks: unknown; nothing happened yet
        assert t["health"] == "unknown" and not t["ejected"] and t["ejections"] == 0, t
        assert t["active"] == 0 and t["requests"] == 0 and t["failures"] == 0, t
        assert t["addresses"] == [t["address"]], t

    # ejected target
    with Client(gw.port) as c:
        for i in range(80):
            c.request("GET", f"/ej/{i}")
            if ej_bad.hits >= 2:
                break
    assert ej_bad.hits == 2
    t = admin_target(gw, "ej", ej_bad.address)
    print(f"\n/upstreams ejected target: {t}")
    assert t["ejected"] is True and t["ejections"] == 1, t
    assert t["requests"] == 2 and t["failures"] == 2, t
    for other in (e1, e2):
        o = admin_target(gw, "ej", other.address)
        assert o["ejected"] is False and o["failures"] == 0 and o["requests"] >= 1, o
    assert admin_upstream(gw, "ej")["panic"] is False

    # unhealthy target
    wait_for(lambda: hc_bad.health_hits >= 2 and p1.health_hits >= 2 and p2.health_hits >= 2,
             3.0, what="health checks")
    wait_for(lambda: admin_target(gw, "hc", hc_bad.address)["health"] == "unhealthy", 1.0,
             what="hc_bad unhealthy in /upstreams")
    assert admin_target(gw, "hc", h1.address)["health"] == "healthy"
    assert admin_target(gw, "hc", hc_bad.address)["ejected"] is False
    assert admin_upstream(gw, "hc")["panic"] is False

    # panic: every target unhealthy
    assert request(gw.port, "GET", "/pa/x").status == 200
    pa = admin_upstream(gw, "pa")
    print(f"/upstreams panic upstream: {pa}")
    assert pa["panic"] is True, pa
    assert [t["health"] for t in pa["targets"]] == ["unhealthy", "unhealthy"], pa

    # open breaker
    with Client(gw.port) as c:
        for i in range(4):
            assert c.request("GET", f"/br/{i}").status == 500
        assert c.request("GET", "/br/open").status == 503
    br = admin_upstream(gw, "br")["breaker"]
    print(f"/upstreams open breaker: {br}")
    assert br["state"] == "open" and br["opened_total"] == 1, br
    bt = admin_target(gw, "br", br_bad.address)
    assert bt["requests"] == 4 and bt["failures"] == 4, bt

    # requests in flight
    done = {}
    th = threading.Thread(target=lambda: done.update(
        r=request(gw.port, "GET", "/plain/slow?delay_ms=800")), daemon=True)
    th.start()
    try:
        wait_for(lambda: plain.stats()["heads"] == 1, 2.0, what="slow request at the backend")
        t = admin_target(gw, "plain", plain.address)
        assert t["active"] == 1, t
    finally:
        th.join(5)
    assert done["r"].status == 200
    t = wait_for(lambda: (x := admin_target(gw, "plain", plain.address))["active"] == 0 and x,
                 1.0, what="active back to 0")
    assert t["requests"] == 1 and t["failures"] == 0, t
