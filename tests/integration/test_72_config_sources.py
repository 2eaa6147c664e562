"""Config sources through the binary: two --config files merged in order, include:, ${VAR} and
${VAR:-default} from the process's environment (an unset one refused with its file:line), and
`reload: {watch: true}`: an edit in place, a replace by rename and a vim-style save are in force
within about a second without SIGHUP; an invalid edit changes nothing and shows in GET /config's
last_reload and in sluice_config_reloads_total{result="error"}; an included file is watched too."""

import os
import subprocess
import time
from pathlib import Path

from harness import config, metric_samples, metrics_of, request, require_sluice


def run_cli(*args, env=None, timeout=10):
    e = dict(os.environ)
    e.pop("SLUICE_T72_UNSET", None)
    e.update(env or {})
    p = subprocess.run([require_sluice(), *args], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL, env=e)
    return p.returncode, p.stdout + p.stderr


def write(path, text):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return str(path)


def body_of(gw, target):
    r = request(gw.port, "GET", target, timeout=5)
    return r.status, r.body


def wait_body(gw, target, want, limit=3.0):
    """Polls until the answer's body is `want`; returns the seconds it took (fails past limit)."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < limit:
        last = body_of(gw, target)
        if last == (200, want):
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"{target}: still {last!r} after {limit}s, wanted {want!r}\n"
                         f"{gw.log_tail()}")


def wait_for(cond, limit=3.0, what="condition"):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"{what}: not reached in {limit}s")


def reload_errors(gw):
    return metric_samples(metrics_of(gw), "sluice_config_reloads_total", result="error")[0]


def test_two_config_files_merge_in_order(backend, sluice, tmp_path):
    be = backend(name="api")
    overlay = write(tmp_path / "prod.yaml", f"""\
upstreams:
  - name: api
    targets: [{{address: {be.address}}}]
routes:
  - name: b
    match: {{path: /b}}
    respond: {{status: 200, body: "prod b"}}
  - name: c
    match: {{path: "/c/{{*rest}}"}}
    upstream: api
""")
    gw = sluice(config("""
        upstreams:
          - name: api
            targets: [{address: 127.0.0.1:9}]
        routes:
          - name: a
            match: {path: "/a/{*rest}"}
            upstream: api
          - name: b
            match: {path: /b}
            respond: {status: 200, body: "base b"}
        timeouts:
          idle: 30s
    """), extra_args=["--config", overlay])
    # the overlay's upstream replaced the base's (same name), for the base's route too
    r = request(gw.port, "GET", "/a/x")
    assert r.status == 200 and r.json()["target"] == "/a/x", (r.status, r.body)
    assert body_of(gw, "/b") == (200, b"prod b")
    r = request(gw.port, "GET", "/c/y")
    assert r.status == 200 and r.json()["target"] == "/c/y", (r.status, r.body)
    cfg = gw.get_config()
    assert cfg["routes"] == 3 and cfg["upstreams"] == 1, cfg
    assert cfg["file"] == str(gw.config_path), cfg

    code, out = run_cli("validate", "--config", str(gw.config_path), "--config", overlay)
    assert code == 0 and f"{gw.config_path}, {overlay}: ok (3 routes, 1 upstreams)" in out, out

    # an error in the overlay is reported at the overlay's line
    write(overlay, "routes:\n  - name: d\n    match: {path: /d}\n    upstream: nope\n")
    code, out = run_cli("validate", "--config", str(gw.config_path), "--config", overlay)
    assert code == 1, out
    assert f"{overlay}:4:15: routes[2].upstream: upstream 'nope' is not defined" in out, out
    status, _, body = gw.admin("POST", "/reload")
    assert status == 400 and body["errors"][0].startswith(f"{overlay}:4:15: "), body
    assert body_of(gw, "/b") == (200, b"prod b")  # nothing changed


def test_include_and_environment(backend, sluice, tmp_path):
    be = backend(name="inc")
    inc = tmp_path / "conf.d"
    write(inc / "upstreams.yaml", """\
upstreams:
  - name: api
    targets: [{address: "${SLUICE_T72_BACKEND}"}]
""")
    write(inc / "routes.yaml", """\
include: more/hello.yaml
routes:
  - name: api
    match: {path: "/api/{id}"}
    upstream: api
    filters:
      request_headers: {set: {x-id: "${path.id}", x-env: "${SLUICE_T72_STAGE:-dev}"}}
""")
    write(inc / "more" / "hello.yaml", """\
routes:
  - name: hello
    match: {path: /hello}
    respond: {status: 200, body: "hello ${SLUICE_T72_WHO} $${SLUICE_T72_WHO}"}
""")
    gw = sluice(config("""
        include: [conf.d/upstreams.yaml, conf.d/routes.yaml]
        timeouts:
          idle: 30s
    """), env={"SLUICE_T72_BACKEND": be.address, "SLUICE_T72_WHO": "ops"})
    # the harness writes the main file into tmp_path: the includes are relative to it
    assert Path(gw.config_path).parent == tmp_path
    assert body_of(gw, "/hello") == (200, b"hello ops ${SLUICE_T72_WHO}")
    r = request(gw.port, "GET", "/api/42")
    assert r.status == 200, (r.status, r.body)
    headers = {n.lower(): v for n, v in r.json()["headers"]}
    assert headers["x-id"] == "42" and headers["x-env"] == "dev", headers
    assert gw.get_config()["routes"] == 2


def test_an_unset_variable_is_refused_with_its_place(tmp_path):
    path = write(tmp_path / "gw.yaml", """\
listeners:
  - address: 127.0.0.1:9
routes:
  - name: r
    match: {path: /r}
    respond: {status: 200, body: "${SLUICE_T72_UNSET}"}
""")
    want = (f"{path}:6:34: routes[0].respond.body: environment variable SLUICE_T72_UNSET is not "
            "set (give a default with ${SLUICE_T72_UNSET:-value})")
    code, out = run_cli("validate", "--config", path)
    assert code == 1 and want in out, out
    code, out = run_cli("run", "--config", path)  # not started
    assert code == 1 and want in out and "not started" in out, out
    code, out = run_cli("validate", "--config", path, env={"SLUICE_T72_UNSET": "set now"})
    assert code == 0, out


def test_an_include_cycle_is_refused(tmp_path):
    a = write(tmp_path / "a.yaml", "listeners: [{address: 127.0.0.1:9}]\ninclude: [sub/b.yaml]\n")
    write(tmp_path / "sub" / "b.yaml", "include:\n  - ../a.yaml\n")
    code, out = run_cli("validate", "--config", a)
    assert code == 1, out
    assert (f"{tmp_path}/sub/b.yaml:2:5: include[0]: include cycle: {a} -> {tmp_path}/sub/b.yaml "
            f"-> {tmp_path}/sub/../a.yaml") in out, out


WATCHED = """
    reload: {{watch: true, debounce: 100ms}}
    routes:
      - name: r
        match: {{path: /r}}
        respond: {{status: {status}, body: "{body}"}}
"""


def test_watch_reloads_edits_renames_and_refuses_invalid_ones(sluice, tmp_path):
    gw = sluice(config(WATCHED.format(status=200, body="v1")))
    path = gw.config_path
    assert body_of(gw, "/r") == (200, b"v1")
    version = gw.get_config()["version"]
    errors_before = reload_errors(gw)

    # 1. written in place (same inode)
    with open(path, "r+") as f:
        text = gw.render(config(WATCHED.format(status=200, body="v2")))
        f.seek(0)
        f.write(text)
        f.truncate()
    took = wait_body(gw, "/r", b"v2")
    assert took < 1.5, took

    # 2. replaced by rename (a deploy tool, most editors)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(gw.render(config(WATCHED.format(status=200, body="v3"))))
    os.rename(tmp, path)
    assert wait_body(gw, "/r", b"v3") < 1.5

    # 3. vim's save: the file renamed to a backup, a new one written in its place
    os.rename(path, path.with_name(path.name + "~"))
    path.write_text(gw.render(config(WATCHED.format(status=200, body="v4"))))
    assert wait_body(gw, "/r", b"v4") < 1.5
    v4 = gw.get_config()["version"]
    assert v4 == version + 3, (v4, version)

    # 4. an invalid edit changes nothing and is reported
    gw.write_config(config(WATCHED.format(status=2000, body="v5")))
    last = wait_for(lambda: (c := gw.get_config())["last_reload"]["ok"] is False and c, 3.0,
                    "the refused reload in /config")
    assert last["version"] == v4, last
    err = last["last_reload"]["errors"][0]
    assert err.startswith(f"{path}:9:23: routes[0].respond.status: "), err
    assert reload_errors(gw) == errors_before + 1
    assert body_of(gw, "/r") == (200, b"v4")
    assert "reload rejected: " in gw.log_tail()

    # 5. fixed: in force again, last_reload ok
    gw.write_config(config(WATCHED.format(status=201, body="v5")))
    wait_for(lambda: body_of(gw, "/r") == (201, b"v5"), 3.0, "v5")
    c = gw.get_config()
    assert c["version"] == v4 + 1 and c["last_reload"]["ok"] is True, c

    # 6. a touch (same bytes) reloads nothing
    os.utime(path)
    time.sleep(0.6)
    assert gw.get_config()["version"] == v4 + 1


def test_watch_follows_included_files(sluice, tmp_path):
    write(tmp_path / "routes" / "one.yaml", """\
routes:
  - name: one
    match: {path: /one}
    respond: {status: 200, body: "one v1"}
""")
    gw = sluice(config("""
        reload: {watch: true, debounce: 50ms}
        include: [routes/one.yaml]
    """))
    assert body_of(gw, "/one") == (200, b"one v1")
    # the included file, edited
    write(tmp_path / "routes" / "one.yaml", """\
routes:
  - name: one
    match: {path: /one}
    respond: {status: 200, body: "one v2"}
""")
    assert wait_body(gw, "/one", b"one v2") < 1.5
    # a new include: the file is watched from then on
    write(tmp_path / "routes" / "two.yaml", """\
routes:
  - name: two
    match: {path: /two}
    respond: {status: 200, body: "two v1"}
""")
    gw.write_config(config("""
        reload: {watch: true, debounce: 50ms}
        include: [routes/one.yaml, routes/two.yaml]
    """))
    assert wait_body(gw, "/two", b"two v1") < 1.5
    write(tmp_path / "routes" / "two.yaml", """\
routes:
  - name: two
    match: {path: /two}
    respond: {status: 200, body: "two v2"}
""")
    assert wait_body(gw, "/two", b"two v2") < 1.5
    # watch switched off by the config: later edits wait for a reload
    gw.write_config(config("""
        reload: {watch: false}
        include: [routes/one.yaml, routes/two.yaml]
    """))
    wait_for(lambda: "config watch: off" in gw.log_tail(), 3.0, "the watch switched off")
    version = gw.get_config()["version"]
    write(tmp_path / "routes" / "two.yaml", """\
routes:
  - name: two
    match: {path: /two}
    respond: {status: 200, body: "two v3"}
""")
    time.sleep(0.5)
    assert body_of(gw, "/two") == (200, b"two v2")
    assert gw.get_config()["version"] == version
