#!/usr/bin/env bash
# `make run`: the echo backend on 127.0.0.1:9001 in the background, sluice in the foreground.
set -euo pipefail
config=${1:-config/sluice.yaml}
cd "$(dirname "$0")/.."
/usr/bin/python3 backend/echo_backend.py --port 9001 --name echo &
backend=$!
trap 'kill $backend 2>/dev/null || true' EXIT INT TERM
echo "echo backend on 127.0.0.1:9001 (pid $backend)"
echo "try:  curl -i http://127.0.0.1:8080/hello"
echo "      curl -i http://127.0.0.1:8080/echo/anything?x=1"
echo "      curl -i http://127.0.0.1:8080/users/42"
echo "      curl -s http://127.0.0.1:9901/config; curl -s -XPOST http://127.0.0.1:9901/reload"
build/release/sluice run --config "$config"
