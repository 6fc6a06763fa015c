#!/usr/bin/env bash
# Where single-record p99 comes from: a fresh `tokenaudit serve` (no peer), BATCH_SECONDS of
# 1,000-record batches over 4 connections (so that the column store seals and merges as in the
# ingest benchmark), then RUNS open-loop runs of single-record POSTs at RATE/s over 16
# connections. Per run: the load generator's latency line, and how many of the log's fdatasyncs
# took over 10 ms and over 250 ms (tokenaudit_fsync_seconds histogram). Run under the bench lock:
#
#   flock /tmp/ta-bench.lock env BUILD_DIR=build-ingest RUNS=6 bench/ingest/singles_p99.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-ingestbench}
RUNS=${RUNS:-3}
RATE=${RATE:-5000}
RUN_SECONDS=${RUN_SECONDS:-10}
BATCH_SECONDS=${BATCH_SECONDS:-10}
TA="$BUILD/tools/tokenaudit/tokenaudit"
LG="$BUILD/bench/ingest/ingest_loadgen"

# shellcheck source=lone_server_lib.sh
source "$ROOT/bench/ingest/lone_server_lib.sh"
lone_server_start singles_p99
metric() {
  curl -s -H "Authorization: Bearer $ADMIN" "http://$ADDR/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}
fsyncs() {  # count, count within 10 ms, count within 250 ms
  echo "$(metric tokenaudit_fsync_seconds_count) $(metric 'tokenaudit_fsync_seconds_bucket{le="0.01"}')" \
    "$(metric 'tokenaudit_fsync_seconds_bucket{le="0.25"}')"
}

"$LG" --url "$URL" --auth "Bearer $KEY" --mode batch --connections 4 --batch 1000 \
  --seconds "$BATCH_SECONDS" --id-prefix batch --label batches | grep 'records acknowledged'
sync
for i in $(seq "$RUNS"); do
  sleep 2
  before=$(fsyncs)
  out=$("$LG" --url "$URL" --auth "Bearer $KEY" --mode open --rate "$RATE" --connections 16 \
    --seconds "$RUN_SECONDS" --id-prefix "singles$i" --label "singles$i")
  after=$(fsyncs)
  grep -E 'latency per request' <<<"$out" | sed "s/^ */run $i: /"
  awk -v a="$before" -v b="$after" 'BEGIN { split(a, x, " "); split(b, y, " "); n = y[1] - x[1];
    printf "run fdatasyncs %d: over 10 ms %d, over 250 ms %d\n", n, n - (y[2] - x[2]), n - (y[3] - x[3]) }'
done
