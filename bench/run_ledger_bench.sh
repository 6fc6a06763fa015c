#!/usr/bin/env bash
# Builds ledger_bench in Release (build-bench/) and runs the full set recorded in
# bench/RESULTS.md, printing every command before it runs. About 4-5 minutes on 2 cores.
#
#   bench/run_ledger_bench.sh                  # data under /tmp/ledger_bench
#   DATA_DIR=/mnt/ssd/lb bench/run_ledger_bench.sh
#
# Output goes to stdout; tee it somewhere to keep it. Lines starting with RESULT are JSON.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-bench}
DATA=${DATA_DIR:-/tmp/ledger_bench}

run() {
  printf '+ %s\n' "$*"
  "$@"
}

# Like run, without the command's own output.
run_quiet() {
  printf '+ %s\n' "$*"
  "$@" >/dev/null
}

run_quiet cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
run ninja -C "$BUILD" ledger_bench
BENCH="$BUILD/bench/ledger_bench"
echo "+ git -C $ROOT rev-parse HEAD: $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo '?')" \
  "($(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) files differ from it)"

# 1. The full set. It first waits (idle, at most 60 s) for the virtual disk to leave its
#    throttled regime, so that it starts from a known state; every scenario then prints an
#    fdatasync probe taken just before it. Order: per-record fdatasync peers, open loop
#    (Append and AppendAsync at 5,000/s), checkpoint stall, bandwidth peer, closed loop
#    (P x B), the nosync diagnostic, verify over 5M records.
echo
run "$BENCH" --dir "$DATA" --settle-seconds 60 --seconds 5 --producers 1,4,16 \
  --batches 1,256,4096 --rate 5000 --verify-records 5000000 --verify-reps 3

# 2. The open loop again, now that the closed loop has left the disk throttled: the same
#    target measured in the disk's other regime.
echo
run "$BENCH" --dir "$DATA" --scenarios open --seconds 5 --rate 5000

# 3. Diagnostic: the same with checkpoints pushed out of the window, to show how much of the
#    tail the periodic checkpoint (sign, write file, fsync file and directory, all on the
#    writer thread) costs. Not the shipped configuration.
echo
run "$BENCH" --dir "$DATA" --scenarios open --seconds 5 --rate 5000 \
  --checkpoint-interval-ms 3600000 --checkpoint-every-records 1000000000
