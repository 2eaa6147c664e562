#!/usr/bin/python3
"""Sends N requests one after another on one keep-alive connection and checks each is a 200
(bench/icount.sh's load: deterministic, so the proxy's instruction count per request is too).
usage: icount-client.py PORT N [--method M] [--path P] [--header 'Name: value']... [--body FILE]
Header lines in the environment variable ICOUNT_HEADERS (one per line) are sent too."""
import argparse
import os
import socket

p = argparse.ArgumentParser()
p.add_argument("port", type=int)
p.add_argument("n", type=int)
p.add_argument("--method", default="GET")
p.add_argument("--path", default="/bench")
p.add_argument("--header", action="append", default=[])
p.add_argument("--body")
a = p.parse_args()
a.header += [h for h in os.environ.get("ICOUNT_HEADERS", "").splitlines() if h.strip()]
body = open(a.body, "rb").read() if a.body else b""
head = f"{a.method} {a.path} HTTP/1.1\r\nHost: bench\r\n" + "".join(h + "\r\n" for h in a.header)
if body:
    head += f"Content-Length: {len(body)}\r\n"
req = (head + "\r\n").encode() + body
s = socket.create_connection(("127.0.0.1", a.port))
buf = b""
for _ in range(a.n):
    s.sendall(req)
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            lines = buf[:end].decode("latin-1").split("\r\n")
            length = 0
            for line in lines[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v)
            if len(buf) >= end + 4 + length:
                if not lines[0].startswith("HTTP/1.1 200"):
                    raise SystemExit(f"not a 200: {lines[0]}")
                buf = buf[end + 4 + length:]
                break
        data = s.recv(65536)
        if not data:
            raise SystemExit("the proxy closed the connection")
        buf += data
s.close()
