"""Hot reload: no failed request while the config changes under load; requests keep the config
they started with; an invalid config changes nothing."""

import threading
import time

from harness import Client, config, request


def reload_config(be_address, body, extra_route=""):
    return config(f"""
        upstreams:
          - name: api
            targets: [{{address: {be_address}}}]
        routes:
          - name: r
            match: {{path: /r}}
            respond: {{status: 200, body: "{body}"}}
          - name: api
            match: {{path: "/api/{{*rest}}"}}
            upstream: api
        {extra_route}
        timeouts:
          idle: 30s
    """)


class Loader(threading.Thread):
    """Keep-alive requests in a loop, bounded in requests and time; records every failure."""

    def __init__(self, port, stop, max_requests=20000, max_seconds=8.0):
        super().__init__(daemon=True)
        self.port, self.stop, self.max_requests, self.max_seconds = port, stop, max_requests, max_seconds
        self.count = 0
        self.failures = []
        self.last_body = None
        self.bodies = set()

    def run(self):
        deadline = time.monotonic() + self.max_seconds
        c = None
        try:
            while not self.stop.is_set() and self.count < self.max_requests \
                    and time.monotonic() < deadline:
                if c is None:
                    c = Client(self.port, timeout=5)
                target = "/r" if self.count % 2 == 0 else f"/api/{self.count}"
                try:
                    r = c.request("GET", target)
                except Exception as e:  # connection closed, reset, timeout...
                    self.failures.append(f"{target}: {type(e).__name__}: {e}")
                    c.close()
                    c = None
                    continue
                self.count += 1
                if r.status != 200:
                    self.failures.append(f"{target}: status {r.status} {r.body[:200]!r}")
                elif target == "/r":
                    self.last_body = r.body
                    self.bodies.add(r.body)
                elif r.json()["target"] != target:
                    self.failures.append(f"{target}: wrong target {r.json()['target']}")
                if "close" in r.tokens("connection"):
                    self.failures.append(f"{target}: server closed the keep-alive connection")
                    c.close()
                    c = None
        finally:
            if c:
                c.close()


def test_reload_under_load(backend, sluice):
    be = backend(name="api")
    gw = sluice(reload_config(be.address, "v0"))
    stop = threading.Event()
    loaders = [Loader(gw.port, stop) for _ in range(3)]
    for t in loaders:
        t.start()
    try:
        time.sleep(0.3)
        for i in range(1, 6):
            status, body = gw.reload(reload_config(be.address, f"v{i}"))
            assert status == 200 and body["ok"] is True and body["version"] == i + 1, body
            r = request(gw.port, "GET", "/r")
            assert r.body == f"v{i}".encode(), f"reload {i}: new body not served: {r.body!r}"
            time.sleep(0.3)
        # every loader's keep-alive connection sees the last config
        deadline = time.monotonic() + 3
        while any(t.last_body != b"v5" for t in loaders if t.is_alive()):
            assert time.monotonic() < deadline, [t.last_body for t in loaders]
            time.sleep(0.05)
    finally:
        stop.set()
        for t in loaders:
            t.join(15)
    total = sum(t.count for t in loaders)
    failures = [f for t in loaders for f in t.failures]
    print(f"\nreload under load: {total} requests, {len(failures)} failures, "
          f"bodies seen {sorted(set().union(*(t.bodies for t in loaders)))}")
    assert not failures, failures[:20]
    assert total >= 100, total
    assert gw.get_config()["version"] == 6


def test_in_flight_request_keeps_its_config(backend, sluice):
    a = backend(name="a")
    b = backend(name="b")
    gw = sluice(reload_config(a.address, "x"))
    result = {}

    def slow():
        result["r"] = request(gw.port, "GET", "/api/slow?delay_ms=1000")

    t = threading.Thread(target=slow)
    t.start()
    deadline = time.monotonic() + 3
    while a.stats()["heads"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    status, body = gw.reload(reload_config(b.address, "y"))
    assert status == 200, body
    assert request(gw.port, "GET", "/api/new").header("x-backend") == "b"
    t.join(10)
    r = result["r"]
    assert r.status == 200 and r.header("x-backend") == "a"


def test_reload_adds_and_removes_routes(backend, sluice):
    be = backend()
    gw = sluice(reload_config(be.address, "x"))
    assert request(gw.port, "GET", "/extra").status == 404
    extra = """- name: extra
            match: {path: /extra}
            respond: {status: 201, body: "extra"}"""
    status, body = gw.reload(reload_config(be.address, "x", "  " + extra))
    assert status == 200, body
    r = request(gw.port, "GET", "/extra")
    assert r.status == 201 and r.body == b"extra"
    status, body = gw.reload(reload_config(be.address, "x"))
    assert status == 200, body
    assert request(gw.port, "GET", "/extra").status == 404


def test_invalid_reload_keeps_serving(backend, sluice):
    be = backend()
    gw = sluice(reload_config(be.address, "good"))
    with Client(gw.port) as c:
        assert c.request("GET", "/r").body == b"good"
        for bad in ("routes: [ {name: broken\n",                       # YAML syntax error
                    reload_config(be.address, "bad").replace("upstream: api", "upstream: nope")):
            status, body = gw.reload(bad)
            assert status == 400, body
            assert body["ok"] is False and body["errors"], body
            assert c.request("GET", "/r").body == b"good"
            assert c.request("GET", "/api/x").status == 200
            assert request(gw.port, "GET", "/r").body == b"good"
            cfg = gw.get_config()
            assert cfg["version"] == 1
            assert cfg["last_reload"]["ok"] is False and cfg["last_reload"]["errors"]
        assert any("nope" in e for e in cfg["last_reload"]["errors"]), cfg
