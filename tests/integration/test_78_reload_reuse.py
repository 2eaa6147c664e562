"""A reload keeps the routes it did not change as compiled (config::RouteReuse): the log says how
many, the changed route behaves anew, the unchanged ones keep their state (a rate limit's
counters), and what the config cannot show (a file a filter reads, a key file of a consumer) is
read again at every reload."""

import re

from harness import config, request
from test_70_admin_api import api


def routes(be, limit=3, hello="one", more="", extra=""):
    """Three routes (`more` adds routes, `extra` top-level sections), YAML written flush left."""
    return config(
        "upstreams:\n"
        f"  - {{name: be, targets: [{{address: \"{be.address}\"}}]}}\n"
        "routes:\n"
        "  - name: limited\n"
        "    match: {path: /limited}\n"
        "    upstream: be\n"
        f"    rate_limits: [{{name: all, key: route, limit: {limit}, period: 1h}}]\n"
        f"  - {{name: hello, match: {{path: /hello}}, respond: {{status: 200, body: {hello}}}}}\n"
        "  - {name: plain, match: {path: \"/plain/{*rest}\"}, upstream: be}\n" + more + extra)


def kept(gw):
    """(unchanged, total) of the last reload line in the log."""
    found = re.findall(r"(\d+) of (\d+) routes unchanged, kept as compiled", gw.log_tail(20000))
    assert found, gw.log_tail()
    return tuple(int(x) for x in found[-1])


def test_a_reload_keeps_unchanged_routes_compiled_and_their_counters(backend, sluice):
    be = backend()
    gw = sluice(routes(be))
    assert [request(gw.port, "GET", "/limited").status for _ in range(2)] == [200, 200]
    status, body = gw.reload(routes(be, hello="two"))
    assert status == 200 and body["ok"], body
    assert kept(gw) == (2, 3)
    assert request(gw.port, "GET", "/hello").body == b"two"
    assert request(gw.port, "GET", "/plain/x").status == 200
    # The unchanged route's limiter kept its count: one request left of three, then 429.
    assert [request(gw.port, "GET", "/limited").status for _ in range(2)] == [200, 429]

    # A change of the limit compiles that route again.
    status, body = gw.reload(routes(be, limit=5, hello="two"))
    assert status == 200 and body["ok"], body
    assert kept(gw) == (2, 3)
    r = request(gw.port, "GET", "/limited")
    assert r.status in (200, 429) and r.header("ratelimit-limit") == "5", r

    # A change outside the routes (the context) compiles every route again.
    status, body = gw.reload(routes(be, limit=5, hello="two",
                                    extra="limits: {max_body_bytes: 1MiB}\n"))
    assert status == 200 and body["ok"], body
    assert kept(gw) == (0, 3)
    assert request(gw.port, "GET", "/hello").body == b"two"


def test_one_route_changed_through_the_api_leaves_the_others_compiled(backend, sluice):
    be = backend()
    gw = sluice(routes(be))
    status, _, body = api(gw, "PATCH", "/routes/hello", {"respond": {"status": 201, "body": "api"}})
    assert status == 200, body
    assert kept(gw) == (2, 3)
    r = request(gw.port, "GET", "/hello")
    assert r.status == 201 and r.body == b"api"
    # A second PATCH works from the first's snapshot.
    status, _, body = api(gw, "PATCH", "/routes/plain", {"strip_prefix": "/plain"})
    assert status == 200, body
    assert kept(gw) == (2, 3)
    assert request(gw.port, "GET", "/plain/x").json()["path"] == "/x"
    assert request(gw.port, "GET", "/hello").status == 201


def test_files_are_read_again_though_the_config_did_not_change(backend, sluice, tmp_path):
    be = backend()
    answer = tmp_path / "answer.json"
    answer.write_text('{"v": 1}')
    secret = tmp_path / "secret"
    secret.write_text("0123456789abcdef0123456789abcdef")
    more = (f"  - {{name: mocked, match: {{path: /mocked}}, mock: {{file: \"{answer}\"}}}}\n"
            "  - {name: signed, match: {path: /signed}, upstream: be, "
            "security: {auth: {hmac: {}}}}\n")
    extra = ("consumers:\n"
             f"  - {{name: c, hmac_keys: [{{key_id: k, secret_file: \"{secret}\"}}]}}\n")
    text = routes(be, more=more, extra=extra)
    gw = sluice(text)
    assert request(gw.port, "GET", "/mocked").json() == {"v": 1}
    status, body = gw.reload(text)
    assert status == 200 and body["ok"], body
    assert kept(gw) == (4, 5)  # all but the mock, whose filter reads a file
    answer.write_text('{"v": 2}')
    status, body = gw.reload(text)
    assert status == 200 and body["ok"], body
    assert request(gw.port, "GET", "/mocked").json() == {"v": 2}
    # A consumer's key file changed: the context changed, every route is compiled again.
    secret.write_text("fedcba9876543210fedcba9876543210")
    status, body = gw.reload(text)
    assert status == 200 and body["ok"], body
    assert kept(gw) == (0, 5)
