"""The lowest-level helpers of the integration tests (see harness.py, which re-exports them): the
repository path, the sluice binary, free ports, the config header and sha256_hex. Standard library
only."""

import hashlib
import os
import socket
import subprocess
import textwrap
from pathlib import Path

__all__ = ["REPO", "sluice_bin", "require_sluice", "free_port", "config", "sha256_hex",
           "validate_config"]


REPO = Path(__file__).resolve().parents[2]


def sluice_bin():
    return Path(os.environ.get("SLUICE_BIN", str(REPO / "build" / "release" / "sluice")))


def require_sluice():
    """Skips the calling test (fails it with SLUICE_REQUIRE=1) when the binary is missing."""
    import pytest
    path = sluice_bin()
    if not (path.is_file() and os.access(path, os.X_OK)):
        msg = f"sluice binary not found at {path} (set SLUICE_BIN)"
        if os.environ.get("SLUICE_REQUIRE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return str(path)


def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def config(body="", workers=None):
    """A sluice config: listener on $PORT and admin on $ADMIN (filled in by Sluice), then body."""
    head = ""
    if workers is not None:
        head += f"workers: {workers}\n"
    head += "listeners:\n  - address: 127.0.0.1:$PORT\nadmin:\n  address: 127.0.0.1:$ADMIN\n"
    return head + textwrap.dedent(body).strip("\n") + "\n"


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def validate_config(directory, text):
    """`sluice validate` of `text` written to DIRECTORY/bad.yaml: (exit code, stdout + stderr)."""
    f = Path(directory) / "bad.yaml"
    f.write_text(text)
    p = subprocess.run([require_sluice(), "validate", "--config", str(f)], capture_output=True,
                       text=True, timeout=10)
    return p.returncode, p.stdout + p.stderr
