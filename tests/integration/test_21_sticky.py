"""Sticky sessions: a signed cookie naming the target, set when absent or invalid; requests that
carry it keep reaching that target (even with round_robin); tampered cookies are ignored and
re-set; when the named target is gone (stopped and ejected, or removed by a reload) requests
fall back to the others."""

import collections
import re

from harness import Client, pool_config, request, wait_for

SECRET = "0123456789abcdef0123"
COOKIE = "sluice_sticky"


def sticky_config(addresses, upstream="", route="", workers=None):
    return pool_config(addresses, "round_robin",
                       upstream=f"sticky: {{cookie: {COOKIE}, secret: \"{SECRET}\"}}\n" + upstream,
                       route=route, workers=workers)


def set_cookie(r):
    """The sluice_sticky value of the response's Set-Cookie (None when absent); checks its
    attributes."""
    values = [v for v in r.header_all("set-cookie") if v.strip().startswith(COOKIE + "=")]
    if not values:
        return None
    assert len(values) == 1, r.header_all("set-cookie")
    parts = [p.strip() for p in values[0].split(";")]
    value = parts[0][len(COOKIE) + 1:]
    attrs = {p.split("=", 1)[0].lower(): (p.split("=", 1)[1] if "=" in p else True)
             for p in parts[1:]}
    assert value and re.fullmatch(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+", value), values
    assert attrs.get("path") == "/", values
    assert attrs.get("httponly") is True, values
    return value


def get(c, path, cookie=None):
    headers = [("Cookie", f"other=1; {COOKIE}={cookie}")] if cookie is not None else None
    r = c.request("GET", path, headers=headers)
    assert r.status == 200, r
    return r


def test_cookie_set_and_sticks(backend, sluice):
    bes = [backend(name=n) for n in ("a", "b", "c")]
    gw = sluice(sticky_config([b.address for b in bes]))
    first = request(gw.port, "GET", "/s/first")
    assert first.status == 200, first
    value = set_cookie(first)
    assert value is not None, f"no {COOKIE} Set-Cookie on a response without it: {first.headers}"
    owner = first.header("x-backend")
    print(f"\nsticky cookie {COOKIE}={value} set by backend {owner}")
    seen = []
    with Client(gw.port) as c:
        for i in range(20):
            r = get(c, f"/s/{i}", value)
            seen.append(r.header("x-backend"))
            assert set_cookie(r) is None, f"valid cookie re-set: {r.header_all('set-cookie')}"
    assert seen == [owner] * 20, seen
    # fresh connections (any worker) too
    for i in range(6):
        with Client(gw.port) as c:
            assert get(c, f"/f/{i}", value).header("x-backend") == owner


def test_cookies_spread_over_targets(backend, sluice):
    bes = [backend(name=n) for n in ("a", "b", "c")]
    gw = sluice(sticky_config([b.address for b in bes], workers=1))
    owners = {}
    with Client(gw.port) as c:
        for i in range(6):
            r = get(c, f"/new/{i}")
            v = set_cookie(r)
            assert v is not None, r.headers
            owners[v] = r.header("x-backend")
    print(f"\nsticky: 6 cookie-less requests got cookies for "
          f"{collections.Counter(owners.values())}")
    assert set(owners.values()) == {"a", "b", "c"}, owners
    with Client(gw.port) as c:
        for i in range(3):
            for v, owner in owners.items():
                assert get(c, f"/again/{i}", v).header("x-backend") == owner


def test_tampered_cookie_ignored_and_reset(backend, sluice):
    bes = [backend(name=n) for n in ("a", "b", "c")]
    gw = sluice(sticky_config([b.address for b in bes], workers=1))
    by_owner = {}
    with Client(gw.port) as c:
        for i in range(3):
            r = get(c, f"/n/{i}")
            by_owner[r.header("x-backend")] = set_cookie(r)
    assert set(by_owner) == {"a", "b", "c"}, by_owner
    good = by_owner["a"]
    flipped = good[:-1] + ("0" if good[-1] != "0" else "1")  # last character changed
    forged = []
    # another target's name with a's signature, when the value has the "<target>.<sig>" form
    if "." in good and by_owner["b"].rsplit(".", 1)[0] != good.rsplit(".", 1)[0]:
        forged.append(by_owner["b"].rsplit(".", 1)[0] + "." + good.rsplit(".", 1)[1])
    for bad in [flipped, "garbage", bes[1].address, ""] + forged:
        seen = []
        with Client(gw.port) as c:
            for i in range(6):
                r = get(c, f"/t/{i}", bad)
                seen.append(r.header("x-backend"))
                v = set_cookie(r)
                assert v is not None and v != bad, \
                    f"cookie {bad!r} not re-set: {r.header_all('set-cookie')}"
        # ignored: round_robin spreads the requests instead of pinning them
        assert len(set(seen)) >= 2, (bad, seen)


def test_stopped_target_falls_back(backend, sluice):
    bes = [backend(name=n) for n in ("a", "b", "c")]
    gw = sluice(sticky_config(
        [b.address for b in bes],
        upstream="outlier: {consecutive_failures: 1, base_ejection: 10s, max_ejection_percent: 50}",
        route="retry: {attempts: 3, on: [connect_failure, reset, 502, 503, 504]}"))
    first = request(gw.port, "GET", "/x")
    value, owner = set_cookie(first), first.header("x-backend")
    assert value is not None
    victim = {b.name: b for b in bes}[owner]
    victim.stop()
    seen = []
    for i in range(10):
        with Client(gw.port) as c:
            r = c.request("GET", f"/after/{i}", headers=[("Cookie", f"{COOKIE}={value}")])
            assert r.status == 200, (i, r)
            seen.append(r.header("x-backend"))
    print(f"\nsticky to stopped {owner}: requests went to {collections.Counter(seen)}")
    assert owner not in seen, seen


def test_target_removed_by_reload_falls_back(backend, sluice):
    bes = [backend(name=n) for n in ("a", "b", "c")]
    gw = sluice(sticky_config([b.address for b in bes]))
    by_owner = {}
    with Client(gw.port) as c:
        wait_for(lambda: by_owner.update({(r := get(c, "/n")).header("x-backend"): set_cookie(r)})
                 or len(by_owner) == 3, 3.0, interval=0, what="cookies for all three targets")
    value = by_owner["a"]
    status, body = gw.reload(sticky_config([bes[1].address, bes[2].address]))
    assert status == 200, body
    seen = []
    with Client(gw.port) as c:
        for i in range(10):
            r = get(c, f"/gone/{i}", value)
            seen.append(r.header("x-backend"))
    print(f"\nsticky to a target removed by reload: requests went to {collections.Counter(seen)}")
    assert "a" not in seen, seen
    # the others' cookies still work after the reload
    with Client(gw.port) as c:
        for i in range(3):
            assert get(c, f"/b/{i}", by_owner["b"]).header("x-backend") == "b"
            assert get(c, f"/c/{i}", by_owner["c"]).header("x-backend") == "c"


def test_max_age(backend, sluice):
    be = backend(name="a")
    gw = pool_config([be.address], upstream=(
        f"sticky: {{cookie: sid, secret: \"{SECRET}\", max_age: 1h}}"))
    gw = sluice(gw)
    r = request(gw.port, "GET", "/m")
    cookies = [v for v in r.header_all("set-cookie") if v.startswith("sid=")]
    assert len(cookies) == 1, r.headers
    attrs = [p.strip().lower() for p in cookies[0].split(";")[1:]]
    assert "max-age=3600" in attrs and "path=/" in attrs and "httponly" in attrs, cookies
