"""Processes and in-test servers of the integration tests (see harness.py, which re-exports them):
memory probes, the echo backend, sluice, the ProcessGroup that stops them, a StubServer whose
answers a test changes, wait_for and the admin /upstreams and pool_config helpers. Standard
library only."""

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness_base import REPO, config, free_port, sluice_bin
from harness_http import http_json

__all__ = ["BACKEND_SCRIPT", "vmrss", "RssSampler", "Backend", "SluiceStartError", "Sluice",
           "ProcessGroup", "StubServer", "wait_for", "admin_upstreams", "admin_upstream",
           "admin_target", "pool_config"]


BACKEND_SCRIPT = REPO / "backend" / "echo_backend.py"


# ---------------------------------------------------------------------------------------------
# memory


def vmrss(pid):
    """Resident set size of pid in bytes (VmRSS of /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class RssSampler:
    """Samples VmRSS of pid every interval seconds in a thread; .peak is the highest seen."""

    def __init__(self, pid, interval=0.02):
        self.pid = pid
        self.interval = interval
        self.peak = vmrss(pid)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, vmrss(self.pid))
                self.samples += 1
            except (OSError, AssertionError):
                return
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        try:
            self.peak = max(self.peak, vmrss(self.pid))
        except (OSError, AssertionError):
            pass


# ---------------------------------------------------------------------------------------------
# processes


def _tail(path, n=4000):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


class Backend:
    """The echo backend (backend/echo_backend.py) on a free port."""

    def __init__(self, workdir, name="echo", host="127.0.0.1", port=0):
        self.name = name
        self.host = host
        self.log_path = Path(workdir) / f"backend-{name}-{id(self):x}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(BACKEND_SCRIPT), "--port", str(port), "--host", host,
             "--name", name],
            stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.proc.stdout], [], [], max(0, left))
            if not r:
                self.stop()
                raise AssertionError(f"backend {name} did not start: {_tail(self.log_path)}")
            c = os.read(self.proc.stdout.fileno(), 1)
            if not c:
                self.stop()
                raise AssertionError(f"backend {name} exited: {_tail(self.log_path)}")
            line += c
        text = line.decode().strip()
        assert text.startswith("listening on "), text
        self.port = int(text.rsplit(":", 1)[1])

    @property
    def address(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def stats(self):
        status, _, body = http_json(self.port, "GET", "/__stats")
        assert status == 200, (status, body)
        return body

    def requests_log(self):
        """The last 1000 requests it read, oldest first (see echo_backend.py's /__log)."""
        status, _, body = http_json(self.port, "GET", "/__log")
        assert status == 200, (status, body)
        return body

    def kill(self):
        """SIGKILL: the process dies at once, connections in flight are reset by the kernel."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()


def wait_until_ready(proc, log_path, what, ready, errors=(OSError,), timeout=10.0,
                     failure=AssertionError):
    """Polls ready() (its `errors` mean not yet) until it is true; `failure` (AssertionError or a
    subclass) with the log's tail when proc exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise failure(f"{what} exited with {proc.returncode} before ready:\n{_tail(log_path)}")
        try:
            if ready():
                return
        except errors:
            pass
        if time.monotonic() > deadline:
            raise failure(f"{what} not ready in {timeout}s:\n{_tail(log_path)}")
        time.sleep(0.02)


class SluiceStartError(AssertionError):
    pass


class Sluice:
    """A sluice process running a config; $PORT and $ADMIN in the YAML become free ports.
    extra_args go after `--config FILE` (more --config files); env is added to the process's
    environment."""

    _counter = 0

    def __init__(self, workdir, yaml_text, argv_style="run", ready_timeout=10.0, attempts=3,
                 ports=None, extra_args=(), env=None):
        Sluice._counter += 1
        self.workdir = Path(workdir)
        self.bin = str(sluice_bin())
        self.template = yaml_text
        self.config_path = self.workdir / f"sluice-{Sluice._counter}.yaml"
        self.log_path = self.workdir / f"sluice-{Sluice._counter}.log"
        self.proc = None
        self.stopped_code = None
        self.term_sent = False
        last = None
        for _ in range(attempts):  # retried only if the process dies (e.g. a port got taken)
            # ports=(listener, admin): the same ports as an earlier instance (a restart whose
            # rendered file is byte for byte the same)
            self.port, self.admin_port = ports or (free_port(), free_port())
            self.config_path.write_text(self.render(yaml_text))
            if argv_style == "run":
                argv = [self.bin, "run", "--config", str(self.config_path)]
            else:
                argv = [self.bin, "-c", str(self.config_path)]
            argv += list(extra_args)
            self.log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         env={**os.environ, **env} if env else None)
            try:
                self.wait_ready(ready_timeout)
                return
            except SluiceStartError as e:
                last = e
                if self.proc.poll() is None:  # alive but not ready: do not retry
                    self.proc.kill()
                    self.proc.wait()
                    self.log.close()
                    raise
                self.log.close()
        raise last

    @property
    def pid(self):
        return self.proc.pid

    def render(self, text):
        return text.replace("$PORT", str(self.port)).replace("$ADMIN", str(self.admin_port))

    def wait_ready(self, timeout=10.0):
        wait_until_ready(self.proc, self.log_path, "sluice",
                         lambda: http_json(self.admin_port, "GET", "/readyz", timeout=1)[0] == 200,
                         timeout=timeout, failure=SluiceStartError)

    def log_tail(self, n=4000):
        return _tail(self.log_path, n)

    def admin(self, method, path, body=None, timeout=10.0):
        return http_json(self.admin_port, method, path, body, timeout)

    def get_config(self):
        status, _, body = self.admin("GET", "/config")
        assert status == 200, (status, body)
        return body

    def write_config(self, yaml_text):
        self.config_path.write_text(self.render(yaml_text))

    def reload(self, yaml_text):
        """Writes the config file and POSTs /reload; returns (status, parsed JSON)."""
        self.write_config(yaml_text)
        status, _, body = self.admin("POST", "/reload")
        return status, body

    def rss(self):
        return vmrss(self.proc.pid)

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"

    def send_sigterm(self):
        self.term_sent = True
        self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout=20.0):
        """Waits for the process; returns the exit code (None if it had to be killed)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.stopped_code = None
            self.log.close()
            return None
        self.stopped_code = self.proc.returncode
        self.log.close()
        return self.stopped_code

    def terminate(self, timeout=20.0):
        """SIGTERM, then wait; returns the exit code (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.send_sigterm()
        return self.wait_exit(timeout)


class ProcessGroup:
    """Starts backends and sluices for one test (or module) and stops them all at the end;
    the teardown reports a sluice that did not exit 0 on SIGTERM within 20 s."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.backends = []
        self.sluices = []

    def backend(self, name="echo", host="127.0.0.1", port=0):
        b = Backend(self.workdir, name, host, port)
        self.backends.append(b)
        return b

    def sluice(self, yaml_text, argv_style="run", ready_timeout=10.0, ports=None, extra_args=(),
               env=None):
        s = Sluice(self.workdir, yaml_text, argv_style, ready_timeout, ports=ports,
                   extra_args=extra_args, env=env)
        self.sluices.append(s)
        return s

    def cleanup(self):
        problems = []
        for s in self.sluices:
            if s.proc.poll() is not None and not s.term_sent:
                problems.append(f"sluice (pid {s.proc.pid}) died during the test with exit "
                                f"code {s.proc.returncode}\n{s.log_tail()}")
                s.log.close()
                continue
            code = s.terminate(20.0)
            if code != 0:
                problems.append(f"sluice (pid {s.proc.pid}) exit code on SIGTERM: {code} "
                                f"(None = still running after 20 s, killed)\n{s.log_tail()}")
        for b in self.backends:
            b.stop()
        return problems


# ---------------------------------------------------------------------------------------------
# in-test HTTP stub (traffic-management tests)


class StubServer:
    """A tiny threaded HTTP/1.1 server whose behaviour a test changes on the fly: .status (the
    answer to every path but health_path), .health_status (the answer to health_path), .delay
    (seconds to wait before answering a non-health request). Keeps connections alive; counts
    non-health requests in .hits and health checks in .health_hits; .health_delay delays the
    answers to health checks. stop() closes the
    listening socket and every connection (new connections are then refused).

        s = StubServer("bad", status=500)
        ... s.hits ...; s.status = 200; s.stop()
    """

    def __init__(self, name="stub", host="127.0.0.1", port=0, status=200, delay=0.0,
                 health_path="/health", health_status=200):
        self.name = name
        self.host = host
        self.status = status
        self.delay = delay
        self.health_path = health_path
        self.health_status = health_status
        self.health_delay = 0.0
        self.hits = 0
        self.health_hits = 0
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.conns = set()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(256)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def _accept_loop(self):
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                if self.closed.is_set():
                    conn.close()
                    return
                self.conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        try:
            while not self.closed.is_set():
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                parts = lines[0].split(b" ")
                if len(parts) != 3:
                    return
                method, target = parts[0].decode("latin-1"), parts[1].decode("latin-1")
                length = 0
                for line in lines[1:]:
                    n, _, v = line.partition(b":")
                    if n.strip().lower() == b"content-length":
                        length = int(v.strip())
                while len(buf) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                buf = buf[length:]
                path = target.split("?", 1)[0]
                health = path == self.health_path
                with self.lock:
                    if health:
                        self.health_hits += 1
                    else:
                        self.hits += 1
                status = self.health_status if health else self.status
                delay = self.health_delay if health else self.delay
                if delay and self.closed.wait(delay):
                    return
                body = json.dumps({"backend": self.name, "status": status, "method": method,
                                   "target": target}).encode()
                conn.sendall(f"HTTP/1.1 {status} Stub\r\nx-backend: {self.name}\r\n"
                             f"content-type: application/json\r\n"
                             f"content-length: {len(body)}\r\n\r\n".encode() + body)
        except OSError:
            return
        finally:
            with self.lock:
                self.conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def stop(self):
        if self.closed.is_set():
            return
        self.closed.set()
        try:
            self.sock.close()
        except OSError:
            pass
        self.thread.join(2)
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def wait_for(predicate, timeout, interval=0.02, what="condition"):
    """Polls predicate() until it returns something truthy (returned) or timeout seconds pass
    (AssertionError naming what)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def admin_upstreams(gw):
    """The "upstreams" list of the admin GET /upstreams."""
    status, _, body = gw.admin("GET", "/upstreams")
    assert status == 200, (status, body)
    assert isinstance(body, dict) and isinstance(body.get("upstreams"), list), body
    return body["upstreams"]


def admin_upstream(gw, name):
    for u in admin_upstreams(gw):
        if u.get("name") == name:
            return u
    raise AssertionError(f"upstream {name!r} not in GET /upstreams")


def admin_target(gw, upstream, address):
    """The target entry (of GET /upstreams) configured with this address."""
    u = admin_upstream(gw, upstream)
    for t in u.get("targets", []):
        if t.get("address") == address:
            return t
    raise AssertionError(f"target {address!r} not in upstream {upstream!r}: {u}")


def pool_config(targets, balancer="round_robin", upstream="", route="", top="", workers=None,
                name="pool"):
    """A config with one upstream `name` and one catch-all route to it. targets: addresses or
    (address, weight) pairs; upstream / route: more keys of the upstream / route, one per line
    without indentation (YAML flow style for nested maps); top: more top-level YAML."""
    lines = [f"  - name: {name}", f"    balancer: {balancer}", "    targets:"]
    for t in targets:
        address, weight = t if isinstance(t, tuple) else (t, None)
        w = f", weight: {weight}" if weight is not None else ""
        lines.append(f"      - {{address: \"{address}\"{w}}}")
    lines += ["    " + x.strip() for x in upstream.splitlines() if x.strip()]
    lines += ["routes:", "  - name: all", "    match: {path: \"/{*rest}\"}",
              f"    upstream: {name}"]
    lines += ["    " + x.strip() for x in route.splitlines() if x.strip()]
    body = "\n".join(x.strip() for x in top.splitlines() if x.strip())
    body += ("\n" if body else "") + "upstreams:\n" + "\n".join(lines) + "\n"
    return config(body, workers=workers)
