"""Chaos: SIGTERM with slow requests in flight, under keep-alive load, on 2 workers.

- drain 10s: 6 slow answers (2 s), 4 slow 2 MiB streams (about 1.6 s) and 2 slow uploads (64 KiB
  over 1.6 s) are in flight at the signal: each must complete whole (bodies checked); new
  connections are refused within 1 s; the load's other requests get their whole answer (with
  Connection: close) or a close without an answer, never a cut one; sluice exits 0 soon after
  the last of them (bound: 2 s + 3 s), never after 20 s;
- drain 1s, with answers that take longer (4 s waits, 3.2 s streams): sluice exits 0 about 1 s
  after the signal; what it had to cut reaches the client as cut (a stream) or as a close
  without an answer, never as a whole response.
"""

import threading
import time

from chaos_lib import (MiB, Load, LoadLoop, Req, Snap, Verdicts, echo_check, load_line, mib,
                       report, sized_check)
from harness import Client, config, wait_for

STREAM = 2 * MiB


def gw_config(be, drain):
    return config(f"""
        upstreams:
          - name: api
            targets: [{{address: {be.address}}}]
        routes:
          - name: all
            match: {{path: "/{{*rest}}"}}
            upstream: api
        timeouts: {{drain: {drain}, idle: 30s}}
    """, workers=2)


def one(port, req, deadline=20.0):
    """A LoadLoop of one request on its own connection (started); .outcomes after join()."""
    t = LoadLoop(port, lambda i, loop: req, 0, threading.Event(), 1, 60.0, deadline,
                 keep_alive=False)
    t.start()
    return t


def slow_upload(port, i, out, pieces=8, pause=0.2, size=64 * 1024):
    body = bytes((i + k) % 251 for k in range(size))
    target = f"/upload/{i}"
    try:
        with Client(port, timeout=20) as c:
            c.send(f"POST {target} HTTP/1.1\r\nHost: chaos.local\r\nContent-Length: {size}\r\n"
                   "\r\n".encode())
            step = size // pieces
            for k in range(pieces):
                time.sleep(pause)
                c.send(body[k * step:(k + 1) * step])
            r = c.read_response()
        why = echo_check(target, size)(r) if r.complete and r.status == 200 else \
            f"{r.status} complete={r.complete}"
        out[i] = why or "ok"
    except Exception as e:  # noqa: BLE001
        out[i] = f"{type(e).__name__}: {e}"


def refused_after(port, t_term, limit=1.5):
    import socket
    while time.monotonic() - t_term < limit:
        s = socket.socket()
        s.settimeout(0.3)
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return time.monotonic() - t_term
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.05)
    return None


def test_sigterm_with_slow_requests_in_flight(procs, sluice):
    be = procs.backend(name="api")
    gw = sluice(gw_config(be, "10s"))
    v = Verdicts()
    s0 = Snap(gw.pid)
    load = Load(gw.port, loops=4, max_seconds=30.0, deadline=15.0).start()
    time.sleep(0.5)
    heads0 = be.stats()["heads"]
    slow = [one(gw.port, Req("GET", t, check=echo_check(t)))
            for t in (f"/slow/{i}?delay_ms=2000" for i in range(6))]
    streams = [one(gw.port, Req("GET", t, check=sized_check(STREAM)))
               for t in (f"/stream/{i}?size={STREAM}&slow_ms=50" for i in range(4))]
    uploads = {}
    up_threads = [threading.Thread(target=slow_upload, args=(gw.port, i, uploads), daemon=True)
                  for i in range(2)]
    for t in up_threads:
        t.start()
    v.check(wait_for, lambda: be.stats()["heads"] >= heads0 + 12, 5.0,
            what="the slow requests to reach the backend")
    time.sleep(0.2)
    s1 = Snap(gw.pid)
    t_term = time.monotonic()
    gw.send_sigterm()
    refused = refused_after(gw.port, t_term)
    code = gw.wait_exit(20.0)
    exit_s = time.monotonic() - t_term
    load.finish()
    for t in slow + streams + up_threads:
        t.join(20)
    after_term = load.summary(since=t_term)
    flight = [o for t in slow + streams for o in t.outcomes]
    lines = [f"SIGTERM with {len(slow)} slow answers, {len(streams)} 2 MiB streams, "
             f"{len(up_threads)} slow uploads in flight: exit code {code} after {exit_s:.2f}s",
             f"in flight: {sorted((o[2], o[3], round(o[1], 2)) for o in flight)}; "
             f"uploads {uploads}",
             f"new connections refused {refused:.2f}s after the signal" if refused is not None
             else "new connections NOT refused within 1.5 s",
             f"load before the signal: {load_line(load.summary(until=t_term))}",
             f"load after the signal (closes and refused connects expected): "
             f"{load_line(after_term)}",
             f"sluice before the signal: RSS {mib(s0.rss)} -> {mib(s1.rss)}, open files "
             f"{s0.fds} -> {s1.fds}, CPU {s1.cores_since(s0):.2f} core"]
    report("SIGTERM with slow requests in flight (drain 10s)", lines,
           {"exit_s": exit_s, "code": code, "after": after_term})
    v.require(code == 0, f"HANG/CRASH: exit code {code} (None = still running after 20 s)")
    v.require(exit_s < 5.0, f"exit {exit_s:.2f}s after SIGTERM (bound 5 s: the last in-flight "
                            "answer ends about 2 s after it)")
    v.require(refused is not None and refused < 1.0, f"new connections refused after {refused}")
    v.require(len(flight) == 10 and all(o[2] == "ok" for o in flight),
              f"in-flight requests not completed whole: {[o[2:] for o in flight if o[2] != 'ok']}")
    v.require(all(x == "ok" for x in uploads.values()) and len(uploads) == 2,
              f"slow uploads: {uploads}")
    v.check(load.assert_no_hang_or_truncation)
    kinds = set(after_term["kinds"]) - {"ok", "closed", "refused"}
    v.require(not kinds, f"after the signal the load saw {after_term['kinds']}: "
                         f"{load.details(tuple(kinds))}")
    v.done()


def test_sigterm_drain_deadline_cuts_honestly(procs, sluice):
    be = procs.backend(name="api")
    gw = sluice(gw_config(be, "1s"))
    v = Verdicts()
    heads0 = be.stats()["heads"]
    waits = [one(gw.port, Req("GET", t, check=echo_check(t)))
             for t in (f"/wait/{i}?delay_ms=4000" for i in range(2))]
    streams = [one(gw.port, Req("GET", t, check=sized_check(4 * MiB)))
               for t in (f"/stream/{i}?size={4 * MiB}&slow_ms=50" for i in range(2))]
    v.check(wait_for, lambda: be.stats()["heads"] >= heads0 + 4, 5.0,
            what="the long requests to reach the backend")
    time.sleep(0.3)
    t_term = time.monotonic()
    gw.send_sigterm()
    code = gw.wait_exit(20.0)
    exit_s = time.monotonic() - t_term
    for t in waits + streams:
        t.join(20)
    w = [o for t in waits for o in t.outcomes]
    s = [o for t in streams for o in t.outcomes]
    lines = [f"SIGTERM, drain 1s: exit code {code} after {exit_s:.2f}s",
             f"4 s answers: {[(o[2], o[3], round(o[1], 2)) for o in w]}",
             f"3.2 s streams: {[(o[2], o[3], round(o[1], 2), o[4][-40:]) for o in s]}"]
    report("SIGTERM past the drain deadline (drain 1s)", lines, {"exit_s": exit_s, "code": code})
    v.require(code == 0, f"exit code {code} (None = still running after 20 s)")
    v.require(0.8 < exit_s < 2.5, f"exit {exit_s:.2f}s after SIGTERM (drain 1s; bound 0.8-2.5 s)")
    v.require(len(w) == 2 and all(o[2] == "closed" for o in w),
              f"cut before their head, the waits must see a close without an answer: {w}")
    v.require(len(s) == 2 and all(o[2] == "incomplete" for o in s),
              f"cut mid-body, the streams must be seen as cut: {s}")
    v.done()
