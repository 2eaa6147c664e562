"""pytest plugin of `make tsan` (docs/chaos.md, "TSan"): runs tests/integration (a subset) or
tests/chaos against a ThreadSanitizer build of sluice and fails a test when a sluice it started
printed a ThreadSanitizer report.

    SLUICE_BIN=build/tsan/sluice TSAN_OPTIONS="halt_on_error=1 suppressions=tests/chaos/tsan.supp" \\
        PYTHONPATH=tests/chaos /usr/bin/python3 -m pytest -p tsan_plugin tests/integration/...

With halt_on_error=1 the first report also ends that sluice (exit code 66), which the harness
already reports (a sluice that dies during a test, or does not exit 0 on SIGTERM, fails it);
this plugin adds the report itself to the failure, catches reports of processes the harness does
not judge by their exit code, and prints how many processes and reports it saw. It reads the
logs the harness keeps (harness_procs.Sluice writes stdout and stderr to sluice-N.log), by
wrapping Sluice.__init__ to note each one; nothing in the harness changes.
"""

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
INTEGRATION = HERE.parent / "integration"
MARK = "WARNING: ThreadSanitizer:"
RULE = "=================="

_logs = {}      # log path -> bytes already scanned
_reports = []   # (test id, log path, report text)
_started = 0


def _check_binary():
    path = os.environ.get("SLUICE_BIN")
    if not path or not os.path.isfile(path):
        raise pytest.UsageError("tsan_plugin: SLUICE_BIN must name the TSan build of sluice")
    with open(path, "rb") as f:
        if b"ThreadSanitizer" not in f.read():
            raise pytest.UsageError(f"tsan_plugin: {path} is not built with -fsanitize=thread")


def pytest_configure(config):
    global _started
    _check_binary()
    if str(INTEGRATION) not in sys.path:
        sys.path.insert(0, str(INTEGRATION))
    import harness_procs
    original = harness_procs.Sluice.__init__
    if getattr(original, "_tsan_wrapped", False):
        return

    def init(self, *args, **kwargs):
        global _started
        try:
            original(self, *args, **kwargs)
        finally:
            path = getattr(self, "log_path", None)
            if path is not None:
                _logs.setdefault(str(path), 0)
                _started += 1

    init._tsan_wrapped = True
    harness_procs.Sluice.__init__ = init


def _new_reports():
    found = []
    for path, done in list(_logs.items()):
        try:
            with open(path, "rb") as f:
                f.seek(done)
                data = f.read()
        except OSError:
            continue
        _logs[path] = done + len(data)
        text = data.decode("utf-8", "replace")
        start = text.find(MARK)
        while start >= 0:
            begin = text.rfind(RULE, 0, start)
            begin = start if begin < 0 else begin
            summary = text.find("SUMMARY: ThreadSanitizer", start)
            end = text.find(RULE, summary) if summary >= 0 else -1
            end = len(text) if end < 0 else end + len(RULE)
            found.append((path, text[begin:end]))
            start = text.find(MARK, end)
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "teardown":
        return
    found = _new_reports()
    if not found:
        return
    for path, text in found:
        _reports.append((item.nodeid, path, text))
    rep.outcome = "failed"
    rep.longrepr = "ThreadSanitizer report(s) from sluice during this test:\n" + "\n".join(
        f"--- {path}\n{text}" for path, text in found)


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(
        f"tsan: {_started} sluice process(es) checked, {len(_reports)} ThreadSanitizer "
        f"report(s)" + (": " + ", ".join(sorted({t for t, _, _ in _reports})) if _reports else ""))
