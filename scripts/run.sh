#!/usr/bin/env bash
# The README's run command: installs dependencies, builds the `tokenaudit` binary (Release) and
# runs it. Arguments are passed to `tokenaudit`; without any, it runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j "$(nproc)" --target tokenaudit
BIN=build-release/tools/tokenaudit/tokenaudit
if [ $# -eq 0 ]; then
  exec "$BIN" serve
fi
exec "$BIN" "$@"
