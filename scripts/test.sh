#!/usr/bin/env bash
# The README's test command: installs dependencies, builds (Release with debug info) and runs
# every test through ctest.
#
# TOKENAUDIT_SANITIZE=1: an AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/,
# compiled with clang, whose -Wthread-safety analysis then checks every GUARDED_BY field as an
# error (cmake/TokenauditHelpers.cmake), and without the benchmarks (bench/), which no test runs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
BUILD_DIR=build
EXTRA=()
if [ "${TOKENAUDIT_SANITIZE:-0}" = "1" ]; then
  BUILD_DIR=build-asan
  export CC=clang CXX=clang++
  # -O1 and line tables only: the sanitized build compiles and links much faster than -O2 -g and
  # still symbolizes every report.
  EXTRA=(-DTOKENAUDIT_SANITIZE=ON -DTOKENAUDIT_BUILD_BENCH=OFF
         "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG")
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${EXTRA[@]}"
cmake --build "$BUILD_DIR" -j "$(nproc)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)"
