#!/usr/bin/env bash
# demo.sh — the README's first command: install what is missing, build, run sluice's main job on the
# embedded demo data in fixtures/.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target sluice
exec build/gateway/sluice map --from misp --to stix21 fixtures/events/demo-event.json
