"""Reloads keep the runtime state of targets: changing one target's weight leaves another
target's ejection and health verdict as they were (GET /upstreams and the traffic agree)."""

import time

from harness import Client, admin_target, admin_upstream, pool_config, wait_for


def state_config(bad, sick, good, good_weight):
    return pool_config(
        [bad.address, sick.address, (good.address, good_weight)],
        # A health check of `bad` that times out on a loaded machine and then passes would end
        # its ejection (uneject_on_health_check): not what this test is about.
        upstream="outlier: {consecutive_failures: 1, base_ejection: 10s, max_ejection: 20s, "
                 "max_ejection_percent: 50, uneject_on_health_check: false}\n"
                 "health_check: {path: /health, interval: 500ms, timeout: 200ms, "
                 "healthy_threshold: 1, unhealthy_threshold: 1}",
        workers=1)


def test_reload_keeps_ejection_and_health(backend, stub, sluice):
    bad = stub(name="bad", status=500)            # ejected after one failure
    sick = stub(name="sick", health_status=503)   # unhealthy
    good = backend(name="good")
    gw = sluice(state_config(bad, sick, good, 1))
    wait_for(lambda: admin_target(gw, "pool", sick.address)["health"] == "unhealthy", 3.0,
             what="sick unhealthy")
    with Client(gw.port) as c:
        for i in range(6):
            c.request("GET", f"/a/{i}")
            if bad.hits:
                break
    assert bad.hits == 1
    before = admin_target(gw, "pool", bad.address)
    assert before["ejected"] is True and before["ejections"] == 1, before

    status, body = gw.reload(state_config(bad, sick, good, 2))
    assert status == 200 and body["ok"] is True, body
    t_reload = time.monotonic()
    u = admin_upstream(gw, "pool")
    by = {t["address"]: t for t in u["targets"]}
    print(f"\nafter a weight-only reload ({time.monotonic() - t_reload:.3f}s): "
          f"bad ejected={by[bad.address]['ejected']} ejections={by[bad.address]['ejections']}, "
          f"sick health={by[sick.address]['health']}, good weight={by[good.address]['weight']}")
    assert by[good.address]["weight"] == 2, by
    assert by[bad.address]["ejected"] is True and by[bad.address]["ejections"] == 1, by
    assert by[sick.address]["health"] == "unhealthy", by
    hits = (bad.hits, sick.hits)
    with Client(gw.port) as c:
        for i in range(10):
            r = c.request("GET", f"/b/{i}")
            assert r.status == 200 and r.header("x-backend") == "good", (i, r)
    assert (bad.hits, sick.hits) == hits, "reload gave traffic to an ejected/unhealthy target"


def test_reloads_do_not_relog_unchanged_health(backend, sluice):
    """A health change is logged once: 40 reloads (weights, a route timeout, the check's own
    interval) of a config whose targets stay healthy add no "is now healthy" line."""
    one, two = backend(name="one"), backend(name="two")

    def cfg(i):
        interval = "200ms" if i % 2 else "300ms"
        return pool_config([(one.address, 1 + i % 3), two.address],
                           upstream=f"health_check: {{path: /health, interval: {interval}, "
                                    f"timeout: 150ms}}",
                           route=f"timeout: {1 + i % 4}s", workers=2)

    gw = sluice(cfg(0))
    for b in (one, two):
        wait_for(lambda b=b: admin_target(gw, "pool", b.address)["health"] == "healthy", 3.0,
                 what=f"{b.address} healthy")

    def healthy_lines():
        text = gw.log_path.read_text(errors="replace")
        return [x for x in text.splitlines() if "is now healthy" in x]

    assert len(healthy_lines()) == 2, healthy_lines()
    for i in range(1, 41):
        status, body = gw.reload(cfg(i))
        assert status == 200 and body["ok"] is True, (i, body)
    time.sleep(1.0)  # several check intervals after the last reload
    lines = healthy_lines()
    print(f"\n40 reloads: {len(lines)} 'is now healthy' lines in the log (2 at start)")
    assert len(lines) == 2, lines
    for b in (one, two):
        assert admin_target(gw, "pool", b.address)["health"] == "healthy"
