"""An upstream that answers before the request body is all there (a 413 for a too-large upload,
a 200 that ignores the body) and closes: the kernel then resets the connection, since the
upload was not read. The answer's bytes arrived before the reset, so the client gets them (not a
502), sluice stops forwarding the body, and the client connection closes after the answer."""

import socket
import threading
import time

import pytest

from harness import config, parse_response


class EarlyAnswerUpstream:
    """Reads a request head, answers at once with `status` and closes without reading the body
    (so the close becomes a reset while the upload goes on). Counts the connections."""

    def __init__(self, status, body=b'{"error":"too large"}', delay=0.0):
        self.status = status
        self.body = body
        self.delay = delay
        self.connections = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def _loop(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            buf = b""
            while b"\r\n\r\n" not in buf:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
            if self.delay:
                time.sleep(self.delay)
            conn.sendall(f"HTTP/1.1 {self.status} Early\r\ncontent-type: application/json\r\n"
                         f"content-length: {len(self.body)}\r\nconnection: close\r\n\r\n"
                         .encode() + self.body)
        except OSError:
            pass
        finally:
            conn.close()  # unread upload bytes: the kernel sends a reset

    def stop(self):
        self.stopped.set()
        self.sock.close()
        self.thread.join(2)


@pytest.fixture
def early(sluice):
    made = []

    def make(status, **kw):
        up = EarlyAnswerUpstream(status, **kw)
        made.append(up)
        gw = sluice(config(f"""
            upstreams:
              - name: early
                targets: [{{address: {up.address}}}]
            routes:
              - name: all
                match: {{path: "/{{*rest}}"}}
                upstream: early
        """))
        gw.up = up
        return gw

    yield make
    for up in made:
        up.stop()


def upload(port, total, chunked=False, piece=65536, deadline=15.0):
    """Sends a request with a `total`-byte body while reading the answer; returns (raw answer
    bytes, body bytes the client managed to send, whether the client saw EOF)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    framing = "transfer-encoding: chunked" if chunked else f"content-length: {total}"
    s.sendall(f"POST /upload HTTP/1.1\r\nhost: test.local\r\n{framing}\r\n\r\n".encode())
    sent = [0]
    answer = bytearray()
    eof = threading.Event()

    def reader():
        s.settimeout(deadline)
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                answer.extend(data)
        except OSError:
            pass
        eof.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    block = b"u" * piece
    end = time.monotonic() + deadline
    try:
        while sent[0] < total and not eof.is_set() and time.monotonic() < end:
            n = min(piece, total - sent[0])
            data = block[:n]
            s.sendall(f"{n:x}\r\n".encode() + data + b"\r\n" if chunked else data)
            sent[0] += n
        if chunked and sent[0] >= total:
            s.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the gateway closed after its answer
    t.join(deadline)
    s.close()
    return bytes(answer), sent[0], eof.is_set()


@pytest.mark.parametrize("status", [413, 200])
@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_early_answer_reaches_client(early, status, chunked):
    gw = early(status)
    for attempt in range(3):
        answer, sent, eof = upload(gw.port, 64 << 20, chunked=chunked)
        r = parse_response(answer)
        assert r.status == status, (attempt, r, gw.log_tail())
        assert r.body == b'{"error":"too large"}' and r.complete, r
        assert r.header("connection") == "close", r
        assert eof, "client connection not closed after the early answer"
        # sluice stopped forwarding: the client could not push the whole 64 MiB through
        assert sent < 64 << 20, sent


def test_early_answer_after_some_body(early):
    # The upstream reads the head, waits until part of the body streamed, then answers.
    gw = early(413, delay=0.3)
    answer, sent, eof = upload(gw.port, 256 << 20)
    r = parse_response(answer)
    assert r.status == 413 and r.complete, (r, gw.log_tail())
    assert eof and sent < 256 << 20


def test_gateway_serves_after_early_answers(early):
    gw = early(413)
    for _ in range(5):
        answer, _, _ = upload(gw.port, 8 << 20)
        assert parse_response(answer).status == 413
    answer, _, _ = upload(gw.port, 10)  # a small body the upstream never reads: still its answer
    assert parse_response(answer).status == 413


def test_close_delimited_body_cut_by_a_reset_is_not_whole(sluice):
    """A body delimited by the close ends with a FIN; a reset aborts it. Reading what came before
    a reset (for early answers) must not make such a body look whole: the client gets it
    re-framed as chunked without the last chunk."""
    import struct

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]

    def serve():
        for _ in range(3):
            try:
                c, _ = srv.accept()
            except OSError:
                return
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += c.recv(4096)
            c.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n" + b"p" * 5000)
            time.sleep(0.1)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()  # a reset, not a FIN

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    gw = sluice(config(f"""
        upstreams:
          - name: cut
            targets: [{{address: 127.0.0.1:{port}}}]
        routes:
          - name: all
            match: {{path: "/{{*rest}}"}}
            upstream: cut
    """))
    from harness import build_request, raw
    for _ in range(3):
        got = raw(gw.port, build_request("GET", "/stream"), read_timeout=5.0)
        r = parse_response(got)
        assert r.status == 200 and r.framing == "chunked", r
        assert not r.complete, f"a body cut by a reset passed off as whole: {r!r}"
        assert got.closed
    srv.close()
