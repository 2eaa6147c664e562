"""Timeouts: client header, idle keep-alive, upstream connect, upstream response."""

import socket
import time

import pytest

from harness import Client, config, free_port, parse_response, raw, request


def upstream_config(address, **timeouts):
    text = config(f"""
        upstreams:
          - name: up
            targets: [{{address: {address}}}]
        routes:
          - name: all
            match: {{path: "/{{*rest}}"}}
            upstream: up
    """)
    if timeouts:
        text += "timeouts:\n" + "".join(f"  {k}: {v}\n" for k, v in timeouts.items())
    return text


def test_client_header_timeout_408(backend, sluice):
    be = backend()
    gw = sluice(upstream_config(be.address, client_header="1s", idle="30s"))
    heads0 = be.stats()["heads"]
    got = raw(gw.port, b"GET /slow HTTP/1.1\r\nHost: a\r\nX-Part", read_timeout=6.0)
    assert got.closed, f"not closed after {got.elapsed:.1f}s"
    assert 0.8 <= got.elapsed <= 4.0, got.elapsed
    r = parse_response(got)
    assert r.status == 408
    assert r.json()["status"] == 408
    assert be.stats()["heads"] == heads0


def test_client_header_timeout_counts_whole_head(backend, sluice):
    # trickling bytes does not extend client_header: the whole head must arrive in time
    be = backend()
    gw = sluice(upstream_config(be.address, client_header="1s", idle="30s"))
    s = socket.create_connection(("127.0.0.1", gw.port))
    t0 = time.monotonic()
    try:
        s.sendall(b"GET /trickle HTTP/1.1\r\nHost: a\r\n")
        s.settimeout(0.2)
        data = b""
        for i in range(40):  # up to 8 s
            try:
                s.sendall(b"X-%d: y\r\n" % i)
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            except socket.timeout:
                pass
            except ConnectionResetError:
                break
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    assert elapsed <= 4.0, elapsed
    assert data.startswith(b"HTTP/1.1 408"), data[:100]


def test_idle_keepalive_closed(backend, sluice):
    be = backend()
    gw = sluice(upstream_config(be.address, idle="1s", client_header="30s"))
    with Client(gw.port) as c:
        r = c.request("GET", "/one")
        assert r.status == 200
        t0 = time.monotonic()
        assert c.closed_by_peer(timeout=5.0), "idle connection not closed within 5 s"
        elapsed = time.monotonic() - t0
        print(f"\nidle keep-alive connection closed after {elapsed:.2f}s (idle: 1s)")
        assert 0.7 <= elapsed <= 3.5, elapsed


def test_active_connection_not_closed_by_idle(backend, sluice):
    be = backend()
    gw = sluice(upstream_config(be.address, idle="1s"))
    with Client(gw.port) as c:
        for i in range(5):  # 2.5 s in total, each gap 0.5 s < idle
            assert c.request("GET", f"/a{i}").status == 200
            time.sleep(0.5)
        # a request slower than idle is not cut by the idle timeout
        assert c.request("GET", "/slow?delay_ms=1500").status == 200


def test_upstream_refused_502(sluice):
    port = free_port()  # nothing listens there
    gw = sluice(upstream_config(f"127.0.0.1:{port}", upstream_connect="2s"))
    t0 = time.monotonic()
    r = request(gw.port, "GET", "/x")
    elapsed = time.monotonic() - t0
    assert r.status == 502, r
    assert r.json()["status"] == 502
    assert r.header("x-request-id")
    assert elapsed < 1.5, elapsed


@pytest.fixture
def blackhole():
    """A listening socket that never accepts, its accept queue already full, so that SYNs to it
    are dropped and a connect hangs until the client's timeout."""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    time.sleep(0.1)
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(("127.0.0.1", port))
        hangs = False
    except socket.timeout:
        hangs = True
    except OSError:
        hangs = False
    finally:
        probe.close()
    if not hangs:
        for s in fillers:
            s.close()
        lsock.close()
        pytest.skip("this kernel does not drop SYNs to a full accept queue")
    yield port
    for s in fillers:
        s.close()
    lsock.close()


def test_upstream_connect_timeout(sluice, blackhole):
    gw = sluice(upstream_config(f"127.0.0.1:{blackhole}", upstream_connect="500ms"))
    t0 = time.monotonic()
    r = request(gw.port, "GET", "/x")
    elapsed = time.monotonic() - t0
    print(f"\nconnect timeout answered {r.status} after {elapsed:.2f}s (upstream_connect: 500ms)")
    assert r.status in (502, 503), r
    assert r.json()["status"] == r.status
    assert 0.4 <= elapsed <= 3.0, elapsed


def test_upstream_response_timeout_504(backend, sluice):
    be = backend()
    gw = sluice(upstream_config(be.address, upstream_response="1s"))
    t0 = time.monotonic()
    r = request(gw.port, "GET", "/slow?delay_ms=3000")
    elapsed = time.monotonic() - t0
    assert r.status == 504, r
    assert r.json()["status"] == 504
    assert 0.8 <= elapsed <= 2.8, elapsed
    # the gateway still works afterwards (a fresh upstream connection is used)
    r = request(gw.port, "GET", "/fast?delay_ms=100")
    assert r.status == 200


def test_client_that_stops_reading_is_closed_after_client_send(backend, sluice):
    from harness_auth import metric_samples, metrics_of
    be = backend()
    gw = sluice(upstream_config(be.address, client_send="1s"))
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", gw.port))
    try:
        s.sendall(b"GET /big?size=50000000 HTTP/1.1\r\nHost: t\r\n\r\n")  # 50 MB, never read

        def open_clients():
            return metric_samples(metrics_of(gw), "sluice_downstream_connections")[0]

        time.sleep(0.5)
        assert open_clients() >= 1
        t0 = time.monotonic()
        while open_clients() > 0 and time.monotonic() - t0 < 5:
            time.sleep(0.1)
        took = time.monotonic() - t0
        print(f"\nstalled reader closed {took + 0.5:.2f}s after its request (client_send 1s)")
        assert open_clients() == 0, "the stalled client connection is still open"
        # The upstream connection went with it.
        deadline = time.monotonic() + 3
        while be.stats()["active_connections"] > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert be.stats()["active_connections"] <= 1  # (the /__stats one)
    finally:
        s.close()
    # A client that reads slowly but steadily (a few KiB every 0.3 s) is not cut off.
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", gw.port))
    try:
        s.sendall(b"GET /big?size=60000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        got = b""
        s.settimeout(5)
        while True:
            time.sleep(0.3)
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        head, _, body = got.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:100]
        assert len(body) == 60000, len(body)
    finally:
        s.close()
