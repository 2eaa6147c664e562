"""Helpers for the integration tests: processes (echo backend, sluice), raw sockets,
a small HTTP/1.1 response parser and memory probes. Standard library only.

Example:
    be = group.backend(name="users")
    gw = group.sluice(config('''
        upstreams:
          - name: users
            targets: [{address: %s}]
        routes:
          - name: all
            match: {path: "/{*rest}"}
            upstream: users
    ''' % be.address))
    r = request(gw.port, "GET", "/x")
    assert r.status == 200 and r.json()["backend"] == "users"
"""

import hashlib
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BACKEND_SCRIPT = REPO / "backend" / "echo_backend.py"


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


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 messages


def build_request(method, target, headers=None, body=None, host="test.local",
                  version="HTTP/1.1"):
    """Bytes of a request. headers: list of (name, value) or dict; Host is added unless
    host is None or headers name one; Content-Length is added for a bytes body unless
    headers set Content-Length or Transfer-Encoding."""
    if isinstance(headers, dict):
        headers = list(headers.items())
    headers = list(headers or [])
    names = {n.lower() for n, _ in headers}
    if host is not None and "host" not in names:
        headers.insert(0, ("Host", host))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    head = f"{method} {target} {version}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
    return head.encode("latin-1") + b"\r\n" + (body or b"")


def chunked_body(pieces, trailers=None, ext=None):
    out = bytearray()
    for p in pieces:
        out += b"%x" % len(p)
        if ext:
            out += b";" + ext.encode()
        out += b"\r\n" + p + b"\r\n"
    out += b"0\r\n"
    for n, v in (trailers or []):
        out += f"{n}: {v}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


class Response:
    def __init__(self):
        self.version = ""
        self.status = 0
        self.reason = ""
        self.headers = []      # [(name, value)] as received
        self.trailers = []
        self.body = b""
        self.body_length = 0   # counted even when the body is not kept (keep_body=False)
        self.complete = False  # False when the connection closed before the framed end
        self.framing = ""      # "length", "chunked", "close" or "none"

    def header(self, name, default=None):
        name = name.lower()
        for n, v in self.headers:
            if n.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    def tokens(self, name):
        """Comma-separated tokens of all headers called name, lower-cased."""
        return [t.strip().lower() for v in self.header_all(name) for t in v.split(",") if t.strip()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        b = self.body[:300]
        return (f"<Response {self.status} {self.reason!r} headers={self.headers!r} "
                f"body[{self.body_length}]={b!r} complete={self.complete}>")


class ConnectionClosed(Exception):
    """The peer closed (or the read timed out) before a whole response head arrived."""


class _Source:
    """Buffered byte source over a socket (or fixed bytes when sock is None)."""

    def __init__(self, sock=None, data=b"", timeout=10.0):
        self.sock = sock
        self.buf = bytearray(data)
        self.eof = sock is None
        self.timeout = timeout
        self.recv_size = 1 << 20

    def fill(self):
        if self.eof:
            return False
        self.sock.settimeout(self.timeout)
        try:
            data = self.sock.recv(self.recv_size)
        except socket.timeout:
            raise
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_line(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if not self.fill():
                return None

    def read_some(self, limit):
        if not self.buf and not self.fill():
            return b""
        n = min(limit, len(self.buf))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


class ReadTimeout(AssertionError):
    """No bytes arrived for the socket timeout while a response was being read."""


def _read_response(src, method="GET", keep_body=True, sink=None):
    """sink: when given, called with each body piece instead of keeping the body."""
    r = Response()
    try:
        return _read_response_into(r, src, method, keep_body, sink)
    except socket.timeout:
        where = (f"body: {r.body_length} bytes received, framing {r.framing or '?'}, "
                 f"content-length {r.header('content-length')}") if r.framing else "head"
        raise ReadTimeout(f"no data for {src.timeout}s while reading the response {where}; "
                          f"status {r.status or '?'}") from None


def _read_response_into(r, src, method, keep_body, sink):
    line = src.read_line()
    if line is None:
        raise ConnectionClosed(f"closed before a response (got {bytes(src.buf)[:200]!r})")
    if not line.endswith(b"\r\n"):
        raise AssertionError(f"status line not CRLF-terminated: {line!r}")
    parts = line[:-2].decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise AssertionError(f"bad status line {line!r}")
    r.version, r.status = parts[0], int(parts[1])
    r.reason = parts[2] if len(parts) > 2 else ""
    while True:
        line = src.read_line()
        if line is None:
            raise ConnectionClosed(f"closed inside a response head: {r!r}")
        if not line.endswith(b"\r\n"):
            raise AssertionError(f"header line not CRLF-terminated: {line!r}")
        if line == b"\r\n":
            break
        name, sep, value = line[:-2].decode("latin-1").partition(":")
        if not sep or name != name.strip():
            raise AssertionError(f"bad response header line {line!r}")
        r.headers.append((name, value.strip(" \t")))

    body = bytearray()

    def take(piece):
        r.body_length += len(piece)
        if sink is not None:
            sink(piece)
        elif keep_body:
            body.extend(piece)

    te = r.tokens("transfer-encoding")
    cl = r.header("content-length")
    if method == "HEAD" or r.status < 200 or r.status in (204, 304):
        r.framing = "none"
        r.complete = True
    elif te:
        r.framing = "chunked"  # (set before reading so that a timeout can report it)
        assert te[-1] == "chunked", f"response transfer-encoding {te}"
        while True:
            line = src.read_line()
            if line is None:
                break
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers
                    line = src.read_line()
                    if line is None or line == b"\r\n":
                        r.complete = line is not None
                        break
                    n, _, v = line[:-2].decode("latin-1").partition(":")
                    r.trailers.append((n, v.strip()))
                break
            left = size
            while left:
                piece = src.read_some(left)
                if not piece:
                    break
                take(piece)
                left -= len(piece)
            if left:
                break
            crlf = src.read_line()
            if crlf is None:
                break
            assert crlf == b"\r\n", f"bad chunk end {crlf!r}"
    elif cl is not None:
        r.framing = "length"
        left = int(cl)
        while left:
            piece = src.read_some(left)
            if not piece:
                break
            take(piece)
            left -= len(piece)
        r.complete = left == 0
    else:
        r.framing = "close"
        while True:
            piece = src.read_some(1 << 20)
            if not piece:
                break
            take(piece)
        r.complete = True
    r.body = bytes(body)
    return r


def parse_responses(data, methods=None):
    """Parses every response in data (bytes received on one connection). methods: the
    request methods in order, for HEAD; default GET."""
    src = _Source(None, data)
    out = []
    i = 0
    while src.buf:
        m = methods[i] if methods and i < len(methods) else "GET"
        r = _read_response(src, m)
        out.append(r)
        i += 1
        if not r.complete:
            break
    return out


def parse_response(data, method="GET"):
    rs = parse_responses(data, [method])
    if not rs:
        raise ConnectionClosed("no response in %r" % data[:200])
    return rs[0]


class RawBytes(bytes):
    """What raw() received; .closed is True when the peer closed the connection (EOF or
    reset) and False when the read timed out; .reset is True for a reset."""
    closed = False
    reset = False
    elapsed = 0.0


def _complete_responses(data):
    try:
        rs = parse_responses(bytes(data))
    except (ConnectionClosed, AssertionError, ValueError):
        return 0
    return sum(1 for r in rs if r.complete and r.framing != "close" and r.status >= 200)


def raw(port, data, read_timeout=3.0, host="127.0.0.1", shutdown_write=False, responses=None):
    """Sends data (bytes, or a list of bytes sent with 50 ms pauses) on a new connection and
    returns everything received until the peer closes or read_timeout seconds pass (or, with
    responses=N, as soon as N complete final responses have arrived)."""
    t0 = time.monotonic()
    s = socket.create_connection((host, port), timeout=5)
    out = bytearray()
    closed = reset = False
    try:
        pieces = data if isinstance(data, list) else [data]
        for i, p in enumerate(pieces):
            if i:
                time.sleep(0.05)
            try:
                s.sendall(p)
            except (BrokenPipeError, ConnectionResetError):
                break
        if shutdown_write:
            s.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + read_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(1 << 20)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = reset = True
                break
            if not chunk:
                closed = True
                break
            out += chunk
            if responses is not None and _complete_responses(out) >= responses:
                break
    finally:
        s.close()
    r = RawBytes(out)
    r.closed, r.reset, r.elapsed = closed, reset, time.monotonic() - t0
    return r


class Client:
    """One client connection, kept alive across requests."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0, rcvbuf=None):
        if rcvbuf is None:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        else:  # set before connect so that the TCP window stays small
            self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.src = _Source(self.sock, timeout=timeout)

    def send(self, data):
        self.sock.sendall(data)

    def read_response(self, method="GET", keep_body=True, sink=None):
        return _read_response(self.src, method, keep_body, sink)

    def request(self, method, target, headers=None, body=None, host="test.local",
                keep_body=True, sink=None):
        self.send(build_request(method, target, headers, body, host))
        r = self.read_response(method, keep_body, sink)
        while 100 <= r.status < 200 and r.status != 101:
            r = self.read_response(method, keep_body, sink)
        return r

    def closed_by_peer(self, timeout=0.0):
        """True when the peer has closed: EOF (or reset) is readable within timeout."""
        if self.src.buf:
            return False
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return False
        try:
            self.sock.settimeout(0.5)
            data = self.sock.recv(65536, socket.MSG_PEEK)
        except (ConnectionResetError, socket.timeout):
            return True
        return data == b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def request(port, method, target, headers=None, body=None, host="test.local", timeout=10.0):
    """One request on a fresh connection, which is then closed."""
    with Client(port, timeout=timeout) as c:
        return c.request(method, target, headers, body, host)


def http_json(port, method, path, body=None, timeout=10.0):
    """(status, headers dict lower-cased, parsed JSON or raw bytes) via http.client."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        data = resp.read()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data
        return resp.status, headers, parsed
    finally:
        conn.close()


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


class SluiceStartError(AssertionError):
    pass


class Sluice:
    """A sluice process running a config; $PORT and $ADMIN in the YAML become free ports."""

    _counter = 0

    def __init__(self, workdir, yaml_text, argv_style="run", ready_timeout=10.0, attempts=3):
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
            self.port = free_port()
            self.admin_port = free_port()
            self.config_path.write_text(self.render(yaml_text))
            if argv_style == "run":
                argv = [self.bin, "run", "--config", str(self.config_path)]
            else:
                argv = [self.bin, "-c", str(self.config_path)]
            self.log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
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
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SluiceStartError(
                    f"sluice exited with {self.proc.returncode} before ready:\n{self.log_tail()}")
            try:
                status, _, _ = http_json(self.admin_port, "GET", "/readyz", timeout=1)
                if status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SluiceStartError(f"sluice not ready in {timeout}s:\n{self.log_tail()}")
            time.sleep(0.05)

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

    def sluice(self, yaml_text, argv_style="run", ready_timeout=10.0):
        s = Sluice(self.workdir, yaml_text, argv_style, ready_timeout)
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


# ---------------------------------------------------------------------------------------------
# OTLP trace receiver (tests/integration/otlp_receiver, Node.js)

OTLP_RECEIVER_DIR = REPO / "tests" / "integration" / "otlp_receiver"


def require_otlp_receiver():
    """Skips the calling test (fails it with SLUICE_REQUIRE=1) when node or the receiver's
    node_modules (scripts/setup.sh installs both) are missing; returns the node binary."""
    import shutil
    import pytest
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not on PATH"
    elif not (OTLP_RECEIVER_DIR / "node_modules").is_dir():
        missing = f"{OTLP_RECEIVER_DIR}/node_modules is missing"
    if missing:
        msg = f"{missing} (run scripts/setup.sh)"
        if os.environ.get("SLUICE_REQUIRE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return node


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


def require_redis_server():
    """Skips the calling test (fails it with SLUICE_REQUIRE=1) when redis-server is missing
    (scripts/setup.sh installs it); returns its path."""
    import shutil
    import pytest
    path = REDIS_SERVER if os.access(REDIS_SERVER, os.X_OK) else shutil.which("redis-server")
    if not path:
        msg = f"redis-server not found at {REDIS_SERVER} (run scripts/setup.sh)"
        if os.environ.get("SLUICE_REQUIRE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


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
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server on port {self.port} exited with "
                                     f"{self.proc.returncode}: {_tail(self.log_path)}")
            try:
                if self.command("PING", timeout=1.0) == "PONG":
                    return
            except (OSError, ConnectionClosed, RedisError):
                pass
            if time.monotonic() > deadline:
                self._kill()
                raise AssertionError(f"redis-server on port {self.port} did not answer PING "
                                     f"in {timeout}s: {_tail(self.log_path)}")
            time.sleep(0.02)

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


# ---------------------------------------------------------------------------------------------
# Edge security (issue 5): signing keys and JWKS documents, JWT / HMAC signers (the scripts),
# a JWKS server the test controls, a client bound to a source address, the spec's config


import http.server  # noqa: E402  (JwksServer)

JWT_SIGN_SCRIPT = REPO / "scripts" / "jwt_sign.py"
SIGN_REQUEST_SCRIPT = REPO / "scripts" / "sign_request.py"
SYSTEM_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable

# The consumers of edge_config(): API keys (clear text; the config holds their sha256), HMAC keys.
ALICE_API_KEY = "alice-key-5f1c0e7d9a2b4c6e"
BOB_API_KEY = "bob-key-0a9b8c7d6e5f4a3b"
ALICE_HMAC_KEY_ID = "alice-1"
ALICE_HMAC_SECRET = "0123456789abcdef-alice"
HS256_SECRET = "hs256-secret-at-least-16"
JWT_ISSUER = "https://idp.test"
JWT_AUDIENCE = "api"


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def api_key_hash(key):
    """The config form of an API key: "sha256:" + hex SHA-256 of the key's bytes."""
    if isinstance(key, str):
        key = key.encode()
    return "sha256:" + hashlib.sha256(key).hexdigest()


# openssl genpkey arguments per key kind
KEY_KINDS = {
    "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "ec256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "ec384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    "ed25519": ["-algorithm", "ED25519"],
}


def gen_key(directory, kind, name=None):
    """Generates a private key with the openssl CLI (kind: rsa | ec256 | ec384 | ed25519) into
    directory/NAME.pem (PKCS#8) and writes the public key next to it as NAME.pub.pem; returns the
    private key's Path."""
    directory = Path(directory)
    name = name or f"{kind}-{os.urandom(4).hex()}"
    priv = directory / f"{name}.pem"
    pub = directory / f"{name}.pub.pem"
    for argv in (["openssl", "genpkey", *KEY_KINDS[kind], "-out", str(priv)],
                 ["openssl", "pkey", "-in", str(priv), "-pubout", "-out", str(pub)]):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"{' '.join(argv)}: {p.stderr}"
    return priv


def public_pem(private_path):
    """The bytes of the public key PEM that gen_key wrote next to private_path."""
    p = Path(private_path)
    return p.with_name(p.name[:-len(".pem")] + ".pub.pem").read_bytes()


def jwk_of(private_path, kid, alg=None):
    """The public JWK (RFC 7517/7518/8037) of a PEM private key, via python3-cryptography."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    key = serialization.load_pem_private_key(Path(private_path).read_bytes(), password=None)
    pub = key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        jwk = {"kty": "RSA", "n": b64url(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")),
               "e": b64url(nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big"))}
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        size = (pub.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[pub.curve.name]
        nums = pub.public_numbers()
        jwk = {"kty": "EC", "crv": crv, "x": b64url(nums.x.to_bytes(size, "big")),
               "y": b64url(nums.y.to_bytes(size, "big"))}
    elif isinstance(pub, ed25519.Ed25519PublicKey):
        raw_bytes = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw_bytes)}
    else:
        raise AssertionError(f"unsupported key type {type(pub)}")
    jwk.update({"kid": kid, "use": "sig"})
    if alg:
        jwk["alg"] = alg
    return jwk


def jwt_token(alg, key=None, secret=None, kid=None, claims=None, exp_in=300, nbf_in=None,
              iat=False, header=None):
    """A JWT signed by scripts/jwt_sign.py (PyJWT). key: PEM private key path (or, for HS*, a
    file holding the secret); secret: inline HS* secret; exp_in=None leaves exp out."""
    argv = [SYSTEM_PYTHON, str(JWT_SIGN_SCRIPT), "--alg", alg,
            "--claims", json.dumps(claims if claims is not None else {})]
    if key is not None:
        argv += ["--key", str(key)]
    if secret is not None:
        argv += ["--secret", secret]
    if kid is not None:
        argv += ["--kid", kid]
    if exp_in is not None:
        argv += ["--exp-in", str(exp_in)]
    if nbf_in is not None:
        argv += ["--nbf-in", str(nbf_in)]
    if iat:
        argv.append("--iat")
    if header:
        argv += ["--header", json.dumps(header)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"jwt_sign.py failed: {p.stderr}"
    token = p.stdout.strip()
    assert token.count(".") == 2, token
    return token


def handmade_jwt(header, claims, hmac_secret=None, signature=b""):
    """A JWT built without a library: base64url(header).base64url(claims).signature, the signature
    being HMAC-SHA256 over the first two parts with hmac_secret (bytes) when given, else the raw
    signature bytes (b"" for alg none). For tokens a library refuses to make (alg none,
    algorithm confusion)."""
    import hmac as hmac_mod
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    if hmac_secret is not None:
        signature = hmac_mod.new(hmac_secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def jwt_parts(token):
    """(header dict, claims dict, signature str) of a compact JWT (no verification)."""
    import base64
    h, c, s = token.split(".")
    dec = lambda x: json.loads(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))  # noqa: E731
    return dec(h), dec(c), s


def std_claims(**more):
    """The claims a token of edge_config()'s provider needs (iss, aud, sub) plus more; a value
    of None removes the claim."""
    claims = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "u1"}
    claims.update(more)
    return {k: v for k, v in claims.items() if v is not None}


def _sign_request_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("sign_request", SIGN_REQUEST_SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def hmac_headers(url, key_id=ALICE_HMAC_KEY_ID, secret=ALICE_HMAC_SECRET, method="GET",
                 headers=(), body=None, now=None, nonce=None, cli=False):
    """The headers scripts/sign_request.py adds to a request (a list of (name, value), the given
    headers included). cli=True runs the script as a command (its printed headers); otherwise
    its signed_request_headers() is called, which also takes now= (a past X-Date) and nonce=."""
    if cli:
        assert now is None and nonce is None, "the CLI signs with the current time"
        argv = [SYSTEM_PYTHON, str(SIGN_REQUEST_SCRIPT), "--key-id", key_id, "--secret", secret,
                "--method", method]
        for n, v in headers:
            argv += ["--header", f"{n}: {v}"]
        if body is not None:
            argv += ["--data", body.decode() if isinstance(body, bytes) else body]
        argv.append(url)
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"sign_request.py failed: {p.stderr}"
        out = []
        for line in p.stdout.splitlines():
            n, sep, v = line.partition(":")
            if sep:
                out.append((n.strip(), v.strip()))
        return out
    body = body.encode() if isinstance(body, str) else (body or b"")
    return _sign_request_module().signed_request_headers(key_id, secret, method, url,
                                                         list(headers), body, now=now,
                                                         nonce=nonce)


def metric_samples(text, name, **labels):
    """Values of the samples of metric `name` whose labels include `labels` (Prometheus text)."""
    import re
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            out.append(float(m.group(4)))
    return out


def metrics_of(gw):
    status, _, body = gw.admin("GET", "/metrics")
    assert status == 200, (status, body)
    return body.decode() if isinstance(body, bytes) else str(body)


class BoundClient(Client):
    """A Client whose socket is bound to a source address first (e.g. 127.0.0.2: any 127/8
    address works as a source on Linux loopback), for IP rules."""

    def __init__(self, port, source, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.src = _Source(self.sock, timeout=timeout)


class JwksServer:
    """A JWKS endpoint the test controls: http.server in a thread on a free loopback port,
    serving GET /jwks.json (one request per connection). set_keys(*jwks) publishes a document
    ({"keys": [...]}); status = 500 (fail()) answers errors instead; stop() closes the listener
    (connections are refused) and start() opens it again on the same port. fetches counts every
    request to /jwks.json (ok_fetches: those answered 200); cache_control, when set, is sent as
    the Cache-Control header.

        jwks = JwksServer([jwk_of(k1, "k1")])
        ... jwks_url: jwks.url ...
        jwks.set_keys(jwk_of(k1, "k1"), jwk_of(k2, "k2"))   # rotate
        jwks.fail()                                          # 500 from now on
        jwks.stop()
    """

    def __init__(self, keys=(), port=None, path="/jwks.json"):
        self.path = path
        self.lock = threading.Lock()
        self.document = {"keys": list(keys)}
        self.status = 200
        self.cache_control = None
        self.fetches = 0
        self.ok_fetches = 0
        self.fetch_times = []
        self.server = None
        self.thread = None
        self.port = port or free_port()
        self.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}{self.path}"

    def set_keys(self, *keys):
        with self.lock:
            self.document = {"keys": list(keys)}
            self.status = 200

    def set_document(self, document):
        """Any JSON value (or bytes, sent as they are) as the answer."""
        with self.lock:
            self.document = document
            self.status = 200

    def fail(self, status=500):
        with self.lock:
            self.status = status

    def counts(self):
        with self.lock:
            return self.fetches, self.ok_fetches

    def _handler(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):
                if self.path.split("?", 1)[0] != outer.path:
                    return self._send(404, b'{"error":"not found"}')
                with outer.lock:
                    outer.fetches += 1
                    outer.fetch_times.append(time.monotonic())
                    status, doc = outer.status, outer.document
                    if status == 200:
                        outer.ok_fetches += 1
                if status != 200:
                    return self._send(status, b'{"error":"jwks unavailable"}')
                body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self._send(200, body)

            def _send(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if outer.cache_control and status == 200:
                    self.send_header("Cache-Control", outer.cache_control)
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler

    @property
    def running(self):
        return self.server is not None

    def start(self):
        assert self.server is None, "already running"
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        srv.daemon_threads = True
        self.server = srv
        self.thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
        self.server = None
        self.thread = None


def edge_config(be_address, jwks_url, jwks_min_refresh="1s", extra_routes="", extra_top="",
                extra_upstreams="", workers=None):
    """The config of the issue-5 spec: consumers alice (API key, HMAC key alice-1, role admin)
    and bob (API key, role reader), JWT provider corp (JWKS at jwks_url plus the inline HS256
    key "hs"), default security headers and the routes jwt, keys, signed, ips and cors to
    upstream api (be_address). extra_routes: more route entries (YAML list items "- name: ...",
    any common indentation); extra_upstreams: more upstream entries (likewise); extra_top: more
    top-level YAML."""
    routes = textwrap.dedent("""\
      - name: jwt
        match: {path: "/jwt/{*rest}"}
        upstream: api
        security:
          auth: {jwt: [corp], roles: [reader, admin], method_roles: {DELETE: [admin]}}
      - name: keys
        match: {path: "/keys/{*rest}"}
        upstream: api
        security: {auth: {api_key: {header: x-api-key}}}
      - name: signed
        match: {path: "/signed/{*rest}"}
        upstream: api
        security: {auth: {hmac: {window: 300s}}}
      - name: ips
        match: {path: "/ips/{*rest}"}
        upstream: api
        security: {ip_rules: {allow: [127.0.0.0/8], deny: [127.0.0.2/32]}, auth: off}
      - name: cors
        match: {path: "/cors/{*rest}"}
        upstream: api
        security: {cors: {origins: ["https://app.test", "https://*.example.test"], methods: [GET, POST], headers: [content-type, authorization], expose: [x-request-id], credentials: true, max_age: 600s}}
    """)
    routes = textwrap.indent(routes, "  ")
    if extra_routes:
        routes += textwrap.indent(textwrap.dedent(extra_routes).strip("\n"), "  ") + "\n"
    body = textwrap.dedent(f"""\
    consumers:
      - name: alice
        api_keys: ["{api_key_hash(ALICE_API_KEY)}"]
        hmac_keys: [{{key_id: {ALICE_HMAC_KEY_ID}, secret: "{ALICE_HMAC_SECRET}"}}]
        roles: [admin]
      - name: bob
        api_keys: ["{api_key_hash(BOB_API_KEY)}"]
        roles: [reader]
    jwt_providers:
      - name: corp
        issuer: {JWT_ISSUER}
        audiences: [{JWT_AUDIENCE}]
        algorithms: [RS256, ES256, ES384, PS256, EdDSA, HS256]
        jwks_url: {jwks_url}
        jwks_min_refresh: {jwks_min_refresh}
        keys: [{{secret: "{HS256_SECRET}", alg: HS256, kid: hs}}]
        clock_skew: 30s
        required_claims: [sub]
        roles_claim: roles
        from: [bearer, "cookie:session", "query:access_token"]
        forward_claims: {{x-user-id: sub}}
    security:
      headers: {{hsts: {{max_age: 31536000s, include_subdomains: true}}, nosniff: true, frame_options: DENY, referrer_policy: no-referrer, server: hide}}
    upstreams:
      - name: api
        targets: [{{address: {be_address}}}]
    """)
    if extra_upstreams:
        body += textwrap.indent(textwrap.dedent(extra_upstreams).strip("\n"), "  ") + "\n"
    if extra_top:
        body += textwrap.dedent(extra_top).strip("\n") + "\n"
    return config(body + "routes:\n" + routes, workers=workers)
