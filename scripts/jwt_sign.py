#!/usr/bin/env python3
"""Signs a JWT with PyJWT, as an independent signer for sluice's tests.

The integration and unit tests use it to check that sluice verifies tokens made by a widely used
library, not only by its own test helpers.

Example:
  scripts/jwt_sign.py --alg RS256 --key key.pem --kid k1 --claims '{"sub":"u1"}' --exp-in 300
  scripts/jwt_sign.py --alg HS256 --key secret.txt --claims '{"sub":"u1"}'   # file holds the secret
  scripts/jwt_sign.py --alg HS256 --secret s3cret-s3cret-s3cret --claims '{}'
"""
import argparse
import json
import os
import sys
import time

try:
    import jwt
except ImportError:
    # A python3 earlier on PATH (pyenv, a venv) may lack Debian's python3-jwt: use the system one.
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath(
            "/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alg", required=True, help="RS256, PS256, ES256, EdDSA, HS256, ...")
    ap.add_argument("--key", help="PEM private key file (or, for HS*, a file holding the secret)")
    ap.add_argument("--secret", help="HMAC secret given inline (HS* only)")
    ap.add_argument("--kid", help="key id to put in the header")
    ap.add_argument("--claims", default="{}", help="JSON object of claims")
    ap.add_argument("--exp-in", type=int, help="set exp to now + this many seconds")
    ap.add_argument("--nbf-in", type=int, help="set nbf to now + this many seconds")
    ap.add_argument("--iat", action="store_true", help="set iat to now")
    ap.add_argument("--header", default="{}", help="JSON object of extra header fields")
    args = ap.parse_args()

    claims = json.loads(args.claims)
    if not isinstance(claims, dict):
        sys.exit("--claims must be a JSON object")
    now = int(time.time())
    if args.exp_in is not None:
        claims["exp"] = now + args.exp_in
    if args.nbf_in is not None:
        claims["nbf"] = now + args.nbf_in
    if args.iat:
        claims["iat"] = now

    if args.secret is not None:
        key = args.secret
    elif args.key is not None:
        with open(args.key, "rb") as f:
            key = f.read()
        if args.alg.startswith("HS"):
            key = key.rstrip(b"\r\n")
    else:
        sys.exit("--key or --secret is required")

    headers = json.loads(args.header)
    if args.kid is not None:
        headers["kid"] = args.kid
    token = jwt.encode(claims, key, algorithm=args.alg, headers=headers or None)
    if isinstance(token, bytes):
        token = token.decode()
    print(token)


if __name__ == "__main__":
    main()
