"""What each rate-limit algorithm promises, attacked through the real binary at its weak point,
the boundary between windows, and under saturating load for several periods. Each test prints
the most requests admitted in any interval of one period (from the clients' receive times):

- sliding_window: at most `limit` in ANY interval of one period (+1% for the clients' timing),
  local and cluster scope (three instances sharing Redis), and at least 95% of `limit` per
  period under saturation;
- fixed_window: at most `limit` per epoch-aligned window; an interval straddling a boundary may
  see up to twice the limit (its documented bound);
- token_bucket: at most `burst` + `limit` per interval of one period.
"""

import threading
import time

from harness import Client, ConnectionClosed
from test_40_rate_limits import policy, rl_config, unique
from test_41_rate_limits_cluster import cluster_policy, redis_top, settle

LIMIT = 1000
PERIOD = 4.0


class Saturate:
    """Keep-alive clients (threads, spread over `ports`) that send as fast as they can for
    `seconds` with one x-api-key, recording each response's receive time and status."""

    def __init__(self, ports, key, seconds, clients=4):
        self.ports = ports if isinstance(ports, list) else [ports]
        self.key = key
        self.seconds = seconds
        self.clients = clients
        self.lock = threading.Lock()
        self.responses = []  # (time.time() at receipt, status)
        self.errors = []

    def _run(self, port, end):
        c = Client(port, timeout=10)
        got = []
        try:
            while time.time() < end:
                try:
                    r = c.request("GET", "/api/x", headers={"x-api-key": self.key})
                except (ConnectionClosed, OSError) as e:
                    self.errors.append(repr(e))
                    c.close()
                    c = Client(port, timeout=10)
                    continue
                got.append((time.time(), r.status))
        finally:
            c.close()
            with self.lock:
                self.responses += got

    def run(self, start_at=None):
        if start_at is not None:
            time.sleep(max(0.0, start_at - time.time()))
        self.t0 = time.time()
        end = self.t0 + self.seconds
        threads = [threading.Thread(target=self._run, args=(self.ports[i % len(self.ports)], end))
                   for i in range(self.clients * len(self.ports))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.seconds + 30)
        assert not any(t.is_alive() for t in threads), "clients still running"
        self.responses.sort()
        return self

    def admitted(self):
        return [t for t, status in self.responses if status == 200]

    def statuses(self):
        out = {}
        for _, s in self.responses:
            out[s] = out.get(s, 0) + 1
        return out


def max_in_any_interval(times, length):
    """The most of the sorted `times` inside any half-open interval of `length` seconds."""
    best = 0
    first = 0
    for i, t in enumerate(times):
        while times[first] <= t - length:
            first += 1
        best = max(best, i - first + 1)
    return best


def per_period(times, t0, period, periods):
    """Admitted in each of `periods` consecutive periods from t0."""
    return [sum(1 for t in times if t0 + k * period <= t < t0 + (k + 1) * period)
            for k in range(periods)]


def next_boundary(period, before):
    """The Unix time `before` seconds ahead of the next epoch-aligned window boundary at least
    `before` + 0.3 s away."""
    now = time.time()
    b = (int(now // period) + 1) * period
    if b - before < now + 0.3:
        b += period
    return b - before


def check_sliding(s, label):
    times = s.admitted()
    worst = max_in_any_interval(times, PERIOD)
    # Saturated from the start: each whole period after the first gets (nearly) the limit.
    periods = int((s.seconds - PERIOD / 2) // PERIOD)
    full = per_period(times, s.t0 + PERIOD / 2, PERIOD, periods)
    print(f"\n{label}: {len(times)} admitted of {len(s.responses)} in {s.seconds:.0f} s; "
          f"most in any {PERIOD:.0f} s interval {worst} (limit {LIMIT}, "
          f"{(worst - LIMIT) / LIMIT:+.2%}); per period after the first {full}; "
          f"statuses {s.statuses()}")
    assert not s.errors, s.errors[:5]
    assert set(s.statuses()) <= {200, 429}, s.statuses()
    assert worst <= LIMIT * 1.01, f"{worst} admitted in one {PERIOD} s interval"
    for n in full:
        assert n >= LIMIT * 0.95, f"only {n} admitted in a saturated period"
    return worst


def test_sliding_window_holds_across_a_window_boundary(backend, sluice):
    be = backend()
    gw = sluice(rl_config(be, [policy(algorithm="sliding_window", limit=LIMIT, period="4s")],
                          workers=2))
    # A saturating burst from 0.2 s before a window boundary, for a whole period and a half:
    # the burst before the boundary and the one after it share one limit.
    start = next_boundary(PERIOD, 0.2)
    s = Saturate(gw.port, unique("edge"), 4.5).run(start_at=start)
    times = s.admitted()
    worst = max_in_any_interval(times, PERIOD)
    first_period = sum(1 for t in times if t < start + PERIOD)
    print(f"\nsliding window over a boundary: {first_period} admitted in the first period, "
          f"most in any {PERIOD:.0f} s interval {worst} (limit {LIMIT})")
    assert not s.errors, s.errors[:5]
    assert worst <= LIMIT * 1.01, worst
    assert first_period <= LIMIT * 1.01, first_period
    assert first_period >= LIMIT * 0.99, first_period


def test_sliding_window_saturated_for_ten_seconds(backend, sluice):
    be = backend()
    gw = sluice(rl_config(be, [policy(algorithm="sliding_window", limit=LIMIT, period="4s")],
                          workers=2))
    s = Saturate(gw.port, unique("sat"), 10.5).run()
    check_sliding(s, "sliding window, local, 2 workers")


def test_sliding_window_cluster_three_instances(backend, sluice, redis_server):
    redis = redis_server()
    be = backend()
    text = rl_config(be, [cluster_policy(algorithm="sliding_window", limit=LIMIT, period="4s")],
                     workers=2, top=redis_top(redis))
    gws = [sluice(text) for _ in range(3)]
    settle(*gws)
    s = Saturate([g.port for g in gws], unique("cl"), 10.5, clients=2).run()
    check_sliding(s, "sliding window, cluster, 3 instances x 2 workers")


def test_fixed_window_is_bounded_per_window_not_per_interval(backend, sluice):
    be = backend()
    gw = sluice(rl_config(be, [policy(algorithm="fixed_window", limit=LIMIT, period="4s")],
                          workers=2))
    start = next_boundary(PERIOD, 0.5)
    s = Saturate(gw.port, unique("fixed"), 1.0).run(start_at=start)
    times = s.admitted()
    boundary = start + 0.5
    before = sum(1 for t in times if t < boundary)
    after = len(times) - before
    worst = max_in_any_interval(times, PERIOD)
    print(f"\nfixed window over a boundary: {before} before it, {after} after it; most in any "
          f"{PERIOD:.0f} s interval {worst} (up to twice the limit {LIMIT}, as documented)")
    assert not s.errors, s.errors[:5]
    # Each epoch-aligned window admits the limit (give or take the clients' timing at the
    # boundary), and a straddling interval up to twice that.
    assert before <= LIMIT + 20 and after <= LIMIT + 20, (before, after)
    assert before + after <= 2 * LIMIT
    assert worst > LIMIT * 1.5, "a boundary burst should show the fixed window's known weakness"


def test_token_bucket_is_bounded_by_burst_plus_refill(backend, sluice):
    be = backend()
    burst = 200
    gw = sluice(rl_config(be, [policy(algorithm="token_bucket", limit=LIMIT, period="4s",
                                      burst=burst)], workers=2))
    s = Saturate(gw.port, unique("bucket"), 4.5).run()
    times = s.admitted()
    worst = max_in_any_interval(times, PERIOD)
    print(f"\ntoken bucket {LIMIT} per {PERIOD:.0f} s, burst {burst}: {len(times)} admitted in "
          f"{s.seconds:.0f} s, most in any {PERIOD:.0f} s interval {worst} (bound {burst + LIMIT})")
    assert not s.errors, s.errors[:5]
    assert worst <= (burst + LIMIT) * 1.01, worst
    assert len(times) <= burst + LIMIT * s.seconds / PERIOD * 1.01 + 5
    assert len(times) >= (burst + LIMIT * s.seconds / PERIOD) * 0.95
