"""The event stream (GET /api/v1/events, Server-Sent Events) and its webhooks: config applied
and refused, a breaker opening, half-opening and closing, targets turning unhealthy and healthy,
resuming with Last-Event-ID, kind filters, tokens, and webhooks that receive only the kinds they
list (docs/admin-api.md#events)."""

import http.server
import json
import socket
import threading
import time

from harness import Client, pool_config, wait_for
from harness_auth import metric_samples, metrics_of

BREAKER = "breaker: {error_rate: 50%, min_requests: 10, window: 2s, consecutive_failures: 0, " \
          "open: 1s, half_open_requests: 1}\noutlier: off"


class EventReader:
    """A raw SSE client: (id, kind, data) tuples as they come."""

    def __init__(self, gw, query="", headers=None):
        self.sock = socket.create_connection(("127.0.0.1", gw.admin_port), timeout=10)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(f"GET /api/v1/events{query} HTTP/1.1\r\nhost: a\r\n{extra}\r\n".encode())
        self.buf = b""
        head = self._until(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])
        self.head = head.decode()

    def _until(self, sep, timeout=10.0):
        deadline = time.monotonic() + timeout
        while sep not in self.buf:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise AssertionError(f"no {sep!r} in {timeout}s; have {self.buf[-500:]!r}")
            if not chunk:
                raise ConnectionError(f"stream closed; have {self.buf[-500:]!r}")
            self.buf += chunk
        part, self.buf = self.buf.split(sep, 1)
        return part

    def next(self, timeout=10.0):
        """The next event (comments and retry lines skipped)."""
        while True:
            block = self._until(b"\n\n", timeout).decode()
            fields = {}
            for line in block.split("\n"):
                if line.startswith(":") or not line:
                    continue
                k, _, v = line.partition(": ")
                fields[k] = v
            if "data" in fields:
                return int(fields["id"]), fields["event"], json.loads(fields["data"])

    def until(self, kind, timeout=10.0, **match):
        """Events up to the first of `kind` whose data has the given members; returns it."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} {match} in {timeout}s; saw {seen}")
            e = self.next(left)
            seen.append(e[1])
            if e[1] == kind and all(e[2].get(k) == v for k, v in match.items()):
                return e

    def close(self):
        self.sock.close()


def test_reloads_give_config_applied_and_refused(backend, sluice):
    be = backend()
    gw = sluice(pool_config([be.address]))
    ev = EventReader(gw)
    assert ev.status == 200 and "text/event-stream" in ev.head, ev.head
    status, body = gw.reload(pool_config([be.address], route="timeout: 3s"))
    assert status == 200, body
    eid, kind, data = ev.next()
    assert kind == "config.applied" and data["id"] == eid, (kind, data)
    assert data["version"] == body["version"] and data["source"] == "file", data
    assert data["author"] == "admin" and len(data["hash"]) == 64, data
    assert data["time"].endswith("Z") and data["time_ms"] > 1.7e12, data

    status, body = gw.reload(pool_config([be.address], route="timeout: soon"))
    assert status == 400
    _, kind, data = ev.next()
    assert kind == "config.refused", (kind, data)
    assert data["version"] == body["version"], data  # the version still in force
    assert data["errors"] and data["errors"][0]["path"].endswith("timeout"), data
    assert data["errors"][0]["line"] > 0, data
    ev.close()


def test_breaker_events_open_half_open_close(stub, sluice):
    bad = stub(name="bad", status=500)
    gw = sluice(pool_config([bad.address], upstream=BREAKER, workers=1))
    ev = EventReader(gw, "?kinds=breaker.opened,breaker.half_open,breaker.closed")
    with Client(gw.port) as c:
        for i in range(11):
            c.request("GET", f"/b/{i}")
        t0 = time.monotonic()
        _, _, data = ev.until("breaker.opened")
        print(f"\nbreaker.opened on the stream {1000 * (time.monotonic() - t0):.0f} ms after "
              f"the 11th request")
        assert data["upstream"] == "pool" and data["opened_total"] == 1, data
        assert "target" not in data, data
        _, _, data = ev.next(timeout=3)  # open: 1s
        assert data["kind"] == "breaker.half_open", data
        bad.status = 200
        assert c.request("GET", "/b/probe").status == 200
        _, _, data = ev.next(timeout=3)
        assert data["kind"] == "breaker.closed" and data["upstream"] == "pool", data
    ev.close()


def test_health_events_and_resume_with_last_event_id(stub, sluice):
    s = stub(name="s")
    gw = sluice(pool_config([s.address], upstream="health_check: {path: /health, interval: 100ms, "
                            "timeout: 80ms, healthy_threshold: 1, unhealthy_threshold: 1}"))
    ev = EventReader(gw, "?since=0")  # everything held, from the start
    _, _, first = ev.until("target.healthy", target=s.address)
    assert first["upstream"] == "pool" and first["was"] == "unknown", first
    last_id = first["id"]
    ev.close()
    s.health_status = 503  # while nobody listens
    wait_for(lambda: gw.admin("GET", "/upstreams")[2]["upstreams"][0]["targets"][0]["health"]
             == "unhealthy", timeout=5)
    ev = EventReader(gw, headers={"Last-Event-ID": str(last_id)})
    eid, kind, data = ev.until("target.unhealthy")
    assert eid > last_id and data["target"] == s.address and data["was"] == "healthy", data
    s.health_status = 200
    _, _, data = ev.until("target.healthy", timeout=5)
    assert data["was"] == "unhealthy", data
    ev.close()


def test_ejection_events(backend, stub, sluice):
    bad = stub(name="bad", status=500)
    good = backend(name="good")
    gw = sluice(pool_config([bad.address, good.address], workers=1,
                            upstream="outlier: {consecutive_failures: 2, base_ejection: 500ms, "
                                     "max_ejection: 10s, max_ejection_percent: 50}"))
    ev = EventReader(gw, "?kinds=target.ejected%2Ctarget.returned")
    with Client(gw.port) as c:
        for i in range(10):
            c.request("GET", f"/e/{i}")
            if bad.hits >= 2:
                break
    _, _, data = ev.until("target.ejected")
    assert data["target"] == bad.address and data["ejections"] == 1, data
    assert 0 < data["for_ms"] <= 500, data
    _, _, data = ev.next(timeout=3)
    assert data["kind"] == "target.returned" and data["target"] == bad.address, data
    ev.close()


def test_bad_requests_and_tokens(backend, sluice, tmp_path):
    be = backend()
    token = tmp_path / "token"
    token.write_text("0123456789abcdef0123\n")
    ro = tmp_path / "ro"
    ro.write_text("readonly-readonly-readonly\n")
    text = pool_config([be.address]).replace(
        "admin:\n  address: 127.0.0.1:$ADMIN\n",
        f"admin:\n  address: 127.0.0.1:$ADMIN\n  token_file: {token}\n"
        f"  read_only_token_file: {ro}\n")
    gw = sluice(text)
    assert EventReader(gw).status == 401
    assert EventReader(gw, headers={"authorization": "Bearer nope-nope-nope-nope"}).status == 401
    ok = EventReader(gw, headers={"authorization": "Bearer readonly-readonly-readonly"})
    assert ok.status == 200  # reading events is reading
    ok.close()
    auth = {"authorization": "Bearer 0123456789abcdef0123"}
    assert EventReader(gw, "?kinds=breaker.exploded", headers=auth).status == 400
    assert EventReader(gw, headers={**auth, "Last-Event-ID": "x"}).status == 400


class HookServer:
    """Receives webhook POSTs on loopback; .events is what arrived, .fail makes it answer 500."""

    def __init__(self):
        self.events = []
        self.headers = []
        self.fail = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                if outer.fail > 0:
                    outer.fail -= 1
                    self.send_response(500)
                else:
                    outer.events.append(json.loads(body))
                    outer.headers.append(dict(self.headers))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_webhooks_get_the_kinds_they_list_and_retry(stub, sluice):
    hooks = HookServer()
    try:
        bad = stub(name="bad", status=500)
        top = (f"events: {{webhooks: ["
               f"{{url: 'http://127.0.0.1:{hooks.port}/breakers', kinds: [breaker.opened], "
               f"headers: {{x-hook-secret: s3cret}}}}, "
               f"{{url: 'http://127.0.0.1:{hooks.port}/config', kinds: config.applied}}]}}")
        text = pool_config([bad.address], upstream=BREAKER, workers=1, top=top)
        gw = sluice(text)
        hooks.fail = 1  # the first delivery fails once and is retried
        with Client(gw.port) as c:
            for i in range(11):
                c.request("GET", f"/w/{i}")
        wait_for(lambda: len(hooks.events) >= 1, timeout=5)
        e = hooks.events[0]
        assert e["kind"] == "breaker.opened" and e["upstream"] == "pool", e
        h = {k.lower(): v for k, v in hooks.headers[0].items()}
        assert h["x-sluice-event"] == "breaker.opened" and h["x-hook-secret"] == "s3cret", h
        assert h["x-sluice-event-id"] == str(e["id"]) and h["content-type"] == "application/json"
        status, body = gw.reload(text.replace("  - name: all\n", "  - name: all\n    timeout: 3s\n"))
        assert status == 200, body
        wait_for(lambda: any(x["kind"] == "config.applied" for x in hooks.events), timeout=5)
        time.sleep(1.5)  # the breaker (kept by the reload) half-opens: not listed, not sent
        kinds = sorted(x["kind"] for x in hooks.events)
        assert kinds == ["breaker.opened", "config.applied"], kinds
        m = metrics_of(gw)
        assert metric_samples(m, "sluice_webhook_deliveries_total", result="delivered") == [2.0]
        assert metric_samples(m, "sluice_webhook_deliveries_total", result="failed") == [1.0]
        assert metric_samples(m, "sluice_webhook_deliveries_total", result="dropped") == [0.0]
        assert metric_samples(m, "sluice_events_total") == [3.0]  # opened, applied, half_open
    finally:
        hooks.stop()
