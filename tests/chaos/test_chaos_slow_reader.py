"""Chaos: slow and stalled readers next to normal traffic, with `timeouts.client_send: 2s`.

- 30 slow readers (16 KiB receive buffer) each fetch a 2 MiB body at about 800 KB/s: each must
  get it whole (length and bytes checked), since it always makes progress within client_send;
- 20 stalled readers each ask for a 64 MiB body (more than every socket buffer on the way can
  hold), read the head and stop: sluice must close each one about client_send after its buffers
  filled, and its upstream connection with it; the client must see the body cut, never whole;
- 4 keep-alive loops of verified JSON GETs run all along: none may fail, and their latency stays
  bounded (back-pressure holds the slow ones, not the others);
- sluice's RSS stays bounded while 50 exchanges are held back (64 KiB per direction per
  exchange), and RSS, open files and the backend's connections come back afterwards (once the
  pooled upstream connections of the whole exchanges pass their idle_timeout, 2 s); no spin.
"""

import socket
import threading
import time

from chaos_lib import (MiB, Load, Sampler, Snap, Verdicts, load_line, metric_total, mib,
                       proc_line, report, settle_checks)
from harness import build_request, config

SLOW_SIZE = 2 * MiB
STALL_SIZE = 64 * MiB
CHUNK = 16384


def open_client(port, rcvbuf=CHUNK):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def read_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(CHUNK)
        if not d:
            raise ConnectionError(f"closed in the head: {buf[:100]!r}")
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    cl = None
    for line in lines[1:]:
        n, _, val = line.partition(":")
        if n.strip().lower() == "content-length":
            cl = int(val.strip())
    return status, cl, rest


def slow_reader(port, i, out, pause=0.02):
    t0 = time.monotonic()
    try:
        s = open_client(port)
        s.sendall(build_request("GET", f"/slow/{i}?size={SLOW_SIZE}"))
        status, cl, rest = read_head(s)
        got, xs = len(rest), rest.count(b"x")
        end = "complete"
        while cl is not None and got < cl:
            time.sleep(pause)
            try:
                d = s.recv(CHUNK)
            except ConnectionResetError:
                end = "reset"
                break
            if not d:
                end = "eof"
                break
            got += len(d)
            xs += d.count(b"x")
        s.close()
        out[i] = {"status": status, "cl": cl, "got": got, "bytes_ok": xs == got, "end": end,
                  "seconds": time.monotonic() - t0}
    except Exception as e:  # noqa: BLE001  recorded, asserted by the test
        out[i] = {"error": f"{type(e).__name__}: {e}", "seconds": time.monotonic() - t0}


def stalled_reader(port, i, out, stall):
    try:
        s = open_client(port)
        s.sendall(build_request("GET", f"/stall/{i}?size={STALL_SIZE}"))
        status, cl, rest = read_head(s)
        time.sleep(stall)  # read nothing: sluice's buffers towards us fill, then client_send
        got, end = len(rest), "timeout"
        s.settimeout(3.0)
        try:
            while True:
                d = s.recv(1 << 20)
                if not d:
                    end = "eof"
                    break
                got += len(d)
        except ConnectionResetError:
            end = "reset"
        except socket.timeout:
            end = "timeout"
        s.close()
        out[i] = {"status": status, "cl": cl, "got": got, "end": end}
    except Exception as e:  # noqa: BLE001
        out[i] = {"error": f"{type(e).__name__}: {e}"}


def test_slow_and_stalled_readers(procs, sluice):
    be = procs.backend(name="api")
    gw = sluice(config(f"""
        upstreams:
          - name: api
            targets: [{{address: {be.address}}}]
            idle_timeout: 2s
        routes:
          - name: all
            match: {{path: "/{{*rest}}"}}
            upstream: api
        timeouts: {{client_send: 2s}}
    """, workers=2))
    v = Verdicts()
    Load(gw.port, loops=4, max_seconds=1.0).run_for(1.0)
    before = Snap(gw.pid)
    be_conns0 = be.stats()["active_connections"]
    slow, stalled = {}, {}
    with Sampler(gw.pid, 0.2) as sampler:
        load = Load(gw.port, loops=4, max_seconds=40.0, deadline=5.0).start()
        time.sleep(0.5)
        t0 = time.monotonic()
        threads = [threading.Thread(target=slow_reader, args=(gw.port, i, slow), daemon=True)
                   for i in range(30)]
        threads += [threading.Thread(target=stalled_reader, args=(gw.port, i, stalled, 6.0),
                                     daemon=True) for i in range(20)]
        for t in threads:
            t.start()
        # when do the stalled ones go? sluice_downstream_connections over time
        conns = []
        while any(t.is_alive() for t in threads) and time.monotonic() - t0 < 30:
            conns.append((round(time.monotonic() - t0, 1),
                          int(metric_total(gw, "sluice_downstream_connections"))))
            time.sleep(0.5)
        for t in threads:
            t.join(10)
        t_end = time.monotonic()
        held = load.summary(since=t0, until=t_end)
        load.finish()
    # the upstream connections of the exchanges that ended well are pooled (idle_timeout 2s);
    # those of the stalled ones must be closed with them: all gone once the pool is idle
    t_pool = time.monotonic()
    while be.stats()["active_connections"] > be_conns0 + 4 and time.monotonic() - t_pool < 10:
        time.sleep(0.2)
    after, idle = settle_checks(gw, before, v)
    be_conns = be.stats()["active_connections"]
    slow_ok = [r for r in slow.values() if r.get("end") == "complete" and r["got"] == SLOW_SIZE
               and r["bytes_ok"] and r["status"] == 200]
    slow_bad = {i: r for i, r in slow.items() if r not in slow_ok}
    cut = [r for r in stalled.values() if r.get("end") in ("eof", "reset")
           and r.get("cl") == STALL_SIZE and r["got"] < STALL_SIZE]
    stalled_bad = {i: r for i, r in stalled.items() if r not in cut}
    secs = sorted(r["seconds"] for r in slow_ok)
    lines = [f"slow readers: {len(slow_ok)}/30 got 2 MiB whole, in {secs[0]:.1f}-{secs[-1]:.1f}s"
             if secs else "slow readers: none complete",
             f"stalled readers: {len(cut)}/20 cut by sluice (client saw "
             f"{min((r['got'] for r in cut), default=0) / MiB:.1f}-"
             f"{max((r['got'] for r in cut), default=0) / MiB:.1f} MiB of 64 MiB)",
             f"downstream connections over time (s, n): {conns}",
             f"other traffic meanwhile: {load_line(held)}",
             f"backend connections {be_conns0} before, {be_conns} after",
             f"RSS peak {mib(sampler.peak_rss)} vs {mib(before.rss)} before "
             f"(+{(sampler.peak_rss - before.rss) / MiB:.1f} MiB for 50 held exchanges)"]
    if after:
        lines.append(proc_line(before, after, sampler.peak_rss, idle))
    report("slow and stalled readers (client_send 2s)", lines,
           {"slow_ok": len(slow_ok), "stalled_cut": len(cut), "other": held})
    v.require(not slow_bad, f"slow readers that did not get their body whole: {slow_bad}")
    v.require(not stalled_bad, f"stalled readers not cut (or errors): {stalled_bad}")
    v.check(load.assert_clean)
    v.require(held["p99_ms"] < 1000, f"other traffic p99 {held['p99_ms']:.0f} ms (bound 1000)")
    v.require(sampler.peak_rss - before.rss < 32 * MiB,
              f"LEAK: RSS rose {mib(sampler.peak_rss - before.rss)} with 50 held exchanges "
              "(bound 32 MiB)")
    v.require(be_conns <= be_conns0 + 4,
              f"LEAK: backend connections {be_conns0} -> {be_conns}: upstream sides not closed")
    v.done()
