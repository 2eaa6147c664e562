"""Fixtures for the sluice integration tests (see harness.py for the helpers).

    def test_x(backend, sluice):
        be = backend(name="users")
        gw = sluice(config("...upstreams with %s..." % be.address))

backend(name=...) starts backend/echo_backend.py on a free port; sluice(yaml) writes the
config ($PORT and $ADMIN become free ports), runs `SLUICE_BIN run --config FILE`, waits for
GET /readyz == 200 and, at teardown, sends SIGTERM and requires exit code 0 within 20 s.
The sluice binary is SLUICE_BIN, default <repo>/build/release/sluice; tests that need it
are skipped when it does not exist (set SLUICE_REQUIRE=1 to make that a failure).
"""

import os

import pytest

from harness import ProcessGroup, sluice_bin


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: streams a GiB or opens 10k connections (still part of CI; "
        "deselect locally with -m 'not slow')")


def _require_sluice():
    path = sluice_bin()
    if not (path.is_file() and os.access(path, os.X_OK)):
        msg = f"sluice binary not found at {path} (set SLUICE_BIN)"
        if os.environ.get("SLUICE_REQUIRE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return str(path)


@pytest.fixture
def sluice_path():
    return _require_sluice()


def _group(workdir):
    group = ProcessGroup(workdir)
    yield group
    problems = group.cleanup()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def procs(tmp_path):
    yield from _group(tmp_path)


@pytest.fixture(scope="module")
def module_procs(tmp_path_factory):
    yield from _group(tmp_path_factory.mktemp("procs"))


@pytest.fixture
def backend(procs):
    return procs.backend


@pytest.fixture
def sluice(procs):
    _require_sluice()
    return procs.sluice
