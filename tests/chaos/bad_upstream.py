"""A misbehaving HTTP/1.1 upstream for the chaos scenarios: a raw-socket threaded server whose
answer to GET /bad/<shape>/<id> is the broken (or merely odd) message SHAPES[shape] describes, and
whose answer to /good/<id> is a well-formed 200 with the body b"good:<id>" on a keep-alive
connection. Standard library only.

    up = BadUpstream()             # 127.0.0.1, a free port; up.address
    ... route /bad and /good to up.address ...
    up.stop()

Each shape is (writer, allowed, note): writer(conn, req) sends the answer and returns True to keep
the connection for another request, False to close it; `allowed` lists what the client may see
through sluice: "502" / "504" (sluice's own JSON error), "cut" (a response the client can tell is
incomplete: its Content-Length or chunked framing not satisfied when the connection closed),
"closed" (the connection closed before any response), or ("whole", status, body) for the one
well-formed reading of the message. A whole response that is not listed is a broken message passed
off as a whole one.
"""

import socket
import struct
import threading
import time

EVIL = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Evil: 1\r\n\r\nEVIL"
MAX_STREAM_SECONDS = 8.0  # every endless shape stops after this (and when the peer goes)


def _send(conn, data):
    conn.sendall(data)


def _head(status=200, reason="OK", fields=(), version="HTTP/1.1"):
    lines = [f"{version} {status} {reason}"] + [f"{n}: {v}" for n, v in fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _endless(conn, make_piece, pause=0.0):
    """Sends make_piece(i) until the peer closes or MAX_STREAM_SECONDS pass; False (close)."""
    end = time.monotonic() + MAX_STREAM_SECONDS
    i = 0
    try:
        while time.monotonic() < end:
            conn.sendall(make_piece(i))
            i += 1
            if pause:
                time.sleep(pause)
    except OSError:
        pass
    return False


def _stall(conn, seconds=MAX_STREAM_SECONDS):
    """Sends nothing more until the peer closes or seconds pass; False (close)."""
    conn.settimeout(0.2)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if conn.recv(65536) == b"":
                break
        except socket.timeout:
            continue
        except OSError:
            break
    return False


def w(data, keep=False):
    def writer(conn, req):
        _send(conn, data)
        return keep
    return writer


def reset(conn, req):
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return False


def close_delimited_reset(conn, req):
    """A body delimited by the close (no Content-Length, no chunked), cut by a reset: the close
    that would end it is an abort, so the body is not whole."""
    _send(conn, _head(fields=[("Connection", "close")]) + b"partial body")
    time.sleep(0.05)
    return reset(conn, req)


def close_silently(conn, req):
    return False


def endless_head_fast(conn, req):
    _send(conn, b"HTTP/1.1 200 OK\r\n")
    return _endless(conn, lambda i: b"X-Field-%d: %s\r\n" % (i, b"v" * 200))


def endless_head_slow(conn, req):
    _send(conn, b"HTTP/1.1 200 OK\r\n")
    return _endless(conn, lambda i: b"X-Slow-%d: v\r\n" % i, pause=0.02)


def endless_1xx(conn, req):
    return _endless(conn, lambda i: b"HTTP/1.1 100 Continue\r\n\r\n")


def endless_trailers(conn, req):
    _send(conn, _head(fields=[("Transfer-Encoding", "chunked")]) + b"5\r\nhello\r\n0\r\n")
    return _endless(conn, lambda i: b"X-Trailer-%d: %s\r\n" % (i, b"t" * 200))


def endless_chunk_ext(conn, req):
    _send(conn, _head(fields=[("Transfer-Encoding", "chunked")]) + b"5;ext=")
    return _endless(conn, lambda i: b"e" * 1024)


def stall_head(conn, req):
    return _stall(conn)


def stall_body(conn, req):
    _send(conn, _head(fields=[("Content-Length", "1000")]) + b"x" * 10)
    return _stall(conn)


def stall_chunked(conn, req):
    _send(conn, _head(fields=[("Transfer-Encoding", "chunked")]) + b"5\r\nhello\r\n")
    return _stall(conn)


def unsolicited(conn, req):
    """A good answer, then, 100 ms later on the idle connection, a response nobody asked for."""
    _send(conn, _head(fields=[("Content-Length", "5")]) + b"hello")
    time.sleep(0.1)
    try:
        _send(conn, EVIL)
    except OSError:
        pass
    return True


def early_answer(conn, req):
    """Answers a POST before reading its body, then closes."""
    _send(conn, _head(fields=[("Content-Length", "5"), ("Connection", "close")]) + b"early")
    return False


CHUNKED = [("Transfer-Encoding", "chunked")]
HELLO = ("whole", 200, b"hello")

# shape name -> (writer, allowed outcomes, note)
SHAPES = {
    # status line
    "bad_status_line": (w(b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok"), {"502"}, ""),
    "garbage_status": (w(b"hello world\r\n\r\n"), {"502"}, ""),
    "http09_body": (w(b"just a body, no head"), {"502"}, ""),
    "status_only_then_close": (w(b"HTTP/1.1 200 OK\r\n"), {"502"}, ""),
    "close_mid_head": (w(b"HTTP/1.1 200 OK\r\nContent-Le"), {"502"}, ""),
    "status_999": (w(_head(999, "Weird", [("Content-Length", "5")]) + b"hello"),
                   {"502", ("whole", 999, b"hello")}, ""),
    "huge_reason": (w(_head(200, "O" * 8000, [("Content-Length", "5")]) + b"hello"),
                    {"502", HELLO}, ""),
    "http10_close_delimited": (w(_head(version="HTTP/1.0") + b"hello"), {HELLO},
                               "valid: body until close; sluice re-chunks it"),
    "close_delimited_reset": (close_delimited_reset, {"cut", "502"},
                              "a reset is no end of a close-delimited body (docs/chaos.md, "
                              "findings: passed on as whole from 765da2f to 0792b18)"),
    # no answer
    "close_no_answer": (close_silently, {"502"}, ""),
    "reset": (reset, {"502"}, ""),
    "stall_head": (stall_head, {"504"}, "response_timeout"),
    # bodies cut or broken
    "truncated_cl": (w(_head(fields=[("Content-Length", "100000")]) + b"x" * 1000),
                     {"cut", "502"}, ""),
    "truncated_chunked": (w(_head(fields=CHUNKED) + b"5\r\nhello\r\n"), {"cut", "502"}, ""),
    "truncated_mid_chunk": (w(_head(fields=CHUNKED) + b"100\r\nabc"), {"cut", "502"}, ""),
    "bad_chunk_size": (w(_head(fields=CHUNKED) + b"5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n"),
                       {"cut", "502"}, ""),
    "chunk_size_overflow": (w(_head(fields=CHUNKED) + b"fffffffffffffffffffff\r\nx\r\n"),
                            {"cut", "502"}, ""),
    "negative_chunk_size": (w(_head(fields=CHUNKED) + b"-5\r\nhello\r\n0\r\n\r\n"),
                            {"cut", "502"}, ""),
    "chunk_without_crlf": (w(_head(fields=CHUNKED) + b"5\r\nhelloXX0\r\n\r\n"), {"cut", "502"}, ""),
    "endless_chunk_ext": (endless_chunk_ext, {"cut", "502", "504"}, ""),
    "endless_trailers": (endless_trailers, {"cut", "502", "504", HELLO}, ""),
    "stall_body": (stall_body, {"cut", "504"}, "response_timeout between body reads"),
    "stall_chunked": (stall_chunked, {"cut", "504"}, ""),
    # heads
    "huge_headers": (w(_head(fields=[("X-Big", "a" * 70000), ("Content-Length", "2")]) + b"ok"),
                     {"502"}, "64 KiB limit"),
    "many_headers": (w(_head(fields=[(f"X-{i}", "v") for i in range(150)] +
                             [("Content-Length", "2")]) + b"ok"), {"502"}, "100 fields"),
    "endless_head_fast": (endless_head_fast, {"502"}, ""),
    "endless_head_slow": (endless_head_slow, {"504", "502"}, "the head as a whole is timed"),
    "nul_in_field": (w(b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 5\r\n\r\nhello"),
                     {"502"}, ""),
    "bare_lf": (w(b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello"), {"502", HELLO}, ""),
    "obs_fold": (w(b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 5\r\n\r\nhello"),
                 {"502", HELLO}, ""),
    "space_before_colon": (w(b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello"), {"502"}, ""),
    # framing conflicts
    "two_content_lengths": (w(_head(fields=[("Content-Length", "5"), ("Content-Length", "6")]) +
                              b"hello!"), {"502"}, ""),
    "negative_content_length": (w(_head(fields=[("Content-Length", "-5")]) + b"hello"),
                                {"502"}, ""),
    "plus_content_length": (w(_head(fields=[("Content-Length", "+5")]) + b"hello"), {"502"}, ""),
    "cl_and_te": (w(_head(fields=[("Content-Length", "3")] + CHUNKED) +
                    b"5\r\nhello\r\n0\r\n\r\n"), {"502", HELLO}, "TE wins (RFC 9112 6.3)"),
    "cl_and_te_smuggle": (w(_head(fields=[("Content-Length", "200")] + CHUNKED) +
                            b"5\r\nhello\r\n0\r\n\r\n" + EVIL, keep=True), {"502", HELLO}, ""),
    "te_not_chunked": (w(_head(fields=[("Transfer-Encoding", "gzip")]) + b"hello"),
                       {"502", HELLO}, "RFC 9112 6.3: read until close"),
    # bodies where none may be
    "no_content_with_body": (w(_head(204, "No Content", [("Content-Length", "50")]) + EVIL,
                               keep=True), {"502", ("whole", 204, b"")}, ""),
    "not_modified_with_body": (w(_head(304, "Not Modified") + EVIL, keep=True),
                               {"502", ("whole", 304, b"")}, ""),
    "extra_after_body": (w(_head(fields=[("Content-Length", "5")]) + b"hello" + EVIL, keep=True),
                         {"502", HELLO}, ""),
    "unsolicited_later": (unsolicited, {HELLO}, ""),
    # interim answers
    "interim_1xx": (w(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                      + _head(fields=[("Content-Length", "5")]) + b"hello"), {HELLO}, ""),
    "many_1xx": (w(b"HTTP/1.1 100 Continue\r\n\r\n" * 2000 + _head(fields=[("Content-Length", "5")])
                   + b"hello"), {"502", HELLO}, ""),
    "endless_1xx": (endless_1xx, {"502", "504"}, ""),
    "switching_protocols": (w(_head(101, "Switching Protocols", [("Upgrade", "websocket"),
                                                                  ("Connection", "Upgrade")])),
                            {"502"}, "documented: 101 becomes 502"),
}

# shapes asked with HEAD (the upstream wrongly sends a body after the head)
HEAD_SHAPES = {
    "head_with_body": (w(_head(fields=[("Content-Length", "4")]) + b"EVIL", keep=True),
                       {"502", ("whole", 200, b"")}, ""),
}

# shapes asked with POST and a 256 KiB body
POST_SHAPES = {
    "early_answer": (early_answer, {"502", ("whole", 200, b"early")}, ""),
}

ALL_SHAPES = {**SHAPES, **HEAD_SHAPES, **POST_SHAPES}


class BadUpstream:
    """The server; counts requests per shape in .hits."""

    def __init__(self, host="127.0.0.1", port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(512)
        self.sock.settimeout(0.1)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.conns = set()
        self.hits = {}
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def _accept(self):
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read_request(self, conn, buf):
        """(method, path, rest of buf) or None when the peer closed."""
        while b"\r\n\r\n" not in buf:
            d = conn.recv(65536)
            if not d:
                return None
            buf += d
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target = lines[0].split(" ")[:2]
        length, chunked = 0, False
        for line in lines[1:]:
            n, _, v = line.partition(":")
            if n.strip().lower() == "content-length":
                length = int(v.strip())
            elif n.strip().lower() == "transfer-encoding":
                chunked = True
        return method, target.split("?")[0], buf, length, chunked

    def _serve(self, conn):
        buf = b""
        try:
            conn.settimeout(30)
            while not self.closed.is_set():
                got = self._read_request(conn, buf)
                if got is None:
                    return
                method, path, buf, length, chunked = got
                parts = path.strip("/").split("/")
                shape = parts[1] if parts[0] == "bad" and len(parts) > 1 else None
                if shape != "early_answer":  # that one answers before reading the body
                    if chunked:
                        while not buf.endswith(b"0\r\n\r\n"):
                            d = conn.recv(65536)
                            if not d:
                                return
                            buf += d
                        buf = b""
                    else:
                        while len(buf) < length:
                            d = conn.recv(65536)
                            if not d:
                                return
                            buf += d
                        buf = buf[length:]
                with self.lock:
                    self.hits[shape or parts[0]] = self.hits.get(shape or parts[0], 0) + 1
                if shape is None:
                    body = ("good:" + "/".join(parts[1:])).encode()
                    conn.sendall(_head(fields=[("Content-Length", str(len(body))),
                                               ("X-Good", "1")]) + body)
                    continue
                writer = ALL_SHAPES[shape][0]
                if not writer(conn, method):
                    return
        except (OSError, ValueError, IndexError, KeyError):
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
