"""Fixtures of the chaos scenarios (see README.md here and docs/chaos.md).

They reuse tests/integration's harness (imported, not copied: chaos_lib puts tests/integration
on sys.path): procs / backend / sluice / redis_server behave as in tests/integration/conftest.py,
so a sluice that dies during a scenario, or that does not exit 0 within 20 s of SIGTERM at
teardown, fails it.
"""

import chaos_lib  # noqa: F401  (puts tests/integration on sys.path)
import pytest

from harness import ProcessGroup, require_sluice


@pytest.fixture
def procs(tmp_path):
    group = ProcessGroup(tmp_path)
    yield group
    problems = group.cleanup()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def backend(procs):
    return procs.backend


@pytest.fixture
def sluice(procs):
    require_sluice()
    return procs.sluice


@pytest.fixture
def redis_server(procs):
    from harness import RedisServer

    def start(port=None, args=(), password=None):
        return RedisServer(procs, port=port, args=args, password=password)

    return start
