"""Chaos: a misbehaving upstream (bad_upstream.py: a raw-socket server answering each bad shape:
bad status lines, truncated bodies, bad chunk sizes, huge and endless heads, 1xx floods, 101,
CL+TE, 204/304/HEAD answers with a body, extra bytes after a body, resets and stalls, …).

For every shape: the client gets sluice's 502/504, or a response it can tell is cut, or the one
well-formed reading of the message (bad_upstream.SHAPES lists which); a broken message is never
passed on as a whole one; each answer comes within response_timeout (1.5 s) + 2.5 s; and the
next requests to the same upstream get their own answer (a pooled connection holding the rest of
a bad message must not be reused: the shapes that hide a whole second response after the first
check this).

Two runs: each shape once on 1 worker (sequential, so the follow-up requests go through the
same connection pool), then all shapes mixed from 6 threads with good requests on 2 workers.
Both end with the crash / spin / leak checks.
"""

import json
import random
import socket
import threading
import time

from bad_upstream import ALL_SHAPES, HEAD_SHAPES, POST_SHAPES, BadUpstream
from chaos_lib import (Sampler, Snap, Verdicts, check_alive, proc_line, report,
                       settle_checks)
from harness import Client, ConnectionClosed, ReadTimeout, config

RESPONSE_TIMEOUT = 1.5
BOUND = RESPONSE_TIMEOUT + 2.5
POST_BODY = b"p" * (256 * 1024)


def gateway_config(up, workers):
    return config(f"""
        upstreams:
          - name: bad
            targets: [{{address: {up.address}}}]
            connect_timeout: 1s
            response_timeout: {int(RESPONSE_TIMEOUT * 1000)}ms
            outlier: off
        routes:
          - name: all
            match: {{path: "/{{*rest}}"}}
            upstream: bad
    """, workers=workers)


def is_sluice_error(r):
    if (r.header("content-type") or "").split(";")[0] != "application/json":
        return False
    try:
        j = json.loads(r.body)
    except ValueError:
        return False
    return isinstance(j, dict) and j.get("status") == r.status and "error" in j


def ask(port, shape, n):
    """(outcome, seconds, detail): outcome "502"/"504"/"cut"/"closed"/"hang"/"malformed" or
    ("whole", status, body)."""
    method = "HEAD" if shape in HEAD_SHAPES else "POST" if shape in POST_SHAPES else "GET"
    body = POST_BODY if shape in POST_SHAPES else None
    t0 = time.monotonic()
    try:
        with Client(port, timeout=BOUND + 2) as c:
            r = c.request(method, f"/bad/{shape}/{n}", body=body)
    except (ReadTimeout, socket.timeout) as e:
        return "hang", time.monotonic() - t0, str(e)
    except (ConnectionClosed, ConnectionError, BrokenPipeError) as e:
        return "closed", time.monotonic() - t0, f"{type(e).__name__}: {e}"
    except (AssertionError, ValueError) as e:  # sluice sent its client a malformed message
        return "malformed", time.monotonic() - t0, f"{type(e).__name__}: {e}"
    secs = time.monotonic() - t0
    if not r.complete:
        return "cut", secs, f"{r.status}, {r.body_length} bytes, {r.framing}"
    if r.status in (502, 504) and is_sluice_error(r):
        return str(r.status), secs, r.json()["error"]
    return ("whole", r.status, r.body), secs, f"framing {r.framing} headers {r.headers}"


def follow_up(port, shape, n):
    """Two requests to /good on one keep-alive connection: None, or what went wrong. After
    unsolicited_later it first waits until the unsolicited bytes have reached the idle pooled
    connection (a request sent before they arrive would take them as its answer, with any
    proxy: that race is not what is tested)."""
    if shape == "unsolicited_later":
        time.sleep(0.4)
    try:
        with Client(port, timeout=BOUND + 2) as c:
            for k in range(2):
                target = f"/good/{shape}/{n}/{k}"
                r = c.request("GET", target)
                want = f"good:{shape}/{n}/{k}".encode()
                if r.status != 200 or r.body != want:
                    return f"{target}: {r.status} {r.body[:80]!r} (headers {r.headers})"
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"
    return None


def judge(shape, outcome, secs, detail):
    """None, or why this outcome breaks the contract."""
    allowed = ALL_SHAPES[shape][1]
    if outcome in allowed:
        return None if secs <= BOUND else f"HANG: {shape}: {secs:.2f}s (bound {BOUND}s)"
    if isinstance(outcome, tuple):
        return (f"TRUNCATED: {shape}: passed on as a whole {outcome[1]} with body "
                f"{outcome[2][:80]!r} ({detail}); allowed {allowed_text(allowed)}")
    if outcome == "hang":
        return f"HANG: {shape}: no answer in {BOUND + 2}s ({detail})"
    return f"{shape}: {outcome} after {secs:.2f}s ({detail}); allowed {allowed_text(allowed)}"


def allowed_text(allowed):
    return sorted(a if isinstance(a, str) else f"{a[1]} {a[2][:20]!r}" for a in allowed)


def short(outcome):
    return outcome if isinstance(outcome, str) else f"{outcome[1]} {outcome[2][:12]!r}"


def test_bad_upstream_each_shape(procs, sluice):
    up = BadUpstream()
    try:
        gw = sluice(gateway_config(up, workers=1))
        v = Verdicts()
        assert follow_up(gw.port, "warm", 0) is None
        before = Snap(gw.pid)
        seen = {}
        with Sampler(gw.pid, 0.25) as sampler:
            for shape in ALL_SHAPES:
                outcome, secs, detail = ask(gw.port, shape, 0)
                seen[shape] = (outcome, secs)
                why = judge(shape, outcome, secs, detail)
                v.require(why is None, why)
                bad = follow_up(gw.port, shape, 0)
                v.require(bad is None, f"after '{shape}' the next request got the wrong answer "
                                       f"(a poisoned pooled connection?): {bad}")
                v.check(check_alive, gw, f"after shape {shape}")
                if gw.proc.poll() is not None:
                    break
        after, idle = settle_checks(gw, before, v, fd_bound=8)
        lines = [f"{len(seen)} shapes, each then 2 follow-up requests on 1 worker"]
        lines += [f"{s}: {short(o)} in {t:.2f}s" for s, (o, t) in seen.items()]
        if after:
            lines.append(proc_line(before, after, sampler.peak_rss, idle))
        report("misbehaving upstream, each shape", lines,
               {s: [short(o), round(t, 3)] for s, (o, t) in seen.items()})
        v.done()
    finally:
        up.stop()


def test_bad_upstream_concurrent(procs, sluice):
    up = BadUpstream()
    try:
        gw = sluice(gateway_config(up, workers=2))
        v = Verdicts()
        assert follow_up(gw.port, "warm", 0) is None
        before = Snap(gw.pid)
        problems = []
        counts = {"shapes": 0, "good": 0}
        lock = threading.Lock()

        def worker(tid):
            rng = random.Random(tid)
            # unsolicited_later is left out: another thread's request may take the pooled
            # connection within the 100 ms before its unsolicited bytes come (an inherent race)
            shapes = [s for s in ALL_SHAPES if s != "unsolicited_later"] * 2
            rng.shuffle(shapes)
            for n, shape in enumerate(shapes):
                outcome, secs, detail = ask(gw.port, shape, f"{tid}-{n}")
                why = judge(shape, outcome, secs, detail)
                bad = follow_up(gw.port, shape, f"{tid}-{n}")
                with lock:
                    counts["shapes"] += 1
                    counts["good"] += 2
                    if why:
                        problems.append(why)
                    if bad:
                        problems.append(f"after '{shape}': {bad}")

        with Sampler(gw.pid, 0.25) as sampler:
            t0 = time.monotonic()
            threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(300)
            secs = time.monotonic() - t0
            busy = Snap(gw.pid).cores_since(before)
        after, idle = settle_checks(gw, before, v, fd_bound=8)
        lines = [f"6 threads x {2 * (len(ALL_SHAPES) - 1)} shapes (each followed by 2 good requests) "
                 f"in {secs:.1f}s: {counts}, {len(problems)} problems"]
        if after:
            lines.append(proc_line(before, after, sampler.peak_rss, idle, busy))
        report("misbehaving upstream, concurrent on 2 workers", lines,
               {"counts": counts, "problems": problems[:20]})
        v.require(not problems, "\n".join(problems[:20]))
        v.done()
    finally:
        up.stop()





def test_close_delimited_body_cut_by_a_reset_is_not_whole(procs, sluice):
    """The upstream sends a head without Content-Length or chunked, part of a body, then resets
    (SO_LINGER 0). The close that ends such a body is a FIN; a reset is an abort, so the client
    must see the body cut (no last chunk) or a 502. Found by this suite: from 765da2f to 0792b18
    sluice passed it on as whole (docs/chaos.md, findings)."""
    up = BadUpstream()
    try:
        gw = sluice(gateway_config(up, workers=1))
        got = []
        for n in range(5):
            outcome, secs, detail = ask(gw.port, "close_delimited_reset", n)
            got.append((short(outcome), round(secs, 2)))
            why = judge("close_delimited_reset", outcome, secs, detail)
            assert why is None, f"{why} (answers so far: {got})"
    finally:
        up.stop()
