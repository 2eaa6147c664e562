"""GET /metrics: Prometheus text format that promtool accepts, counters that match the traffic
sent, and a real Prometheus server that scrapes sluice and answers a PromQL query about it."""

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from harness import Client, config, free_port, http_json, raw, request


def metrics_text(gw):
    status, _, body = gw.admin("GET", "/metrics")
    assert status == 200
    return body.decode() if isinstance(body, bytes) else body


def value(text, name, **labels):
    """The sample of `name` whose labels include `labels`, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


@pytest.fixture
def gw(backend, sluice):
    be = backend(name="m")
    g = sluice(config(f"""
        upstreams:
          - name: m
            targets: [{{address: {be.address}}}]
        routes:
          - name: api
            match: {{path: "/api/{{*rest}}", methods: [GET]}}
            upstream: m
          - name: hello
            match: {{path: /hello}}
            respond: {{status: 200, body: "hi"}}
    """))
    return g


def test_counters_match_traffic_and_promtool_accepts(gw):
    with Client(gw.port) as c:
        for i in range(3):
            assert c.request("GET", f"/api/x{i}").status == 200
        assert c.request("GET", "/api/fail?status=503").status == 503
        assert c.request("GET", "/hello").status == 200
        assert c.request("GET", "/nowhere").status == 404
        assert c.request("POST", "/api/x").status == 405
    text = metrics_text(gw)
    assert value(text, "sluice_requests_total", route="api", method="GET", code="2xx") == 3
    assert value(text, "sluice_requests_total", route="api", method="GET", code="5xx") == 1
    assert value(text, "sluice_requests_total", route="hello", method="GET", code="2xx") == 1
    assert value(text, "sluice_requests_total", route="none", method="GET", code="4xx") == 1
    assert value(text, "sluice_requests_total", route="none", method="POST", code="4xx") == 1
    assert value(text, "sluice_request_duration_seconds_count", route="api") == 4
    assert value(text, "sluice_request_duration_seconds_bucket", route="api", le="+Inf") == 4
    assert value(text, "sluice_upstream_response_duration_seconds_count", route="api") == 4
    assert value(text, "sluice_upstream_target_requests_total", upstream="m") == 4
    assert value(text, "sluice_upstream_target_failures_total", upstream="m") == 1
    assert value(text, "sluice_downstream_connections_total") >= 1
    assert value(text, "sluice_config_version") == 1
    assert value(text, "process_resident_memory_bytes") > 1 << 20
    assert value(text, "process_open_fds") > 3
    assert value(text, "sluice_worker_loop_lag_seconds", worker="0") is not None
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is installed by scripts/setup.sh"
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr


def test_refusals_before_routing_are_counted(gw):
    raw(gw.port, b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
    raw(gw.port, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    raw(gw.port, b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n")
    text = metrics_text(gw)
    assert value(text, "sluice_requests_refused_total", code="400") == 1
    assert value(text, "sluice_requests_refused_total", code="414") == 1
    assert value(text, "sluice_requests_refused_total", code="501") == 1
    assert value(text, "sluice_requests_refused_total", code="431") == 0


def test_reload_outcomes_are_counted(gw):
    status, _, _ = gw.admin("POST", "/reload")
    assert status == 200
    text = metrics_text(gw)
    assert value(text, "sluice_config_reloads_total", result="ok") == 1
    assert value(text, "sluice_config_version") == 2


def test_prometheus_scrapes_sluice(gw, tmp_path):
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus (Debian package) is installed by scripts/setup.sh"
    with Client(gw.port) as c:
        for i in range(7):
            assert c.request("GET", f"/api/p{i}").status == 200
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: sluice
    static_configs:
      - targets: ["127.0.0.1:{gw.admin_port}"]
""")
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([prometheus, f"--config.file={cfg}",
                             f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        query = urllib.request.quote('sum(sluice_requests_total{route="api",code="2xx"})')
        url = f"http://127.0.0.1:{port}/api/v1/query?query={query}"
        deadline = time.monotonic() + 40
        result = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    data = json.load(r)
                if data.get("status") == "success" and data["data"]["result"]:
                    result = float(data["data"]["result"][0]["value"][1])
                    if result == 7:
                        break
            except OSError:
                pass
            time.sleep(0.5)
        print(f"\nPromQL sum(sluice_requests_total{{route=\"api\",code=\"2xx\"}}) = {result}")
        assert result == 7, (tmp_path / "prometheus.log").read_text()[-3000:]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_stats_summarise_the_last_minute(gw):
    with Client(gw.port) as c:
        for i in range(20):
            assert c.request("GET", f"/api/s{i}").status == 200
        assert c.request("GET", "/api/e?status=500").status == 500
    status, _, stats = gw.admin("GET", "/stats")  # parsed JSON
    assert status == 200
    routes = {r["route"]: r for r in stats["routes"]}
    api = routes["api"]
    print(f"\n/stats api: {api}")
    assert api["requests"] == 21 and api["errors_5xx"] == 1
    assert 0 < stats["window_seconds"] <= 61
    assert api["rps"] > 0
    assert 0 < api["p50_ms"] <= api["p90_ms"] <= api["p99_ms"] <= 10000
    assert [u["name"] for u in stats["upstreams"]["upstreams"]] == ["m"]


def test_stats_sampler_memory_is_flat_with_many_idle_routes(backend, sluice):
    """The 1 s /stats sampler keeps only routes that served requests: with 20,000 idle routes
    the resident set stays flat (it used to copy every route's name and totals each second and
    keep a minute of them: +2.6 MB a second here)."""
    be = backend(name="m")
    more = "".join(f"  - name: r{i}\n    match: {{path: /more/r{i}}}\n    upstream: m\n"
                   for i in range(20000))
    gw = sluice("listeners:\n  - address: 127.0.0.1:$PORT\nadmin:\n  address: 127.0.0.1:$ADMIN\n"
                f"upstreams:\n  - name: m\n    targets: [{{address: {be.address}}}]\n"
                "routes:\n" + more, ready_timeout=60)
    with Client(gw.port) as c:
        assert c.request("GET", "/more/r7").status == 200

    def rss():
        return int(open(f"/proc/{gw.pid}/statm").read().split()[1]) * os.sysconf("SC_PAGESIZE")

    time.sleep(1.5)
    before = rss()
    time.sleep(5)
    grown = rss() - before
    print(f"\nRSS {before >> 20} MiB, +{grown / 1024:.0f} KiB over 5 s idle with 20,000 routes")
    assert grown < 2 << 20, grown
    status, _, stats = gw.admin("GET", "/stats")
    assert status == 200
    assert [r["route"] for r in stats["routes"]] == ["r7"]
