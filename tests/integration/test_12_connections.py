"""Memory per idle keep-alive connection: 10,000 client connections, each after one request,
cost sluice less than 2 KiB of RSS each."""

import random
import resource
import socket
import time

import pytest

from harness import Client, build_request, config, parse_responses

N = 10_000
WARM = 200
BATCH = 250
MAX_PER_CONN = 2048


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft


def open_batch(port, count, request_bytes, deadline):
    """Opens count connections, sends one request on each, reads each answer; returns sockets."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.settimeout(10)
            s.connect(("127.0.0.1", port))
            s.sendall(request_bytes)
        for s in socks:
            data = b""
            while True:
                assert time.monotonic() < deadline, "opening connections took too long"
                chunk = s.recv(4096)
                assert chunk, "connection closed before the answer"
                data += chunk
                rs = parse_responses_quiet(data)
                if rs:
                    assert rs[0].status == 200, rs[0]
                    break
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def parse_responses_quiet(data):
    try:
        rs = parse_responses(data)
    except Exception:
        return []
    return [r for r in rs if r.complete]


@pytest.mark.slow
def test_10k_idle_keepalive_connections(sluice):
    # this process holds N client sockets and sluice (started after this) N server sockets;
    # each process has its own open-files limit (20,000 hard here), so N + headroom fits
    soft = raise_nofile(N + 500)
    if soft < N + 100:
        pytest.skip(f"open-files limit {soft} too low for {N} connections")
    gw = sluice(config("""
        routes:
          - name: ka
            match: {path: /ka}
            respond: {status: 200, body: "ok"}
        timeouts:
          idle: 300s
          client_header: 60s
    """))
    req = build_request("GET", "/ka")
    conns = []
    t0 = time.monotonic()
    deadline = t0 + 90
    try:
        conns += open_batch(gw.port, WARM, req, deadline)
        time.sleep(0.3)
        base = gw.rss()
        while len(conns) < N:
            conns += open_batch(gw.port, min(BATCH, N - len(conns)), req, deadline)
        opened = time.monotonic() - t0
        time.sleep(0.5)
        after = gw.rss()
        per_conn = (after - base) / (N - WARM)
        print(f"\n{N} idle keep-alive connections opened in {opened:.1f}s; sluice RSS "
              f"{base / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB: {per_conn:.0f} bytes "
              f"per connection")

        # the connections are alive: a sample of them still gets answers
        for s in random.Random(1).sample(conns, 50):
            s.sendall(req)
            data = b""
            while not parse_responses_quiet(data):
                chunk = s.recv(4096)
                assert chunk, "an idle connection was closed"
                data += chunk
        assert per_conn < MAX_PER_CONN, f"{per_conn:.0f} bytes of RSS per idle connection"
    finally:
        for s in conns:
            s.close()
    # and sluice still serves new connections
    with Client(gw.port) as c:
        assert c.request("GET", "/ka").status == 200
