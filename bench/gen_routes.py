#!/usr/bin/env python3
"""Writes a config of N routes (a large API table) for measuring config loads:

    bench/gen_routes.py 100000 > /tmp/r100k.yaml
    /usr/bin/time -f "%e s %M KB" build/release/sluice validate --config /tmp/r100k.yaml

Each route is `/api/v1/svcN/{*rest}` with two methods and one upstream; --filters gives every
other route a request_headers filter. docs/performance.md quotes figures made with it."""

import sys


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 10000
    filters = "--filters" in sys.argv
    out = sys.stdout
    out.write("listeners:\n  - address: 127.0.0.1:18080\nadmin:\n  address: 127.0.0.1:18081\n"
              "upstreams:\n  - name: be\n    targets: [127.0.0.1:18082]\nroutes:\n")
    for i in range(n):
        out.write(f"  - name: r{i}\n"
                  f"    match: {{ path: \"/api/v1/svc{i}/{{*rest}}\", methods: [GET, POST] }}\n"
                  "    upstream: be\n")
        if filters and i % 2 == 1:
            out.write(f"    filters:\n      request_headers: {{ set: {{ x-svc: \"{i}\" }} }}\n")


if __name__ == "__main__":
    main()
