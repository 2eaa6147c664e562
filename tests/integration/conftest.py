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

import pytest

from harness import ProcessGroup, require_sluice


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: streams a GiB or opens 10k connections (still part of CI; "
        "deselect locally with -m 'not slow')")


@pytest.fixture
def sluice_path():
    return require_sluice()


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
    require_sluice()
    return procs.sluice


@pytest.fixture
def stub():
    """stub(name=..., status=..., delay=..., health_status=...) starts a harness.StubServer;
    all are stopped at teardown."""
    from harness import StubServer
    servers = []

    def start(*args, **kwargs):
        s = StubServer(*args, **kwargs)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def otlp_receiver(procs):
    """otlp_receiver(status=200, delay_ms=0) starts a harness.OtlpReceiver (an OTLP/HTTP trace
    receiver decoding with the OpenTelemetry JS definitions); stopped at teardown. Skips the
    test when node or its packages are missing (scripts/setup.sh installs them)."""
    from harness import OtlpReceiver

    def start(status=200, delay_ms=0):
        return OtlpReceiver(procs, status=status, delay_ms=delay_ms)

    return start


@pytest.fixture
def redis_server(procs):
    """redis_server(port=None, args=(), password=None) starts a harness.RedisServer
    (redis-server on a free loopback port, nothing persisted; .address, .stop() = SIGKILL,
    .start() on the same port, .command(*args)); killed at teardown. Skips the test when
    redis-server is missing (scripts/setup.sh installs it)."""
    from harness import RedisServer

    def start(port=None, args=(), password=None):
        return RedisServer(procs, port=port, args=args, password=password)

    return start


@pytest.fixture
def jwks_server():
    """jwks_server(keys=(), port=None, tls=None) starts a harness.JwksServer (a JWKS endpoint the test
    rotates with set_keys(), breaks with fail(), stops with stop()); all stopped at teardown."""
    from harness import JwksServer
    servers = []

    def start(keys=(), port=None, tls=None):
        s = JwksServer(keys, port=port, tls=tls)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="module")
def signing_keys(tmp_path_factory):
    """Keys made once per module with the openssl CLI: {"rsa", "rsa2", "ec256", "ec384",
    "ed25519"} → private key PEM paths (public PEMs next to them, see harness.public_pem)."""
    from harness import gen_key
    d = tmp_path_factory.mktemp("keys")
    return {name: gen_key(d, kind, name) for name, kind in
            (("rsa", "rsa"), ("rsa2", "rsa"), ("ec256", "ec256"), ("ec384", "ec384"),
             ("ed25519", "ed25519"))}
