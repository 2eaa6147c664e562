"""Service discovery: host-name targets resolved through the configured DNS servers
(tests/integration/dns_server.py) and re-resolved every dns_refresh; a changed answer moves the
traffic, a failing lookup keeps the last good addresses, a name that never resolved gives 503."""

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import Client, admin_target, free_port, pool_config, request, wait_for

DNS_SERVER = Path(__file__).resolve().parent / "dns_server.py"


class DnsServer:
    def __init__(self, workdir, zone):
        self.zone_path = Path(workdir) / "zone.json"
        self.set_zone(zone)
        self.log = open(Path(workdir) / "dns.log", "wb")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(DNS_SERVER), "--port", "0", "--zone", str(self.zone_path)],
            stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL)
        line = b""
        deadline = time.monotonic() + 10
        while not line.endswith(b"\n"):
            r, _, _ = select.select([self.proc.stdout], [], [], max(0, deadline - time.monotonic()))
            c = os.read(self.proc.stdout.fileno(), 1) if r else b""
            if not c:
                self.stop()
                raise AssertionError(f"dns_server did not start: {line!r}")
            line += c
        text = line.decode().strip()
        assert text.startswith("listening on "), text
        self.address = text[len("listening on "):]

    def set_zone(self, zone):
        tmp = self.zone_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(zone))
        os.replace(tmp, self.zone_path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


@pytest.fixture
def dns(tmp_path):
    if not DNS_SERVER.exists():
        pytest.skip(f"{DNS_SERVER} missing")
    servers = []

    def start(zone):
        s = DnsServer(tmp_path, zone)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def pair(backend):
    """Echo backends "A" on 127.0.0.2:P and "B" on 127.0.0.3:P (the same port P)."""
    last = None
    for _ in range(10):
        port = free_port("127.0.0.2")
        try:
            a = backend(name="A", host="127.0.0.2", port=port)
        except AssertionError as e:  # taken meanwhile: try another
            last = e
            continue
        try:
            b = backend(name="B", host="127.0.0.3", port=port)
            return a, b, port
        except AssertionError as e:  # port taken on 127.0.0.3: try another
            a.stop()
            last = e
    raise last


def discovery_config(dns_address, target, refresh="300ms", upstream="", route=""):
    return pool_config([target], upstream=f"dns_refresh: {refresh}\n{upstream}", route=route,
                       top=f"dns: {{servers: [\"{dns_address}\"]}}")


def backend_name(port, path="/d"):
    r = request(port, "GET", path)
    return r.header("x-backend") if r.status == 200 else r.status


def test_dns_target_follows_the_zone(dns, pair, sluice):
    a, b, port = pair
    d = dns({"svc.test": ["127.0.0.2"]})
    target = f"svc.test:{port}"
    gw = sluice(discovery_config(d.address, target))
    wait_for(lambda: backend_name(gw.port) == "A", 3.0, what="requests to reach A (127.0.0.2)")
    t = admin_target(gw, "pool", target)
    assert t["addresses"] == [f"127.0.0.2:{port}"], t

    d.set_zone({"svc.test": ["127.0.0.3"]})
    t0 = time.monotonic()
    wait_for(lambda: backend_name(gw.port) == "B", 3.0, interval=0.05,
             what="requests to reach B after the zone changed to 127.0.0.3")
    moved = time.monotonic() - t0
    print(f"\ndiscovery: traffic moved to the new address {moved:.2f}s after the zone change "
          f"(dns_refresh 300ms)")
    assert moved <= 2.0, moved
    with Client(gw.port) as c:  # no request goes to the old address any more
        for i in range(10):
            r = c.request("GET", f"/after/{i}")
            assert r.status == 200 and r.header("x-backend") == "B", (i, r)
    assert admin_target(gw, "pool", target)["addresses"] == [f"127.0.0.3:{port}"]

    d.set_zone({})  # NXDOMAIN now: the last good addresses stay
    time.sleep(1.0)
    for i in range(10):
        r = request(gw.port, "GET", f"/nx/{i}")
        assert r.status == 200 and r.header("x-backend") == "B", (i, r)
    assert admin_target(gw, "pool", target)["addresses"] == [f"127.0.0.3:{port}"]


def test_dns_server_down_keeps_last_addresses(dns, pair, sluice):
    a, b, port = pair
    d = dns({"svc.test": ["127.0.0.3"]})
    gw = sluice(discovery_config(d.address, f"svc.test:{port}"))
    wait_for(lambda: backend_name(gw.port) == "B", 3.0, what="requests to reach B")
    d.stop()
    time.sleep(1.0)
    for i in range(5):
        r = request(gw.port, "GET", f"/down/{i}")
        assert r.status == 200 and r.header("x-backend") == "B", (i, r)


def test_never_resolved_name_503(dns, backend, sluice):
    be = backend(name="x")
    d = dns({"other.test": ["127.0.0.1"]})
    gw = sluice(discovery_config(d.address, f"nothere.test:{be.port}"))
    for i in range(5):
        r = request(gw.port, "GET", f"/none/{i}")
        assert r.status == 503, r
        assert r.header("x-backend") is None and r.json()["status"] == 503, r
        time.sleep(0.1)
    assert be.stats()["heads"] == 0
    t = admin_target(gw, "pool", f"nothere.test:{be.port}")
    assert t["addresses"] == [], t
    # the name appears: traffic starts
    d.set_zone({"nothere.test": ["127.0.0.1"]})
    wait_for(lambda: backend_name(gw.port) == "x", 3.0, interval=0.05,
             what="requests to reach the backend once the name resolves")


def test_mixed_ip_and_name_targets(dns, pair, backend, sluice):
    a, b, port = pair
    c = backend(name="C")
    d = dns({"svc.test": ["127.0.0.2"]})
    gw = sluice(pool_config([f"svc.test:{port}", c.address],
                            upstream="dns_refresh: 300ms",
                            top=f"dns: {{servers: [\"{d.address}\"]}}", workers=1))
    wait_for(lambda: backend_name(gw.port) == "A", 3.0, what="requests to reach A")
    with Client(gw.port) as cl:
        seen = {cl.request("GET", f"/m/{i}").header("x-backend") for i in range(6)}
    assert seen == {"A", "C"}, seen


def test_name_with_two_addresses_and_reload(dns, pair, backend, sluice):
    a, b, port = pair
    other = backend(name="O")
    d = dns({"svc.test": ["127.0.0.2", "127.0.0.3"]})
    target = f"svc.test:{port}"

    def cfg(weight):
        return pool_config([target, (other.address, weight)], upstream="dns_refresh: 300ms",
                           top=f"dns: {{servers: [\"{d.address}\"]}}", workers=1)

    gw = sluice(cfg(1))
    wait_for(lambda: len(admin_target(gw, "pool", target)["addresses"]) == 2, 3.0,
             what="both addresses of svc.test")
    assert sorted(admin_target(gw, "pool", target)["addresses"]) == \
        [f"127.0.0.2:{port}", f"127.0.0.3:{port}"]
    with Client(gw.port) as c:
        seen = {c.request("GET", f"/two/{i}").header("x-backend") for i in range(12)}
    assert seen == {"A", "B", "O"}, seen
    # a reload that changes another target keeps the resolved addresses: no 503 meanwhile
    status, body = gw.reload(cfg(2))
    assert status == 200, body
    with Client(gw.port) as c:
        for i in range(6):
            r = c.request("GET", f"/reloaded/{i}")
            assert r.status == 200, (i, r)
    assert sorted(admin_target(gw, "pool", target)["addresses"]) == \
        [f"127.0.0.2:{port}", f"127.0.0.3:{port}"]
