#!/usr/bin/python3
"""A tiny authoritative UDP DNS responder for tests (standard library only).

    /usr/bin/python3 dns_server.py --zone zone.json [--port 0] [--host 127.0.0.1]

Prints "listening on HOST:PORT" (flushed) once bound. The zone is a JSON object mapping names to
address lists, e.g. {"two.test": ["10.0.0.1", "10.0.0.2", "::1"]}; it is re-read on every query,
so a test changes the answers by rewriting the file (write a temporary file and rename it over).
A queries get the IPv4 entries, AAAA queries the IPv6 ones, other types of a known name an empty
NOERROR answer; unknown names get NXDOMAIN. A name mapped to null is never answered (a server
that times out). Names are case-insensitive, trailing dots ignored. Every record has TTL 1.
SIGTERM or SIGINT stops it.
"""

import argparse
import ipaddress
import json
import signal
import socket
import struct
import sys

TYPE_A = 1
TYPE_AAAA = 28
CLASS_IN = 1
RCODE_NOERROR = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4
TTL = 1


def load_zone(path):
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        print(f"dns_server: cannot read zone {path}: {e}", file=sys.stderr, flush=True)
        return None
    zone = {}
    for name, addrs in raw.items():
        zone[name.lower().rstrip(".")] = addrs
    return zone


def parse_question(packet):
    """Returns (qname, qtype, qclass, end offset of the question) or None if malformed."""
    pos = 12
    labels = []
    while True:
        if pos >= len(packet):
            return None
        n = packet[pos]
        pos += 1
        if n == 0:
            break
        if n & 0xC0 or pos + n > len(packet):  # no compression in questions
            return None
        labels.append(packet[pos:pos + n].decode("ascii", "replace"))
        pos += n
    if pos + 4 > len(packet):
        return None
    qtype, qclass = struct.unpack("!HH", packet[pos:pos + 4])
    return ".".join(labels).lower(), qtype, qclass, pos + 4


def header(qid, flags_in, rcode, qdcount, ancount):
    opcode = flags_in & 0x7800
    rd = flags_in & 0x0100
    flags = 0x8000 | opcode | 0x0400 | rd | 0x0080 | rcode  # QR, AA, RD copied, RA
    return struct.pack("!HHHHHH", qid, flags, qdcount, ancount, 0, 0)


def answer(packet, zone_path):
    """The response to one query packet, or None to stay silent."""
    if len(packet) < 12:
        return None
    qid, flags_in, qdcount = struct.unpack("!HHH", packet[:6])
    if flags_in & 0x8000:  # a response, not a query
        return None
    if (flags_in >> 11) & 0xF != 0:
        return header(qid, flags_in, RCODE_NOTIMP, 0, 0)
    q = parse_question(packet) if qdcount == 1 else None
    if q is None:
        return header(qid, flags_in, RCODE_FORMERR, 0, 0)
    qname, qtype, qclass, qend = q
    question = packet[12:qend]
    zone = load_zone(zone_path)
    if zone is None:
        return header(qid, flags_in, RCODE_SERVFAIL, 1, 0) + question
    if qname not in zone:
        return header(qid, flags_in, RCODE_NXDOMAIN, 1, 0) + question
    addrs = zone[qname]
    if addrs is None:
        return None
    records = []
    if qclass == CLASS_IN and qtype in (TYPE_A, TYPE_AAAA):
        for text in addrs:
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                continue
            if (ip.version == 4) != (qtype == TYPE_A):
                continue
            rdata = ip.packed
            # Name: a pointer to the question's name at offset 12.
            records.append(struct.pack("!HHHIH", 0xC00C, qtype, CLASS_IN, TTL, len(rdata)) + rdata)
    return header(qid, flags_in, RCODE_NOERROR, 1, len(records)) + question + b"".join(records)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zone", required=True, help="JSON file: {name: [address, ...]}")
    ap.add_argument("--port", type=int, default=0, help="UDP port (0: pick a free one)")
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    print(f"listening on {host}:{port}", flush=True)

    def stop(_signum, _frame):
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        packet, peer = sock.recvfrom(4096)
        try:
            reply = answer(packet, args.zone)
        except Exception as e:  # never die on a strange packet
            print(f"dns_server: {e!r}", file=sys.stderr, flush=True)
            reply = None
        if reply is not None:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
