#!/usr/bin/env bash
# Server CPU per durable record of `tokenaudit serve` (no peer): the metric to compare changes by
# on a shared machine. Starts a fresh server (durability sync), warms it up, then runs ROUNDS
# closed-loop NDJSON batch runs and prints, per run, records/s, the server's CPU seconds, µs of
# server CPU per record and records per server CPU-second (from /proc/<pid>/stat). PROFILE=1 adds
# a perf profile (cpu-clock, DWARF call graphs) of one more run. Wall-clock figures against
# ClickHouse come from run_ingest_bench.sh; run both under `flock /tmp/ta-bench.lock`.
#
#   BUILD_DIR=build-ingest bench/ingest/cpu_per_record.sh
#   ROUNDS=3 RUN_SECONDS=8 CONNECTIONS=4 PROFILE=1 bench/ingest/cpu_per_record.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-ingestbench}
RUN_SECONDS=${RUN_SECONDS:-8}
CONNECTIONS=${CONNECTIONS:-4}
BATCH=${BATCH:-1000}
ROUNDS=${ROUNDS:-3}
PROFILE=${PROFILE:-0}
TA="$BUILD/tools/tokenaudit/tokenaudit"
LG="$BUILD/bench/ingest/ingest_loadgen"

# shellcheck source=lone_server_lib.sh
source "$ROOT/bench/ingest/lone_server_lib.sh"
lone_server_start ingest_cpu
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# Minor page faults of the process (first touches of memory: a cost the CPU time includes).
min_faults() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $8}'; }
# CPU ticks of the ingest path's threads: the HTTP I/O threads and the log writer (named by the
# server); the rest (query-engine background threads, checkpoints) is reported apart.
ingest_ticks() {
  local t sum=0
  for t in /proc/"$1"/task/*; do
    case "$(cat "$t/comm")" in
      ta-http-io | ta-log-writer) sum=$((sum + $(sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}'))) ;;
    esac
  done
  echo "$sum"
}
CLK_TCK=$(getconf CLK_TCK)

"$LG" --url "$URL" --auth "Bearer $KEY" --mode batch --connections 2 --batch "$BATCH" \
  --seconds 2 --id-prefix warm >/dev/null

run_once() {  # run_once LABEL PREFIX
  local c0 c1 i0 i1 f0 f1 out res recs secs rps p99 errs
  c0=$(cpu_ticks "$TA_PID")
  f0=$(min_faults "$TA_PID")
  i0=$(ingest_ticks "$TA_PID")
  out=$("$LG" --url "$URL" --auth "Bearer $KEY" --mode batch --connections "$CONNECTIONS" \
    --batch "$BATCH" --seconds "$RUN_SECONDS" --id-prefix "$2" --label "$1")
  c1=$(cpu_ticks "$TA_PID")
  f1=$(min_faults "$TA_PID")
  i1=$(ingest_ticks "$TA_PID")
  res=${out##*RESULT }
  recs=$(sed -n 's/.*"records":\([0-9]*\).*/\1/p' <<<"$res")
  secs=$(sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' <<<"$res")
  rps=$(sed -n 's/.*"records_per_s":\([0-9]*\).*/\1/p' <<<"$res")
  p99=$(sed -n 's/.*"p99_ms":\([0-9.]*\).*/\1/p' <<<"$res")
  errs=$(sed -n 's/.*"errors":\([0-9]*\).*/\1/p' <<<"$res")
  awk -v l="$1" -v r="$recs" -v s="$secs" -v rps="$rps" -v p="$p99" -v e="$errs" \
    -v a="$c0" -v b="$c1" -v i0="$i0" -v i1="$i1" -v f="$((f1 - f0))" -v t="$CLK_TCK" 'BEGIN { cpu = (b - a) / t;
      ing = (i1 - i0) / t;
      printf "CPU %-8s %9d records in %5.2f s = %7d rec/s, p99 %6.1f ms, errors %s; server CPU %5.2f s = %.2f us/record = %.0f records per CPU-second; HTTP+writer threads %.2f us/record, other threads %.2f us/record; %.3f minor faults/record\n",
        l, r, s, rps, p, e, cpu, cpu ? cpu * 1e6 / r : 0, cpu ? r / cpu : 0, ing * 1e6 / r, (cpu - ing) * 1e6 / r, f / r }'
}

for i in $(seq "$ROUNDS"); do run_once "run$i" "r$i"; done

if [[ "$PROFILE" == 1 ]]; then
  perf record -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$TA_PID" -o "$WORK/perf.data" \
    -- sleep "$((RUN_SECONDS + 1))" >/dev/null 2>&1 &
  ppid=$!
  sleep 0.3
  run_once "profiled" "prof"
  wait "$ppid" || true
  set +o pipefail
  report() { perf report -i "$WORK/perf.data" --stdio "$@" 2>/dev/null | grep -v '^#' |
    grep '%' | sed 's/  */ /g' | cut -c1-180; }
  echo "-- self time, top symbols"
  report --no-children --sort symbol -g none | head -45
  echo "-- inclusive, top symbols"
  report --children --sort symbol -g none | grep tokenaudit | head -45
  [[ -n "${PERF_OUT:-}" ]] && cp "$WORK/perf.data" "$PERF_OUT"
  set -o pipefail
fi
