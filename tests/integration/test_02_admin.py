"""The admin API: health, readiness, /config, POST /reload, SIGHUP."""

import hashlib
import os
import signal
import time

from harness import config, request


def hello_config(body="v1", extra=""):
    return config(f"""
        routes:
          - name: hello
            match: {{path: /hello}}
            respond:
              status: 200
              body: "{body}"
              headers: {{x-hello: "yes"}}
        {extra}
    """)


def file_sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_health_and_ready(sluice):
    gw = sluice(hello_config())
    status, _, _ = gw.admin("GET", "/healthz")
    assert status == 200
    status, _, _ = gw.admin("GET", "/readyz")
    assert status == 200


def test_config_endpoint(sluice):
    gw = sluice(hello_config())
    status, headers, c = gw.admin("GET", "/config")
    assert status == 200
    assert "application/json" in headers.get("content-type", "")
    assert c["version"] == 1
    assert c["hash"] == file_sha256(gw.config_path)
    assert os.path.realpath(c["file"]) == os.path.realpath(gw.config_path)
    assert isinstance(c["last_reload"], dict)
    assert "ok" in c["last_reload"] and "errors" in c["last_reload"]


def test_respond_route_and_headers(sluice):
    gw = sluice(hello_config("hello there"))
    r = request(gw.port, "GET", "/hello")
    assert r.status == 200
    assert r.body == b"hello there"
    assert r.header("x-hello") == "yes"
    assert r.header("x-request-id")


def test_reload_ok(sluice):
    gw = sluice(hello_config("v1"))
    assert request(gw.port, "GET", "/hello").body == b"v1"
    status, body = gw.reload(hello_config("v2"))
    assert status == 200, body
    assert body == {"ok": True, "version": 2} or (body["ok"] is True and body["version"] == 2)
    assert request(gw.port, "GET", "/hello").body == b"v2"
    c = gw.get_config()
    assert c["version"] == 2
    assert c["hash"] == file_sha256(gw.config_path)
    assert c["last_reload"]["ok"] is True
    assert c["last_reload"]["errors"] == []


def test_reload_invalid_keeps_old_config(sluice):
    gw = sluice(hello_config("v1"))
    old_hash = gw.get_config()["hash"]
    bad = hello_config("v2", extra="bogus_key: 1")
    status, body = gw.reload(bad)
    assert status == 400, body
    assert body["ok"] is False
    assert body["errors"] and all(isinstance(e, str) for e in body["errors"])
    assert any("bogus_key" in e for e in body["errors"]), body
    # the old config stays in force
    r = request(gw.port, "GET", "/hello")
    assert r.status == 200 and r.body == b"v1"
    c = gw.get_config()
    assert c["version"] == 1
    assert c["hash"] == old_hash
    assert c["last_reload"]["ok"] is False
    assert any("bogus_key" in e for e in c["last_reload"]["errors"])
    # a good reload afterwards works and clears the error
    status, body = gw.reload(hello_config("v3"))
    assert status == 200 and body["version"] == 2, body
    assert request(gw.port, "GET", "/hello").body == b"v3"
    last = gw.get_config()["last_reload"]
    assert last["ok"] is True and last["errors"] == []


def test_sighup_reloads(sluice):
    gw = sluice(hello_config("before"))
    gw.write_config(hello_config("after"))
    gw.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while gw.get_config()["version"] != 2:
        assert time.monotonic() < deadline, "SIGHUP did not reload within 5 s"
        time.sleep(0.05)
    assert request(gw.port, "GET", "/hello").body == b"after"
    assert gw.proc.poll() is None


def test_admin_unknown_path_404(sluice):
    gw = sluice(hello_config())
    status, _, _ = gw.admin("GET", "/no-such-admin-endpoint")
    assert status == 404
