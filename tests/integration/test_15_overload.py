"""Overload at accept time: listeners[].max_connections, limits.max_connections_per_client,
limits.memory_budget and running out of file descriptors. A connection over a limit gets a fast
503 with Retry-After and is closed; the connections already open go on being served; the admin
listener still answers /healthz when the workers are out of descriptors; each refusal is counted
in sluice_connections_refused_total{reason}."""

import os
import resource
import socket
import time

import pytest

from harness import Client, http_json, parse_response, raw, wait_for
from harness_auth import metric_samples


def listener_config(be, listener_extra="", limits="", workers=2, extra_routes=0):
    more = "".join(f"  - name: r{i}\n    match: {{path: /more/r{i}}}\n    upstream: be\n"
                   for i in range(extra_routes))
    return (f"workers: {workers}\n"
            "listeners:\n  - address: 127.0.0.1:$PORT\n" + listener_extra +
            "admin:\n  address: 127.0.0.1:$ADMIN\n" + limits +
            f"upstreams:\n  - name: be\n    targets: [{{address: {be.address}}}]\n"
            "routes:\n  - name: all\n    match: {path: \"/{*rest}\"}\n    upstream: be\n" + more)


def refused(gw, reason):
    _, _, body = http_json(gw.admin_port, "GET", "/metrics")
    text = body if isinstance(body, str) else body.decode()
    v = metric_samples(text, "sluice_connections_refused_total", reason=reason)
    return v[0] if v else 0.0


def get_503(port, source=None):
    """Connects (from `source` if given), sends a request, returns the parsed answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if source:
        s.bind((source, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n")
    data = b""
    t0 = time.monotonic()
    try:
        while True:
            got = s.recv(65536)
            if not got:
                break
            data += got
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    return parse_response(data), time.monotonic() - t0


def hold(port, n):
    """n open keep-alive connections that each completed one request."""
    out = []
    for _ in range(n):
        c = Client(port)
        assert c.request("GET", "/held").status == 200
        out.append(c)
    return out


def test_listener_max_connections(backend, sluice):
    be = backend(name="b")
    gw = sluice(listener_config(be, "    max_connections: 3\n"))
    held = hold(gw.port, 3)
    r, took = get_503(gw.port)
    assert r.status == 503, r
    assert r.header("retry-after") == "1" and r.header("connection") == "close", r
    assert r.json()["error"] == "listener connection limit reached"
    print(f"\nover listeners[].max_connections: 503 in {took * 1000:.1f} ms")
    for c in held:  # the open ones are still served
        assert c.request("GET", "/still").status == 200
    held.pop().close()
    wait_for(lambda: get_503(gw.port)[0].status == 200, 5.0, what="a slot after a close")
    assert refused(gw, "listener_limit") >= 1
    for c in held:
        c.close()


def test_max_connections_per_client(backend, sluice):
    be = backend(name="b")
    gw = sluice(listener_config(be, limits="limits:\n  max_connections_per_client: 2\n"))
    held = hold(gw.port, 2)
    r, _ = get_503(gw.port)
    assert r.status == 503 and r.json()["error"] == "client connection limit reached", r
    # another client address is not affected
    r2, _ = get_503(gw.port, source="127.0.0.2")
    assert r2.status == 200, r2
    for c in held:
        assert c.request("GET", "/still").status == 200
        c.close()
    wait_for(lambda: get_503(gw.port)[0].status == 200, 5.0, what="the client's slots back")
    assert refused(gw, "client_limit") >= 1


def test_memory_budget(backend, sluice):
    be = backend(name="b")
    # Under the gateway's own resident set (20,000 routes make it larger than the smallest
    # budget): every new connection is refused.
    gw = sluice(listener_config(be, limits="limits:\n  memory_budget: 16MiB\n",
                                extra_routes=20000), ready_timeout=60)
    rss = int(open(f"/proc/{gw.pid}/statm").read().split()[1]) * os.sysconf("SC_PAGESIZE")
    if rss <= 16 << 20:
        pytest.skip(f"sluice's resident set ({rss >> 20} MiB) is under 16 MiB here")
    # The resident set is sampled every 250 ms: the first sample may come after /readyz.
    wait_for(lambda: "over limits.memory_budget" in gw.log_tail(), 5.0, what="the first sample")
    wait_for(lambda: get_503(gw.port)[0].status == 503, 5.0, what="refusal over the budget")
    r, _ = get_503(gw.port)
    assert r.json()["error"] == "memory budget exceeded"
    status, _, _ = http_json(gw.admin_port, "GET", "/healthz")
    assert status == 200
    assert refused(gw, "memory_budget") >= 1
    assert "over limits.memory_budget" in gw.log_tail()
    # A reload that lifts the budget lets connections in again.
    status, body = gw.reload(listener_config(be, limits="limits:\n  memory_budget: 64GiB\n",
                                             extra_routes=20000))
    assert status == 200 and body["ok"], body
    wait_for(lambda: get_503(gw.port)[0].status == 200, 5.0, what="accepting again")
    assert "back under limits.memory_budget" in gw.log_tail()


def test_memory_budget_config_errors(tmp_path):
    from harness import validate_config
    code, out = validate_config(tmp_path, "listeners:\n  - address: 127.0.0.1:1\n"
                                          "limits:\n  memory_budget: 1MiB\n")
    assert code == 1 and "limits.memory_budget" in out and "at least 16MiB" in out, out
    code, out = validate_config(tmp_path, "listeners:\n  - address: 127.0.0.1:1\n"
                                          "    max_connections: -1\n")
    assert code == 1 and "listeners[0].max_connections" in out, out


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_out_of_descriptors(backend, sluice):
    be = backend(name="b")
    gw = sluice(listener_config(be, workers=1))
    # Warm the upstream pool, then cap the process a few descriptors above what it holds.
    assert Client(gw.port).request("GET", "/warm").status == 200
    base = open_fds(gw.pid)
    cap = base + 6
    before = resource.prlimit(gw.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(gw.pid, resource.RLIMIT_NOFILE, (cap, before[1]))  # the soft limit
    held = []
    answers = []
    try:
        for _ in range(12):
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            s.sendall(b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n")
            held.append(s)
        # Each client gets an answer at once: a 200 while descriptors last, a 503 after.
        for s in held:
            data = b""
            s.settimeout(5)
            try:
                while b"\r\n\r\n" not in data:
                    got = s.recv(65536)
                    if not got:
                        break
                    data += got
            except (socket.timeout, ConnectionResetError):
                pass
            answers.append(data.split(b" ", 2)[1] if data.startswith(b"HTTP/1.1") else b"none")
        counts = {k.decode(): answers.count(k) for k in sorted(set(answers))}
        # (a client accepted while its upstream connect finds no descriptor gets a 502)
        print(f"\n{len(held)} clients at a cap of {cap} descriptors (held {base}): {counts}")
        assert b"none" not in answers, answers
        assert answers.count(b"503") >= 1, answers
        # The admin listener keeps a reserve: probes still answer.
        for _ in range(3):
            status, _, _ = http_json(gw.admin_port, "GET", "/healthz", timeout=5)
            assert status == 200
        assert refused(gw, "fd_limit") >= 1
        # No spin: the worker is idle while the clients wait.
        t0 = sum(int(x) for x in open(f"/proc/{gw.pid}/stat").read().split(")")[1].split()[11:13])
        time.sleep(1.0)
        t1 = sum(int(x) for x in open(f"/proc/{gw.pid}/stat").read().split(")")[1].split()[11:13])
        assert t1 - t0 < 30, f"{t1 - t0} ticks of CPU in 1 s while out of descriptors"
    finally:
        for s in held:
            s.close()
        resource.prlimit(gw.pid, resource.RLIMIT_NOFILE, before)
    # Once descriptors are free, the episode ends (logged once each way) and traffic flows.
    wait_for(lambda: raw(gw.port, b"GET /y HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
             .startswith(b"HTTP/1.1 200"), 5.0, what="serving again")
    log = gw.log_tail(20000)
    assert log.count("new connections get 503 until descriptors are free") == 1, log
    assert "descriptors available again" in log, log
