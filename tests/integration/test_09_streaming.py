"""Streaming with bounded memory: 1 GiB request and response bodies pass through sluice, and a
slow reader of a 64 MiB response gets it all, while sluice's RSS stays flat (< 16 MiB growth)."""

import hashlib
import threading
import time

import pytest

from harness import Client, RssSampler, build_request, config

GIB = 1 << 30
MAX_GROWTH = 16 << 20
BLOCK = bytes(range(256)) * 4096  # 1 MiB, not compressible into a pattern by accident
X_BLOCK = b"x" * (1 << 20)


@pytest.fixture
def gw(backend, sluice):
    be = backend(name="stream")
    g = sluice(config(f"""
        upstreams:
          - name: stream
            targets: [{{address: {be.address}}}]
        routes:
          - name: all
            match: {{path: "/{{*rest}}"}}
            upstream: stream
        timeouts:
          idle: 60s
          upstream_response: 60s
          client_body: 60s
    """))
    g.be = be
    return g


def warm_up(gw):
    """Brings sluice's pools to their steady state and returns the RSS baseline."""
    for _ in range(4):
        with Client(gw.port) as c:
            r = c.request("POST", "/warm", body=BLOCK * 4)
            assert r.status == 200 and r.json()["body_length"] == 4 * len(BLOCK)
            r = c.request("GET", "/warm?size=4194304")
            assert r.status == 200 and r.body_length == 4 << 20
    time.sleep(0.2)
    return gw.rss()


def x_checker(deadline, pause=0.0):
    """A body sink that checks the bytes are all 'x', enforces a deadline and may sleep after
    each piece (a slow reader)."""
    def check(piece):
        assert piece == X_BLOCK[:len(piece)], "response body bytes are not all 'x'"
        assert time.monotonic() < deadline, "response too slow"
        if pause:
            time.sleep(pause)
    return check


@pytest.mark.slow
def test_1gib_request_body_streams(gw):
    base = warm_up(gw)
    n = GIB
    expected = {}

    def hash_it():
        h = hashlib.sha256()
        for _ in range(n // len(BLOCK)):
            h.update(BLOCK)
        expected["sha"] = h.hexdigest()

    hasher = threading.Thread(target=hash_it)
    hasher.start()
    t0 = time.monotonic()
    deadline = t0 + 90
    with RssSampler(gw.pid) as mem, Client(gw.port, timeout=30) as c:
        c.send(build_request("PUT", "/upload", [("Content-Length", str(n))]))
        for _ in range(n // len(BLOCK)):
            c.send(BLOCK)
            assert time.monotonic() < deadline, "upload too slow"
        r = c.read_response()
    elapsed = time.monotonic() - t0
    hasher.join()
    growth = mem.peak - base
    print(f"\n1 GiB upload: {n / elapsed / 1e6:.0f} MB/s, sluice RSS baseline "
          f"{base / 2**20:.1f} MiB, peak growth {growth / 2**20:.2f} MiB ({mem.samples} samples)")
    assert r.status == 200, r
    j = r.json()
    assert j["body_length"] == n
    assert j["body_sha256"] == expected["sha"]
    assert growth < MAX_GROWTH, f"sluice RSS grew by {growth / 2**20:.1f} MiB"


@pytest.mark.slow
def test_1gib_response_body_streams(gw):
    base = warm_up(gw)
    n = GIB
    t0 = time.monotonic()
    with RssSampler(gw.pid) as mem, Client(gw.port, timeout=30) as c:
        r = c.request("GET", f"/download?size={n}", sink=x_checker(t0 + 90))
    elapsed = time.monotonic() - t0
    growth = mem.peak - base
    print(f"\n1 GiB download: {r.body_length / elapsed / 1e6:.0f} MB/s ({r.framing}), sluice RSS "
          f"baseline {base / 2**20:.1f} MiB, peak growth {growth / 2**20:.2f} MiB "
          f"({mem.samples} samples)")
    assert r.status == 200
    assert r.complete and r.body_length == n, f"got {r.body_length} of {n} bytes"
    if r.header("content-length") is not None:
        assert int(r.header("content-length")) == n
    assert growth < MAX_GROWTH, f"sluice RSS grew by {growth / 2**20:.1f} MiB"


def test_slow_client_64mib(gw):
    base = warm_up(gw)
    n = 64 << 20
    t0 = time.monotonic()
    # reads 64 KiB at a time with a pause after each: about 30 MB/s at most, while the backend
    # could send 64 MiB in a fraction of a second
    with RssSampler(gw.pid) as mem, Client(gw.port, timeout=10, rcvbuf=64 << 10) as c:
        c.src.recv_size = 64 << 10
        r = c.request("GET", f"/slow-reader?size={n}", sink=x_checker(t0 + 60, pause=0.002))
    elapsed = time.monotonic() - t0
    growth = mem.peak - base
    print(f"\n64 MiB slow read: {elapsed:.1f}s, sluice RSS peak growth "
          f"{growth / 2**20:.2f} MiB ({mem.samples} samples)")
    assert r.status == 200
    assert r.complete and r.body_length == n, f"got {r.body_length} of {n} bytes"
    assert growth < MAX_GROWTH, f"sluice RSS grew by {growth / 2**20:.1f} MiB"
