"""Target weights, the listener-in-use check, and Host for HTTP/1.0 requests without one."""

import socket
import subprocess

from harness import Client, config, free_port, raw, build_request, parse_response, sluice_bin


def test_weights_interleave_smoothly(backend, sluice):
    a = backend(name="a")
    b = backend(name="b")
    gw = sluice(config(f"""
        upstreams:
          - name: pair
            targets:
              - {{address: {a.address}, weight: 3}}
              - {{address: {b.address}, weight: 1}}
        routes:
          - name: all
            match: {{path: "/{{*rest}}"}}
            upstream: pair
    """, workers=1))
    seen = []
    with Client(gw.port) as c:
        for i in range(40):
            r = c.request("GET", f"/w/{i}")
            assert r.status == 200
            seen.append(r.json()["backend"])
    assert seen.count("a") == 30 and seen.count("b") == 10, seen
    # smooth: never more than three a's in a row
    assert "aaaa" not in "".join(seen), seen


def test_listener_address_taken_by_another_process_is_refused(tmp_path):
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen(8)
    port = holder.getsockname()[1]
    try:
        cfg = tmp_path / "taken.yaml"
        cfg.write_text(f"""listeners:
  - address: 127.0.0.1:{port}
admin:
  address: 127.0.0.1:{free_port()}
routes:
  - name: hello
    match: {{path: /hello}}
    respond: {{status: 200, body: "hi"}}
""")
        p = subprocess.run([str(sluice_bin()), "run", "--config", str(cfg)], capture_output=True,
                           text=True, timeout=10)
        assert p.returncode == 1, p.stderr
        assert f"{cfg}:2:" in p.stderr and "listeners" in p.stderr, p.stderr
    finally:
        holder.close()


def test_http10_without_host_gets_the_targets_host(backend, sluice):
    be = backend(name="h")
    gw = sluice(config(f"""
        upstreams:
          - name: h
            targets: [{{address: {be.address}}}]
        routes:
          - name: all
            match: {{path: "/{{*rest}}"}}
            upstream: h
    """))
    got = raw(gw.port, b"GET /old HTTP/1.0\r\n\r\n", read_timeout=5)
    r = parse_response(got)
    assert r.status == 200
    hosts = [v for n, v in r.json()["headers"] if n.lower() == "host"]
    assert hosts == [be.address], r.json()["headers"]
