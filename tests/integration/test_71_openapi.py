"""The admin listener's OpenAPI 3.1 document, api/openapi.yaml and the files it $refs
(api/paths/*.yaml, api/components/**.yaml): no file is over 800 lines, the root lints clean
(Redocly CLI, the npm package of tests/openapi), sluice serves the files bundled into one
self-contained document at GET /api/v1/openapi.json, the same as this test's own bundle of them
(openapi_bundle.py) and as `redocly bundle`'s, and real answers of every endpoint (successes
and errors, the event stream's events included) have a status the served document gives for
that operation, its required headers and a body that validates against its schema
(python3-jsonschema). Operations marked `x-sluice-status: planned` are not served yet and not
called; every other operation must be called at least once."""

import http.client
import json
import os
import re
import socket
import subprocess
import urllib.parse
from datetime import datetime

import pytest

from harness import REPO, config, request
from harness_peers import require_node_packages

yaml = pytest.importorskip("yaml")  # python3-yaml
jsonschema = pytest.importorskip("jsonschema")  # python3-jsonschema

from openapi_bundle import bundle_dir, ref_problems  # noqa: E402 (needs yaml)
from test_73_events import EventReader  # noqa: E402

API_DIR = REPO / "api"
DOC_PATH = API_DIR / "openapi.yaml"
LINT_DIR = REPO / "tests" / "openapi"
ADMIN_TOKEN = "s3cret-admin-token-0123"
RO_TOKEN = "read-only-token-456789"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
MAX_LINES = 800  # the house rule, for the document's files too


def load_doc():
    """The files of api/ bundled by this test (what sluice must serve)."""
    return bundle_dir(API_DIR)


def served_doc(gw, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=10)
    try:
        conn.request("GET", "/api/v1/openapi.json",
                     headers={"authorization": f"Bearer {token}"} if token else {})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 200, (resp.status, body[:300])
    return json.loads(body)


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

    @staticmethod
    def header_problems(response, headers):
        problems = []
        for name, header in (response.get("headers") or {}).items():
            value = headers.get(name.lower())
            if value is None:
                if header.get("required"):
                    problems.append(f"header {name} is required and missing")
                continue
            if "schema" in header:
                problems += [f"header {name}: {p}" for p in schema_errors(header["schema"], value)]
        return problems

    def check_stream(self, method, path, status, headers, events):
        """An event stream's answer: its head, and its events as (id, kind, data) (the data
        parsed; EventReader's form), each item validated against the stream's item schema and
        each data against the schema its item gives (`contentSchema`)."""
        label, response = self.response_for(method, path, status)
        problems = self.header_problems(response, headers)
        ctype = headers.get("content-type", "")
        media = (response.get("content") or {}).get(ctype)
        if media is None:
            problems.append(f"content-type {ctype!r} is not one of {sorted(response['content'])}")
        else:
            schema = media["schema"]
            items = [{"id": str(eid), "event": kind, "data": json.dumps(data)}
                     for eid, kind, data in events]
            problems += schema_errors(schema, items)
            data_schema = schema["items"]["properties"]["data"]["contentSchema"]
            for eid, kind, data in events:
                problems += [f"event {eid} ({kind}): {p}" for p in schema_errors(data_schema, data)]
                if data.get("id") != eid or data.get("kind") != kind:
                    problems.append(f"event {eid} ({kind}): its data says id {data.get('id')}, "
                                    f"kind {data.get('kind')}")
        assert not problems, (f"{method} {path} -> {status} ({label}) does not match the "
                              f"document:\n  " + "\n  ".join(problems) + f"\nevents: {events}")
        self.checked += 1

    def check(self, method, path, status, headers, body):
        label, response = self.response_for(method, path, status)
        problems = self.header_problems(response, headers)
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


class Stream:
    """GET /api/v1/events read with test_73's EventReader: the answer's head and every event
    read are checked against the document."""

    def __init__(self, gw, checker, query="", token=None):
        self.reader = EventReader(gw, query, {"authorization": f"Bearer {token}"} if token else {})
        assert self.reader.status == 200, self.reader.head
        lines = self.reader.head.split("\r\n")
        self.headers = {name.strip().lower(): value.strip()
                        for name, _, value in (line.partition(":") for line in lines[1:])}
        self.checker = checker
        checker.check_stream("GET", "/api/v1/events", 200, self.headers, [])

    def until(self, kind, timeout=10.0, **match):
        """The data of the first event of `kind` with the given members; every event up to it
        is checked."""
        events = []
        try:
            while True:
                eid, got, data = self.reader.next(timeout)
                events.append((eid, got, data))
                if got == kind and all(data.get(k) == v for k, v in match.items()):
                    return data
        finally:
            self.checker.check_stream("GET", "/api/v1/events", 200, self.headers, events)

    def close(self):
        self.reader.close()


def first_difference(a, b, at=""):
    """Where two JSON values differ first ("" when they do not), for an assertion's message."""
    if type(a) is not type(b):
        return f"{at or '/'}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                return f"{at}/{k}: only in the {'first' if k in a else 'second'}"
            d = first_difference(a[k], b[k], f"{at}/{k}")
            if d:
                return d
        return ""
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{at}: {len(a)} items vs {len(b)}"
        return next((d for d in (first_difference(x, y, f"{at}/{i}")
                                 for i, (x, y) in enumerate(zip(a, b))) if d), "")
    return "" if a == b else f"{at}: {a!r} vs {b!r}"


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
    return require_node_packages(LINT_DIR / "node_modules" / ".bin" / "redocly")


def redocly(*args):
    require_linter()
    env = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true",
               NO_COLOR="1")
    return subprocess.run([str(LINT_DIR / "node_modules" / ".bin" / "redocly"), *args],
                          cwd=LINT_DIR, env=env, capture_output=True, text=True, timeout=120)


def test_no_file_of_the_document_is_over_800_lines():
    files = sorted(API_DIR.rglob("*.yaml"))
    assert DOC_PATH in files and len(files) > 5, files
    long = {str(f.relative_to(REPO)): n for f in files
            if (n := len(f.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines: {long}"


def test_the_document_lints_clean():
    """Linting the root lints every file it reaches through its $refs."""
    p = redocly("lint", "--config", "redocly.yaml", "--format", "json", str(DOC_PATH))
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


def test_served_document_is_the_bundle(backend, sluice):
    gw = sluice(gateway_config(backend(name="one"), backend(name="two")))
    doc = load_doc()
    assert ref_problems(doc) == []
    admin = Admin(gw.admin_port, Checker(doc))
    headers, served = admin.expect(200, "GET", "/api/v1/openapi.json")
    assert ref_problems(served) == [], "the served document is not self-contained"
    assert served == doc, ("GET /api/v1/openapi.json differs from this test's bundle of api/ "
                           f"as PyYAML reads it: {first_difference(served, doc)}")
    assert served["openapi"] == "3.1.0"
    assert headers["etag"] == '"1"'


def test_redocly_bundles_what_sluice_serves(backend, sluice, tmp_path):
    out = tmp_path / "bundle.json"
    p = redocly("bundle", "--config", "redocly.yaml", "--ext", "json", "-o", str(out),
                str(DOC_PATH))
    assert p.returncode == 0 and out.exists(), f"redocly bundle:\n{p.stdout}\n{p.stderr}"
    bundled = json.loads(out.read_text(encoding="utf-8"))
    served = served_doc(sluice(gateway_config(backend(name="one"), backend(name="two"))))
    assert served == bundled, ("GET /api/v1/openapi.json differs from `redocly bundle`'s: "
                               f"{first_difference(served, bundled)}")


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
    explained = {"path": "/x", "matched": False, "route": None, "status": "not_found",
                 "params": {}, "allowed_methods": [], "reason": "none", "candidates": [],
                 "shadows": [], "shadowed_by": []}
    checker.check("GET", "/api/v1/routes/explain", 200, etag, json.dumps(explained).encode())
    bad += [("GET", "/api/v1/routes/explain", 200, etag, {**explained, "extra": 1}),
            ("GET", "/api/v1/routes/explain", 200, etag, {**explained, "status": "lost"}),
            ("GET", "/api/v1/routes/explain", 200, etag,
             {**explained, "candidates": [{"route": "a", "matched": True}]})]
    for method, path, status, headers, body in bad:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        with pytest.raises(AssertionError):
            checker.check(method, path, status, headers, data)

    # the event stream: its head, and each event's data against the schema of its kind
    stream = {"content-type": "text/event-stream", "cache-control": "no-cache",
              "x-accel-buffering": "no"}
    applied = {"id": 3, "time": "2026-12-02T14:26:04.489Z", "time_ms": 1796221564489,
               "kind": "config.applied", "version": 2, "source": "file", "author": "admin",
               "hash": "c" * 64}
    opened = {"id": 4, "time": "2026-12-02T14:26:04.489Z", "time_ms": 1796221564489,
              "kind": "breaker.opened", "upstream": "u", "opened_total": 1}
    checker.check_stream("GET", "/api/v1/events", 200, stream,
                         [(3, "config.applied", applied), (4, "breaker.opened", opened)])
    bad_streams = [
        (stream, [(3, "config.applied", {**applied, "extra": 1})]),
        (stream, [(3, "config.applied", {k: v for k, v in applied.items() if k != "hash"})]),
        (stream, [(3, "config.applied", {**applied, "source": "nowhere"})]),
        (stream, [(3, "config.applied", {**applied, "time": "today"})]),
        (stream, [(4, "config.applied", applied)]),  # not the event's id
        (stream, [(3, "config.refused", {**applied, "kind": "config.refused"})]),
        (stream, [(4, "breaker.opened", {**opened, "upstream": 7})]),
        (stream, [(4, "breaker.exploded", {**opened, "kind": "breaker.exploded"})]),
        ({**stream, "cache-control": "max-age=60"}, []),
        ({k: v for k, v in stream.items() if k != "x-accel-buffering"}, []),
        ({**stream, "content-type": "application/json"}, []),
    ]
    for headers, events in bad_streams:
        with pytest.raises(AssertionError):
            checker.check_stream("GET", "/api/v1/events", 200, headers, events)


def test_live_answers_match_the_document(backend, sluice):
    one, two = backend(name="one"), backend(name="two")
    gw = sluice(gateway_config(one, two))
    doc = served_doc(gw)
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

    # the event stream stays open while the config changes (the file reloaded and refused
    # here, the API's writes and the rollback below): every event it gives is checked
    events = Stream(gw, checker)
    _, reloaded = a.expect(200, "POST", "/reload")
    applied = events.until("config.applied")
    assert applied["version"] == reloaded["version"] and applied["author"] == "admin", applied
    a.expect(405, "GET", "/reload")
    good_file = gw.config_path.read_text()
    gw.config_path.write_text(good_file.replace("upstream: one", "upstream: nowhere"))
    _, refused = a.expect(400, "POST", "/reload")
    assert refused["errors"] and not refused["ok"]
    event = events.until("config.refused")
    assert event["version"] == refused["version"] and event["source"] == "file", event
    assert event["errors"][0]["path"] == "routes[0].upstream", event
    gw.config_path.write_text(good_file)
    a.expect(400, "GET", "/api/v1/events", query="kinds=config.applied,breaker.exploded")
    a.expect(400, "GET", "/api/v1/events", headers={"last-event-id": "x"})
    a.expect(405, "POST", "/api/v1/events")

    # explain (not_found and method_not_allowed: test_explain_answers_match_the_document; the
    # route `all` takes every path here)
    _, verdict = a.expect(200, "GET", "/api/v1/routes/explain",
                          query="method=POST&path=/first/x&host=a.example.com")
    assert verdict["status"] == "found" and verdict["route"] == "first", verdict
    assert "all" in verdict["shadows"], verdict
    a.expect(400, "GET", "/api/v1/routes/explain", query="method=GET")
    a.expect(405, "POST", "/api/v1/routes/explain")

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
    event = events.until("config.applied", rollback_of=1)  # the API's events on the way
    assert event["source"] == "rollback" and event["author"] == "openapi", event
    assert event["version"] == rolled["version"] and event["hash"] == rolled["hash"], event
    events.close()

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
    checker = Checker(served_doc(gw, ADMIN_TOKEN))
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
    anyone.expect(401, "GET", "/api/v1/events")
    anyone.expect(401, "GET", "/api/v1/events", token="not-the-token-at-all")
    anyone.expect(401, "GET", "/api/v1/routes/explain", query="path=/first/x")
    ro.expect(200, "GET", "/api/v1/routes/explain", query="path=/first/x")
    events = Stream(gw, checker, token=RO_TOKEN)  # reading events is reading
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
    event = events.until("config.applied", source="api")
    assert event["author"] == "api", event
    full.expect(200, "POST", "/reload")
    events.until("config.applied", source="file")
    events.close()


EXPLAIN_ROUTES = """
    upstreams:
      - name: pool
        targets: [{address: "BACKEND"}]
    routes:
      - {name: users, match: {path: "/users/{id}", methods: [GET]}, upstream: pool}
      - {name: users-canary, match: {path: "/users/{id}", headers: {x-canary: "1"}}, upstream: pool}
      - {name: users-any, match: {path: "/users/{uid}"}, upstream: pool}
      - {name: api-host, match: {path: "/users/{id}", host: api.example.com}, upstream: pool}
      - {name: orders, match: {path: "/orders", methods: [POST]}, upstream: pool}
"""


def test_explain_answers_match_the_document(backend, sluice):
    """Each verdict of GET /api/v1/routes/explain (found, method_not_allowed, not_found) and
    each kind of bad query (400) as the document says (test_74 checks what they mean)."""
    gw = sluice(config(EXPLAIN_ROUTES.replace("BACKEND", backend().address)))
    a = Admin(gw.admin_port, Checker(served_doc(gw)))

    def explain(**params):
        pairs = [(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])]
        query = urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)
        return a.expect(200, "GET", "/api/v1/routes/explain", query=query)[1]

    found = explain(path="/users/42")
    assert found["status"] == "found" and found["matched"] and found["route"] == "users", found
    assert found["params"] == {"id": "42"} and found["shadows"] == ["users-any"], found
    assert found["shadowed_by"] == ["users-canary"], found
    assert {c["route"] for c in found["candidates"]} == {"users", "users-canary", "users-any",
                                                         "api-host"}, found
    other = explain(path="/a/../users/7", method="DELETE", host="API.example.com:8080",
                    header=["x-canary: 1", "x-other:2"])
    assert other["route"] == "api-host" and other["path"] == "/users/7", other
    refused = explain(path="/orders")
    assert refused["status"] == "method_not_allowed" and refused["route"] is None, refused
    assert refused["allowed_methods"] == ["POST"] and not refused["matched"], refused
    assert request(gw.port, "GET", "/orders").status == 405
    missing = explain(path="/nothing/here")
    assert missing["status"] == "not_found" and missing["candidates"] == [], missing
    assert request(gw.port, "GET", "/nothing/here").status == 404
    for query in ("", "method=GET", "path=/a&colour=red", "path=/a&header=nocolon",
                  "path=/a%zz", "path=a", "path=/a&method="):
        a.expect(400, "GET", "/api/v1/routes/explain", query=query)
    assert a.checker.called == {("get", "/api/v1/routes/explain")}
