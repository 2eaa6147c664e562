"""Peers of sluice for the integration tests (see harness.py, which re-exports them): the OTLP
trace receiver (Node.js) and redis-server with a small RESP client. Standard library only."""

import json
import os
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

from harness_base import REPO, free_port
from harness_http import ConnectionClosed, _Source
from harness_procs import ProcessGroup, _tail, wait_until_ready

__all__ = ["OTLP_RECEIVER_DIR", "require_missing", "require_node_packages", "require_program",
           "wait_until_ready", "require_otlp_receiver", "OtlpReceiver", "REDIS_SERVER",
           "require_redis_server", "RedisError", "RedisServer"]


# ---------------------------------------------------------------------------------------------
# OTLP trace receiver (tests/integration/otlp_receiver, Node.js)

OTLP_RECEIVER_DIR = REPO / "tests" / "integration" / "otlp_receiver"


def require_missing(missing):
    """When `missing` says what a test needs and lacks: skips the calling test, or fails it with
    SLUICE_REQUIRE=1 (scripts/setup.sh installs every peer)."""
    if missing:
        import pytest
        msg = f"{missing} (run scripts/setup.sh)"
        if os.environ.get("SLUICE_REQUIRE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


def require_node_packages(path):
    """node's path, when node is on PATH and `path` (a package's node_modules file or folder)
    exists; else require_missing()."""
    import shutil
    node = shutil.which("node")
    require_missing("node is not on PATH" if node is None
                    else None if path.exists() else f"{path} is missing")
    return node


def require_otlp_receiver():
    """node, with the receiver's node_modules (require_node_packages)."""
    return require_node_packages(OTLP_RECEIVER_DIR / "node_modules")


class OtlpReceiver:
    """tests/integration/otlp_receiver/receiver.js on a free port: decodes OTLP/HTTP protobuf
    trace exports with the OpenTelemetry JS definitions and records one dict per span (see
    receiver.js for the fields). procs_or_workdir: a ProcessGroup (the receiver is then stopped
    with its backends at teardown) or a directory (call stop() yourself).

        rx = OtlpReceiver(procs)
        ... point sluice's tracing at rx.url ...
        spans = rx.wait_for(2, timeout=5)
        assert spans[0]["name"] == "GET all"
    """

    def __init__(self, procs_or_workdir, status=200, delay_ms=0, attempts=3):
        node = require_otlp_receiver()
        group = procs_or_workdir if isinstance(procs_or_workdir, ProcessGroup) else None
        workdir = Path(group.workdir if group else procs_or_workdir)
        self.out_path = workdir / f"otlp-spans-{id(self):x}.jsonl"
        self.log_path = workdir / f"otlp-receiver-{id(self):x}.log"
        self.out_path.write_bytes(b"")
        self.log = open(self.log_path, "ab")
        self.proc = None
        last = ""
        for _ in range(attempts):  # retried only if the port got taken before node bound it
            self.port = free_port()
            self.proc = subprocess.Popen(
                [node, str(OTLP_RECEIVER_DIR / "receiver.js"), "--port", str(self.port),
                 "--out", str(self.out_path), "--status", str(status),
                 "--delay-ms", str(delay_ms)],
                stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL,
                cwd=str(OTLP_RECEIVER_DIR))
            if self._wait_listening(10.0):
                if group is not None:
                    group.backends.append(self)  # cleanup() calls stop() on each
                return
            last = _tail(self.log_path)
            self._kill()
        self.log.close()
        raise AssertionError(f"OTLP receiver did not start: {last}")

    def _wait_listening(self, timeout):
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.proc.stdout], [], [], max(0, left))
            if not r:
                return False
            c = os.read(self.proc.stdout.fileno(), 1)
            if not c:
                return False
            line += c
        return line.strip() == b"listening"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/v1/traces"

    def spans(self):
        """Every span received so far, in arrival order."""
        try:
            text = self.out_path.read_text()
        except OSError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def wait_for(self, n, timeout=10.0):
        """Waits until at least n spans arrived; returns them all."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.spans()
            if len(got) >= n:
                return got
            if self.proc.poll() is not None:
                raise AssertionError(f"OTLP receiver exited: {_tail(self.log_path)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(got)} of {n} spans arrived in {timeout}s: {got!r}"
                                     f"\n{_tail(self.log_path)}")
            time.sleep(0.02)

    def _kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def stop(self):
        self._kill()
        if not self.log.closed:
            self.log.close()


# ---------------------------------------------------------------------------------------------
# Redis (cluster rate limits): redis-server on a free loopback port


REDIS_SERVER = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")


def require_program(path, name):
    """The path of a peer program (`path`, else `name` on PATH); require_missing() when it is
    not there."""
    import shutil
    found = path if os.access(path, os.X_OK) else shutil.which(name)
    require_missing(None if found else f"{name} not found at {path}")
    return found


def require_redis_server():
    """redis-server's path (see require_program)."""
    return require_program(REDIS_SERVER, "redis-server")


class RedisError(Exception):
    """An error reply (-ERR ...) of RedisServer.command()."""


def _resp_encode(args):
    out = bytearray(b"*%d\r\n" % len(args))
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif not isinstance(a, (bytes, bytearray)):
            a = str(a).encode()
        out += b"$%d\r\n" % len(a) + bytes(a) + b"\r\n"
    return bytes(out)


def _resp_read(src):
    """One RESP2 reply from a _Source: str (simple string), int, bytes or None (bulk), list;
    an error reply is returned as a RedisError (not raised, so that arrays keep their shape)."""
    line = src.read_line()
    if line is None:
        raise ConnectionClosed("redis closed the connection")
    kind, rest = line[:1], line[1:].rstrip(b"\r\n")
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = bytearray()
        while len(data) < n + 2:
            piece = src.read_some(n + 2 - len(data))
            if not piece:
                raise ConnectionClosed("redis closed inside a bulk reply")
            data += piece
        return bytes(data[:n])
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_resp_read(src) for _ in range(n)]
    raise AssertionError(f"bad RESP reply line {line!r}")


class RedisServer:
    """redis-server on a free loopback port (`--save '' --appendonly no`: nothing persists, so a
    restart comes back empty). procs_or_workdir: a ProcessGroup (the server is then killed with
    its backends at teardown) or a directory (call stop() yourself). args: more redis-server
    options, e.g. ("--requirepass", "s3cret"); password: what command() authenticates with.

        redis = RedisServer(procs)            # or the redis_server() fixture
        ... sluice config: redis: {address: redis.address} ...
        redis.stop()                          # SIGKILL: a crash, connections reset
        redis.start()                         # again on the same port (empty)
        assert redis.command("PING") == "PONG"
        redis.command("KEYS", "sluice:rl:*")  # -> [b"sluice:rl:...", ...]
    """

    def __init__(self, procs_or_workdir, port=None, args=(), password=None, attempts=3):
        self.binary = require_redis_server()
        group = procs_or_workdir if isinstance(procs_or_workdir, ProcessGroup) else None
        self.workdir = Path(group.workdir if group else procs_or_workdir)
        self.log_path = self.workdir / f"redis-{id(self):x}.log"
        self.args = list(args)
        self.password = password
        self.proc = None
        self.log = None
        last = None
        for _ in range(1 if port else attempts):  # retried only if the free port got taken
            self.port = port or free_port()
            try:
                self.start()
                break
            except AssertionError as e:
                last = e
        else:
            raise last
        if group is not None:
            group.backends.append(self)  # cleanup() calls stop() on each

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=10.0):
        """Starts redis-server on self.port and waits until it answers PING."""
        assert not self.running, "redis-server is already running"
        if self.log is None or self.log.closed:
            self.log = open(self.log_path, "ab")
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--dir", str(self.workdir),
                "--logfile", ""] + self.args
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        try:
            wait_until_ready(self.proc, self.log_path, f"redis-server on port {self.port}",
                             lambda: self.command("PING", timeout=1.0) == "PONG",
                             (OSError, ConnectionClosed, RedisError), timeout)
        except AssertionError:
            self._kill()
            raise

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        """SIGKILL (a crash: no shutdown, clients see their connections reset). Idempotent."""
        self._kill()
        if self.log is not None and not self.log.closed:
            self.log.close()

    def command(self, *args, db=None, timeout=5.0):
        """Sends one command on a new connection (after AUTH when a password is set, and
        SELECT db when db is given) and returns the parsed reply (see _resp_read); raises
        RedisError for an error reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            src = _Source(s, timeout=timeout)
            setup = []
            if self.password is not None:
                setup.append(["AUTH", self.password])
            if db is not None:
                setup.append(["SELECT", db])
            for cmd in setup:
                s.sendall(_resp_encode(cmd))
                reply = _resp_read(src)
                if isinstance(reply, RedisError):
                    raise reply
            s.sendall(_resp_encode(args))
            reply = _resp_read(src)
        if isinstance(reply, RedisError):
            raise reply
        return reply
