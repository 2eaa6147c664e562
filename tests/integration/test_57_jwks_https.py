"""JWKS over HTTPS through the real binary: a local TLS JWKS server with a certificate of a
self-signed test CA. The keys are fetched and rotated over https with `jwks_ca_file`; a
certificate from another CA, or one for another name, fails the handshake: the last good keys
stay in force and the failure is counted (sluice_jwks_tls_failures_total). Config errors name
the key. Certificates are made with the openssl CLI."""

import shutil
import subprocess
import time

import pytest

from harness import (JWT_AUDIENCE, JWT_ISSUER, edge_config, jwk_of, jwt_token, metric_samples,
                     metrics_of, request, require_sluice, validate_config, wait_for)

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")


def openssl(*argv):
    r = subprocess.run(["openssl", *argv], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.pem"), "-days", "2",
            "-subj", f"/CN={name}")


def make_cert(d, ca, name, san):
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"),
            "-subj", f"/CN={name}")
    (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
    openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / f"{ca}.pem"),
            "-CAkey", str(d / f"{ca}.key"), "-CAcreateserial", "-days", "2",
            "-out", str(d / f"{name}.pem"), "-extfile", str(d / f"{name}.ext"))
    return (d / f"{name}.pem", d / f"{name}.key")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("jwks-pki")
    make_ca(d, "idp-ca")
    make_ca(d, "other-ca")
    return {
        "dir": d,
        "ca": d / "idp-ca.pem",
        "good": make_cert(d, "idp-ca", "jwks", "IP:127.0.0.1,DNS:localhost"),
        "other_ca": make_cert(d, "other-ca", "rogue", "IP:127.0.0.1"),
        "wrong_name": make_cert(d, "idp-ca", "elsewhere", "DNS:elsewhere.test"),
    }


def claims(**more):
    c = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "u1", "roles": ["reader"]}
    c.update(more)
    return c


def https_config(be, jwks, ca):
    text = edge_config(be.address, jwks.url, jwks_min_refresh="1s")
    line = f"jwks_url: {jwks.url}"
    assert line in text
    return text.replace(line, f"{line}\n    jwks_ca_file: {ca}")


def status(gw, token):
    return request(gw.port, "GET", "/jwt/x", headers={"Authorization": f"Bearer {token}"}).status


def tls_failures(gw):
    return sum(metric_samples(metrics_of(gw), "sluice_jwks_tls_failures_total", provider="corp"))


def test_keys_are_fetched_and_rotated_over_https(procs, jwks_server, signing_keys, pki):
    require_sluice()
    k = signing_keys
    k1, k2 = jwk_of(k["rsa"], "k1", "RS256"), jwk_of(k["rsa2"], "k2", "RS256")
    jwks = jwks_server([k1], tls=pki["good"])
    assert jwks.url.startswith("https://127.0.0.1:")
    be = procs.backend(name="api")
    gw = procs.sluice(https_config(be, jwks, pki["ca"]))
    t1 = jwt_token("RS256", key=k["rsa"], kid="k1", claims=claims(sub="one"))
    t2 = jwt_token("RS256", key=k["rsa2"], kid="k2", claims=claims(sub="two"))
    wait_for(lambda: status(gw, t1) == 200, 10, 0.1, "k1 fetched over https")
    time.sleep(1.2)  # past jwks_min_refresh
    jwks.set_keys(k1, k2)
    wait_for(lambda: status(gw, t2) == 200, 5, 0.1, "k2 after the rotation, over https")
    assert tls_failures(gw) == 0
    text = metrics_of(gw)
    assert sum(metric_samples(text, "sluice_jwks_fetches_total", provider="corp",
                              result="ok")) >= 2


@pytest.mark.parametrize("bad", ["other_ca", "wrong_name"])
def test_an_untrusted_certificate_keeps_the_last_good_keys(procs, jwks_server, signing_keys,
                                                            pki, bad):
    require_sluice()
    k = signing_keys
    k1, k2 = jwk_of(k["rsa"], "k1", "RS256"), jwk_of(k["rsa2"], "k2", "RS256")
    jwks = jwks_server([k1], tls=pki["good"])
    be = procs.backend(name="api")
    gw = procs.sluice(https_config(be, jwks, pki["ca"]))
    t1 = jwt_token("RS256", key=k["rsa"], kid="k1", claims=claims())
    t2 = jwt_token("RS256", key=k["rsa2"], kid="k2", claims=claims())
    wait_for(lambda: status(gw, t1) == 200, 10, 0.1, "k1 fetched over https")
    # The endpoint now presents a certificate sluice must not trust, with new keys behind it.
    jwks.stop()
    jwks.set_tls(pki[bad])
    jwks.set_keys(k1, k2)
    jwks.start()
    time.sleep(1.2)
    assert status(gw, t2) == 401  # an unknown kid asks for a fetch, which fails the handshake
    wait_for(lambda: tls_failures(gw) >= 1, 5, 0.1, "a counted TLS failure")
    assert status(gw, t1) == 200, "the last good keys stay in force"
    assert status(gw, t2) == 401, "keys behind an untrusted certificate are never used"
    log = gw.log_path.read_text(errors="replace")
    assert "TLS handshake failed" in log, log[-2000:]


def test_https_config_errors(tmp_path, pki):
    code, out = validate_config(tmp_path, f"""\
listeners:
  - address: 127.0.0.1:18080
jwt_providers:
  - name: plain
    issuer: x
    jwks_url: http://127.0.0.1:9/jwks.json
    jwks_ca_file: {pki["ca"]}
  - name: missing
    issuer: x
    jwks_url: https://127.0.0.1:9/jwks.json
    jwks_ca_file: /nonexistent/ca.pem
  - name: ok
    issuer: x
    jwks_url: https://127.0.0.1:9/jwks.json
upstreams:
  - name: echo
    targets: [{{address: 127.0.0.1:9}}]
routes:
  - name: a
    match: {{path: "/a"}}
    upstream: echo
""")
    assert code == 1, out
    assert "jwt_providers[0].jwks_ca_file: jwks_ca_file needs an https:// jwks_url" in out, out
    assert "jwt_providers[1].jwks_ca_file:" in out and "/nonexistent/ca.pem" in out, out
    assert "jwt_providers[2]" not in out, out
