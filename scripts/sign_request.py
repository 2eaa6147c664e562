#!/usr/bin/env python3
"""Signs an HTTP request for sluice's SLUICE-HMAC-SHA256 scheme (docs/hmac-signatures.md).

The reference client: prints the headers to add, or a curl command (--curl), or sends the request
and prints the response (--send). Python 3 standard library only.

Example:
  scripts/sign_request.py --key-id billing --secret "$SECRET" --method POST \
      --header 'content-type: application/json' --data '{"amount":1}' \
      https://api.example.com/v1/payments?dry_run=1
"""
import argparse
import base64
import hashlib
import hmac
import secrets
import shlex
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

SCHEME = "SLUICE-HMAC-SHA256"


def canonical_string(method, path, query, signed_headers, x_date, nonce, body_sha256_hex):
    """The exact string that is MACed; see docs/hmac-signatures.md."""
    lines = [SCHEME, method.upper(), path, query]
    for name, value in signed_headers:
        lines.append("%s:%s" % (name.lower(), value.strip(" \t")))
    lines += [x_date, nonce, body_sha256_hex.lower()]
    return "\n".join(lines)


def sign(secret, canonical):
    mac = hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def signed_request_headers(key_id, secret, method, url, headers, body, now=None, nonce=None):
    """Returns the list of (name, value) headers to send, the given ones included."""
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise ValueError("URL must be http:// or https:// with a host")
    host = u.netloc.rsplit("@", 1)[-1]
    path = u.path or "/"
    x_date = str(int(time.time() if now is None else now))
    nonce = nonce or secrets.token_urlsafe(16)
    body_hex = hashlib.sha256(body).hexdigest()
    signed = [("host", host)] + [(n.lower(), v.strip(" \t")) for n, v in headers]
    names = [n for n, _ in signed]
    if len(set(names)) != len(names):
        raise ValueError("a header may be given only once")
    canonical = canonical_string(method, path, u.query, signed, x_date, nonce, body_hex)
    auth = '%s keyId="%s", signedHeaders="%s", nonce="%s", signature="%s"' % (
        SCHEME, key_id, ";".join(names), nonce, sign(secret, canonical))
    out = [(n, v) for n, v in headers]
    out += [("X-Date", x_date), ("X-Content-SHA256", body_hex), ("Authorization", auth)]
    return out


def parse_header(text):
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError("headers are 'name: value'")
    return name.strip(), value.strip(" \t")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--key-id", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--method", default=None, help="default GET, or POST with --data")
    ap.add_argument("--header", action="append", default=[], type=parse_header,
                    help="'name: value'; repeatable; every header given is signed")
    ap.add_argument("--data", default=None, help="request body ('@file' reads a file)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--curl", action="store_true", help="print a curl command")
    mode.add_argument("--send", action="store_true", help="send it and print the response")
    ap.add_argument("url")
    a = ap.parse_args(argv)

    if a.data is None:
        body = b""
    elif a.data.startswith("@"):
        with open(a.data[1:], "rb") as f:
            body = f.read()
    else:
        body = a.data.encode()
    method = (a.method or ("POST" if a.data is not None else "GET")).upper()
    try:
        headers = signed_request_headers(a.key_id, a.secret, method, a.url, a.header, body)
    except ValueError as e:
        print("sign_request: %s" % e, file=sys.stderr)
        return 2

    if a.curl:
        cmd = ["curl", "-sS", "-X", method]
        for n, v in headers:
            cmd += ["-H", "%s: %s" % (n, v)]
        if a.data is not None:
            cmd += ["--data-binary", body.decode("utf-8", "replace")]
        cmd.append(a.url)
        print(" ".join(shlex.quote(c) for c in cmd))
        return 0
    if a.send:
        req = urllib.request.Request(a.url, data=body if a.data is not None else None,
                                     method=method)
        for n, v in headers:
            req.add_header(n, v)
        try:
            resp = urllib.request.urlopen(req, timeout=30)
        except urllib.error.HTTPError as e:
            resp = e
        print("HTTP %d %s" % (resp.status, resp.reason))
        for n, v in resp.headers.items():
            print("%s: %s" % (n, v))
        print()
        sys.stdout.write(resp.read().decode("utf-8", "replace"))
        return 0 if resp.status < 400 else 1
    for n, v in headers:
        print("%s: %s" % (n, v))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
