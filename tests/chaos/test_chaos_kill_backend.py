"""Chaos: kill -9 one of three echo backends under load, then start it again on the same port.

Load: 4 keep-alive loops of JSON GETs (each answer checked: the echo of this very request) and 2
loops streaming 1 MiB bodies, one with Content-Length and one chunked (checked: exactly the bytes
the backend sent), on 2 workers.

- with retries (`retry: {attempts: 3}`, default budget): no JSON request may fail; a stream cut
  when its backend died must reach the client as cut (never as a whole body);
- without retries: the failures are 502 answers only, a handful (the connects refused before
  passive ejection and the health check take the target out), and every one is bounded in time;
- both: the restarted backend gets traffic again (health check passes, uneject), sluice does not
  crash, hang or spin, and its RSS and open files come back to where they were.
"""

import time

from chaos_lib import (Load, Req, Sampler, Snap, Verdicts, echo_check, load_line, proc_line,
                       report, settle_checks, sized_check)
from harness import pool_config, wait_for

STREAM = 1 << 20
UPSTREAM = ("health_check: {path: /healthz, interval: 500ms, timeout: 200ms, "
            "healthy_threshold: 2, unhealthy_threshold: 2}\n"
            "outlier: {consecutive_failures: 3, base_ejection: 1s, max_ejection: 2s}")
RETRY = "retry: {attempts: 3}"


def make(i, loop):
    if loop >= 4:  # streaming loops: one Content-Length, one chunked
        target = f"/stream/{loop}/{i}?size={STREAM}&slow_ms=2" + ("&chunked=1" if loop == 5 else "")
        return Req("GET", target, check=sized_check(STREAM))
    target = f"/json/{loop}/{i}"
    return Req("GET", target, check=echo_check(target))


def run(procs, sluice, retries):
    bes = [procs.backend(name=n) for n in ("a", "b", "c")]
    gw = sluice(pool_config([b.address for b in bes], upstream=UPSTREAM,
                            route=RETRY if retries else "", workers=2))
    victim = bes[1]
    v = Verdicts()
    with Sampler(gw.pid, 0.25) as sampler:
        load = Load(gw.port, make, loops=6, max_seconds=30.0, deadline=5.0).start()
        time.sleep(1.5)
        before = Snap(gw.pid)
        t_kill = time.monotonic()
        victim.kill()
        time.sleep(2.0)
        t_restart = time.monotonic()
        again = procs.backend(name="b", port=victim.port)
        back = v.check(wait_for, lambda: again.stats()["requests"] > 0, 10.0,
                       what="the restarted backend to get traffic")
        back_after = time.monotonic() - t_restart if back else None
        time.sleep(1.0)
        load.finish()
        busy = Snap(gw.pid).cores_since(before)
    total = load.summary()
    json_outs = [o for t in load.threads[:4] for o in t.outcomes]
    stream_outs = [o for t in load.threads[4:] for o in t.outcomes]
    json_failed = [o for o in json_outs if o[2] != "ok"]
    stream_failed = [o for o in stream_outs if o[2] != "ok"]
    around = load.summary(since=t_kill - 0.5, until=t_kill + 2.0)
    after, idle = settle_checks(gw, before, v)
    title = f"kill -9 a backend under load ({'with' if retries else 'without'} retries)"
    lines = [f"all: {load_line(total)}",
             f"kill -> kill+2s: {load_line(around)}",
             f"JSON loops: {len(json_outs)} requests, {len(json_failed)} failed "
             f"{sorted(set((o[2], o[3]) for o in json_failed))}",
             f"1 MiB streams: {len(stream_outs)} requests, {len(stream_failed)} failed "
             f"{sorted(set((o[2], o[3]) for o in stream_failed))}",
             f"restarted backend served again after {back_after:.2f}s" if back_after
             else "restarted backend never served again"]
    if after:
        lines.append(proc_line(before, after, sampler.peak_rss, idle, busy))
    report(title, lines, {"total": total, "json_failed": len(json_failed),
                          "stream_failed": len(stream_failed), "back_after_s": back_after})
    v.check(load.assert_no_hang_or_truncation)
    v.require(total["requests"] >= 500, f"too little load: {total['requests']} requests")
    if retries:
        v.require(not json_failed, f"with retries, JSON requests failed: "
                                   f"{[o[2:] for o in json_failed][:10]}")
    else:
        v.require(all(o[2] == "status" and o[3] == 502 for o in json_failed),
                  f"without retries a failure must be a 502: {[o[2:] for o in json_failed][:10]}")
        v.require(len(json_failed) <= 30, f"{len(json_failed)} JSON requests failed (bound 30)")
    # a stream cut by the kill is seen as cut ("incomplete"), or answered 502 before its head
    v.require(all(o[2] in ("incomplete", "status", "closed") for o in stream_failed),
              f"stream failures: {[o[2:] for o in stream_failed][:10]}")
    v.require(len(stream_failed) <= 6, f"{len(stream_failed)} streams failed (bound 6)")
    v.done()


def test_kill_backend_with_retries(procs, sluice):
    run(procs, sluice, retries=True)


def test_kill_backend_without_retries(procs, sluice):
    run(procs, sluice, retries=False)
