"""The command line: version, help, validate, -c."""

import re
import subprocess

from harness import config, request


def run_cli(bin_path, *args, timeout=10):
    p = subprocess.run([bin_path, *args], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


GOOD = config("""
    upstreams:
      - name: users
        targets:
          - address: 127.0.0.1:9
    routes:
      - name: users
        match:
          path: /users/{id}
          methods: [GET]
        upstream: users
      - name: hello
        match:
          path: /hello
        respond:
          status: 200
          body: hi
    timeouts:
      idle: 10s
      upstream_connect: 250ms
""")

# Two mistakes: an unknown key under match (pth) and an undefined upstream (nope).
BAD = """\
listeners:
  - address: 127.0.0.1:18080
upstreams:
  - name: users
    targets: [{address: 127.0.0.1:9}]
routes:
  - name: typo
    match:
      pth: /x
    upstream: users
  - name: missing
    match: {path: /y}
    upstream: nope
"""


def test_version(sluice_path):
    code, out = run_cli(sluice_path, "version")
    assert code == 0, out
    first = out.strip().splitlines()[0]
    assert "sluice" in first.lower() and re.search(r"\d+\.\d+", first), first


def test_help(sluice_path):
    code, out = run_cli(sluice_path, "--help")
    assert code == 0, out
    assert "run" in out and "validate" in out, out


def test_validate_good(sluice_path, tmp_path):
    f = tmp_path / "good.yaml"
    f.write_text(GOOD.replace("$PORT", "18080").replace("$ADMIN", "18081"))
    code, out = run_cli(sluice_path, "validate", "--config", str(f))
    assert code == 0, out


def test_validate_bad_reports_file_line_col_key(sluice_path, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    code, out = run_cli(sluice_path, "validate", "--config", str(f))
    assert code == 1, out
    lines = BAD.splitlines()
    pth_line = next(i for i, l in enumerate(lines, 1) if "pth:" in l)
    pth_col = lines[pth_line - 1].index("pth") + 1
    nope_line = next(i for i, l in enumerate(lines, 1) if "upstream: nope" in l)
    nope_cols = {lines[nope_line - 1].index("upstream") + 1, lines[nope_line - 1].index("nope") + 1}

    errors = [m for m in (re.match(r"^(.+?):(\d+):(\d+): (\S+): (.+)$", l)
                          for l in out.splitlines()) if m]
    assert len(errors) >= 2, out
    for m in errors:
        assert m.group(1) == str(f), (m.group(0), "error must name the file as given")

    by_key = {m.group(4): m for m in errors}
    m = by_key.get("routes[0].match.pth")
    assert m, f"no error for routes[0].match.pth in:\n{out}"
    assert (int(m.group(2)), int(m.group(3))) == (pth_line, pth_col), m.group(0)
    assert "pth" in m.group(5) or "unknown" in m.group(5).lower(), m.group(0)

    m = by_key.get("routes[1].upstream")
    assert m, f"no error for routes[1].upstream in:\n{out}"
    assert int(m.group(2)) == nope_line and int(m.group(3)) in nope_cols, m.group(0)
    assert "nope" in m.group(5), m.group(0)


def test_validate_missing_file(sluice_path, tmp_path):
    code, out = run_cli(sluice_path, "validate", "--config", str(tmp_path / "absent.yaml"))
    assert code == 1, out
    assert "absent.yaml" in out


def test_short_c_flag_runs(procs, sluice_path):
    gw = procs.sluice(config("""
        routes:
          - name: hello
            match: {path: /hello}
            respond: {status: 200, body: "hi from -c"}
    """), argv_style="short")
    r = request(gw.port, "GET", "/hello")
    assert r.status == 200 and r.body == b"hi from -c"
    assert gw.terminate() == 0
