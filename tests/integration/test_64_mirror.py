"""Request mirroring through the real binary: a copy of each request (head, edits of the
route's filters, body) reaches the shadow upstream while the client gets the primary's answer;
a slow, failing or absent shadow changes nothing for the client; percent, max_body and
max_in_flight bound what is copied, and every copy is counted (answered, failed, dropped)."""

import hashlib
import socket
import threading
import time

import pytest

from harness import chunked_body, config, free_port, request, validate_config
from harness_auth import metric_samples, metrics_of

MIRROR = """
    upstreams:
      - name: primary
        targets: [{{address: {primary}}}]
      - name: shadow
        targets: [{{address: {shadow}}}]
      - name: nowhere
        targets: [{{address: {nowhere}}}]
        connect_timeout: 500ms
    routes:
      - name: all
        match: {{path: "/all/{{*rest}}"}}
        upstream: primary
        mirror: {{upstream: shadow}}
        filters:
          request_headers: {{set: {{x-edited: "yes"}}}}
      - name: half
        match: {{path: "/half/{{*rest}}"}}
        upstream: primary
        mirror: {{upstream: shadow, percent: 50}}
      - name: small
        match: {{path: "/small/{{*rest}}"}}
        upstream: primary
        mirror: {{upstream: shadow, max_body: 1KiB}}
      - name: lost
        match: {{path: "/lost/{{*rest}}"}}
        upstream: primary
        mirror: {{upstream: nowhere}}
"""


@pytest.fixture
def mirror_gw(backend, sluice):
    primary = backend(name="primary")
    shadow = backend(name="shadow")
    gw = sluice(config(MIRROR.format(primary=primary.address, shadow=shadow.address,
                                     nowhere=f"127.0.0.1:{free_port()}"), workers=1))
    gw.primary, gw.shadow = primary, shadow
    return gw


def shadow_log(gw, count, prefix, timeout=5.0):
    """The shadow's requests whose target starts with `prefix`, once there are `count`."""
    deadline = time.monotonic() + timeout
    while True:
        got = [r for r in gw.shadow.requests_log() if r["target"].startswith(prefix)]
        if len(got) >= count or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def mirror_counts(gw, route):
    text = metrics_of(gw)
    out = {}
    for result in ("answered", "failed", "dropped"):
        v = metric_samples(text, "sluice_mirror_requests_total", route=route, result=result)
        out[result] = int(v[0]) if v else 0
    v = metric_samples(text, "sluice_mirror_in_flight", route=route)
    out["in_flight"] = int(v[0]) if v else 0
    return out


def wait_counts(gw, route, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        got = mirror_counts(gw, route)
        if all(got[k] == v for k, v in want.items()) or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_the_shadow_gets_a_copy_the_client_gets_the_primary(mirror_gw):
    gw = mirror_gw
    body = bytes(range(256)) * 40  # 10 KiB
    r = request(gw.port, "POST", "/all/x?q=1", headers=[("x-client", "c1")], body=body)
    assert r.status == 200, r.body
    assert r.header("x-backend") == "primary"
    j = r.json()
    assert j["body_sha256"] == hashlib.sha256(body).hexdigest()
    (copy,) = shadow_log(gw, 1, "/all/")
    assert copy["method"] == "POST" and copy["target"] == "/all/x?q=1"
    assert copy["body_length"] == len(body)
    assert copy["body_sha256"] == hashlib.sha256(body).hexdigest()
    headers = {k.lower(): v for k, v in copy["headers"]}
    assert headers["x-client"] == "c1"
    assert headers["x-edited"] == "yes", "the copy carries the route's filter edits"
    # The primary saw the same request.
    primary = [x for x in gw.primary.requests_log() if x["target"] == "/all/x?q=1"]
    assert len(primary) == 1
    assert wait_counts(gw, "all", {"answered": 1, "in_flight": 0})["answered"] == 1


def test_routes_show_the_mirror(mirror_gw):
    status, _, body = mirror_gw.admin("GET", "/routes")
    assert status == 200
    routes = {r["name"]: r for r in body["routes"]}
    assert routes["all"]["mirror"] == {"upstream": "shadow", "percent": 100,
                                       "max_body": 65536, "timeout_ms": 30000,
                                       "max_in_flight": 256}
    assert routes["half"]["mirror"]["percent"] == 50


def test_a_chunked_body_is_copied_whole(mirror_gw):
    gw = mirror_gw
    pieces = [b"a" * 3000, b"b" * 5000, b"c" * 7]
    data = b"".join(pieces)
    r = request(gw.port, "PUT", "/all/chunked",
                headers=[("transfer-encoding", "chunked")], body=chunked_body(pieces))
    assert r.status == 200, r.body
    assert r.json()["body_sha256"] == hashlib.sha256(data).hexdigest()
    (copy,) = shadow_log(gw, 1, "/all/chunked")
    assert copy["body_length"] == len(data)
    assert copy["body_sha256"] == hashlib.sha256(data).hexdigest()


def test_a_slow_or_failing_shadow_does_not_touch_the_client(backend, sluice, stub):
    primary = backend(name="primary")
    shadow = stub(name="shadow", status=500, delay=1.0)
    gw = sluice(config(f"""
    upstreams:
      - name: primary
        targets: [{{address: {primary.address}}}]
      - name: shadow
        targets: [{{address: {shadow.address}}}]
    routes:
      - name: slow
        match: {{path: "/{{*rest}}"}}
        upstream: primary
        mirror: {{upstream: shadow}}
    """, workers=1))
    from harness import Client
    with Client(gw.port) as c:
        for i in range(10):
            t0 = time.monotonic()
            r = c.request("GET", f"/r{i}")
            took = time.monotonic() - t0
            assert r.status == 200 and r.header("x-backend") == "primary"
            assert took < 0.5, ("the client waited for the 1 s shadow", i, took)
    # The shadow's 500s are its answers: counted as answered, after its delay.
    got = wait_counts(gw, "slow", {"answered": 10, "in_flight": 0})
    assert got == {"answered": 10, "failed": 0, "dropped": 0, "in_flight": 0}, got
    assert shadow.hits == 10


def test_max_in_flight_drops_the_rest_and_counts_them(backend, sluice):
    primary = backend(name="primary")
    hold = socket.socket()
    hold.bind(("127.0.0.1", 0))
    hold.listen(64)  # accepts connections, never answers
    gw = sluice(config(f"""
    upstreams:
      - name: primary
        targets: [{{address: {primary.address}}}]
      - name: shadow
        targets: [{{address: 127.0.0.1:{hold.getsockname()[1]}}}]
    routes:
      - name: bounded
        match: {{path: "/{{*rest}}"}}
        upstream: primary
        mirror: {{upstream: shadow, max_in_flight: 2, timeout: 1500ms}}
    """, workers=1))
    try:
        for i in range(10):
            t0 = time.monotonic()
            r = request(gw.port, "GET", f"/r{i}")
            assert r.status == 200 and r.header("x-backend") == "primary"
            assert time.monotonic() - t0 < 1.0
        got = wait_counts(gw, "bounded", {"dropped": 8, "in_flight": 2})
        assert got["dropped"] == 8 and got["in_flight"] == 2, got
        # The two in flight time out at the shadow: failed, and the bound frees up.
        got = wait_counts(gw, "bounded", {"failed": 2, "in_flight": 0})
        assert got == {"answered": 0, "failed": 2, "dropped": 8, "in_flight": 0}, got
        r = request(gw.port, "GET", "/again")
        assert r.status == 200
        assert wait_counts(gw, "bounded", {"in_flight": 1})["in_flight"] == 1
    finally:
        hold.close()


def test_an_absent_shadow_is_counted_as_failed(mirror_gw):
    gw = mirror_gw
    for i in range(3):
        r = request(gw.port, "GET", f"/lost/{i}")
        assert r.status == 200 and r.header("x-backend") == "primary"
    got = wait_counts(gw, "lost", {"failed": 3, "in_flight": 0})
    assert got["failed"] == 3 and got["answered"] == 0, got


def test_percent_copies_a_share(mirror_gw):
    gw = mirror_gw
    from harness import Client
    n = 400
    with Client(gw.port) as c:
        for i in range(n):
            r = c.request("GET", f"/half/{i}")
            assert r.status == 200
    got = wait_counts(gw, "half", {"in_flight": 0})
    copies = got["answered"]
    assert copies == len(shadow_log(gw, copies, "/half/"))
    # Binomial(400, 0.5): 4.5 standard deviations either side.
    assert 155 <= copies <= 245, copies


def test_max_body_bounds_the_copy(mirror_gw):
    gw = mirror_gw
    r = request(gw.port, "POST", "/small/fits", body=b"x" * 1000)
    assert r.status == 200
    big = b"y" * 5000
    r = request(gw.port, "POST", "/small/too-long", body=big)
    assert r.status == 200 and r.json()["body_length"] == len(big)
    r = request(gw.port, "POST", "/small/too-long-chunked",
                headers=[("transfer-encoding", "chunked")],
                body=chunked_body([b"z" * 600, b"z" * 600]))
    assert r.status == 200 and r.json()["body_length"] == 1200
    got = wait_counts(gw, "small", {"answered": 1, "dropped": 2})
    assert got["answered"] == 1 and got["dropped"] == 2, got
    targets = [x["target"] for x in gw.shadow.requests_log()]
    assert "/small/fits" in targets
    assert not [t for t in targets if t.startswith("/small/too-long")]


def test_the_client_leaving_mid_body_sends_no_copy(mirror_gw):
    gw = mirror_gw
    with socket.create_connection(("127.0.0.1", gw.port)) as s:
        s.sendall(b"POST /all/partial HTTP/1.1\r\nHost: t\r\ncontent-length: 5000\r\n\r\n"
                  + b"p" * 1000)
        time.sleep(0.3)
    got = wait_counts(gw, "all", {"dropped": 1, "in_flight": 0})
    assert got["dropped"] == 1 and got["in_flight"] == 0, got
    assert not [x for x in gw.shadow.requests_log() if x["target"] == "/all/partial"]


def test_concurrent_clients_with_a_mirror(mirror_gw):
    gw = mirror_gw
    from harness import Client
    errors = []

    def client(k):
        try:
            with Client(gw.port) as c:
                for i in range(50):
                    body = (b"%d-%d" % (k, i)) * 100
                    r = c.request("POST", f"/all/c{k}/{i}", body=body)
                    if r.status != 200 or r.json()["body_length"] != len(body):
                        errors.append((k, i, r.status))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]
    copies = shadow_log(gw, 400, "/all/c")
    assert len(copies) == 400
    got = wait_counts(gw, "all", {"answered": 400, "in_flight": 0})
    assert got["answered"] == 400 and got["failed"] == 0 and got["dropped"] == 0, got


def test_mirror_config_errors(tmp_path):
    code, out = validate_config(tmp_path, """\
listeners:
  - address: 127.0.0.1:18080
upstreams:
  - name: echo
    targets: [{address: 127.0.0.1:9}]
routes:
  - name: a
    match: {path: "/a"}
    upstream: echo
    mirror: {upstream: ghost, percent: 120}
  - name: b
    match: {path: "/b"}
    respond: {status: 200}
    mirror: {upstream: echo}
  - name: c
    match: {path: "/c"}
    upstream: echo
    mirror: {percent: 5, max_in_flight: 0, colour: blue}
""")
    assert code == 1, out
    assert "routes[0].mirror.upstream: upstream 'ghost' is not defined" in out, out
    assert "routes[0].mirror.percent:" in out, out
    assert "routes[1].mirror: mirror needs 'upstream'" in out, out
    assert "routes[2].mirror.upstream: missing required key 'upstream'" in out, out
    assert "routes[2].mirror.max_in_flight:" in out, out
    assert "routes[2].mirror.colour:" in out, out
    for line in out.splitlines():
        if "routes[" in line:
            assert ":" in line.split("routes[")[0], ("file:line before the key", line)
