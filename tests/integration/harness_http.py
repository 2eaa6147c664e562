"""HTTP/1.1 for the integration tests (see harness.py, which re-exports it): building requests and
chunked bodies, a small response parser, raw sockets, a keep-alive Client, request() and
http_json(). Standard library only."""

import http.client
import json
import select
import socket
import time

__all__ = ["build_request", "chunked_body", "Response", "ConnectionClosed", "ReadTimeout",
           "parse_responses", "parse_response", "RawBytes", "raw", "Client", "request", "http_json"]


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
