"""Zero-downtime binary upgrade: SIGUSR2 starts the binary on disk with the same arguments and
hands it the listening sockets and the local rate-limit counters; once it is ready the old
process stops accepting, drains and exits 0. Under wrk load nothing fails; a new process that
cannot start leaves the old one serving (docs/operations.md#binary-upgrade)."""

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from harness import Client, config, http_json, request, wait_for

WRK = shutil.which("wrk")


def upgrade_config(be, limit=1000000):
    return config(f"""
        upstreams:
          - name: pool
            targets: [{{address: "{be.address}"}}]
        routes:
          - name: all
            match: {{path: "/{{*rest}}"}}
            upstream: pool
            rate_limits:
              - {{name: per-key, key: "header:x-api-key", algorithm: sliding_window,
                 limit: {limit}, period: 1h}}
    """, workers=2)


def new_pid(gw, timeout=10):
    """The pid the old process started (from its log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(r"upgrade: started .* as pid (\d+)", gw.log_tail(20000))
        if m:
            return int(m.group(1))
        time.sleep(0.02)
    raise AssertionError(f"no upgrade started:\n{gw.log_tail()}")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (the old process exited without reaping it is not possible: it is the parent)
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def stop_pid(pid):
    if not alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not alive(pid), timeout=20)


def remaining(port, key):
    r = request(port, "GET", "/rl", headers={"x-api-key": key})
    assert r.status == 200, r
    return int(r.header("ratelimit-remaining"))


@pytest.mark.skipif(WRK is None, reason="wrk is not installed (scripts/setup.sh)")
def test_usr2_under_wrk_load_fails_nothing_and_keeps_counters(backend, sluice):
    be = backend()
    gw = sluice(upgrade_config(be, limit=1000))
    for _ in range(10):
        remaining(gw.port, "alice")
    assert remaining(gw.port, "alice") == 1000 - 11
    wrk = subprocess.Popen([WRK, "-t2", "-c16", "-d4s", f"http://127.0.0.1:{gw.port}/load"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pid = None
    try:
        time.sleep(1.2)
        gw.term_sent = True  # the old process is to exit by itself
        os.kill(gw.pid, signal.SIGUSR2)
        pid = new_pid(gw)
        out, _ = wrk.communicate(timeout=30)
        code = gw.wait_exit(20)
        log = gw.log_tail(20000)
        print("\n" + out)
        assert code == 0, log
        assert "is ready; this process stops accepting and drains" in log, log
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        assert requests > 1000, out
        assert "Socket errors" not in out, out  # connect, read, write or timeout errors
        assert "Non-2xx" not in out, out
        assert alive(pid)
        # the new process serves on the same ports, with the counters handed over
        assert remaining(gw.port, "alice") == 1000 - 12, log
        assert "rate-limit key(s) and the health of" in log, log
        status, _, body = http_json(gw.admin_port, "GET", "/readyz")
        assert status == 200 and body == b"ready\n"
    finally:
        if wrk.poll() is None:
            wrk.kill()
        if pid:
            stop_pid(pid)


def test_a_new_process_that_cannot_start_leaves_the_old_serving(backend, sluice):
    be = backend()
    gw = sluice(upgrade_config(be))
    gw.write_config("listeners: [{address: nowhere}]\n")  # the new process refuses this file
    os.kill(gw.pid, signal.SIGUSR2)
    wait_for(lambda: "this process goes on serving" in gw.log_tail(), timeout=10)
    assert "failed (it exited with 1)" in gw.log_tail(), gw.log_tail()
    with Client(gw.port) as c:
        for i in range(20):
            assert c.request("GET", f"/still/{i}").status == 200
    assert http_json(gw.admin_port, "GET", "/readyz")[0] == 200
    # and a second try, with a good file, upgrades
    gw.write_config(upgrade_config(be))
    gw.term_sent = True
    os.kill(gw.pid, signal.SIGUSR2)
    pid = new_pid_after(gw, 2)
    try:
        assert gw.wait_exit(20) == 0, gw.log_tail()
        assert request(gw.port, "GET", "/after").status == 200
    finally:
        stop_pid(pid)


def new_pid_after(gw, nth, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = re.findall(r"upgrade: started .* as pid (\d+)", gw.log_tail(20000))
        if len(pids) >= nth:
            return int(pids[nth - 1])
        time.sleep(0.02)
    raise AssertionError(f"no upgrade #{nth}:\n{gw.log_tail()}")


def test_an_unhealthy_target_stays_unhealthy_across_an_upgrade(backend, stub, sluice):
    b = backend(name="b")
    s = stub(name="s", health_status=503)

    def hc_config(interval):
        return config(f"""
            upstreams:
              - name: pool
                targets: [{{address: "{b.address}"}}, {{address: "{s.address}"}}]
                health_check: {{path: /health, interval: {interval}, timeout: 100ms,
                                healthy_threshold: 1, unhealthy_threshold: 1}}
            routes:
              - {{name: all, match: {{path: "/{{*rest}}"}}, upstream: pool}}
        """, workers=1)

    gw = sluice(hc_config("200ms"))
    wait_for(lambda: s.health_hits >= 2, 3.0, what="two health checks of the stub")
    # The new process checks every 10 s, the second target 5 s after it starts: until then only
    # the handed-over verdict keeps traffic off the stub.
    gw.write_config(hc_config("10s"))
    h0 = s.hits
    gw.term_sent = True
    os.kill(gw.pid, signal.SIGUSR2)
    pid = new_pid(gw)
    try:
        assert gw.wait_exit(20) == 0, gw.log_tail()
        assert "and the health of 2 target(s) handed over" in gw.log_tail(20000), gw.log_tail()
        with Client(gw.port) as c:
            for i in range(20):
                r = c.request("GET", f"/after/{i}")
                assert r.status == 200 and r.header("x-backend") == "b", r
        assert s.hits == h0, f"the unhealthy target got {s.hits - h0} requests after the upgrade"
    finally:
        stop_pid(pid)
