#!/usr/bin/env bash
# test.sh — the README's test command: install what is missing, build, run the whole suite.
# SANITIZE=ON deploy/test.sh runs the same suite built with ASan+UBSan in a separate build dir.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
san=${SANITIZE:-OFF}
build=build
[ "$san" = ON ] && build=build-sanitize
cmake -S . -B "$build" -DSANITIZE="$san" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 900
