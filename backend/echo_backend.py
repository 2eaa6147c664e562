#!/usr/bin/env python3
"""Echo backend for sluice: a small asyncio HTTP/1.1 server (standard library only).

It answers every request with a JSON description of what it received, so tests and
demos can see exactly what the gateway forwarded. Query parameters make it misbehave
on purpose (delays, big/slow/chunked/close-delimited bodies, dropped connections).

    python3 backend/echo_backend.py --port 9001 --name users
    curl 'http://127.0.0.1:9001/some/path?x=1'
    curl 'http://127.0.0.1:9001/big?size=1048576&chunked=1' -o /dev/null

Default answer: 200, content-type application/json, header "x-backend: NAME", body
    {"backend", "method", "target", "path", "query", "version",
     "headers": [[name, value], ...], "trailers": [[name, value], ...],
     "body_length", "body_sha256"}
Request bodies (Content-Length or chunked) are hashed as they stream in, never held.

Query parameters:
    status=N        response status
    delay_ms=N      wait N ms (after reading the whole request) before answering
    size=N          instead of JSON, send N bytes of 'x' in 64 KiB writes
    slow_ms=N       with size: sleep N ms between 64 KiB writes
    chunked=1       send the body with chunked transfer encoding, in several chunks
    close=1         "Connection: close", no Content-Length: body until close
    drop=1          read the request, then close without answering
    drop_mid=1      send a head with Content-Length: 100000, 10 bytes of body, then close
    header_NAME=V   add response header "NAME: V"
    echo_body=1     also put the request body (up to 1 MiB, as UTF-8 text) in the JSON as "body"
    reply=TEXT      answer TEXT as the body instead of the JSON (with reply_type=TYPE as its
                    content-type, default text/plain; chunked=1 and close=1 still apply)

GET /__stats answers {"requests", "heads", "connections", "active_connections"}:
requests counts requests read completely (head and body), heads counts request heads
received; neither counts /__stats itself.
GET /__log answers the last 1000 requests read completely, oldest first, each as
{"method", "target", "headers", "body_length", "body_sha256"} (a mirror's shadow shows
what it was sent).
"""

import argparse
import asyncio
import collections
import hashlib
import json
import re
import signal
import sys
from urllib.parse import parse_qsl

CHUNK = 64 * 1024
READ_SIZE = 256 * 1024
MAX_HEAD = 1024 * 1024
X_BLOCK = b"x" * CHUNK
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DIGITS = re.compile(r"[0-9]{1,19}")

REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    206: "Partial Content", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 413: "Content Too Large",
    429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}



class _BodySink:
    """Hashes a request body as it streams in; keeps its first MiB when asked (echo_body=1)."""

    LIMIT = 1 << 20

    def __init__(self, keep):
        self.sha = hashlib.sha256()
        self.kept = bytearray() if keep else None

    def update(self, data):
        self.sha.update(data)
        if self.kept is not None and len(self.kept) < self.LIMIT:
            self.kept += data[:self.LIMIT - len(self.kept)]

    def hexdigest(self):
        return self.sha.hexdigest()

    def text(self):
        return None if self.kept is None else self.kept.decode("utf-8", "replace")

class BadRequest(Exception):
    pass


class Stats:
    def __init__(self):
        self.log = collections.deque(maxlen=1000)
        self.requests = 0
        self.heads = 0
        self.connections = 0
        self.active = 0

    def as_json(self):
        return {"requests": self.requests, "heads": self.heads,
                "connections": self.connections, "active_connections": self.active}


class Request:
    __slots__ = ("method", "target", "version", "headers", "trailers", "path", "query",
                 "body_text", "body_length", "body_sha256", "keep_alive")


def _int_param(params, name, default=None):
    if name not in params:
        return default
    try:
        value = int(params[name])
    except ValueError:
        raise BadRequest(f"bad {name}")
    if value < 0:
        raise BadRequest(f"bad {name}")
    return value


class Connection:
    def __init__(self, server, reader, writer):
        self.server = server
        self.reader = reader
        self.writer = writer

    async def read_line(self, what):
        try:
            line = await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as e:
            if not e.partial and what == "request line":
                return None  # clean close between requests
            raise BadRequest(f"connection closed in {what}")
        except asyncio.LimitOverrunError:
            raise BadRequest(f"{what} too long")
        if line.endswith(b"\r\n"):
            return line[:-2]
        return line[:-1]

    async def read_head(self):
        line = await self.read_line("request line")
        while line == b"":  # RFC 9112 2.2: ignore empty lines before a request line
            line = await self.read_line("request line")
        if line is None:
            return None
        parts = line.split(b" ")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise BadRequest("bad request line")
        req = Request()
        req.method = parts[0].decode("latin-1")
        req.target = parts[1].decode("latin-1")
        req.version = parts[2].decode("latin-1")
        if req.version not in ("HTTP/1.1", "HTTP/1.0"):
            raise BadRequest("bad version")
        headers = []
        size = len(line)
        while True:
            line = await self.read_line("headers")
            if line == b"":
                break
            size += len(line)
            if size > MAX_HEAD:
                raise BadRequest("head too large")
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                raise BadRequest("bad header line")
            headers.append([name.decode("latin-1"), value.strip(b" \t").decode("latin-1")])
        req.headers = headers
        req.trailers = []
        path, _, query = req.target.partition("?")
        req.path = path
        req.query = query
        conn_tokens = set()
        for n, v in headers:
            if n.lower() == "connection":
                conn_tokens.update(t.strip().lower() for t in v.split(","))
        if req.version == "HTTP/1.1":
            req.keep_alive = "close" not in conn_tokens
        else:
            req.keep_alive = "keep-alive" in conn_tokens
        return req

    def header(self, req, name):
        name = name.lower()
        for n, v in req.headers:
            if n.lower() == name:
                return v
        return None

    async def read_body(self, req, sha):
        te = [v for n, v in req.headers if n.lower() == "transfer-encoding"]
        cls = [v for n, v in req.headers if n.lower() == "content-length"]
        if te:
            codings = [c.strip().lower() for v in te for c in v.split(",")]
            if codings[-1] != "chunked":
                raise BadRequest("unsupported transfer-encoding")
            return await self.read_chunked(req, sha)
        if cls:
            if len(set(cls)) != 1 or not _DIGITS.fullmatch(cls[0]):
                raise BadRequest("bad content-length")
            return await self.read_exact(int(cls[0]), sha)
        return 0

    async def read_exact(self, n, sha):
        left = n
        reader = self.reader
        while left > 0:
            data = await reader.read(min(left, READ_SIZE))
            if not data:
                raise BadRequest("connection closed in body")
            sha.update(data)
            left -= len(data)
        return n

    async def read_chunked(self, req, sha):
        total = 0
        while True:
            line = await self.read_line("chunk size")
            size_text = line.split(b";", 1)[0].strip(b" \t")
            if not _HEX.fullmatch(size_text):
                raise BadRequest("bad chunk size")
            size = int(size_text, 16)
            if size == 0:
                break
            await self.read_exact(size, sha)
            total += size
            crlf = await self.read_line("chunk data end")
            if crlf != b"":
                raise BadRequest("missing CRLF after chunk data")
        while True:  # trailer section
            line = await self.read_line("trailers")
            if line == b"":
                break
            name, sep, value = line.partition(b":")
            if not sep:
                raise BadRequest("bad trailer line")
            req.trailers.append([name.decode("latin-1"), value.strip(b" \t").decode("latin-1")])
        return total

    async def run(self):
        stats = self.server.stats
        stats.connections += 1
        stats.active += 1
        try:
            while True:
                try:
                    req = await self.read_head()
                    if req is None:
                        return
                    is_stats = req.path in ("/__stats", "/__log")
                    if not is_stats:
                        stats.heads += 1
                    params = dict(parse_qsl(req.query, keep_blank_values=True))
                    expect = (self.header(req, "expect") or "").lower()
                    if expect == "100-continue" and req.version == "HTTP/1.1":
                        self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    sha = _BodySink(params.get("echo_body") == "1")
                    req.body_length = await self.read_body(req, sha)
                    req.body_sha256 = sha.hexdigest()
                    req.body_text = sha.text()
                except BadRequest as e:
                    await self.send_simple(400, str(e))
                    return
                if is_stats:
                    answer = stats.as_json() if req.path == "/__stats" else list(stats.log)
                    await self.send_json(req, 200, answer, {})
                    if not req.keep_alive:
                        return
                    continue
                stats.requests += 1
                stats.log.append({"method": req.method, "target": req.target,
                                  "headers": req.headers, "body_length": req.body_length,
                                  "body_sha256": req.body_sha256})
                try:
                    keep = await self.respond(req, params)
                except BadRequest as e:
                    await self.send_simple(400, str(e))
                    return
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            return
        finally:
            stats.active -= 1
            try:
                self.writer.close()
            except Exception:
                pass

    async def send_simple(self, status, message):
        body = json.dumps({"status": status, "error": message}).encode()
        self.writer.write(
            f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"connection: close\r\nx-backend: {self.server.name}\r\n\r\n".encode() + body)
        try:
            await self.writer.drain()
        except (ConnectionError, OSError):
            pass

    async def send_json(self, req, status, obj, extra):
        body = json.dumps(obj).encode()
        head = self.head(req, status, "application/json", extra,
                         length=len(body), keep_alive=req.keep_alive)
        self.writer.write(head if req.method == "HEAD" else head + body)
        await self.writer.drain()

    def head(self, req, status, ctype, extra, length=None, chunked=False, keep_alive=True):
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
                 f"x-backend: {self.server.name}"]
        if ctype:
            lines.append(f"content-type: {ctype}")
        if length is not None:
            lines.append(f"content-length: {length}")
        if chunked:
            lines.append("transfer-encoding: chunked")
        if not keep_alive:
            lines.append("connection: close")
        elif req.version == "HTTP/1.0":
            lines.append("connection: keep-alive")
        for name, value in extra.items():
            lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def respond(self, req, params):
        """Answers one request; returns whether the connection stays open."""
        status = _int_param(params, "status", 200)
        if not 100 <= status <= 999:
            raise BadRequest("bad status")
        delay_ms = _int_param(params, "delay_ms", 0)
        size = _int_param(params, "size")
        slow_ms = _int_param(params, "slow_ms", 0)
        chunked = params.get("chunked") == "1"
        close = params.get("close") == "1"
        extra = {k[len("header_"):]: v for k, v in params.items()
                 if k.startswith("header_") and len(k) > len("header_")}
        for k, v in extra.items():
            if any(c in k + v for c in "\r\n\0"):
                raise BadRequest("bad header_ parameter")

        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        w = self.writer
        if params.get("drop") == "1":
            return False
        if params.get("drop_mid") == "1":
            w.write(self.head(req, status, "application/octet-stream", extra, length=100000))
            w.write(b"x" * 10)
            await w.drain()
            return False

        no_body = req.method == "HEAD" or status in (204, 304) or status < 200
        if "reply" in params:
            body = params["reply"].encode()
            ctype = params.get("reply_type", "text/plain")
            total = len(body)
        elif size is None:
            desc = {
                "backend": self.server.name, "method": req.method, "target": req.target,
                "path": req.path, "query": req.query, "version": req.version,
                "headers": req.headers, "trailers": req.trailers,
                "body_length": req.body_length, "body_sha256": req.body_sha256,
            }
            if req.body_text is not None:
                desc["body"] = req.body_text
            body = json.dumps(desc).encode()
            ctype = "application/json"
            total = len(body)
        else:
            body = None
            ctype = "application/octet-stream"
            total = size

        keep = req.keep_alive and not close
        if no_body:
            w.write(self.head(req, status, ctype, extra,
                              length=None if status < 200 or status == 204 else total,
                              keep_alive=keep))
            await w.drain()
            return keep
        if close:
            mode = "close"
        elif chunked and req.version == "HTTP/1.1":
            mode = "chunked"
        elif chunked:  # HTTP/1.0 cannot take chunked: fall back to close-delimited
            mode, keep = "close", False
        else:
            mode = "length"
        head = self.head(req, status, ctype, extra,
                         length=total if mode == "length" else None,
                         chunked=mode == "chunked", keep_alive=keep)
        if body is not None and mode != "chunked":
            w.write(head + body)  # one segment
            await w.drain()
            return keep
        w.write(head)

        if body is not None:
            if mode == "chunked":
                # several chunks of uneven size, then the last chunk
                cuts = sorted({0, len(body) // 3, len(body) // 2, len(body)})
                for a, b in zip(cuts, cuts[1:]):
                    if b > a:
                        w.write(b"%x\r\n" % (b - a) + body[a:b] + b"\r\n")
                w.write(b"0\r\n\r\n")
            else:
                w.write(body)
            await w.drain()
            return keep

        left = size
        first = True
        while left > 0:
            if slow_ms and not first:
                await asyncio.sleep(slow_ms / 1000)
            first = False
            n = min(left, CHUNK)
            block = X_BLOCK if n == CHUNK else X_BLOCK[:n]
            if mode == "chunked":
                w.write(b"%x\r\n" % n)
                w.write(block)
                w.write(b"\r\n")
            else:
                w.write(block)
            left -= n
            await w.drain()
        if mode == "chunked":
            w.write(b"0\r\n\r\n")
            await w.drain()
        return keep


class Server:
    def __init__(self, name):
        self.name = name
        self.stats = Stats()

    async def handle(self, reader, writer):
        transport = writer.transport
        transport.set_write_buffer_limits(high=256 * 1024)
        await Connection(self, reader, writer).run()


async def main_async(args):
    server = Server(args.name)
    srv = await asyncio.start_server(server.handle, host=args.host, port=args.port,
                                     limit=MAX_HEAD, backlog=1024, reuse_address=True)
    sock = srv.sockets[0]
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"listening on {shown}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with srv:
        await stop.wait()


def main(argv=None):
    ap = argparse.ArgumentParser(description="sluice echo backend")
    ap.add_argument("--port", type=int, default=9001, help="port (0 = any free port)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--name", default="echo")
    args = ap.parse_args(argv)
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
