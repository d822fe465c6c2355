#!/usr/bin/env bash
# demo.sh — the README's first command: install what is missing, build, start a throwaway PostgreSQL,
# and run `sluice demo`: the demo MISP feed in fixtures/demo/feed goes through the whole pipeline and is
# served over TAXII 2.1 to two demo partners with different policies. Ctrl-C stops and cleans up.
# Extra arguments go to `sluice demo` (e.g. --listen 127.0.0.1:0).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target sluice
env=$(mktemp /tmp/sluice-demo-pg.XXXXXX)
cleanup() { deploy/pgtmp.sh stop "$env" >/dev/null 2>&1 || true; rm -f "$env"; }
trap cleanup EXIT
deploy/pgtmp.sh start "$env" >/dev/null
build/gateway/sluice demo --db "$(cat "$env")" "$@"
