"""config_source etcd: three instances share the objects kept in a real etcd (Debian's
etcd-server), added to their file's or replacing its objects of the same name; a change is in
force on every instance within a second; admin API writes go to etcd; an invalid object
changes nothing and is reported at its key; etcd killed: the last good config stays, a metric
and the readiness probe say so, and changes flow again when it is back (docs/operations.md)."""

import json
import time

import pytest

from harness import config, http_json, request, wait_for
from harness_auth import metric_samples, metrics_of
from harness_etcd import EtcdServer
from test_70_admin_api import api


@pytest.fixture
def etcd(procs):
    return EtcdServer(procs)


def fleet_config(etcd, backend, prefix="/sluice"):
    return config(f"""
        config_source:
          etcd: {{endpoints: ["{etcd.address}"], prefix: {prefix}, timeout: 2s}}
        upstreams:
          - name: pool
            targets: [{{address: "{backend.address}"}}]
        routes:
          - name: base
            match: {{path: "/base"}}
            respond: {{status: 200, body: "from the file\\n"}}
          - name: shared
            match: {{path: "/shared"}}
            respond: {{status: 200, body: "file version\\n"}}
    """, workers=1)


def body_of(gw, path):
    r = request(gw.port, "GET", path)
    return r.status, r.body.decode()


def test_three_instances_see_a_change_within_a_second(backend, sluice, etcd):
    be = backend()
    etcd.put("/sluice/routes/shared", {"match": {"path": "/shared"},
                                       "respond": {"status": 200, "body": "etcd version\n"}})
    fleet = [sluice(fleet_config(etcd, be)) for _ in range(3)]
    for gw in fleet:  # the etcd object replaces the file's of that name, from the start
        assert body_of(gw, "/shared") == (200, "etcd version\n")
        assert body_of(gw, "/base") == (200, "from the file\n")

    for round_no in range(3):
        path = f"/new/{round_no}"
        t0 = time.monotonic()
        etcd.put(f"/sluice/routes/new{round_no}",
                 {"match": {"path": path}, "upstream": "pool"})
        seen = {}
        deadline = t0 + 5
        while len(seen) < 3 and time.monotonic() < deadline:
            for i, gw in enumerate(fleet):
                if i not in seen and request(gw.port, "GET", path).status == 200:
                    seen[i] = time.monotonic() - t0
            time.sleep(0.005)
        print(f"\netcd put -> in force on 3 instances after "
              f"{', '.join(f'{seen[i] * 1000:.0f}' for i in sorted(seen))} ms")
        assert len(seen) == 3 and max(seen.values()) < 1.0, seen
    for gw in fleet:
        status, _, versions = api(gw, "GET", "/config/versions")
        assert versions["versions"][-1]["source"] == "etcd", versions

    etcd.delete("/sluice/routes/shared")  # the file's object of that name comes back
    for gw in fleet:
        wait_for(lambda gw=gw: body_of(gw, "/shared") == (200, "file version\n"), timeout=2)


def test_admin_api_writes_go_to_etcd(backend, sluice, etcd):
    be = backend()
    one, two = sluice(fleet_config(etcd, be)), sluice(fleet_config(etcd, be))
    route = {"match": {"path": "/api-made"}, "respond": {"status": 200, "body": "made\n"}}
    status, headers, body = api(one, "PUT", "/routes/made", route,
                                headers={"x-sluice-author": "ops"})
    assert status == 201 and body["etcd_revision"] > 0, (status, body)
    assert headers["etag"] == f'"{body["version"]}"'
    assert body_of(one, "/api-made") == (200, "made\n")  # in force when answered
    assert one.get_config()["files"] == [str(one.config_path), "etcd:/sluice/"]
    assert etcd.get("/sluice/routes/made") == {"name": "made", **route}
    wait_for(lambda: body_of(two, "/api-made") == (200, "made\n"), timeout=2)
    status, _, versions = api(one, "GET", "/config/versions")
    assert versions["versions"][-1]["author"] == "ops", versions

    status, _, body = api(one, "PATCH", "/routes/made", {"respond": {"body": "patched\n"}})
    assert status == 200, body
    wait_for(lambda: body_of(two, "/api-made") == (200, "patched\n"), timeout=2)

    # validated before it is written: nothing reaches etcd
    status, _, body = api(one, "PUT", "/routes/broken", {"match": {"path": "/b"},
                                                         "upstream": "nope"})
    assert status == 400 and "nope" in body["errors"][0]["message"], body
    assert etcd.get("/sluice/routes/broken") is None

    # an object only the file defines cannot be removed through etcd; the whole config is not
    # written through the API
    status, _, body = api(one, "DELETE", "/routes/base")
    assert status == 409 and "config files" in body["error"], body
    status, _, body = api(one, "PUT", "/config", {"listeners": []})
    assert status == 409, body
    status, _, body = api(one, "POST", "/config/rollback", {"version": 1})
    assert status == 409, body

    status, _, body = api(two, "DELETE", "/routes/made")
    assert status == 200, body
    assert etcd.keys("/sluice/") == []
    wait_for(lambda: request(one.port, "GET", "/api-made").status == 404, timeout=2)


def test_an_invalid_object_changes_nothing_and_names_its_key(backend, sluice, etcd):
    be = backend()
    gw = sluice(fleet_config(etcd, be))
    etcd.put("/sluice/routes/good", {"match": {"path": "/good"}, "upstream": "pool"})
    wait_for(lambda: request(gw.port, "GET", "/good").status == 200, timeout=2)
    version = gw.get_config()["version"]
    etcd.put("/sluice/routes/bad", {"match": {"path": "/bad"}, "upstream": "nope"})
    etcd.put("/sluice/upstreams/junk", "not json at all")

    def refused_both():  # two puts, two refusals: the second one names both keys
        last = gw.get_config()["last_reload"]
        return not last["ok"] and any("upstreams/junk" in e for e in last["errors"])

    wait_for(refused_both, timeout=2)
    errors = gw.get_config()["last_reload"]["errors"]
    assert any(e.startswith("etcd:/sluice/routes/bad:1:") and "'nope'" in e for e in errors), errors
    assert any(e.startswith("etcd:/sluice/upstreams/junk:1:") for e in errors), errors
    assert gw.get_config()["version"] == version
    assert request(gw.port, "GET", "/good").status == 200  # the last good config serves on
    etcd.delete("/sluice/upstreams/junk")
    etcd.put("/sluice/upstreams/nope", {"targets": [{"address": be.address}]})
    wait_for(lambda: request(gw.port, "GET", "/bad").status == 200, timeout=2)


def test_etcd_killed_and_restarted(backend, sluice, etcd):
    be = backend()
    fleet = [sluice(fleet_config(etcd, be)) for _ in range(2)]
    etcd.put("/sluice/routes/a", {"match": {"path": "/a"}, "upstream": "pool"})
    for gw in fleet:
        wait_for(lambda gw=gw: request(gw.port, "GET", "/a").status == 200, timeout=2)
    etcd.stop()
    for gw in fleet:
        wait_for(lambda gw=gw: metric_samples(metrics_of(gw), "sluice_etcd_connected") == [0.0],
                 timeout=3)
        status, _, text = http_json(gw.admin_port, "GET", "/readyz")
        assert status == 200 and b"etcd unreachable" in text, text
        assert request(gw.port, "GET", "/a").status == 200  # last good config
        status, _, body = api(gw, "PUT", "/routes/b", {"match": {"path": "/b"},
                                                       "upstream": "pool"})
        assert status == 503 and body["error"].startswith("etcd:"), body
    etcd.start()
    etcd.put("/sluice/routes/b", {"match": {"path": "/b"}, "upstream": "pool"})
    t0 = time.monotonic()
    for gw in fleet:
        wait_for(lambda gw=gw: request(gw.port, "GET", "/b").status == 200, timeout=10)
    print(f"\nafter etcd came back: the change in force on both after "
          f"{(time.monotonic() - t0) * 1000:.0f} ms (reconnect back-off included)")
    for gw in fleet:
        assert metric_samples(metrics_of(gw), "sluice_etcd_connected") == [1.0]
        assert metric_samples(metrics_of(gw), "sluice_etcd_failures_total")[0] >= 1
        assert http_json(gw.admin_port, "GET", "/readyz")[2] == b"ready\n"


def test_start_while_etcd_is_down_then_its_objects_arrive(backend, sluice, etcd):
    be = backend()
    etcd.put("/sluice/routes/late", {"match": {"path": "/late"}, "upstream": "pool"})
    etcd.stop()
    gw = sluice(fleet_config(etcd, be))
    assert body_of(gw, "/base") == (200, "from the file\n")
    assert request(gw.port, "GET", "/late").status == 404
    assert "unreachable at start" in gw.log_tail()
    etcd.start()
    wait_for(lambda: request(gw.port, "GET", "/late").status == 200, timeout=10)


def test_watched_files_and_etcd_together(backend, sluice, etcd, tmp_path):
    be = backend()
    text = fleet_config(etcd, be) + "reload: {watch: true, debounce: 50ms}\n"
    gw = sluice(text)
    etcd.put("/sluice/routes/e", {"match": {"path": "/e"}, "upstream": "pool"})
    wait_for(lambda: request(gw.port, "GET", "/e").status == 200, timeout=2)
    version = gw.get_config()["version"]
    time.sleep(0.5)  # the watch reloads only when a file's bytes change, never for etcd's layer
    assert gw.get_config()["version"] == version
    log = gw.log_tail()
    assert "config watch: watching 1 file(s) in 1 folder(s)" in log, log  # etcd's layer is no file
    assert "config watch: etcd:" not in log, log
    gw.write_config(text.replace("from the file", "edited file"))
    wait_for(lambda: body_of(gw, "/base") == (200, "edited file\n"), timeout=3)
    assert request(gw.port, "GET", "/e").status == 200  # etcd's objects stay with the new file
