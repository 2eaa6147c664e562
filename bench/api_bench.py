#!/usr/bin/env python3
"""Cost of config changes at scale: starts sluice on an N-route config (bench/gen_routes.py)
and times, in interleaved rounds, a file reload (POST /reload), a one-route PATCH through the
admin REST API, and GET /api/v1/config; prints each round and the medians, and the RSS.

    bench/api_bench.py 10000 [ROUNDS]      # SLUICE_BIN=build/release/sluice by default
                                           # SLUICE_LOG=FILE keeps sluice's log (its reload lines)

Loopback only (127.0.0.1:18080/18081); bounded: ROUNDS (default 5) x 3 requests."""

import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = os.environ.get("SLUICE_BIN", str(HERE.parent / "build/release/sluice"))


def call(method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", 18081, timeout=120)
    t0 = time.monotonic()
    conn.request(method, path, body=body,
                 headers={"content-type": "application/json"} if body else {})
    resp = conn.getresponse()
    data = resp.read()
    elapsed = time.monotonic() - t0
    conn.close()
    if resp.status != 200:
        raise SystemExit(f"{method} {path}: {resp.status} {data[:300]!r}")
    return elapsed, len(data)


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "routes.yaml"
        with open(cfg, "w") as f:
            subprocess.run([sys.executable, str(HERE / "gen_routes.py"), str(n)], stdout=f,
                           check=True)
        proc = subprocess.Popen([BIN, "run", "--config", str(cfg)], stdout=subprocess.DEVNULL,
                                stderr=open(os.environ.get("SLUICE_LOG", str(Path(d) / "log")), "w"))
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    call("GET", "/readyz")
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("sluice did not start")
                    time.sleep(0.1)
            rss0 = rss_kb(proc.pid)
            times = {"reload": [], "patch": [], "get": []}
            size = 0
            for i in range(rounds):
                times["reload"].append(call("POST", "/reload")[0])
                times["patch"].append(call("PATCH", "/api/v1/routes/r1",
                                           '{"timeout": "%ds"}' % (i + 2))[0])
                t, size = call("GET", "/api/v1/config")
                times["get"].append(t)
            print(f"{n} routes, {rounds} rounds (interleaved); GET /api/v1/config is "
                  f"{size / 1e6:.1f} MB")
            for k, v in times.items():
                print(f"  {k:7s} median {statistics.median(v) * 1000:8.0f} ms   rounds "
                      + ", ".join(f"{x * 1000:.0f}" for x in v))
            print(f"  RSS {rss0 / 1024:.0f} MB after start, {rss_kb(proc.pid) / 1024:.0f} MB "
                  f"after the rounds")
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
