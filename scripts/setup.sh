#!/usr/bin/env bash
# Installs what building, running and testing sluice needs on Debian 12. Idempotent: installs
# only the packages that are missing, and runs apt-get update only then.
set -euo pipefail

packages=(
  g++ clang clang-format clang-tidy libclang-rt-14-dev llvm
  cmake ninja-build make pkg-config
  libyaml-dev libssl-dev libc-ares-dev libhiredis-dev nlohmann-json3-dev
  libre2-dev libpugixml-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-pytest python3-yaml python3-jsonschema curl
  nginx-light haproxy wrk gcovr prometheus redis-server etcd-server
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js runs the OTLP receiver of the tracing integration tests; a node already on PATH (from
# nodesource, nvm …) is used as it is.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # Package scripts must not start the nginx/haproxy services: the tests start their own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The OTLP receiver's packages, exactly as locked (tests/integration/otlp_receiver).
receiver_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/integration/otlp_receiver"
if [ ! -d "$receiver_dir/node_modules" ]; then
  echo "setup: installing the OTLP receiver's npm packages"
  (cd "$receiver_dir" && npm ci --no-audit --no-fund)
fi

# The OpenAPI linter (Redocly CLI) of tests/integration/test_71_openapi.py, exactly as locked
# (tests/openapi): @redocly/cli 1.34.x, which runs on Debian 12's Node 18.
openapi_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/openapi"
if [ ! -d "$openapi_dir/node_modules" ]; then
  echo "setup: installing the OpenAPI linter's npm packages"
  (cd "$openapi_dir" && npm ci --no-audit --no-fund)
fi
