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

WORK=$(mktemp -d "${DATA_PARENT:-/tmp}/singles_p99.XXXXXX")
TA_PID=""
cleanup() {
  if [[ -n "$TA_PID" ]] && kill -0 "$TA_PID" 2>/dev/null; then
    kill -TERM "$TA_PID"; wait "$TA_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); load: $(cut -d' ' -f1-3 /proc/loadavg); tokenaudit: $TA"
export TOKENAUDIT_PSEUDONYM_KEY=${TOKENAUDIT_PSEUDONYM_KEY:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}
DATA="$WORK/data"
KEY=$("$TA" keys create --data-dir "$DATA" --role ingest --name singles 2>/dev/null)
ADMIN=$("$TA" keys create --data-dir "$DATA" --role admin --name singles-admin 2>/dev/null)
"$TA" serve --data-dir "$DATA" --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
TA_PID=$!
ADDR=""
for _ in $(seq 200); do
  ADDR=$(sed -n 's/^tokenaudit listening on http:\/\///p' "$WORK/serve.out")
  [[ -n "$ADDR" && "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/readyz")" == 200 ]] && break
  sleep 0.1
done
URL="http://$ADDR/v1/events"
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
