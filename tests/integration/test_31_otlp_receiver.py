"""The OTLP encoder against an independent decoder: the unit test binary writes an encoded
ExportTraceServiceRequest (a server span and its client child, see Otlp.DumpForIntegrationTest
in tests/unit/observe/otlp_test.cc), and the receiver decodes it with the OpenTelemetry JS
protobuf definitions. Needs unit_observe ($SLUICE_UNIT_DIR, default build/release) and node
with the receiver's packages (scripts/setup.sh)."""

import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness import REPO


def unit_observe():
    path = Path(os.environ.get("SLUICE_UNIT_DIR", str(REPO / "build" / "release"))) / "unit_observe"
    if not (path.is_file() and os.access(path, os.X_OK)):
        msg = f"unit_observe not found at {path} (set SLUICE_UNIT_DIR)"
        if os.environ.get("SLUICE_REQUIRE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return str(path)


def encoded_request(tmp_path):
    dump = tmp_path / "request.bin"
    r = subprocess.run([unit_observe(), "--gtest_filter=Otlp.DumpForIntegrationTest"],
                       env={**os.environ, "SLUICE_OTLP_DUMP": str(dump)},
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    data = dump.read_bytes()
    assert data, "the unit test wrote nothing"
    return data


def post(url, body, content_type="application/x-protobuf"):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_encoded_request_decodes_with_the_opentelemetry_definitions(tmp_path, otlp_receiver):
    body = encoded_request(tmp_path)
    rx = otlp_receiver()
    status, answer = post(rx.url, body)
    assert status == 200
    assert answer == b""  # an empty ExportTraceServiceResponse
    spans = rx.wait_for(2)
    assert len(spans) == 2
    server, client = spans

    for s in spans:
        assert s["resource"] == {
            "service.name": "sluice-test", "service.version": "0.1.0", "host.name": "h1",
            "telemetry.sdk.name": "sluice", "telemetry.sdk.language": "cpp",
            "telemetry.sdk.version": "0.1.0"}
        assert s["scope"] == {"name": "sluice", "version": "0.1.0"}
        assert len(s["trace_id"]) == 32 and s["trace_id"] != "0" * 32
        assert len(s["span_id"]) == 16

    assert server["name"] == "GET users"
    assert server["kind"] == 2
    assert server["parent_span_id"] == ""
    assert server["start_ns"] == "1700000000123456789"
    assert server["end_ns"] == "1700000000223456789"
    assert server["status_code"] == 0 and server["status_message"] == ""
    assert server["attributes"] == {
        "http.request.method": "GET", "url.path": "/users/7", "url.query": "expand=1",
        "url.scheme": "http", "http.route": "users", "http.response.status_code": 200,
        "server.address": "api.example.com", "server.port": 8080,
        "client.address": "10.0.0.9", "network.protocol.version": "1.1",
        "user_agent.original": "curl/8.0", "sluice.request_id": "req-1"}

    assert client["name"] == "GET"
    assert client["kind"] == 3
    assert client["trace_id"] == server["trace_id"]
    assert client["parent_span_id"] == server["span_id"]
    assert int(client["start_ns"]) == int(server["start_ns"]) + 1000
    assert client["status_code"] == 2 and client["status_message"] == "502"
    assert client["attributes"] == {
        "http.request.method": "GET", "server.address": "10.1.2.3", "server.port": 9000,
        "url.full": "http://10.1.2.3:9000/users/7", "http.response.status_code": 502,
        "http.request.resend_count": 2, "error.type": "502"}


def test_receiver_answers_the_configured_status(tmp_path, otlp_receiver):
    body = encoded_request(tmp_path)
    rx = otlp_receiver(status=503)
    status, _ = post(rx.url, body)
    assert status == 503
    assert len(rx.wait_for(2)) == 2  # decoded and recorded all the same
    status, _ = post(rx.url, body, content_type="application/json")
    assert status == 415
    status, _ = post(rx.url.replace("/v1/traces", "/v1/metrics"), body)
    assert status == 404
