#!/usr/bin/env bash
# README command (2): install dependencies, build, run every test (release, then the
# sanitizer build with the parsers' fuzzers). This is exactly what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
start=$(date +%s)
cmake --preset release
cmake --build --preset release -j "$(nproc)"
ctest --preset release
if [ "${APR_SKIP_ASAN:-0}" != "1" ]; then
  cmake --preset asan
  cmake --build --preset asan -j "$(nproc)"
  ctest --preset asan
fi
echo "test.sh: all tests passed in $(( $(date +%s) - start ))s"
