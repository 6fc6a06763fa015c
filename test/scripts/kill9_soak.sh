#!/usr/bin/env bash
# kill9_soak.sh: the long kill -9 durability run. Kills a real ledger_appender (4 threads) at
# 1,000 random points and checks after each kill that no acknowledged record was lost.
#
#   test/scripts/kill9_soak.sh [-n ROUNDS] [-s SEED] [BUILD_DIR]
#
# BUILD_DIR (default ./build) must already hold the built kill9_test and ledger_appender
# (cmake --build BUILD_DIR --target kill9_test); this script builds nothing. It runs kill9_test
# with KILL9_ROUNDS / KILL9_SEED, prints progress every 50 rounds and ends with
#   rounds=<n> acked=<records> lost=0
# Exit status: 0 if every round passed, 1 on any loss or other failure, 2 on bad usage.
set -euo pipefail

rounds=1000
seed=""
usage() {
  echo "usage: $0 [-n ROUNDS] [-s SEED] [BUILD_DIR]" >&2
  exit 2
}
while getopts "n:s:h" opt; do
  case "$opt" in
    n) rounds="$OPTARG" ;;
    s) seed="$OPTARG" ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -le 1 ]] || usage
build_dir="${1:-./build}"
[[ "$rounds" =~ ^[0-9]+$ && "$rounds" -gt 0 ]] || { echo "-n must be a positive number" >&2; exit 2; }
[[ -z "$seed" || "$seed" =~ ^[0-9]+$ ]] || { echo "-s must be a number" >&2; exit 2; }

test_bin="$build_dir/test/kill9/kill9_test"
if [[ ! -x "$test_bin" ]]; then
  test_bin="$(find "$build_dir" -type f -name kill9_test -perm -u+x 2>/dev/null | head -n 1 || true)"
fi
if [[ -z "$test_bin" || ! -x "$test_bin" ]]; then
  echo "kill9_test not found under $build_dir; build it first:" >&2
  echo "  cmake --build $build_dir --target kill9_test ledger_appender" >&2
  exit 2
fi
# Use the ledger_appender beside the test binary rather than the path compiled into it, so a
# copied or relocated build dir still works.
appender="$(dirname "$test_bin")/ledger_appender"
[[ -x "$appender" ]] && export KILL9_APPENDER="$appender"

export KILL9_ROUNDS="$rounds"
export KILL9_PROGRESS_EVERY=50
[[ -n "$seed" ]] && export KILL9_SEED="$seed"

echo "kill9_soak: $test_bin, $rounds rounds${seed:+, seed $seed}"
log="$(mktemp "${TMPDIR:-/tmp}/kill9_soak.XXXXXX.log")"
start=$(date +%s)
set +e
"$test_bin" --gtest_brief=1 2>&1 | tee "$log" | grep --line-buffered -E '^kill9: (seed|progress|data kept)|LOST|Failure|problems'
status=${PIPESTATUS[0]}
set -e
elapsed=$(( $(date +%s) - start ))

summary="$(grep -E '^kill9: summary ' "$log" | tail -n 1 || true)"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$summary"; }
if [[ -z "$summary" ]]; then
  echo "kill9_soak: no summary line; kill9_test exited with $status. Full output: $log" >&2
  exit 1
fi
echo "$summary"
echo "rounds=$(field rounds) acked=$(field acked) lost=$(field lost) seed=$(field seed) elapsed_s=$elapsed"
if [[ $status -ne 0 || "$(field lost)" != "0" || "$(field result)" != "ok" ]]; then
  echo "kill9_soak: FAILED (kill9_test exit $status). Full output: $log" >&2
  exit 1
fi
rm -f "$log"
