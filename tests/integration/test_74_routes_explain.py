"""GET /api/v1/routes/explain: which route takes a request and why, which matching routes it
shadows, and which routes would take the request given their method or header conditions; asked
of the router in force, with the data path's normalisation (docs/admin-api.md#explain)."""

import json
import time
import urllib.parse

from harness import config, request
from test_70_admin_api import api

ROUTES = """
    upstreams:
      - name: pool
        targets: [{address: "BACKEND"}]
    routes:
      - {name: catchall, match: {path: "/{*rest}"}, upstream: pool}
      - {name: users, match: {path: "/users/{id}", methods: [GET]}, upstream: pool}
      - {name: users-canary, match: {path: "/users/{id}", headers: {x-canary: "1"}}, upstream: pool}
      - {name: users-any, match: {path: "/users/{uid}"}, upstream: pool}
      - {name: api-host, match: {path: "/users/{id}", host: api.example.com}, upstream: pool}
      - {name: me, match: {path: "/users/me"}, upstream: pool}
      - {name: orders, match: {path: "/orders", methods: [POST]}, upstream: pool}
"""


def explain(gw, **params):
    pairs = []
    for k, v in params.items():
        for one in (v if isinstance(v, list) else [v]):
            pairs.append((k, one))
    status, headers, body = api(gw, "GET", "/routes/explain?" + urllib.parse.urlencode(
        pairs, quote_via=urllib.parse.quote))
    return status, headers, body


def reasons(body):
    return {c["route"]: (c["matched"], c["reason"]) for c in body["candidates"]}


def test_explain_the_chosen_route_and_what_it_shadows(backend, sluice):
    be = backend()
    gw = sluice(config(ROUTES.replace("BACKEND", be.address)))
    status, headers, body = explain(gw, path="/users/42")
    assert status == 200 and headers["etag"] == '"1"', (status, body)
    assert body["matched"] and body["route"] == "users" and body["status"] == "found", body
    assert body["params"] == {"id": "42"}, body
    assert body["shadows"] == ["catchall", "users-any"], body
    assert body["shadowed_by"] == ["users-canary"], body
    r = reasons(body)
    assert r["users"][0] is True and r["users"][1].startswith("chosen"), r
    assert "a method restriction" in r["users-any"][1], r
    assert "more specific path pattern" in r["catchall"][1], r
    assert r["users-canary"] == (False, "needs header x-canary: 1; with it, it would take the "
                                        "request (more header conditions)"), r
    assert r["api-host"][0] is False and "needs host 'api.example.com'" in r["api-host"][1], r
    assert "me" not in r and "orders" not in r, r  # their patterns do not match the path

    # the same request through the data path is served by the same route
    assert request(gw.port, "GET", "/users/42").status == 200

    status, _, body = explain(gw, path="/users/42", method="POST", host="API.example.com:8080",
                              header=["x-canary: 1"])
    assert status == 200 and body["route"] == "api-host", body
    assert "a more specific host" in reasons(body)["users-canary"][1], body


def test_normalisation_405_and_404(backend, sluice):
    be = backend()
    gw = sluice(config(ROUTES.replace("BACKEND", be.address).replace(
        "      - {name: catchall, match: {path: \"/{*rest}\"}, upstream: pool}\n", "")))
    status, _, body = explain(gw, path="/a/../users/%6De?x=1", method="DELETE")
    assert status == 200 and body["path"] == "/users/me" and body["route"] == "me", body
    status, _, body = explain(gw, path="/orders", method="GET")
    assert status == 200 and body["status"] == "method_not_allowed", body
    assert body["allowed_methods"] == ["POST"] and body["route"] is None, body
    assert "405" in body["reason"], body
    assert request(gw.port, "GET", "/orders").status == 405
    status, _, body = explain(gw, path="/nothing/here")
    assert status == 200 and body["status"] == "not_found" and body["candidates"] == [], body


def test_bad_queries_are_400(backend, sluice):
    be = backend()
    gw = sluice(config(ROUTES.replace("BACKEND", be.address)))
    for query, text in [("", "path is required"), ("?method=GET", "path is required"),
                        ("?path=/a&colour=red", "unknown parameter"),
                        ("?path=/a&header=nocolon", "name:value"),
                        ("?path=/a%zz", "malformed"), ("?path=a", "invalid request path")]:
        status, _, body = api(gw, "GET", "/routes/explain" + query)
        assert status == 400 and text in body["error"], (query, status, body)


def test_a_route_named_explain_is_still_an_object(backend, sluice):
    be = backend()
    gw = sluice(config(ROUTES.replace("BACKEND", be.address)))
    route = {"match": {"path": "/explained"}, "upstream": "pool"}
    status, _, _ = api(gw, "PUT", "/routes/explain", route)
    assert status == 201
    status, _, body = api(gw, "GET", "/routes/explain")
    assert status == 200 and body == {"name": "explain", **route}, body
    status, _, body = explain(gw, path="/explained")
    assert status == 200 and body["route"] == "explain", body


def test_explain_over_ten_thousand_routes(backend, sluice):
    be = backend()
    lines = [f"  - {{name: r{i}, match: {{path: \"/svc{i}/{{id}}\"}}, upstream: pool}}"
             for i in range(10000)]
    gw = sluice(config(f"upstreams:\n  - {{name: pool, targets: [{{address: \"{be.address}\"}}]}}"
                       "\nroutes:\n" + "\n".join(lines)))
    t0 = time.monotonic()
    status, _, body = explain(gw, path="/svc9999/7")
    elapsed = time.monotonic() - t0
    print(f"\nexplain over 10,000 routes: {elapsed * 1000:.0f} ms")
    assert status == 200 and body["route"] == "r9999" and len(body["candidates"]) == 1, body
