"""The admin REST API (/api/v1): CRUD of routes, upstreams, consumers and JWT providers, whole
config reads and writes, validation errors, versions with diff and rollback, If-Match, tokens,
and API changes that survive a restart (docs/admin-api.md)."""

import http.client
import json
import time

from harness import config, free_port, request, sha256_hex, wait_for


def api(gw, method, path, body=None, headers=None, raw=None):
    """(status, headers lower-cased, parsed JSON) of an admin API call."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=10)
    try:
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        h = {"content-type": "application/json"} if data is not None else {}
        h.update(headers or {})
        conn.request(method, "/api/v1" + path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, (
            json.loads(text) if text else None)
    finally:
        conn.close()


def two_upstreams(one, two, admin_extra="", workers=1):
    return config(f"""
        upstreams:
          - name: one
            targets: [{{address: "{one.address}"}}]
          - name: two
            targets: [{{address: "{two.address}"}}]
        routes:
          - name: first
            match: {{path: "/first/{{*rest}}"}}
            upstream: one
            timeout: 5s
    """, workers=workers).replace("admin:\n  address: 127.0.0.1:$ADMIN\n",
                                  "admin:\n  address: 127.0.0.1:$ADMIN\n" + admin_extra)


def served_by(gw, path):
    r = request(gw.port, "GET", path)
    return r.status, r.header("x-backend")


def test_read_the_config_and_its_objects(backend, sluice):
    one, two = backend(name="one"), backend(name="two")
    gw = sluice(two_upstreams(one, two))
    status, headers, doc = api(gw, "GET", "/config")
    assert status == 200 and headers["etag"] == '"1"', (status, headers)
    assert doc["routes"] == [{"name": "first", "match": {"path": "/first/{*rest}"},
                              "upstream": "one", "timeout": "5s"}], doc
    assert [u["name"] for u in doc["upstreams"]] == ["one", "two"]
    status, _, routes = api(gw, "GET", "/routes")
    assert status == 200 and routes == {"routes": doc["routes"]}
    status, _, up = api(gw, "GET", "/upstreams/two")
    assert status == 200 and up == {"name": "two", "targets": [{"address": two.address}]}
    assert api(gw, "GET", "/routes/nope")[0] == 404
    assert api(gw, "GET", "/consumers")[2] == {"consumers": []}
    assert api(gw, "GET", "/widgets")[0] == 404


def test_crud_round_trip_changes_traffic(backend, sluice):
    one, two = backend(name="one"), backend(name="two")
    gw = sluice(two_upstreams(one, two, workers=2))
    assert served_by(gw, "/second/x") == (404, None)

    status, headers, body = api(gw, "PUT", "/routes/second",
                                {"match": {"path": "/second/{*rest}"}, "upstream": "two"})
    assert status == 201 and body["version"] == 2 and headers["etag"] == '"2"', body
    wait_for(lambda: served_by(gw, "/second/x") == (200, "two"), 3.0, what="route second")
    assert api(gw, "GET", "/routes/second")[2] == {
        "name": "second", "match": {"path": "/second/{*rest}"}, "upstream": "two"}

    status, _, body = api(gw, "PATCH", "/routes/second", {"upstream": "one"})
    assert status == 200 and body["version"] == 3, body
    wait_for(lambda: served_by(gw, "/second/x") == (200, "one"), 3.0, what="patched route")

    status, _, body = api(gw, "PUT", "/routes/second",
                          {"match": {"path": "/second/{*rest}"}, "upstream": "two"})
    assert status == 200 and body["version"] == 4, body  # a replace, not a create
    status, _, body = api(gw, "DELETE", "/routes/second")
    assert status == 200 and body["version"] == 5, body
    wait_for(lambda: served_by(gw, "/second/x") == (404, None), 3.0, what="route deleted")
    assert api(gw, "DELETE", "/routes/second")[0] == 404
    assert api(gw, "PATCH", "/routes/second", {"upstream": "one"})[0] == 404
    assert served_by(gw, "/first/x") == (200, "one")

    # the other collections the same way
    status, _, body = api(gw, "PUT", "/consumers/billing", {"roles": ["writer"]})
    assert status == 201, body
    assert api(gw, "GET", "/consumers/billing")[2] == {"name": "billing", "roles": ["writer"]}
    status, _, body = api(gw, "PUT", "/jwt_providers/corp", {
        "issuer": "https://idp.example", "keys": [{"secret": "0123456789abcdef0123"}]})
    assert status == 201, body
    assert api(gw, "GET", "/jwt_providers")[2]["jwt_providers"][0]["name"] == "corp"


def test_invalid_writes_change_nothing_and_list_every_error(backend, sluice):
    one, two = backend(name="one"), backend(name="two")
    gw = sluice(two_upstreams(one, two))
    _, _, before = api(gw, "GET", "/config")
    status, headers, body = api(gw, "PUT", "/routes/bad", {
        "match": {"path": "/bad"}, "upstream": "missing", "timeout": "soon"})
    assert status == 400 and headers["etag"] == '"1"', body
    assert body["version"] == 1
    paths = {e["path"]: e["message"] for e in body["errors"]}
    print(f"\n400 errors: {body['errors']}")
    assert set(paths) == {"routes[1].upstream", "routes[1].timeout"}, body
    assert "missing" in paths["routes[1].upstream"]
    # deleting an upstream a route uses is refused by the same validation
    status, _, body = api(gw, "DELETE", "/upstreams/one")
    assert status == 400 and body["errors"][0]["path"] == "routes[0].upstream", body
    # bodies that are not documents, or a name that is not the URL's
    assert api(gw, "PUT", "/routes/x", raw="{not json")[0] == 400
    assert api(gw, "PUT", "/routes/x", raw="[1, 2]")[0] == 400
    status, _, body = api(gw, "PUT", "/routes/x", {"name": "y", "upstream": "one",
                                                    "match": {"path": "/y"}})
    assert status == 400 and "name" in body["error"], body
    assert api(gw, "PUT", "/config", raw="[]")[0] == 400
    assert api(gw, "GET", "/config")[2] == before
    assert served_by(gw, "/first/a") == (200, "one")
    _, _, c = gw.admin("GET", "/config")
    assert c["version"] == 1, c


def test_validate_is_a_dry_run_and_put_config_replaces_the_whole(backend, sluice):
    one, two = backend(name="one"), backend(name="two")
    gw = sluice(two_upstreams(one, two))
    _, _, doc = api(gw, "GET", "/config")
    doc["routes"][0]["upstream"] = "two"
    status, _, body = api(gw, "POST", "/config/validate", doc)
    assert status == 200 and body["ok"] is True, body
    broken = json.loads(json.dumps(doc))
    broken["routes"][0]["upstream"] = "three"
    status, _, body = api(gw, "POST", "/config/validate", broken)
    assert status == 400 and body["errors"][0]["path"] == "routes[0].upstream", body
    assert served_by(gw, "/first/a") == (200, "one")
    assert api(gw, "GET", "/config")[1]["etag"] == '"1"'

    status, _, body = api(gw, "PUT", "/config", doc)
    assert status == 200 and body["version"] == 2, body
    wait_for(lambda: served_by(gw, "/first/a") == (200, "two"), 3.0, what="PUT config")
    # YAML bodies too, by Content-Type
    yaml_doc = json.dumps(doc).replace('"upstream": "two"', '"upstream": "one"')
    status, _, body = api(gw, "PUT", "/config", raw=yaml_doc,
                          headers={"content-type": "application/yaml"})
    assert status == 200 and body["version"] == 3, body
    wait_for(lambda: served_by(gw, "/first/a") == (200, "one"), 3.0, what="YAML PUT")


def test_if_match_guards_against_lost_updates(backend, sluice):
    one, two = backend(name="one"), backend(name="two")
    gw = sluice(two_upstreams(one, two))
    _, headers, _ = api(gw, "GET", "/routes/first")
    tag = headers["etag"]
    status, _, body = api(gw, "PATCH", "/routes/first", {"timeout": "3s"},
                          headers={"if-match": tag})
    assert status == 200 and body["version"] == 2, body
    # a second writer still holding the old ETag
    status, headers, body = api(gw, "PATCH", "/routes/first", {"timeout": "4s"},
                                headers={"if-match": tag})
    assert status == 412 and headers["etag"] == '"2"', (status, body)
    assert api(gw, "GET", "/routes/first")[2]["timeout"] == "3s"
    assert api(gw, "POST", "/config/rollback", {"version": 1},
               headers={"if-match": '"1"'})[0] == 412
    assert api(gw, "PATCH", "/routes/first", {"timeout": "4s"},
               headers={"if-match": '"2"'})[0] == 200


def test_versions_diff_and_rollback_restore_hash_and_behaviour(backend, sluice):
    one, two = backend(name="one"), backend(name="two")
    gw = sluice(two_upstreams(one, two))
    file_hash = sha256_hex(gw.config_path.read_bytes())
    api(gw, "PATCH", "/routes/first", {"upstream": "two", "timeout": "2s"},
        headers={"x-sluice-author": "alice"})
    api(gw, "PUT", "/routes/second", {"match": {"path": "/second"}, "upstream": "one"})
    wait_for(lambda: served_by(gw, "/first/a") == (200, "two"), 3.0, what="patched")

    status, _, v = api(gw, "GET", "/config/versions")
    assert status == 200 and v["current"] == 3, v
    got = [(x["version"], x["source"], x["author"]) for x in v["versions"]]
    assert got == [(1, "file", "start"), (2, "api", "alice"), (3, "api", "api")], got
    assert v["versions"][0]["hash"] == file_hash
    status, _, one_v = api(gw, "GET", "/config/versions/1")
    assert status == 200 and one_v["config"]["routes"][0]["upstream"] == "one", one_v
    assert api(gw, "GET", "/config/versions/99")[0] == 404

    status, _, d = api(gw, "GET", "/config/diff?from=1&to=3")
    assert status == 200, d
    print(f"\ndiff 1..3: {d}")
    assert d["added"] == [{"kind": "routes", "name": "second"}], d
    assert d["removed"] == []
    assert d["changed"] == [{"kind": "routes", "name": "first", "keys": ["upstream", "timeout"]}]

    status, _, body = api(gw, "POST", "/config/rollback", {"version": 1},
                          headers={"x-sluice-author": "bob"})
    assert status == 200 and body["version"] == 4 and body["hash"] == file_hash, body
    wait_for(lambda: served_by(gw, "/first/a") == (200, "one"), 3.0, what="rolled back")
    assert served_by(gw, "/second")[0] == 404
    _, _, c = gw.admin("GET", "/config")
    assert c["hash"] == file_hash and c["version"] == 4, c
    last = api(gw, "GET", "/config/versions")[2]["versions"][-1]
    assert (last["source"], last["author"], last["rollback_of"]) == ("rollback", "bob", 1), last
    assert api(gw, "POST", "/config/rollback", {"version": 77})[0] == 404
    assert api(gw, "POST", "/config/rollback", {"v": 1})[0] == 400


def test_file_reload_is_a_version_and_history_is_bounded(backend, sluice):
    one, two = backend(name="one"), backend(name="two")
    gw = sluice(two_upstreams(one, two, admin_extra="  history: 3\n"))
    for i in range(4):
        assert api(gw, "PATCH", "/routes/first", {"timeout": f"{i + 1}s"})[0] == 200
    status, body = gw.reload(gw.template)  # the file again: it replaces the API's changes
    assert status == 200 and body["version"] == 6, body
    _, _, v = api(gw, "GET", "/config/versions")
    got = [(x["version"], x["source"]) for x in v["versions"]]
    assert got == [(4, "api"), (5, "api"), (6, "file")], got
    assert api(gw, "GET", "/routes/first")[2]["timeout"] == "5s"
    files = sorted(p.name for p in (gw.workdir / (gw.config_path.name + ".state") /
                                    "versions").iterdir())
    assert files == ["4.json", "4.meta.json", "5.json", "5.meta.json", "6.meta.json",
                     "6.yaml"], files


def test_api_changes_survive_a_restart_and_an_edited_file_wins(backend, sluice, tmp_path):
    one, two = backend(name="one"), backend(name="two")
    state = tmp_path / "state"
    text = two_upstreams(one, two, admin_extra=f"  state_dir: {state}\n")
    gw = sluice(text)
    assert api(gw, "PUT", "/routes/second", {"match": {"path": "/second"},
                                             "upstream": "two"})[0] == 201
    ports = (gw.port, gw.admin_port)
    assert gw.terminate() == 0

    gw2 = sluice(text, ports=ports)  # the same file, byte for byte
    assert served_by(gw2, "/second") == (200, "two")
    _, headers, _ = api(gw2, "GET", "/config")
    assert headers["etag"] == '"2"', headers
    assert "resuming version 2" in gw2.log_tail()
    assert gw2.terminate() == 0

    gw3 = sluice(text + "# edited\n", ports=ports)  # the file changed while sluice was down
    assert served_by(gw3, "/second")[0] == 404
    _, _, v = api(gw3, "GET", "/config/versions")
    assert [(x["version"], x["source"]) for x in v["versions"]] == [
        (1, "file"), (2, "api"), (3, "file")], v
    # the API's version is still there to roll back to
    assert api(gw3, "POST", "/config/rollback", {"version": 2})[0] == 200
    wait_for(lambda: served_by(gw3, "/second") == (200, "two"), 3.0, what="rolled back")


def test_tokens_protect_the_admin_api(backend, sluice, tmp_path):
    one, two = backend(name="one"), backend(name="two")
    (tmp_path / "admin.token").write_text("s3cret-admin-token-0123\n")
    (tmp_path / "ro.token").write_text("read-only-token-456789\n")
    gw = sluice(two_upstreams(one, two, admin_extra=(
        f"  token_file: {tmp_path / 'admin.token'}\n"
        f"  read_only_token_file: {tmp_path / 'ro.token'}\n")))
    full = {"authorization": "Bearer s3cret-admin-token-0123"}
    ro = {"authorization": "Bearer read-only-token-456789"}
    status, headers, _ = api(gw, "GET", "/config")
    assert status == 401 and headers["www-authenticate"].startswith("Bearer"), headers
    assert api(gw, "GET", "/config", headers={"authorization": "Bearer wrong"})[0] == 401
    assert api(gw, "GET", "/config", headers=ro)[0] == 200
    assert api(gw, "PATCH", "/routes/first", {"timeout": "1s"}, headers=ro)[0] == 403
    assert api(gw, "PATCH", "/routes/first", {"timeout": "1s"}, headers=full)[0] == 200
    # the older endpoints too, but not the probes
    assert gw.admin("GET", "/upstreams")[0] == 401
    assert gw.admin("POST", "/reload")[0] == 401
    assert gw.admin("GET", "/healthz")[0] == 200
    assert gw.admin("GET", "/readyz")[0] == 200


def test_bad_token_files_refuse_the_config(tmp_path):
    from harness import validate_config
    (tmp_path / "short.token").write_text("short\n")
    code, out = validate_config(tmp_path, config("").replace(
        "admin:\n  address: 127.0.0.1:$ADMIN\n",
        f"admin:\n  address: 127.0.0.1:9\n  token_file: {tmp_path / 'short.token'}\n"
        "  history: 0\n").replace("$PORT", "8"))
    assert code == 1, out
    assert "admin.token_file: the token must be at least 16 bytes long, got 5" in out, out
    assert "admin.history" in out, out
    assert "short\n" not in out.replace("short.token", "")


def test_big_bodies_use_expect_continue(backend, sluice):
    """curl sends Expect: 100-continue with a large body: the API answers it."""
    one, two = backend(name="one"), backend(name="two")
    gw = sluice(two_upstreams(one, two))
    _, _, doc = api(gw, "GET", "/config")
    for i in range(3000):
        doc["routes"].append({"name": f"r{i}", "match": {"path": f"/r/{i}"}, "upstream": "two"})
    body = json.dumps(doc)
    assert len(body) > 200_000
    conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=30)
    t0 = time.monotonic()
    conn.putrequest("PUT", "/api/v1/config")
    conn.putheader("content-type", "application/json")
    conn.putheader("content-length", str(len(body)))
    conn.putheader("expect", "100-continue")
    conn.endheaders()
    conn.sock.settimeout(5)
    first = conn.sock.recv(64)
    assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), first
    conn.sock.sendall(body.encode())
    rest = b""
    while b"\r\n\r\n" not in rest or not rest.rstrip().endswith(b"}"):
        chunk = conn.sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    conn.close()
    print(f"\nPUT of a 3,001-route config ({len(body)} bytes): "
          f"{(time.monotonic() - t0) * 1000:.0f} ms")
    assert b" 200 OK" in first + rest, rest[:300]
    wait_for(lambda: served_by(gw, "/r/2999") == (200, "two"), 5.0, what="route r2999")
