"""Chaos: the Redis of cluster rate limits crashes (SIGKILL), comes back empty on the same port,
then freezes (SIGSTOP: connections stay open, nothing answers) and thaws, under load on 2
workers, with `redis.on_error: allow` and with `deny`.

Two routes share the load: /lease/… with a leased cluster policy and /exact/… with an
`exact: true` one (a Redis round trip per request). The limits are far above the load, so every
request admitted by Redis is a 200 from the echo backend (its body checked).

- allow: no request fails while Redis is dead or frozen; none waits much longer than
  `command_timeout` (200 ms);
- deny: requests that need Redis get 503 {"error":"rate limit store unavailable"} with
  Retry-After: 1, quickly; nothing else fails;
- both: every worker reconnects by itself after the restart (sluice_redis_connected), limiting
  resumes (keys appear in the new Redis, the error decisions stop), and sluice does not crash,
  hang or spin; RSS and open files come back.
"""

import json
import signal
import time

import pytest

from chaos_lib import (Load, Req, Sampler, Snap, Verdicts, echo_check, load_line, metric_total,
                       proc_line, report, settle_checks)
from harness import config, metric_samples, metrics_of

PREFIX = "chaos:rl:"
WORKERS = 2
UNAVAILABLE = {"status": 503, "error": "rate limit store unavailable"}


def cfg(be, redis, on_error):
    return config(f"""
        redis:
          address: {redis.address}
          on_error: {on_error}
          connect_timeout: 500ms
          command_timeout: 200ms
          key_prefix: "{PREFIX}"
        upstreams:
          - name: api
            targets: [{{address: {be.address}}}]
        routes:
          - name: lease
            match: {{path: "/lease/{{*rest}}"}}
            upstream: api
            rate_limits:
              - {{name: leased, key: route, algorithm: sliding_window, limit: 50000000,
                  period: 10s, scope: cluster}}
          - name: exact
            match: {{path: "/exact/{{*rest}}"}}
            upstream: api
            rate_limits:
              - {{name: strict, key: route, algorithm: fixed_window, limit: 50000000,
                  period: 10s, scope: cluster, exact: true}}
    """, workers=WORKERS)


def connected(gw):
    return sum(metric_samples(metrics_of(gw), "sluice_redis_connected"))


def wait_connected(gw, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if connected(gw) >= WORKERS:
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


def maker(on_error):
    expect = (200, 503) if on_error == "deny" else (200,)

    def make(i, loop):
        target = f"/{'exact' if i % 2 else 'lease'}/{loop}/{i}"
        ok = echo_check(target)

        def check(r):
            if r.status == 503:
                try:
                    body = json.loads(r.body)
                except ValueError:
                    body = r.body[:100]
                if body != UNAVAILABLE or r.header("retry-after") != "1":
                    return f"503 {body!r} retry-after {r.header('retry-after')!r}"
                return None
            return ok(r)
        return Req("GET", target, expect=expect, check=check)
    return make


@pytest.mark.parametrize("on_error", ["allow", "deny"])
def test_redis_crash_restart_and_freeze(procs, sluice, redis_server, on_error):
    redis = redis_server()
    be = procs.backend(name="api")
    gw = sluice(cfg(be, redis, on_error))
    v = Verdicts()
    first = wait_connected(gw, 5.0)
    v.require(first is not None, "workers never connected to Redis at start")
    with Sampler(gw.pid, 0.25) as sampler:
        load = Load(gw.port, maker(on_error), loops=4, max_seconds=40.0, deadline=3.0).start()
        time.sleep(1.5)
        before = Snap(gw.pid)
        errors0 = metric_total(gw, "sluice_rate_limit_decisions_total", result="error")
        t_kill = time.monotonic()
        redis.stop()  # SIGKILL
        time.sleep(2.0)
        t_start = time.monotonic()
        redis.start()
        reconnect = wait_connected(gw, 12.0)
        t_back = time.monotonic()
        time.sleep(1.5)
        errors_back = metric_total(gw, "sluice_rate_limit_decisions_total", result="error")
        time.sleep(1.0)
        errors_steady = metric_total(gw, "sluice_rate_limit_decisions_total", result="error")
        keys = redis.command("KEYS", PREFIX + "*")
        t_freeze = time.monotonic()
        redis.proc.send_signal(signal.SIGSTOP)
        time.sleep(2.0)
        t_thaw = time.monotonic()
        redis.proc.send_signal(signal.SIGCONT)
        refreeze = wait_connected(gw, 12.0)
        time.sleep(1.5)
        t_end = time.monotonic()
        time.sleep(0.5)
        load.finish()
        busy = Snap(gw.pid).cores_since(before)
    errors_end = metric_total(gw, "sluice_rate_limit_decisions_total", result="error")
    phases = {
        "before": load.summary(until=t_kill),
        "dead": load.summary(since=t_kill, until=t_start),
        "restarted": load.summary(since=t_start, until=t_back),
        "back": load.summary(since=t_back + 0.5, until=t_freeze),
        "frozen": load.summary(since=t_freeze, until=t_thaw),
        "thawed": load.summary(since=t_thaw, until=t_end),
    }
    after, idle = settle_checks(gw, before, v)
    lines = [f"{name}: {load_line(s)}" for name, s in phases.items()]
    lines.append(f"reconnected {reconnect:.2f}s after the restart" if reconnect is not None
                 else "NOT reconnected within 12 s of the restart")
    lines.append(f"reconnected {refreeze:.2f}s after SIGCONT" if refreeze is not None
                 else "NOT reconnected within 12 s of SIGCONT")
    lines.append(f"error decisions: {errors_back - errors0:.0f} during the outage, "
                 f"{errors_steady - errors_back:.0f} in 1 s once back, "
                 f"{errors_end - errors0:.0f} in all; {len(keys)} keys in the new Redis")
    if after:
        lines.append(proc_line(before, after, sampler.peak_rss, idle, busy))
    report(f"Redis SIGKILL, restart, SIGSTOP/SIGCONT (on_error: {on_error})", lines,
           {k: s for k, s in phases.items()})

    v.check(load.assert_no_hang_or_truncation)
    v.require(reconnect is not None, "HANG: the workers did not reconnect to the restarted Redis")
    v.require(refreeze is not None, "HANG: the workers did not reconnect after SIGCONT")
    v.require(phases["before"]["failed"] == 0 and phases["before"]["statuses"].keys() <= {200},
              f"before the crash: {phases['before']}")
    v.require(phases["back"]["statuses"].keys() <= {200} and phases["back"]["failed"] == 0,
              f"once Redis was back: {phases['back']}")
    v.require(errors_steady - errors_back == 0,
              f"error decisions went on once Redis was back ({errors_steady - errors_back:.0f})")
    v.require(len(keys) >= 1, "limiting did not resume: no key in the restarted Redis")
    v.require(errors_end > errors0, "no error decision counted while Redis was away")
    bad = load.details(("status", "closed", "incomplete", "refused", "error"))
    v.require(not bad, f"failed requests: {bad}")
    for name in ("dead", "frozen"):
        s = phases[name]
        v.require(s["max_ms"] < 2000, f"HANG: {name}: a request took {s['max_ms']:.0f} ms "
                                      "(command_timeout is 200 ms; bound 2 s)")
        if on_error == "allow":
            v.require(s["statuses"].keys() <= {200}, f"allow, {name}: {s['statuses']}")
        else:
            v.require(s["statuses"].get(503, 0) > 0, f"deny, {name}: no 503 ({s['statuses']})")
    v.require(phases["thawed"]["statuses"].keys() <= {200, 503}, phases["thawed"])
    v.done()
