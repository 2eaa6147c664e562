"""Chaos: file-descriptor exhaustion. sluice's RLIMIT_NOFILE is lowered (prlimit) to its open
files + 64, then CHAOS_FD_CONNECTIONS (default 300) idle client connections are opened and held,
so that accept() fails with EMFILE while the kernel keeps queueing the rest; twice.

While exhausted: sluice must not spin (accept failing in a loop), a keep-alive client accepted
before still gets answers within its deadline (200 on its pooled upstream connection; once that
one is closed, a quick 502 since no new upstream connection can be opened), and sluice stays
alive. After the held
connections close: a new connection is served within 5 s (docs/operations.md: what waits in the
accept queue is picked up when the next connection arrives), a verified load runs clean, and
open files and RSS come back to their level before.
"""

import resource
import socket
import time

from chaos_lib import (Load, Sampler, Snap, Verdicts, check_alive, env_int, fd_count, load_line,
                       proc_line, report, settle_checks)
from harness import Client, ReadTimeout, config, request


def try_request(port, path, timeout):
    t0 = time.monotonic()
    try:
        r = request(port, "GET", path, timeout=timeout)
        return r.status, time.monotonic() - t0
    except (ReadTimeout, socket.timeout):
        return "timeout", time.monotonic() - t0
    except (OSError, Exception) as e:  # noqa: BLE001  closed, reset
        return type(e).__name__, time.monotonic() - t0


def test_fd_exhaustion(procs, sluice):
    be = procs.backend(name="api")
    gw = sluice(config(f"""
        upstreams:
          - name: api
            targets: [{{address: {be.address}}}]
        routes:
          - name: all
            match: {{path: "/{{*rest}}"}}
            upstream: api
        timeouts: {{idle: 60s}}
    """, workers=2))
    v = Verdicts()
    n_conns = env_int("CHAOS_FD_CONNECTIONS", 300)
    # the test process needs n_conns + a few files itself
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n_conns + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n_conns + 200), hard))
    Load(gw.port, loops=2, max_seconds=1.0).run_for(1.0)  # warm: upstream pool, buffers
    base_fds = fd_count(gw.pid)
    limit = base_fds + 64
    resource.prlimit(gw.pid, resource.RLIMIT_NOFILE, (limit, limit))
    before = Snap(gw.pid)
    rounds = []
    with Sampler(gw.pid, 0.25) as sampler:
        for rnd in range(2):
            keeper = Client(gw.port, timeout=3.0)
            assert keeper.request("GET", f"/keeper/{rnd}/warm").status == 200
            held = []
            for _ in range(n_conns):
                s = socket.socket()
                s.settimeout(2.0)
                try:
                    s.connect(("127.0.0.1", gw.port))
                    held.append(s)
                except OSError:
                    s.close()
                    break
            time.sleep(0.5)
            at_limit = fd_count(gw.pid)
            a = Snap(gw.pid)
            keeper_results = []
            for i in range(5):
                try:
                    t0 = time.monotonic()
                    # the third answer closes its upstream connection (?close=1): the next
                    # request needs a new one, which cannot be opened (502, documented)
                    r = keeper.request("GET", f"/keeper/{rnd}/{i}" + ("?close=1" if i == 2 else ""))
                    keeper_results.append((r.status, round(time.monotonic() - t0, 3)) +
                                          (() if r.status == 200 else
                                           (r.json().get("error"), r.header("connection"))))
                    if "close" in r.tokens("connection"):
                        break
                except (ReadTimeout, socket.timeout):
                    keeper_results.append(("timeout", 3.0))
                    break
                except Exception as e:  # noqa: BLE001
                    keeper_results.append((type(e).__name__, 0))
                    break
                time.sleep(0.2)
            new_conn = try_request(gw.port, "/new-while-exhausted", 1.0)
            time.sleep(max(0.0, 2.0 - (time.monotonic() - a.t)))
            b = Snap(gw.pid)
            exhausted_cores = b.cores_since(a)
            check_alive(gw, "while its files were exhausted")
            admin = "ok"
            try:
                status, _, _ = gw.admin("GET", "/healthz", timeout=2.0)
                admin = status
            except OSError as e:
                admin = type(e).__name__
            t_release = time.monotonic()
            for s in held:
                s.close()
            keeper.close()
            served = None
            first = None
            while time.monotonic() - t_release < 5.0:
                first = try_request(gw.port, f"/after/{rnd}", 1.0)
                if first[0] == 200:
                    served = time.monotonic() - t_release
                    break
                time.sleep(0.05)
            load = Load(gw.port, loops=4, max_seconds=2.0).run_for(2.0)
            rounds.append({"held": len(held), "fds_at_limit": at_limit,
                           "exhausted_cores": exhausted_cores, "keeper": keeper_results,
                           "new_conn": new_conn, "admin": admin, "served_after": served,
                           "last_probe": first, "load": load.summary()})
            v.require(exhausted_cores < 0.3,
                      f"SPIN: round {rnd}: {exhausted_cores:.0%} of a core while exhausted")
            v.require(served is not None, f"HANG: round {rnd}: no new connection served within 5 s "
                                          f"of releasing the held ones (last: {first})")
            v.require(all(k[0] in (200, 502) for k in keeper_results),
                      f"round {rnd}: the keep-alive client while exhausted: {keeper_results}")
            v.check(load.assert_clean)
    after, idle = settle_checks(gw, before, v, fd_bound=8)
    lines = [f"RLIMIT_NOFILE {limit} (open files at start {base_fds})"]
    for i, r in enumerate(rounds):
        lines += [f"round {i}: {r['held']} connections held, sluice at {r['fds_at_limit']} files, "
                  f"CPU while exhausted {r['exhausted_cores']:.2f} core; keep-alive client "
                  f"{r['keeper']}; new connection {r['new_conn'][0]} after "
                  f"{r['new_conn'][1]:.2f}s; admin /healthz {r['admin']}",
                  f"round {i}: released -> first new connection served after "
                  f"{r['served_after']:.2f}s" if r['served_after'] is not None else
                  f"round {i}: released -> NOT served ({r['last_probe']})",
                  f"round {i}: load after: {load_line(r['load'])}"]
    if after:
        lines.append(proc_line(before, after, sampler.peak_rss, idle))
    report("file-descriptor exhaustion", lines, {"rounds": rounds})
    v.done()

