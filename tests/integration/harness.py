"""Helpers for the integration tests: processes (echo backend, sluice), raw sockets,
a small HTTP/1.1 response parser and memory probes. Standard library only.

Example:
    be = group.backend(name="users")
    gw = group.sluice(config('''
        upstreams:
          - name: users
            targets: [{address: %s}]
        routes:
          - name: all
            match: {path: "/{*rest}"}
            upstream: users
    ''' % be.address))
    r = request(gw.port, "GET", "/x")
    assert r.status == 200 and r.json()["backend"] == "users"
"""

# The helpers live in the modules below (lowest level first: each imports only from those
# above it); this module re-exports them so that tests keep importing from harness.

from harness_base import (REPO, config, free_port, require_sluice, sha256_hex, sluice_bin,
                          validate_config)
from harness_http import (Client, ConnectionClosed, RawBytes, ReadTimeout, Response, build_request,
                          chunked_body, http_json, parse_response, parse_responses, raw, request)
from harness_procs import (BACKEND_SCRIPT, Backend, ProcessGroup, RssSampler, Sluice,
                           SluiceStartError, StubServer, admin_target, admin_upstream,
                           admin_upstreams, pool_config, vmrss, wait_for)
from harness_peers import (OTLP_RECEIVER_DIR, OtlpReceiver, REDIS_SERVER, RedisError, RedisServer,
                           require_otlp_receiver, require_redis_server)
from harness_auth import (ALICE_API_KEY, ALICE_HMAC_KEY_ID, ALICE_HMAC_SECRET, BOB_API_KEY,
                          BoundClient, HS256_SECRET, JWT_AUDIENCE, JWT_ISSUER, JWT_SIGN_SCRIPT,
                          JwksServer, KEY_KINDS, SIGN_REQUEST_SCRIPT, SYSTEM_PYTHON, api_key_hash,
                          b64url, edge_config, gen_key, handmade_jwt, hmac_headers, jwk_of,
                          jwt_parts, jwt_token, metric_samples, metrics_of, public_pem, std_claims)

__all__ = ["ALICE_API_KEY", "ALICE_HMAC_KEY_ID", "ALICE_HMAC_SECRET", "BACKEND_SCRIPT",
           "BOB_API_KEY", "Backend", "BoundClient", "Client", "ConnectionClosed", "HS256_SECRET",
           "JWT_AUDIENCE", "JWT_ISSUER", "JWT_SIGN_SCRIPT", "JwksServer", "KEY_KINDS",
           "OTLP_RECEIVER_DIR", "OtlpReceiver", "ProcessGroup", "REDIS_SERVER", "REPO", "RawBytes",
           "ReadTimeout", "RedisError", "RedisServer", "Response", "RssSampler",
           "SIGN_REQUEST_SCRIPT", "SYSTEM_PYTHON", "Sluice", "SluiceStartError", "StubServer",
           "admin_target", "admin_upstream", "admin_upstreams", "api_key_hash", "b64url",
           "build_request", "chunked_body", "config", "edge_config", "free_port", "gen_key",
           "handmade_jwt", "hmac_headers", "http_json", "jwk_of", "jwt_parts", "jwt_token",
           "metric_samples", "metrics_of", "parse_response", "parse_responses", "pool_config",
           "public_pem", "raw", "request", "require_otlp_receiver", "require_redis_server",
           "require_sluice", "sha256_hex", "sluice_bin", "std_claims", "validate_config", "vmrss",
           "wait_for"]
