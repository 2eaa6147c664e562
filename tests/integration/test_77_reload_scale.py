"""A 10,000-route config reloaded under load: every reload (file and API) is applied while wrk
keeps 8 connections busy, and no request fails or is answered by the wrong route. Latency is
measured by bench/reload_bench.py (docs/performance.md), not asserted here."""

import re
import shutil
import subprocess
import time

import pytest

from harness import config, request
from test_70_admin_api import api

WRK = shutil.which("wrk")
ROUTES = 10000


def big_config(be, timeout="5s"):
    lines = [f"  - {{name: r{i}, match: {{path: \"/svc{i}/{{*rest}}\"}}, upstream: pool}}"
             for i in range(ROUTES)]
    lines[7] = (f"  - {{name: r7, match: {{path: \"/svc7/{{*rest}}\"}}, upstream: pool, "
                f"timeout: {timeout}}}")
    return config(f"upstreams:\n  - {{name: pool, targets: [{{address: \"{be.address}\"}}]}}\n"
                  "routes:\n" + "\n".join(lines), workers=2)


@pytest.mark.skipif(WRK is None, reason="wrk is not installed (scripts/setup.sh)")
def test_ten_thousand_routes_reload_under_load_without_a_failed_request(backend, sluice):
    be = backend()
    gw = sluice(big_config(be), ready_timeout=30)
    wrk = subprocess.Popen([WRK, "-t1", "-c8", "-d6s", f"http://127.0.0.1:{gw.port}/svc7/x"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reloads = []
    try:
        time.sleep(0.5)
        for i in range(4):
            t0 = time.monotonic()
            status, body = gw.reload(big_config(be, timeout=f"{i + 6}s"))
            reloads.append(time.monotonic() - t0)
            assert status == 200 and body["ok"], body
            t0 = time.monotonic()
            status, _, body = api(gw, "PATCH", "/routes/r9999", {"timeout": f"{i + 2}s"})
            reloads.append(time.monotonic() - t0)
            assert status == 200, body
            time.sleep(0.2)
        out, _ = wrk.communicate(timeout=30)
    finally:
        if wrk.poll() is None:
            wrk.kill()
    print(f"\n{len(reloads)} changes of a {ROUTES}-route config under load, each "
          f"{', '.join(f'{t * 1000:.0f}' for t in reloads)} ms\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    assert requests > 1000, out
    assert "Socket errors" not in out and "Non-2xx" not in out, out
    r = request(gw.port, "GET", "/svc9999/y")
    assert r.status == 200 and r.json()["path"] == "/svc9999/y", r
    assert gw.get_config()["version"] == 9
