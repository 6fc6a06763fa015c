#!/usr/bin/env bash
# The README's test command: installs dependencies, builds (Release with debug info) and runs
# every test through ctest. Set TOKENAUDIT_SANITIZE=1 for an ASan/UBSan build in build-asan/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
BUILD_DIR=build
EXTRA=()
if [ "${TOKENAUDIT_SANITIZE:-0}" = "1" ]; then
  BUILD_DIR=build-asan
  EXTRA=(-DTOKENAUDIT_SANITIZE=ON)
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${EXTRA[@]}"
cmake --build "$BUILD_DIR" -j "$(nproc)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)"
