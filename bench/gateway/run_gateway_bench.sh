#!/bin/sh
# The gateway's added latency (issue 5), as recorded in bench/RESULTS.md ("Session 3: gateway"):
# builds gateway_bench from a clean export of COMMIT (default HEAD) and runs it under the shared
# benchmark lock, with the load average before and after.
#   bench/gateway/run_gateway_bench.sh [COMMIT] [gateway_bench flags, default --rate 1000 ...]
set -eu
repo=$(git rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse --short "${1:-HEAD}")
[ $# -gt 0 ] && shift
src=/tmp/ta-gwbench-$commit
if [ ! -x "$src/build/bench/gateway/gateway_bench" ]; then
  rm -rf "$src" && mkdir -p "$src"
  git -C "$repo" archive "$commit" | tar -x -C "$src"
  cmake -S "$src" -B "$src/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$src/build" -j2 gateway_bench
fi
[ $# -eq 0 ] && set -- --rate 1000 --seconds 10 --rounds 3 --users 4 --images 6
echo "commit $commit; uptime before: $(uptime)"
flock /tmp/ta-bench.lock "$src/build/bench/gateway/gateway_bench" "$@"
echo "uptime after: $(uptime)"
