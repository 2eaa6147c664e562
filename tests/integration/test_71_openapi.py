"""api/openapi.yaml, the admin listener's OpenAPI 3.1 document: it lints clean (Redocly CLI, the
npm package of tests/openapi), sluice serves it at GET /api/v1/openapi.json exactly as the file
reads, and real answers of every endpoint (successes and errors) have a status the document gives
for that operation, its required headers and a body that validates against its schema
(python3-jsonschema). Operations marked `x-sluice-status: planned` are not served yet and not
called; every other operation must be called at least once."""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from harness import REPO, config, request

yaml = pytest.importorskip("yaml")  # python3-yaml
jsonschema = pytest.importorskip("jsonschema")  # python3-jsonschema

DOC_PATH = REPO / "api" / "openapi.yaml"
LINT_DIR = REPO / "tests" / "openapi"
ADMIN_TOKEN = "s3cret-admin-token-0123"
RO_TOKEN = "read-only-token-456789"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def load_doc():
    with open(DOC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


# ---------------------------------------------------------------------------------------------
# The document as a checker of answers


def pointer(doc, ref):
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def inline(node, doc, seen=()):
    """node with every $ref replaced by what it points to. A schema $ref with sibling keywords
    (OpenAPI 3.1 allows them) becomes allOf: [target] plus the siblings; a $ref to any other
    component takes the target's members, the siblings overriding (summary, description)."""
    if isinstance(node, list):
        return [inline(v, doc, seen) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node and isinstance(node["$ref"], str):
        ref = node["$ref"]
        assert ref not in seen, f"recursive $ref {ref}: not inlinable"
        target = inline(pointer(doc, ref), doc, seen + (ref,))
        rest = {k: inline(v, doc, seen) for k, v in node.items() if k != "$ref"}
        if not rest:
            return target
        if ref.startswith("#/components/schemas/"):
            return {"allOf": [target], **rest}
        return {**target, **rest}
    return {k: inline(v, doc, seen) for k, v in node.items()}


FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value):
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def schema_errors(schema, value):
    validator = jsonschema.Draft202012Validator(schema, format_checker=FORMATS)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
            for e in validator.iter_errors(value)]


def body_errors(ctype, body, schema):
    if not ctype.startswith("application/json"):
        return schema_errors(schema, body.decode("utf-8"))
    try:
        value = json.loads(body)
    except ValueError as e:
        return [f"the body is not JSON: {e}"]
    return schema_errors(schema, value)


def template_regex(template):
    parts = re.split(r"(\{[^}/]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


class Checker:
    """Finds the operation of a request in the document and checks an answer against it."""

    def __init__(self, doc):
        self.doc = doc
        self.paths = [(t, template_regex(t)) for t in doc["paths"]]
        self.called = set()  # (method, path template) of the operations answered
        self.checked = 0

    def template(self, path):
        """The path template a concrete path falls under: a literal segment wins over a
        parameter (as OpenAPI says), so the match with the fewest parameters."""
        found = [t for t, rx in self.paths if rx.fullmatch(path)]
        return min(found, key=lambda t: t.count("{"), default=None)

    def response_for(self, method, path, status):
        """(label, response object) the document gives for this answer; fails when it gives
        none."""
        template = self.template(path)
        components = self.doc["components"]["responses"]
        if template is None:
            assert status == 404, f"{method} {path}: not in the document, answered {status}"
            return "NotFound", inline(components["NotFound"], self.doc)
        op = self.doc["paths"][template].get(method.lower())
        if op is None:
            assert status == 405, (
                f"{method} {path}: {template} has no {method} operation, answered {status}")
            return "MethodNotAllowed", inline(components["MethodNotAllowed"], self.doc)
        assert op.get("x-sluice-status") != "planned", f"{method} {template} is planned"
        responses = op["responses"]
        key = next((k for k in (str(status), f"{str(status)[0]}XX", "default")
                    if k in responses), None)
        assert key is not None, (
            f"{method} {template} ({op['operationId']}) answered {status}, which the document "
            f"does not list: {sorted(responses)}")
        self.called.add((method.lower(), template))
        return f"{op['operationId']} {key}", inline(responses[key], self.doc)

    def check(self, method, path, status, headers, body):
        label, response = self.response_for(method, path, status)
        problems = []
        for name, header in (response.get("headers") or {}).items():
            value = headers.get(name.lower())
            if value is None:
                if header.get("required"):
                    problems.append(f"header {name} is required and missing")
                continue
            if "schema" in header:
                problems += [f"header {name}: {p}" for p in schema_errors(header["schema"], value)]
        content = response.get("content") or {}
        ctype = headers.get("content-type", "")
        if content:
            media = content.get(ctype)
            if media is None:
                problems.append(f"content-type {ctype!r} is not one of {sorted(content)}")
            elif "schema" in media:
                problems += body_errors(ctype, body, media["schema"])
        elif body:
            problems.append(f"the document gives no body, got {body[:100]!r}")
        assert not problems, (f"{method} {path} -> {status} ({label}) does not match the "
                              f"document:\n  " + "\n  ".join(problems) +
                              f"\nbody: {body[:600]!r}")
        self.checked += 1


class Admin:
    """Admin requests whose answers are all checked against the document."""

    def __init__(self, port, checker, token=None):
        self.port, self.checker, self.token = port, checker, token

    def call(self, method, path, body=None, headers=None, token=None, raw=None, query=""):
        h = {}
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            h["content-type"] = "application/json"
        if token or self.token:
            h["authorization"] = f"Bearer {token or self.token}"
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path + (f"?{query}" if query else ""), body=data, headers=h)
            resp = conn.getresponse()
            text = resp.read()
            got = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        self.checker.check(method, path, resp.status, got, text)
        parsed = None
        if got.get("content-type") == "application/json" and text:
            parsed = json.loads(text)
        return resp.status, got, parsed

    def expect(self, status, method, path, **kw):
        got, headers, body = self.call(method, path, **kw)
        assert got == status, (method, path, got, body)
        return headers, body


def raw_admin(port, head):
    """Sends a raw request head and returns (status, headers, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head_text, _, body = data.partition(b"\r\n\r\n")
    lines = head_text.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


# ---------------------------------------------------------------------------------------------
# The config the endpoints are called on


def gateway_config(one, two, admin_extra=""):
    return config(f"""
        upstreams:
          - name: one
            targets: [{{address: "{one.address}"}}]
          - name: two
            balancer: least_connections
            targets: [{{address: "{two.address}", weight: 2}}]
            breaker: {{per_target: true}}
        routes:
          - name: first
            match: {{path: "/first/{{*rest}}", methods: [GET, POST], host: "*.example.com"}}
            upstream: one
            timeout: 5s
            mirror: {{upstream: two, percent: 50}}
          - name: all
            match: {{path: "/{{*rest}}"}}
            upstream: two
            rate_limits:
              - {{name: per_client, limit: 1000}}
          - name: teapot
            match: {{path: "/teapot"}}
            respond: {{status: 418, body: "short and stout"}}
    """, workers=1).replace("admin:\n  address: 127.0.0.1:$ADMIN\n",
                            "admin:\n  address: 127.0.0.1:$ADMIN\n" + admin_extra)


KIND_BODIES = {
    # kind: (a valid new object, a merge patch, a body the loader refuses)
    "routes": ({"match": {"path": "/t/{*rest}"}, "upstream": "one"}, {"timeout": "2s"},
               {"match": {"path": "/t"}, "upstream": "missing", "timeout": "soon"}),
    "upstreams": ({"targets": [{"address": "127.0.0.1:9"}]}, {"balancer": "random"},
                  {"targets": [{"address": "127.0.0.1:9"}], "balancer": "fastest"}),
    "consumers": ({"roles": ["writer"]}, {"roles": ["reader"]}, {"api_keys": ["not-a-hash"]}),
    "jwt_providers": ({"issuer": "https://idp.example",
                       "keys": [{"secret": "0123456789abcdef0123"}]},
                      {"clock_skew": "30s"}, {"algorithms": ["none"]}),
}


# ---------------------------------------------------------------------------------------------
# Tests


def require_linter():
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not on PATH"
    elif not (LINT_DIR / "node_modules" / ".bin" / "redocly").exists():
        missing = f"{LINT_DIR}/node_modules is missing"
    if missing:
        msg = f"{missing} (run scripts/setup.sh)"
        if os.environ.get("SLUICE_REQUIRE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return node


def test_the_document_lints_clean():
    require_linter()
    env = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true",
               NO_COLOR="1")
    p = subprocess.run([str(LINT_DIR / "node_modules" / ".bin" / "redocly"), "lint",
                        "--config", "redocly.yaml", "--format", "json", str(DOC_PATH)],
                       cwd=LINT_DIR, env=env, capture_output=True, text=True, timeout=120)
    try:
        report = json.loads(p.stdout)
    except ValueError:
        pytest.fail(f"redocly lint did not report (exit {p.returncode}):\n{p.stdout}\n{p.stderr}")
    problems = [f"{x.get('severity')}: {x.get('ruleId')}: {x.get('message')} at "
                f"{[loc.get('pointer') for loc in x.get('location', [])]}"
                for x in report.get("problems", [])]
    totals = report["totals"]
    assert p.returncode == 0 and totals["errors"] == 0 and totals["warnings"] == 0, (
        f"redocly lint (exit {p.returncode}): {totals}\n" + "\n".join(problems))


def test_served_document_is_the_file(backend, sluice):
    gw = sluice(gateway_config(backend(name="one"), backend(name="two")))
    doc = load_doc()
    admin = Admin(gw.admin_port, Checker(doc))
    headers, served = admin.expect(200, "GET", "/api/v1/openapi.json")
    assert served == doc, "GET /api/v1/openapi.json differs from api/openapi.yaml as PyYAML reads it"
    assert served["openapi"] == "3.1.0"
    assert headers["etag"] == '"1"'


def test_schema_checks_are_strict():
    """The checker fails answers that do not fit: extra, missing or mistyped members, an
    undocumented status, a missing required header."""
    checker = Checker(load_doc())
    ok = {"version": 2, "hash": "a" * 64, "warnings": []}
    etag = {"content-type": "application/json", "etag": '"2"'}
    checker.check("PUT", "/api/v1/routes/x", 201, etag, json.dumps(ok).encode())
    bad = [
        ("PUT", "/api/v1/routes/x", 201, etag, {**ok, "extra": 1}),
        ("PUT", "/api/v1/routes/x", 201, etag, {"version": 2, "warnings": []}),
        ("PUT", "/api/v1/routes/x", 201, etag, {**ok, "version": "2"}),
        ("PUT", "/api/v1/routes/x", 201, {"content-type": "application/json"}, ok),
        ("PUT", "/api/v1/routes/x", 404, etag, {"error": "x"}),
        ("GET", "/api/v1/config/versions", 200, etag,
         {"current": 1, "versions": [{"version": 1, "hash": "b" * 64, "time": "yesterday",
                                      "time_ms": 1, "source": "file", "author": "start",
                                      "format": "yaml", "file_hash": ""}]}),
        ("GET", "/api/v1/config/versions", 200, etag,
         {"current": 1, "versions": [{"version": 1, "hash": "b" * 64,
                                      "time": "2026-12-02T14:26:04.489Z", "time_ms": 1,
                                      "source": "file", "author": "start", "format": "yaml",
                                      "file_hash": "", "surprise": True}]}),
        ("GET", "/upstreams", 200, {"content-type": "application/json"},
         {"upstreams": [{"name": "u"}]}),
        ("GET", "/healthz", 200, {"content-type": "text/plain"}, "fine\n"),
    ]
    for method, path, status, headers, body in bad:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        with pytest.raises(AssertionError):
            checker.check(method, path, status, headers, data)


def test_live_answers_match_the_document(backend, sluice):
    one, two = backend(name="one"), backend(name="two")
    gw = sluice(gateway_config(one, two))
    doc = load_doc()
    checker = Checker(doc)
    a = Admin(gw.admin_port, checker)
    assert request(gw.port, "GET", "/anything").status == 200
    assert request(gw.port, "GET", "/teapot").status == 418

    # probes and the status endpoints
    a.expect(200, "GET", "/healthz")
    a.expect(405, "POST", "/healthz")
    a.expect(200, "GET", "/readyz")
    _, status = a.expect(200, "GET", "/config")
    assert status["routes"] == 3
    _, ups = a.expect(200, "GET", "/upstreams")
    assert ups["upstreams"][1]["breaker"] is not None
    assert ups["upstreams"][1]["targets"][0]["breaker"] == "closed"
    _, routes = a.expect(200, "GET", "/routes")
    assert {"mirror", "methods", "host"} <= set(routes["routes"][0])
    assert routes["routes"][2]["respond"] == 418
    _, stats = a.expect(200, "GET", "/stats")
    assert stats["routes"], stats
    a.expect(200, "GET", "/metrics")
    a.expect(200, "POST", "/reload")
    a.expect(405, "GET", "/reload")
    good_file = gw.config_path.read_text()
    gw.config_path.write_text(good_file.replace("upstream: one", "upstream: nowhere"))
    _, refused = a.expect(400, "POST", "/reload")
    assert refused["errors"] and not refused["ok"]
    gw.config_path.write_text(good_file)
    a.expect(404, "GET", "/nope")
    a.expect(404, "GET", "/api/v1/widgets")
    a.expect(404, "GET", "/api/v1/routes/a%2Fb")

    # the document itself
    a.expect(200, "GET", "/api/v1/openapi.json")
    a.expect(405, "POST", "/api/v1/openapi.json")

    # the whole config
    _, cfg = a.expect(200, "GET", "/api/v1/config")
    a.expect(405, "POST", "/api/v1/config")
    a.expect(200, "POST", "/api/v1/config/validate", body=cfg)
    broken = json.loads(json.dumps(cfg))
    broken["routes"][0]["upstream"] = "three"
    _, v = a.expect(400, "POST", "/api/v1/config/validate", body=broken)
    assert v["ok"] is False and v["errors"][0]["path"] == "routes[0].upstream"
    a.expect(400, "POST", "/api/v1/config/validate", raw="{not json")
    a.expect(405, "GET", "/api/v1/config/validate")
    a.expect(200, "PUT", "/api/v1/config", body=cfg, headers={"x-sluice-author": "openapi"})
    a.expect(200, "PUT", "/api/v1/config", raw=json.dumps(cfg),
             headers={"content-type": "application/yaml"})
    a.expect(400, "PUT", "/api/v1/config", raw="[]")
    a.expect(412, "PUT", "/api/v1/config", body=cfg, headers={"if-match": '"1"'})
    _, refused = a.expect(400, "PUT", "/api/v1/config", body=broken)
    assert refused["errors"]

    # the objects of every collection
    for kind, (new, patch, invalid) in KIND_BODIES.items():
        base = f"/api/v1/{kind}"
        a.expect(200, "GET", base)
        a.expect(405, "POST", base)
        a.expect(201, "PUT", f"{base}/made", body=new)
        a.expect(200, "PUT", f"{base}/made", body=new)
        a.expect(200, "GET", f"{base}/made")
        headers, _ = a.expect(200, "PATCH", f"{base}/made", raw=json.dumps(patch),
                              headers={"content-type": "application/merge-patch+json"})
        a.expect(200, "PATCH", f"{base}/made", body=patch, headers={"if-match": headers["etag"]})
        a.expect(412, "PATCH", f"{base}/made", body=patch, headers={"if-match": headers["etag"]})
        a.expect(400, "PUT", f"{base}/made", body={**new, "name": "other"})
        a.expect(400, "PATCH", f"{base}/made", raw="[1]")
        _, refused = a.expect(400, "PUT", f"{base}/bad", body=invalid)
        assert refused["errors"], refused
        a.expect(405, "POST", f"{base}/made")
        a.expect(200, "DELETE", f"{base}/made")
        a.expect(404, "GET", f"{base}/made")
        a.expect(404, "PATCH", f"{base}/made", body=patch)
        a.expect(404, "DELETE", f"{base}/made")
        a.expect(412, "DELETE", f"{base}/first", headers={"if-match": '"1"'})
    _, refused = a.expect(400, "DELETE", "/api/v1/upstreams/one")  # route `first` uses it
    assert refused["errors"][0]["path"] == "routes[0].upstream"

    # versions, diffs and rollbacks
    _, versions = a.expect(200, "GET", "/api/v1/config/versions")
    assert len(versions["versions"]) > 10
    a.expect(405, "POST", "/api/v1/config/versions")
    a.expect(200, "GET", "/api/v1/config/versions/1")
    a.expect(404, "GET", "/api/v1/config/versions/999")
    a.expect(404, "GET", "/api/v1/config/versions/x")
    a.expect(200, "GET", "/api/v1/config/diff")
    _, d = a.expect(200, "GET", "/api/v1/config/diff", query="from=1&to=4")
    assert d["from"] == 1 and d["to"] == 4
    a.expect(400, "GET", "/api/v1/config/diff", query="from=x")
    a.expect(404, "GET", "/api/v1/config/diff", query="from=999")
    a.expect(405, "PUT", "/api/v1/config/diff")
    _, rolled = a.expect(200, "POST", "/api/v1/config/rollback", body={"version": 1},
                         headers={"x-sluice-author": "openapi"})
    assert rolled["rollback_of"] == 1
    a.expect(400, "POST", "/api/v1/config/rollback", body={"v": 1})
    a.expect(404, "POST", "/api/v1/config/rollback", body={"version": 999})
    a.expect(412, "POST", "/api/v1/config/rollback", body={"version": 1},
             headers={"if-match": '"1"'})
    a.expect(405, "GET", "/api/v1/config/rollback")

    # the connection's own refusals
    status, headers, body = raw_admin(
        gw.admin_port, b"PUT /api/v1/config HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked"
        b"\r\n\r\n0\r\n\r\n")
    assert status == 411
    checker.check("PUT", "/api/v1/config", status, headers, body)
    status, headers, body = raw_admin(
        gw.admin_port, b"PUT /api/v1/config HTTP/1.1\r\nhost: x\r\ncontent-length: 70000000"
        b"\r\n\r\n")
    assert status == 413
    checker.check("PUT", "/api/v1/config", status, headers, body)

    # every operation that exists was called
    served = {(m, t) for t, item in doc["paths"].items() for m, op in item.items()
              if m in METHODS and op.get("x-sluice-status") != "planned"}
    assert served - checker.called == set(), f"operations never called: {served - checker.called}"
    print(f"\n{checker.checked} answers checked against the document, "
          f"{len(checker.called)} operations")


def test_tokens_answer_as_documented(backend, sluice, tmp_path):
    (tmp_path / "admin.token").write_text(ADMIN_TOKEN + "\n")
    (tmp_path / "ro.token").write_text(RO_TOKEN + "\n")
    gw = sluice(gateway_config(backend(name="one"), backend(name="two"), admin_extra=(
        f"  token_file: {tmp_path / 'admin.token'}\n"
        f"  read_only_token_file: {tmp_path / 'ro.token'}\n")))
    checker = Checker(load_doc())
    anyone = Admin(gw.admin_port, checker)
    ro = Admin(gw.admin_port, checker, token=RO_TOKEN)
    full = Admin(gw.admin_port, checker, token=ADMIN_TOKEN)
    anyone.expect(200, "GET", "/healthz")
    anyone.expect(200, "GET", "/readyz")
    for path in ("/config", "/upstreams", "/routes", "/stats", "/metrics", "/api/v1/config",
                 "/api/v1/openapi.json", "/api/v1/routes", "/api/v1/config/versions"):
        headers, _ = anyone.expect(401, "GET", path)
        assert headers["www-authenticate"] == 'Bearer realm="sluice admin"'
    anyone.expect(401, "GET", "/api/v1/config", token="not-the-token-at-all")
    anyone.expect(401, "POST", "/reload")
    _, cfg = ro.expect(200, "GET", "/api/v1/config")
    ro.expect(200, "GET", "/api/v1/openapi.json")
    ro.expect(200, "POST", "/api/v1/config/validate", body=cfg)
    ro.expect(403, "POST", "/reload")
    ro.expect(403, "PUT", "/api/v1/config", body=cfg)
    ro.expect(403, "POST", "/api/v1/config/rollback", body={"version": 1})
    for kind, (new, patch, _) in KIND_BODIES.items():
        ro.expect(403, "PUT", f"/api/v1/{kind}/made", body=new)
        ro.expect(403, "PATCH", f"/api/v1/{kind}/made", body=patch)
        ro.expect(403, "DELETE", f"/api/v1/{kind}/made")
    full.expect(201, "PUT", "/api/v1/routes/made", body=KIND_BODIES["routes"][0])
    full.expect(200, "POST", "/reload")
