#!/usr/bin/env bash
# CPU of each server thread for a fixed amount of work: a fresh `tokenaudit serve` (no peer)
# takes RECORDS records in closed-loop NDJSON batches, then the script waits until the column
# store's merges stop (its /metrics counters stay unchanged for POLL_SECONDS) and prints the
# merge counters and each named thread's CPU seconds (from /proc/<pid>/task/*/stat). Unlike the
# timed runs of cpu_per_record.sh, every build does the same seals and merges (the same rows
# merged), so the seal and merge threads can be compared directly. Run builds alternately
# (A B A ...) under `flock /tmp/ta-bench.lock`.
#
#   BUILD_DIR=build-ingest RECORDS=5000000 bench/ingest/thread_cpu_fixed_load.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-ingestbench}
RECORDS=${RECORDS:-5000000}
CONNECTIONS=${CONNECTIONS:-4}
BATCH=${BATCH:-1000}
POLL_SECONDS=${POLL_SECONDS:-2}
TA="$BUILD/tools/tokenaudit/tokenaudit"
LG="$BUILD/bench/ingest/ingest_loadgen"

# shellcheck source=lone_server_lib.sh
source "$ROOT/bench/ingest/lone_server_lib.sh"
lone_server_start thread_cpu

out=$("$LG" --url "$URL" --auth "Bearer $KEY" --mode batch --connections "$CONNECTIONS" \
  --batch "$BATCH" --records "$RECORDS" --seconds 3600 --id-prefix fixed --label fixed)
echo "load: $(grep -o '"records":[0-9]*,.*"records_per_s":[0-9]*' <<<"${out##*RESULT }")"

merge_counters() {
  curl -s -H "Authorization: Bearer $ADMIN" "http://$ADDR/metrics" |
    grep -E '^tokenaudit_column_(merges_total|merged_rows_total)' | tr '\n' ' '
}
prev=""
for _ in $(seq 300); do
  now=$(merge_counters)
  [[ "$now" == "$prev" ]] && break
  prev=$now
  sleep "$POLL_SECONDS"
done
echo "merges: $now"

CLK_TCK=$(getconf CLK_TCK)
total=0
for t in /proc/"$TA_PID"/task/*; do
  ticks=$(sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}')
  total=$((total + ticks))
  case "$(cat "$t/comm")" in
    ta-*) awk -v n="$(cat "$t/comm")" -v c="$ticks" -v k="$CLK_TCK" \
      'BEGIN { printf "thread %-15s %7.2f s\n", n, c / k }' ;;
  esac
done
awk -v c="$total" -v k="$CLK_TCK" -v r="$RECORDS" \
  'BEGIN { printf "all threads %.2f s = %.2f us/record\n", c / k, c / k * 1e6 / r }'
