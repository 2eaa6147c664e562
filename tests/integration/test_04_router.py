"""Routing: static/param/catch-all precedence, hosts, headers, methods, 404/405, priority,
normalised matching with the original target forwarded."""

import pytest

from harness import config, request, require_sluice


def respond(name, path, body, extra=""):
    return f"""
  - name: {name}
    match:
      path: "{path}"{extra}
    respond: {{status: 200, body: "{body}"}}"""


@pytest.fixture(scope="module")
def gw(module_procs):
    require_sluice()
    be = module_procs.backend(name="routed")
    routes = "".join([
        respond("static", "/users/me", "static"),
        respond("param", "/users/{id}", "param"),
        respond("catchall", "/users/{*rest}", "catchall"),
        respond("param2", "/users/{id}/posts/{post}", "param2"),
        respond("items", "/items", "items", "\n      methods: [GET, POST]"),
        respond("items-del", "/items/{id}", "items-del", "\n      methods: [DELETE]"),
        respond("host-exact", "/h", "exact", "\n      host: api.example.com"),
        respond("host-wild", "/h", "wild", "\n      host: \"*.example.com\""),
        respond("host-any", "/h", "any"),
        respond("hdr-v2", "/hdr", "v2", "\n      headers: {x-version: \"2\"}"),
        respond("hdr-any", "/hdr", "v1"),
        respond("prio-low", "/prio", "low", "\n      headers: {x-a: \"1\"}"),
        respond("prio-high", "/prio", "high", "\n    priority: 10"),
    ])
    text = config(f"""
        upstreams:
          - name: routed
            targets: [{{address: {be.address}}}]
        routes:
          - name: to-backend
            match: {{path: /a/b}}
            upstream: routed
          - name: norm-backend
            match: {{path: "/norm/{{*rest}}"}}
            upstream: routed
    """) + routes.lstrip("\n") + "\n"
    g = module_procs.sluice(text)
    g.be = be
    return g


def get(gw, target, method="GET", host="test.local", headers=None):
    return request(gw.port, method, target, headers=headers, host=host)


@pytest.mark.parametrize("target,body", [
    ("/users/me", "static"),
    ("/users/42", "param"),
    ("/users/42/x", "catchall"),
    ("/users/42/x/y/z", "catchall"),
    ("/users/7/posts/9", "param2"),
    ("/users/7/posts/9/more", "catchall"),
    ("/users/me?x=1", "static"),
])
def test_precedence(gw, target, body):
    r = get(gw, target)
    assert r.status == 200, r
    assert r.body.decode() == body


def test_no_match_404(gw):
    r = get(gw, "/nothing/here")
    assert r.status == 404
    assert r.header("content-type").startswith("application/json")
    j = r.json()
    assert j["status"] == 404 and isinstance(j["error"], str) and j["error"]
    assert r.header("x-request-id")


def test_method_not_allowed_405(gw):
    assert get(gw, "/items").body == b"items"
    assert get(gw, "/items", method="POST").body == b"items"
    r = get(gw, "/items", method="DELETE")
    assert r.status == 405
    allow = {m.strip().upper() for m in r.header("allow", "").split(",")}
    assert {"GET", "POST"} <= allow and "DELETE" not in allow, r.header("allow")
    assert r.json()["status"] == 405
    assert r.header("x-request-id")
    r = get(gw, "/items/3", method="GET")
    assert r.status == 405 and "DELETE" in r.header("allow", "").upper()


@pytest.mark.parametrize("host,body", [
    ("api.example.com", "exact"),
    ("API.Example.COM", "exact"),
    ("api.example.com:8080", "exact"),
    ("foo.example.com", "wild"),
    ("other.org", "any"),
    ("127.0.0.1", "any"),
])
def test_host_match(gw, host, body):
    r = get(gw, "/h", host=host)
    assert r.status == 200 and r.body.decode() == body, (host, r)


def test_header_match(gw):
    assert get(gw, "/hdr", headers=[("X-Version", "2")]).body == b"v2"
    assert get(gw, "/hdr", headers=[("X-Version", "3")]).body == b"v1"
    assert get(gw, "/hdr").body == b"v1"


def test_priority(gw):
    # both routes match; the higher priority wins even over the more specific (header) route
    assert get(gw, "/prio", headers=[("X-A", "1")]).body == b"high"
    assert get(gw, "/prio").body == b"high"


@pytest.mark.parametrize("target", ["/a/b", "/a/./b", "/%61/b", "/a/c/../b", "/a/%2E/b",
                                    "/a/b?x=%2F"])
def test_routes_on_normalised_path_forwards_original(gw, target):
    r = get(gw, target)
    assert r.status == 200, (target, r)
    assert r.header("x-backend") == "routed"
    assert r.json()["target"] == target


def test_normalised_prefix_route_forwards_original(gw):
    target = "/norm/./x/%61/../y?q=1"
    r = get(gw, target)
    assert r.status == 200 and r.json()["target"] == target


def test_normalisation_does_not_overmatch(gw):
    assert get(gw, "/a/c").status == 404
    assert get(gw, "/a/b/c").status == 404
    assert get(gw, "/a%2Fb").status == 404  # an encoded slash is not a separator
