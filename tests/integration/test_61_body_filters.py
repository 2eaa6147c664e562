"""Body filters through the binary: JSON edits of request and response bodies, JSON->XML and
XML->JSON conversion with the Content-Type they produce, chunked bodies re-framed with a
Content-Length, limits (413 / 502), malformed bodies (400 with the problem named / 502 logged),
bodies of other types untouched, and keep-alive after every case."""

import json
import urllib.parse

import pytest

from harness import Client, chunked_body, config, request, wait_for

ROUTES = """
    access_log: {{path: {log}}}
    upstreams:
      - name: echo
        targets: [{{address: {be}}}]
    routes:
      - name: users
        match: {{path: "/users/{{id}}"}}
        upstream: echo
        filters:
          request_body:
            json:
              set: {{/meta/source: gateway, /meta/user: "${{path.id}}", /count: "42", /tags/-: new}}
              remove: [/password]
              rename: {{/name: /full_name}}
            max_bytes: 2KiB
          response_body: {{json: {{remove: [/headers, /trailers, /body_sha256]}}, max_bytes: 64KiB}}
      - name: legacy
        match: {{path: "/soap/{{*rest}}"}}
        upstream: echo
        filters:
          request_body: {{convert: json_to_xml}}
          response_body: {{convert: xml_to_json, max_bytes: 4KiB}}
      - name: plain
        match: {{path: "/plain/{{*rest}}"}}
        upstream: echo
"""


@pytest.fixture
def gw(backend, sluice, tmp_path):
    be = backend(name="echo")
    log = tmp_path / "access.log"
    g = sluice(config(ROUTES.format(be=be.address, log=log)))
    g.log_file = log
    return g


JSON = [("content-type", "application/json")]


def sent_body(r):
    j = r.json()
    return j["body"]


def test_request_json_edits(gw):
    body = json.dumps({"name": "Ada", "password": "s3cret", "tags": ["a"], "meta": {"x": 1}})
    r = request(gw.port, "POST", "/users/42?echo_body=1", headers=JSON, body=body.encode())
    assert r.status == 200, r.body
    sent = json.loads(sent_body(r))
    assert sent == {"full_name": "Ada", "tags": ["a", "new"],
                    "meta": {"x": 1, "source": "gateway", "user": "42"}, "count": 42}
    # The response was edited too, and re-framed.
    j = r.json()
    assert "headers" not in j and "trailers" not in j and "body_sha256" not in j
    assert int(r.header("content-length")) == len(r.body)


def test_chunked_request_is_reframed_with_content_length(gw):
    pieces = [b'{"name": "Gr', b'ace", "password": 1}']
    r = request(gw.port, "POST", "/users/1?echo_body=1",
                headers=JSON + [("transfer-encoding", "chunked")], body=chunked_body(pieces))
    assert r.status == 200, r.body
    assert json.loads(sent_body(r))["full_name"] == "Grace"
    assert r.json()["body_length"] == len(sent_body(r).encode())


def test_other_content_types_pass_untouched(gw):
    r = request(gw.port, "POST", "/users/1?echo_body=1", headers=[("content-type", "text/plain")],
                body=b"name=Ada")
    assert r.status == 200
    assert sent_body(r) == "name=Ada"


def test_malformed_request_json_is_400_naming_the_problem(gw):
    with Client(gw.port) as c:
        r = c.request("POST", "/users/1", headers=JSON, body=b'{"name": ')
        assert r.status == 400
        err = r.json()["error"]
        assert err.startswith("invalid JSON at byte"), err
        # The connection stays usable: the whole body was read.
        assert c.request("GET", "/plain/x").status == 200


def test_impossible_edit_is_400(gw):
    r = request(gw.port, "POST", "/users/1", headers=JSON, body=b'{"meta": "a string"}')
    assert r.status == 400
    assert "cannot set /meta/source" in r.json()["error"], r.body


def test_request_over_max_bytes_is_413(gw):
    big = json.dumps({"name": "x" * 4000}).encode()
    r = request(gw.port, "POST", "/users/1", headers=JSON, body=big)
    assert r.status == 413
    chunked = chunked_body([big[:1500], big[1500:]])
    r = request(gw.port, "POST", "/users/1", headers=JSON + [("transfer-encoding", "chunked")],
                body=chunked)
    assert r.status == 413


def test_json_to_xml_and_xml_to_json(gw):
    body = json.dumps({"user": {"@id": "7", "name": "Ada & co", "roles": ["a", "b"]}})
    r = request(gw.port, "POST", "/soap/x?echo_body=1", headers=JSON, body=body.encode())
    assert r.status == 200, r.body
    seen = {n.lower(): v for n, v in r.json()["headers"]}
    assert seen["content-type"] == "application/xml; charset=utf-8"
    assert sent_body(r) == ('<?xml version="1.0" encoding="UTF-8"?><user id="7"><name>Ada &amp; '
                            'co</name><roles>a</roles><roles>b</roles></user>')
    xml = '<order id="9"><item>pen</item><item>ink</item></order>'
    q = urllib.parse.urlencode({"reply": xml, "reply_type": "text/xml", "chunked": "1"})
    r = request(gw.port, "GET", "/soap/o?" + q)
    assert r.status == 200, r.body
    assert r.header("content-type") == "application/json"
    assert r.json() == {"order": {"@id": "9", "item": ["pen", "ink"]}}
    assert r.header("transfer-encoding") is None
    assert int(r.header("content-length")) == len(r.body)


def test_malformed_upstream_xml_is_502_and_logged(gw):
    q = urllib.parse.urlencode({"reply": "<a><b></a>", "reply_type": "application/xml"})
    with Client(gw.port) as c:
        r = c.request("GET", "/soap/bad?" + q)
        assert r.status == 502
        assert "invalid response body: invalid XML" in r.json()["error"], r.body
        assert c.request("GET", "/plain/x").status == 200
    def logged():
        lines = [json.loads(x) for x in gw.log_file.read_text().splitlines() if x.strip()]
        return [x for x in lines if x.get("path", "").startswith("/soap/bad")]
    wait_for(lambda: logged(), 5.0, what="the access-log line")
    bad = logged()
    assert bad[-1]["status"] == 502
    assert "invalid XML" in bad[-1]["error"]


def test_upstream_body_over_max_bytes_is_502(gw):
    big = "<a>" + "x" * 5000 + "</a>"
    for extra in ({}, {"chunked": "1"}, {"close": "1"}):
        q = urllib.parse.urlencode({"reply": big, "reply_type": "application/xml", **extra})
        r = request(gw.port, "GET", "/soap/big?" + q)
        assert r.status == 502, (extra, r.status)
        assert "too large" in r.json()["error"]


def test_routes_without_body_filters_stream(gw):
    r = request(gw.port, "GET", "/plain/big?size=3000000&chunked=1")
    assert r.status == 200 and len(r.body) == 3000000
    assert r.header("transfer-encoding") == "chunked"
