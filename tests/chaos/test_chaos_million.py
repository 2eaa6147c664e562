"""Chaos: CHAOS_REQUESTS (default 1,000,000) requests with auth and rate limits, watching RSS.

wrk (the load generator of bench/) sends them in segments of CHAOS_SEGMENT_SECONDS (default 10)
through sluice (2 workers) to the nginx backend of bench/configs/nginx-backend.conf.in, until
the count is reached or CHAOS_MAX_SECONDS (default 600) pass. Each wrk thread cycles through ten
requests: 6 with alice's API key and 2 with an HS256 JWT on /api (a consumer-keyed token bucket
far above the load: 200), 1 with bob's key on /tight (100 per second: mostly 429), 1 with a wrong
key (401). Between segments wrk's connections close and open again.

Reports requests/s, CPU, RSS and open files per segment. Asserts: no 5xx and no socket error
(wrk's connect/read/write/timeout counts), the status mix as configured (sluice's
sluice_requests_total), /tight admitting at most its limit, sluice alive throughout, RSS after
the run within 8 MiB of RSS after the first segment (and within 4 MiB of the half-way point),
open files back to their level at the start once the pooled upstream connections pass their
idle_timeout (2 s), no spin afterwards.
"""

import time

from chaos_lib import (MiB, NginxBackend, Snap, Verdicts, WRK_REPORT, check_alive,
                       check_no_spin, codes_of, env_int, mib, report, run_wrk,
                       settled_rss, wait_fds)
from harness import (ALICE_API_KEY, BOB_API_KEY, HS256_SECRET, Client, api_key_hash, config,
                     handmade_jwt)

TIGHT = 100  # per second


def token():
    claims = {"iss": "https://idp.chaos", "aud": "api", "sub": "carol",
              "exp": int(time.time()) + 7200}
    return handmade_jwt({"alg": "HS256", "typ": "JWT", "kid": "hs"}, claims,
                        hmac_secret=HS256_SECRET.encode())


def gw_config(backend):
    auth = "security: {auth: {api_key: true, jwt: [hs]}}"
    return config(f"""
        consumers:
          - {{name: alice, api_keys: ["{api_key_hash(ALICE_API_KEY)}"]}}
          - {{name: bob, api_keys: ["{api_key_hash(BOB_API_KEY)}"]}}
        jwt_providers:
          - name: hs
            issuer: https://idp.chaos
            audiences: [api]
            keys: [{{secret: "{HS256_SECRET}", alg: HS256, kid: hs}}]
        upstreams:
          - name: api
            targets: [{{address: {backend.address}}}]
            idle_timeout: 2s
        routes:
          - name: api
            match: {{path: "/api/{{*rest}}"}}
            upstream: api
            {auth}
            rate_limits:
              - {{name: per-consumer, key: consumer, limit: 10000000, period: 1s}}
          - name: tight
            match: {{path: "/tight/{{*rest}}"}}
            upstream: api
            {auth}
            rate_limits:
              - {{name: tight, key: consumer, limit: {TIGHT}, period: 1s}}
    """, workers=2)


def lua_script(path, jwt):
    path.write_text(f"""
local reqs = {{}}
local n = 0
init = function(args)
  local alice = {{["x-api-key"] = "{ALICE_API_KEY}"}}
  local bearer = {{["authorization"] = "Bearer {jwt}"}}
  for i = 1, 6 do reqs[#reqs + 1] = wrk.format("GET", "/api/alice/" .. i, alice) end
  for i = 1, 2 do reqs[#reqs + 1] = wrk.format("GET", "/api/jwt/" .. i, bearer) end
  reqs[#reqs + 1] = wrk.format("GET", "/tight/bob", {{["x-api-key"] = "{BOB_API_KEY}"}})
  reqs[#reqs + 1] = wrk.format("GET", "/api/nobody", {{["x-api-key"] = "wrong-key"}})
end
request = function()
  n = n + 1
  return reqs[(n % #reqs) + 1]
end
dofile("{WRK_REPORT}")
""")


def test_million_requests_with_auth_and_limits(procs, sluice, tmp_path):
    n_total = env_int("CHAOS_REQUESTS", 1_000_000)
    max_seconds = env_int("CHAOS_MAX_SECONDS", 600)
    seg_seconds = env_int("CHAOS_SEGMENT_SECONDS", 10)
    connections = env_int("CHAOS_CONNECTIONS", 32)
    nginx = NginxBackend(tmp_path)
    procs.backends.append(nginx)
    gw = sluice(gw_config(nginx))
    v = Verdicts()
    script = tmp_path / "chaos-million.lua"
    lua_script(script, token())
    with Client(gw.port) as c:  # one of each, checked here (wrk does not look at bodies)
        assert c.request("GET", "/api/x", [("x-api-key", ALICE_API_KEY)]).body == b"ok\n"
        assert c.request("GET", "/api/x", [("authorization", f"Bearer {token()}")]).status == 200
        assert c.request("GET", "/api/x", [("x-api-key", "wrong")]).status == 401
    url = f"http://127.0.0.1:{gw.port}/"
    start = Snap(gw.pid)
    t0 = time.monotonic()
    done = 0
    rows = []
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    rss_first = rss_half = fds_first = None
    while done < n_total and time.monotonic() - t0 < max_seconds:
        rate = rows[-1]["rps"] if rows else 20000
        seconds = max(1, min(seg_seconds, int((n_total - done) / max(rate, 1)) + 1,
                             int(max_seconds - (time.monotonic() - t0)) or 1))
        a = Snap(gw.pid)
        res = run_wrk(url, seconds, connections, script)
        b = Snap(gw.pid)
        check_alive(gw, f"after {done + res['requests']} requests")
        done += res["requests"]
        for k in errors:
            errors[k] += res[k]
        row = {"requests": done, "rps": res["requests"] / (res["duration_us"] / 1e6),
               "p99_ms": res["p99_us"] / 1000, "max_ms": res["max_us"] / 1000,
               "cores": b.cores_since(a), "rss": b.rss, "fds": b.fds,
               "t": time.monotonic() - t0}
        rows.append(row)
        if rss_first is None:
            rss_first = settled_rss(gw.pid)
            fds_first = wait_fds(gw.pid, start.fds, timeout=1.0)  # wrk's connections gone
        if rss_half is None and done >= n_total / 2:
            rss_half = settled_rss(gw.pid)
    elapsed = time.monotonic() - t0
    capped = done < n_total
    rss_end = settled_rss(gw.pid)
    fds_end = wait_fds(gw.pid, start.fds, timeout=6.0)  # once the pool is idle (2 s)
    idle = v.check(check_no_spin, gw)
    codes = {r: codes_of(gw, r) for r in ("api", "tight")}
    counted = sum(sum(c.values()) for c in codes.values())
    lines = [f"{done} requests in {elapsed:.1f}s ({done / elapsed:.0f}/s), {len(rows)} wrk "
             f"segments of <= {seg_seconds}s, {connections} connections"
             + (f"; STOPPED by CHAOS_MAX_SECONDS={max_seconds} before {n_total}" if capped else ""),
             f"wrk socket errors {errors}; sluice counted {counted} answers: {codes}",
             "segment: requests so far, req/s, p99, max, CPU cores, RSS, open files:"]
    lines += [f"  {i:2d}: {r['requests']:8d} {r['rps']:7.0f}/s p99 {r['p99_ms']:6.1f} ms "
              f"max {r['max_ms']:6.0f} ms {r['cores']:.2f} cores RSS {mib(r['rss'])} "
              f"files {r['fds']}" for i, r in enumerate(rows)]
    lines.append(f"RSS {mib(start.rss)} at start, {mib(rss_first)} after the first segment, "
                 f"{mib(rss_half or rss_end)} half-way, {mib(rss_end)} at the end; open files "
                 f"{start.fds} at start, {fds_first} after the first segment (pooled upstream "
                 f"connections), {fds_end} at the end with the pool idle; idle CPU after {idle if idle is None else round(idle, 3)}")
    report(f"{n_total} requests with auth and rate limits", lines,
           {"requests": done, "seconds": elapsed, "errors": errors, "codes": codes,
            "rss_first": rss_first, "rss_half": rss_half, "rss_end": rss_end, "rows": rows})
    five = sum(c.get("5xx", 0) for c in codes.values())
    v.require(five == 0, f"{five} 5xx answers")
    v.require(not any(errors.values()), f"wrk socket errors: {errors}")
    api, tight = codes["api"], codes["tight"]
    v.require(abs(counted - done) <= 2 * connections * len(rows) + 10,
              f"sluice counted {counted} answers, wrk {done}")
    # the cycle of ten: 8 of 10 on /api are 200, 1 of 10 a 401; 1 of 10 on /tight
    v.require(abs(api.get("2xx", 0) - 0.8 * done) <= 0.01 * done + 100, f"/api 2xx: {api}")
    v.require(abs(api.get("4xx", 0) - 0.1 * done) <= 0.01 * done + 100, f"/api 4xx: {api}")
    v.require(tight.get("2xx", 0) <= TIGHT * (elapsed + 2) + TIGHT,
              f"/tight admitted {tight.get('2xx')} in {elapsed:.0f}s (limit {TIGHT}/s)")
    v.require(rss_end - rss_first <= 8 * MiB,
              f"LEAK: RSS grew {mib(rss_end - rss_first)} after the first segment (bound 8 MiB)")
    if rss_half is not None:
        v.require(rss_end - rss_half <= 4 * MiB,
                  f"LEAK: RSS grew {mib(rss_end - rss_half)} over the second half (bound 4 MiB)")
    v.require(fds_end <= start.fds + 4,
              f"LEAK: open files {start.fds} at start -> {fds_end} at the end, with the upstream "
              "pool idle")
    v.done()



