"""Access logs through the real binary: one JSON line per request with the documented fields,
a template format, X-Request-Id kept or generated and logged, reopening on SIGUSR1 (logrotate),
an unwritable path refused with the key, and counters in /metrics."""

import json
import os
import re
import signal
import time

from harness import Client, config, raw, request


def gateway_config(be, path, fmt=None, extra=""):
    fmt_line = f"\n          format: '{fmt}'" if fmt else ""
    return config(f"""
        access_log:
          path: {path}{fmt_line}
{extra}
        upstreams:
          - name: api
            targets: [{{address: {be.address}}}]
        routes:
          - name: users
            match: {{path: "/users/{{id}}"}}
            upstream: api
          - name: hello
            match: {{path: /hello}}
            respond: {{status: 200, body: "hi"}}
    """)


def read_lines(path, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                lines = [line for line in f.read().splitlines() if line]
            if len(lines) >= n:
                return lines
        time.sleep(0.02)
    raise AssertionError(f"expected {n} lines in {path}, got {len(lines)}: {lines}")


def test_one_json_line_per_request(backend, sluice, tmp_path):
    be = backend()
    log = tmp_path / "access.log"
    gw = sluice(gateway_config(be, log))
    r1 = request(gw.port, "POST", "/users/7?x=1", body=b"12345",
                 headers={"user-agent": 'ua "quoted"\tx', "referer": "http://ref/",
                          "x-request-id": "client-id-1"})
    assert r1.status == 200
    assert r1.header("x-request-id") == "client-id-1"
    assert r1.json()["headers"].count(["X-Request-Id", "client-id-1"]) == 1
    r2 = request(gw.port, "GET", "/hello", headers={"x-request-id": "bad id with spaces"})
    assert r2.status == 200
    generated = r2.header("x-request-id")
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    r3 = request(gw.port, "GET", "/nowhere")
    assert r3.status == 404
    r4 = request(gw.port, "GET", "/users/1?status=503")
    assert r4.status == 503

    # Workers write their own lines: order across connections is not defined.
    lines = {e["path"]: e for e in (json.loads(line) for line in read_lines(log, 4))}
    a, b, c, d = (lines[p] for p in ("/users/7?x=1", "/hello", "/nowhere", "/users/1?status=503"))
    assert a["request_id"] == "client-id-1"
    assert a["method"] == "POST" and a["path"] == "/users/7?x=1" and a["host"] == "test.local"
    assert a["route"] == "users" and a["upstream"] == "api" and a["target"] == be.address
    assert a["status"] == 200 and a["bytes_in"] == 5 and a["bytes_out"] > 100
    assert a["client"] == "127.0.0.1" and a["protocol"] == "HTTP/1.1"
    assert a["user_agent"] == 'ua "quoted"\tx' and a["referer"] == "http://ref/"
    assert a["tries"] == 1
    assert a["upstream_connect_ms"] is not None and a["upstream_response_ms"] is not None
    assert 0 <= a["upstream_response_ms"] <= a["duration_ms"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", a["time"])
    assert b["request_id"] == generated and b["route"] == "hello" and b["status"] == 200
    assert b["upstream"] == "" and b["upstream_response_ms"] is None
    assert c["status"] == 404 and c["route"] == "" and c["error"] == "no route"
    assert d["status"] == 503 and d["route"] == "users"


def test_template_format(backend, sluice, tmp_path):
    be = backend()
    log = tmp_path / "access.log"
    gw = sluice(gateway_config(be, log, fmt='$client "$method $path" $status $route $request_id'))
    request(gw.port, "GET", "/users/3", headers={"x-request-id": "t-1"})
    assert read_lines(log, 1) == ['127.0.0.1 "GET /users/3" 200 users t-1']


def test_unknown_template_variable_is_refused(backend, sluice, sluice_path, tmp_path):
    be = backend()
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(gateway_config(be, tmp_path / "a.log", fmt="$nope").replace("$PORT", "8999")
                   .replace("$ADMIN", "8998"))
    import subprocess
    p = subprocess.run([sluice_path, "validate", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=20)
    assert p.returncode != 0
    assert "access_log.format" in p.stderr and "nope" in p.stderr, p.stderr


def test_sigusr1_reopens_after_logrotate(backend, sluice, tmp_path):
    be = backend()
    log = tmp_path / "access.log"
    gw = sluice(gateway_config(be, log))
    request(gw.port, "GET", "/users/1")
    read_lines(log, 1)
    rotated = tmp_path / "access.log.1"
    os.rename(log, rotated)
    request(gw.port, "GET", "/users/2")  # still goes to the renamed file
    read_lines(rotated, 2)
    os.kill(gw.pid, signal.SIGUSR1)
    time.sleep(0.3)
    request(gw.port, "GET", "/users/3")
    lines = read_lines(log, 1)
    assert json.loads(lines[0])["path"] == "/users/3"
    assert len(read_lines(rotated, 2)) == 2


def test_reload_to_an_unwritable_path_is_refused(backend, sluice, tmp_path):
    be = backend()
    log = tmp_path / "access.log"
    gw = sluice(gateway_config(be, log))
    status, body = gw.reload(gateway_config(be, tmp_path / "missing-dir" / "x.log"))
    assert status != 200
    assert "access_log.path" in str(body)
    request(gw.port, "GET", "/users/1")
    assert len(read_lines(log, 1)) == 1


def test_counters_and_lines_for_many_requests(backend, sluice, tmp_path):
    be = backend()
    log = tmp_path / "access.log"
    gw = sluice(gateway_config(be, log))
    with Client(gw.port) as c:
        for i in range(500):
            assert c.request("GET", f"/users/{i}").status == 200
    lines = read_lines(log, 500)
    assert [json.loads(line)["path"] for line in lines] == [f"/users/{i}" for i in range(500)]
    _, _, text = gw.admin("GET", "/metrics")
    text = text.decode() if isinstance(text, bytes) else text
    m = re.search(r"^sluice_access_log_lines_total (\d+)", text, re.M)
    assert m and int(m.group(1)) == 500
    assert re.search(r"^sluice_access_log_lines_dropped_total 0$", text, re.M)


def test_requests_refused_before_parsing_are_logged(backend, sluice, tmp_path):
    be = backend()
    log = tmp_path / "access.log"
    gw = sluice(gateway_config(be, log))
    r = raw(gw.port, b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
    answer = r.decode("latin-1") if isinstance(r, (bytes, bytearray)) else str(r)
    rid = re.search(r"(?im)^x-request-id: ([0-9a-f]{32})\r?$", answer)
    assert rid, answer
    line = json.loads(read_lines(log, 1)[0])
    assert line["status"] == 400
    assert line["request_id"] == rid.group(1)
    assert line["client"] == "127.0.0.1"
    assert line["error"] and line["method"] == "" and line["route"] == ""
