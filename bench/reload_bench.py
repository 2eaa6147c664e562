#!/usr/bin/env python3
"""Latency while a large config reloads: sluice on an N-route config (bench/gen_routes.py, every
other route with a filter) in front of one nginx answering "ok", under a fixed wrk load; rounds
alternate a steady run with a run during which the config is reloaded every INTERVAL (each
reload changes one route, so every one builds and publishes a new snapshot). Prints each round's
p50/p99/p99.9 (wrk --latency), errors, reloads done, the medians and the p99 ratio.

    bench/reload_bench.py [ROUTES=10000] [ROUNDS=3] [SECONDS=5] [INTERVAL_MS=250]

SLUICE_BIN (default build/release/sluice). Loopback only; bounded by ROUNDS x 2 x SECONDS."""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = os.environ.get("SLUICE_BIN", str(HERE.parent / "build/release/sluice"))
PORT, ADMIN, BACKEND = 18080, 18081, 18082


def ms(text):
    v = float(re.match(r"([\d.]+)", text).group(1))
    unit = text[len(re.match(r"[\d.]+", text).group(0)):]
    return v * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(seconds):
    out = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency",
                          f"http://127.0.0.1:{PORT}/api/v1/svc5/x"],
                         capture_output=True, text=True, check=True).stdout
    lat = dict(re.findall(r"^\s+(50|99|99\.9)\.000%\s+(\S+)", out, re.M))
    # wrk prints 50/75/90/99 by default; p99.9 is not there unless the histogram is asked for
    p = {k: ms(v) for k, v in re.findall(r"^\s+(\d+)%\s+(\S+)$", out, re.M)}
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    return p.get("50", 0), p.get("99", 0), reqs, errors, lat


def post(path):
    req = urllib.request.Request(f"http://127.0.0.1:{ADMIN}{path}", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status


def main():
    args = [int(a) for a in sys.argv[1:]]
    n, rounds, seconds, interval = (args + [10000, 3, 5, 250][len(args):])[:4]
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed (scripts/setup.sh)")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "nginx.conf").write_text(
            f"worker_processes 1; error_log {d}/ng.log; pid {d}/ng.pid;\n"
            "events {}\nhttp { access_log off; keepalive_requests 10000000;\n"
            f"  client_body_temp_path {d}/cb; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;\n"
            f"  uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n"
            f"  server {{ listen 127.0.0.1:{BACKEND}; location / {{ return 200 \"ok\\n\"; }} }} }}\n")
        ng = subprocess.Popen(["nginx", "-p", str(d), "-c", str(d / "nginx.conf"), "-g",
                               "daemon off; master_process off;"], stderr=subprocess.DEVNULL)
        cfg = d / "routes.yaml"
        text = subprocess.run([sys.executable, str(HERE / "gen_routes.py"), str(n), "--filters"],
                              capture_output=True, text=True, check=True).stdout
        cfg.write_text("workers: 1\n" + text)
        proc = subprocess.Popen([BIN, "run", "--config", str(cfg)], stdout=subprocess.DEVNULL,
                                stderr=open(d / "log", "w"))
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{ADMIN}/readyz", timeout=1)
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("sluice did not start: " + (d / "log").read_text())
                    time.sleep(0.1)
            wrk(1)  # warm up
            steady, during, reload_ms = [], [], []
            for r in range(rounds):
                steady.append(wrk(seconds))
                stop = threading.Event()
                count = [0]

                def reloader():
                    i = 0
                    while not stop.is_set():
                        i += 1
                        cfg.write_text("workers: 1\n" + text.replace(
                            "    match: { path: \"/api/v1/svc1/{*rest}\"",
                            f"    timeout: {i % 50 + 1}s\n    match: {{ path: \"/api/v1/svc1/{{*rest}}\""))
                        t0 = time.monotonic()
                        assert post("/reload") == 200
                        reload_ms.append((time.monotonic() - t0) * 1000)
                        count[0] += 1
                        stop.wait(interval / 1000)

                t = threading.Thread(target=reloader)
                t.start()
                during.append(wrk(seconds) + (count,))
                stop.set()
                t.join()
                s, w = steady[-1], during[-1]
                print(f"round {r + 1}: steady p50 {s[0]:.3f} ms p99 {s[1]:.3f} ms ({s[2]} req, "
                      f"{s[3]} errors) | reloading p50 {w[0]:.3f} ms p99 {w[1]:.3f} ms ({w[2]} "
                      f"req, {w[3]} errors, {w[5][0]} reloads)")
            p99s = statistics.median(x[1] for x in steady)
            p99r = statistics.median(x[1] for x in during)
            print(f"{n} routes, wrk -t1 -c16, reload every {interval} ms: median p99 steady "
                  f"{p99s:.3f} ms, during reloads {p99r:.3f} ms (x{p99r / p99s:.2f}); "
                  f"errors {sum(x[3] for x in steady + during)}; reload (POST /reload) median "
                  f"{statistics.median(reload_ms):.0f} ms")
        finally:
            proc.terminate()
            proc.wait()
            ng.terminate()
            ng.wait()


if __name__ == "__main__":
    main()
