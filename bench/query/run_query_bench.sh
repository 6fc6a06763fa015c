#!/usr/bin/env bash
# The issue-4 query benchmark, in one run on one machine:
#   1. query_datagen writes N synthetic records (bench/query/record_shape.cc) to a tokenaudit data
#      directory through the Ledger API (Durability::kInterval, for generation speed), and the
#      same rows as TabSeparated files for ClickHouse and SQLite;
#   2. ClickHouse (Debian clickhouse-server 18.16, started here on loopback from a minimal config,
#      as bench/ingest/run_ingest_bench.sh does): MergeTree ORDER BY (user_id, timestamp, model),
#      loaded from the file, then OPTIMIZE FINAL (one part: its best case);
#   3. SQLite: the same table, loaded with the sqlite3 CLI's .import, index on
#      (user_id, timestamp, model);
#   4. `tokenaudit serve` on the data directory (durability sync, the default): its start-up
#      rebuild is timed, its memory read from /proc after the rebuild and after the queries;
#   5. query_bench runs the five queries on all three and checks the answers against SQLite's;
#   6. bytes on disk per record for each, a perf profile of tokenaudit's slowest query, and
#      (query_rss_breakdown, after the server stopped) what each in-memory structure costs.
# Every command is printed before it runs.
#
#   bench/query/run_query_bench.sh                  # 10M records
#   SCALE=50 bench/query/run_query_bench.sh         # 50M records (needs ~60 GB in DATA_PARENT)
#   RECORDS=1000000 RUNS=3 bench/query/run_query_bench.sh
#   REUSE=1 ...     keep and reuse generated data in $DATA_PARENT/query_bench.<records>
#   NO_BUILD=1 ...  use the binaries in BUILD_DIR;  PROFILE=0: no perf profile; BREAKDOWN=0: no
#                   memory breakdown; RESTART=0: no second start-up; COLD_START=0: keep the
#                   columns/ files of an earlier run (default: remove them, rebuild from the log);  PROFILE_QUERIES="q1 q5": profile these, not the slowest
#   MAX_LOAD=1.5 LOAD_WAIT=600: wait (at most LOAD_WAIT s) for a 1-minute load below MAX_LOAD
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-querybench}
SCALE=${SCALE:-10}
RECORDS=${RECORDS:-$((SCALE * 1000000))}
RUNS=${RUNS:-5}
SEED=${SEED:-4}
USER_RANK=${USER_RANK:-20}
PROFILE=${PROFILE:-1}
REUSE=${REUSE:-0}
KEEP=${KEEP:-$REUSE}
MAX_LOAD=${MAX_LOAD:-1.5}
LOAD_WAIT=${LOAD_WAIT:-600}
DATA_PARENT=${DATA_PARENT:-/tmp}

run() {
  printf '+ %s\n' "$*"
  "$@"
}
say() { printf '\n== %s\n' "$*"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- build -------------------------------------------------------------------------------------
if [[ "${NO_BUILD:-0}" != 1 ]]; then
  run cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  run ninja -C "$BUILD" tokenaudit query_datagen query_bench query_rss_breakdown
fi
TA="$BUILD/tools/tokenaudit/tokenaudit"
GEN="$BUILD/bench/query/query_datagen"
QB="$BUILD/bench/query/query_bench"
CH_BIN=$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)

# ---- scratch space -----------------------------------------------------------------------------
WORK="$DATA_PARENT/query_bench.$RECORDS"
TA_PID="" CH_PID=""
cleanup() {
  if [[ -n "$TA_PID" ]] && kill -0 "$TA_PID" 2>/dev/null; then
    kill -TERM "$TA_PID"; wait "$TA_PID" 2>/dev/null || true
  fi
  if [[ -n "$CH_PID" ]] && kill -0 "$CH_PID" 2>/dev/null; then
    kill -TERM "$CH_PID"; wait "$CH_PID" 2>/dev/null || true
  fi
  if [[ "$KEEP" == 1 ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
if [[ "$REUSE" != 1 ]]; then rm -rf "$WORK"; fi
mkdir -p "$WORK"

# About 620 B/record of log, 2 x ~250 B of TSV, ~300 B of SQLite, ~60 B of ClickHouse.
NEED_GB=$(awk -v n="$RECORDS" 'BEGIN { printf "%.0f", n * 1500 / 1e9 + 2 }')
AVAIL_GB=$(df -BG --output=avail "$DATA_PARENT" | tail -1 | tr -dc 0-9)
if [[ ! -f "$WORK/meta" ]] && ((AVAIL_GB < NEED_GB)); then
  echo "not enough space: $RECORDS records need ~${NEED_GB} GB in $DATA_PARENT, ${AVAIL_GB} GB free"
  exit 1
fi

# ---- machine -----------------------------------------------------------------------------------
say "machine"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "host:       $(hostname)"
echo "cpu:        $(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "memory:     $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), available $(awk '/MemAvailable/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "kernel:     $(uname -srm)"
echo "data dir:   $WORK on $(findmnt -n -T "$WORK" -o FSTYPE,SOURCE,TARGET,OPTIONS | head -1 | tr -s ' ')"
echo "disk:       $(df -h --output=size,used,avail "$DATA_PARENT" | tail -1 | tr -s ' ')"
echo "load:       $(load)$( [[ -r /proc/pressure/cpu ]] && echo "; cpu pressure: $(head -1 /proc/pressure/cpu)")"
echo "tokenaudit: $TA (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) files differ)"
git -C "$ROOT" status --porcelain 2>/dev/null | sed "s/^/            differs: /" || true
echo "clickhouse: $CH_BIN ($(dpkg-query -W -f='${Version}' clickhouse-server 2>/dev/null || echo '?'))"
echo "sqlite:     $(sqlite3 --version | cut -d' ' -f1-2)"
echo "records:    $RECORDS (seed $SEED), runs per query $RUNS"

# ---- 1. data -----------------------------------------------------------------------------------
TA_DATA="$WORK/tokenaudit-data"
if [[ "$REUSE" == 1 && -f "$WORK/meta" ]]; then
  say "reusing the data generated earlier in $WORK"
else
  say "generate $RECORDS records (ledger, ClickHouse TSV, SQLite TSV)"
  t0=$(now)
  run "$GEN" --records "$RECORDS" --seed "$SEED" --ledger-dir "$TA_DATA" \
    --ch-tsv "$WORK/ch.tsv" --sqlite-tsv "$WORK/sqlite.tsv" --meta "$WORK/meta.tmp"
  mv "$WORK/meta.tmp" "$WORK/meta"
  echo "generated in $(since "$t0") s; load $(load)"
fi
ls -l "$WORK"

# shellcheck source=../clickhouse_lib.sh
source "$ROOT/bench/clickhouse_lib.sh"

# ---- 2. ClickHouse -----------------------------------------------------------------------------
CH_DIR="$WORK/clickhouse"
CH_TABLE="CREATE TABLE IF NOT EXISTS usage_records (tenant String, user_id String, timestamp DateTime,
  model String, workflow String, task_type String, status String, node_type String, device String,
  duration_ms UInt32, tokens_milli UInt64, gflops_milli UInt64, cost_micros UInt64, width UInt32,
  height UInt32, batch UInt16, model_input_size UInt32, input_hash String, id String,
  source String, error_type String)
  ENGINE = MergeTree ORDER BY (user_id, timestamp, model)"

say "start ClickHouse on loopback"
start_clickhouse_server "$CH_DIR"
echo "$CH_TABLE"
chq "$CH_TABLE"
if [[ "$(chq 'SELECT count() FROM usage_records')" != "$RECORDS" ]]; then
  chq 'TRUNCATE TABLE usage_records' >/dev/null 2>&1 || true
  say "load ClickHouse"
  t0=$(now)
  # -T streams the file (chunked POST); --data-binary @file would hold it all in memory.
  run curl -sS --fail-with-body -X POST -H 'Transfer-Encoding: chunked' -T "$WORK/ch.tsv" \
    "${CH}?query=INSERT%20INTO%20usage_records%20FORMAT%20TabSeparated"
  echo "INSERT: $(since "$t0") s; active parts $(chq "SELECT count() FROM system.parts WHERE active AND table = 'usage_records'")"
  t0=$(now)
  run chq "OPTIMIZE TABLE usage_records FINAL"
  echo "OPTIMIZE FINAL: $(since "$t0") s; active parts $(chq "SELECT count() FROM system.parts WHERE active AND table = 'usage_records'"); load $(load)"
fi
echo "rows: $(chq 'SELECT count() FROM usage_records')"

# ---- 3. SQLite ---------------------------------------------------------------------------------
DB="$WORK/usage.sqlite"
if [[ ! -f "$DB" ]]; then
  say "load SQLite"
  t0=$(now)
  cat >"$WORK/load.sql" <<SQL
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE usage_records (tenant TEXT, user_id TEXT, timestamp INTEGER, model TEXT,
  workflow TEXT, task_type TEXT, status TEXT, node_type TEXT, device TEXT, duration_ms INTEGER,
  tokens_milli INTEGER, gflops_milli INTEGER, cost_micros INTEGER, width INTEGER, height INTEGER,
  batch INTEGER, model_input_size INTEGER, input_hash TEXT, id TEXT, source TEXT,
  error_type TEXT);
.mode tabs
.import $WORK/sqlite.tsv usage_records
CREATE INDEX usage_user_time_model ON usage_records (user_id, timestamp, model);
SQL
  printf '+ sqlite3 %s < %s\n' "$DB" "$WORK/load.sql"
  cat "$WORK/load.sql"
  sqlite3 "$DB" <"$WORK/load.sql" >/dev/null
  echo "SQLite load + index: $(since "$t0") s; load $(load)"
fi
echo "rows: $(sqlite3 "$DB" 'SELECT count(*) FROM usage_records')"

# ---- 4. tokenaudit serve -----------------------------------------------------------------------
if [[ ! -f "$WORK/pseudonym.key" ]]; then od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$WORK/pseudonym.key"; fi
export TOKENAUDIT_PSEUDONYM_KEY=$(cat "$WORK/pseudonym.key")
if [[ ! -f "$WORK/admin.key" ]]; then
  printf '+ %s\n' "$TA keys create --data-dir $TA_DATA --role admin --name query-bench"
  "$TA" keys create --data-dir "$TA_DATA" --role admin --name query-bench 2>/dev/null >"$WORK/admin.key"
fi
ADMIN_KEY=$(cat "$WORK/admin.key")

say "start tokenaudit serve (durability sync, the default) and time its start-up rebuild"
if [[ "${COLD_START:-1}" == 1 && -d "$TA_DATA/columns" ]]; then
  # Column files written by an earlier run: removed, so this start-up rebuilds from the log.
  run rm -rf "$TA_DATA/columns"
fi
echo "load before: $(load)"
printf '+ %s\n' "$TA serve --data-dir $TA_DATA --listen 127.0.0.1:0 &   (env TOKENAUDIT_PSEUDONYM_KEY=<64 hex>)"
t0=$(now)
"$TA" serve --data-dir "$TA_DATA" --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
TA_PID=$!
TA_ADDR=""
for _ in $(seq 36000); do
  TA_ADDR=$(sed -n 's/^tokenaudit listening on http:\/\///p' "$WORK/serve.out")
  [[ -n "$TA_ADDR" && "$(curl -s -o /dev/null -w '%{http_code}' "http://$TA_ADDR/readyz")" == 200 ]] && break
  kill -0 "$TA_PID" || { cat "$WORK/serve.err"; exit 1; }
  sleep 0.1
done
REBUILD_S=$(since "$t0")
TA_URL="http://$TA_ADDR"
echo "ready after $REBUILD_S s (start-up incl. ledger recovery and index rebuild); load $(load)"
grep -E 'ready|opening|indexing' "$WORK/serve.err" | sed -n '1p;$p'
mem() { grep -E '^(VmRSS|VmHWM|RssAnon|RssFile)' "/proc/$TA_PID/status" | tr -s ' \t' ' ' | paste -sd';'; }
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# The sealer compresses the chunks filled during the rebuild in the background: wait until the
# server is idle (no CPU for 2 s, at most 120 s) before measuring.
for _ in $(seq 60); do
  c0=$(cpu_ticks "$TA_PID"); sleep 2; c1=$(cpu_ticks "$TA_PID")
  ((c1 - c0 <= 2)) && break
done
echo "idle after $(since "$t0") s"
echo "tokenaudit memory after the rebuild: $(mem)"

# ---- 5. the queries ----------------------------------------------------------------------------
say "wait for a quiet machine (1-minute load < $MAX_LOAD, at most $LOAD_WAIT s)"
t0=$(now)
while awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v m="$MAX_LOAD" 'BEGIN { exit !(l >= m) }'; do
  if awk -v s="$(since "$t0")" -v w="$LOAD_WAIT" 'BEGIN { exit !(s >= w) }'; then
    echo "load still $(load) after $LOAD_WAIT s: running anyway (figures marked with their load)"
    break
  fi
  sleep 10
done
echo "load now $(load)$( [[ -r /proc/pressure/cpu ]] && echo "; cpu pressure: $(head -1 /proc/pressure/cpu)")"

say "queries: tokenaudit, ClickHouse, SQLite ($RUNS runs each: first, then warm median/min)"
printf '+ %s\n' "$QB --meta $WORK/meta --ta $TA_URL --ta-key <admin key> --ch $CH --sqlite $DB --runs $RUNS --user-rank $USER_RANK"
set +e
"$QB" --meta "$WORK/meta" --ta "$TA_URL" --ta-key "$ADMIN_KEY" --ch "$CH" --sqlite "$DB" \
  --runs "$RUNS" --user-rank "$USER_RANK" | tee "$WORK/query_bench.out"
QB_RC=${PIPESTATUS[0]}
set -e
echo "query_bench exit status $QB_RC"
echo "tokenaudit memory after the queries: $(mem)"
grep -E '^(VmRSS|VmHWM|RssAnon|RssFile)' "/proc/$TA_PID/status"
echo "ClickHouse memory: $(grep -E '^(VmRSS|VmHWM)' "/proc/$CH_PID/status" | tr -s ' \t' ' ' | paste -sd';')"
echo "tokenaudit /metrics (query engine, ledger):"
curl -s "$TA_URL/metrics" -H "Authorization: Bearer $ADMIN_KEY" |
  grep -E '^tokenaudit_(ledger_size|access_records_total|usage_|query_)' || true

# ---- 6. bytes on disk --------------------------------------------------------------------------
say "bytes on disk"
bpr() { awk -v b="$1" -v n="$RECORDS" 'BEGIN { printf "%.0f bytes = %.1f bytes/record", b, b / n }'; }
echo "tokenaudit data dir: $(bpr "$(du -sb "$TA_DATA" | cut -f1)") (everything)"
for d in "$TA_DATA"/*/; do echo "  $(basename "$d")/: $(bpr "$(du -sb "$d" | cut -f1)")"; done
[[ -d "$TA_DATA/columns" ]] ||
  echo "  (no columns/ directory: this build holds the query engine's column chunks in memory only)"
echo "ClickHouse system.parts (active): $(bpr "$(chq "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND table = 'usage_records'")"), uncompressed $(chq "SELECT sum(data_uncompressed_bytes) FROM system.parts WHERE active AND table = 'usage_records'") B"
echo "ClickHouse table directory: $(bpr "$(du -sb "$CH_DIR/data/data/default/usage_records" | cut -f1)")"
echo "ClickHouse per column (compressed bytes):"
chq "SELECT name, sum(data_compressed_bytes) FROM system.columns WHERE table = 'usage_records' GROUP BY name ORDER BY sum(data_compressed_bytes) DESC" | sed 's/^/  /'
echo "SQLite file: $(bpr "$(stat -c %s "$DB")")"
sqlite3 "$DB" "SELECT name, sum(pgsize) FROM dbstat GROUP BY name" | sed 's/^/  /'

# ---- profile -----------------------------------------------------------------------------------
if [[ "$PROFILE" == 1 ]] && command -v perf >/dev/null; then
  SLOW=$(grep '^RESULT ' "$WORK/query_bench.out" | grep '"system":"tokenaudit"' |
    sed 's/.*"query":"\([^"]*\)".*"warm_median_ms":\([0-9.]*\).*/\2 \1/' | sort -rn | head -1 | cut -d' ' -f2)
  for q in ${PROFILE_QUERIES:-$SLOW}; do
    say "profile: tokenaudit serve answering $q repeatedly (perf, cpu-clock, 250 Hz, DWARF call graphs)"
    printf '+ %s\n' "perf record -e cpu-clock -F 250 --call-graph dwarf,16384 -p $TA_PID -o $WORK/perf.$q.data -- sleep 20"
    perf record -e cpu-clock -F 250 --call-graph dwarf,16384 -p "$TA_PID" -o "$WORK/perf.$q.data" \
      -- sleep 20 >/dev/null 2>&1 &
    ppid=$!
    sleep 0.5
    run "$QB" --meta "$WORK/meta" --ta "$TA_URL" --ta-key "$ADMIN_KEY" --user-rank "$USER_RANK" --repeat "$q:18" || true
    wait "$ppid" || true
    set +o pipefail
    rep() { perf report -i "$WORK/perf.$q.data" --stdio "$@" 2>/dev/null | grep -v '^#' | grep '%' |
      sed 's/  */ /g' | cut -c1-200; }
    echo "-- self time, top symbols"
    rep --no-children --sort symbol -g none | head -25
    echo "-- inclusive time"
    rep --children --sort symbol -g none | grep -E 'tokenaudit::|ZSTD|std::' | head -30
    set -o pipefail
  done
fi

# ---- restart: start-up with the column files already written --------------------------------
if [[ "${RESTART:-1}" == 1 ]]; then
  say "restart tokenaudit serve (second start-up: what it loads instead of rebuilding)"
  kill -TERM "$TA_PID"; wait "$TA_PID" 2>/dev/null || true
  echo "load before: $(load)"
  printf '+ %s\n' "$TA serve --data-dir $TA_DATA --listen 127.0.0.1:0 &"
  t0=$(now)
  "$TA" serve --data-dir "$TA_DATA" --listen 127.0.0.1:0 >"$WORK/serve2.out" 2>"$WORK/serve2.err" &
  TA_PID=$!
  for _ in $(seq 36000); do
    TA_ADDR=$(sed -n 's/^tokenaudit listening on http:\/\///p' "$WORK/serve2.out")
    [[ -n "$TA_ADDR" && "$(curl -s -o /dev/null -w '%{http_code}' "http://$TA_ADDR/readyz")" == 200 ]] && break
    kill -0 "$TA_PID" || { cat "$WORK/serve2.err"; break; }
    sleep 0.1
  done
  echo "ready after $(since "$t0") s; load $(load)"
  grep -E 'ready|column|indexing' "$WORK/serve2.err" | sed -n '1,3p;$p' || true
  for _ in $(seq 60); do
    c0=$(cpu_ticks "$TA_PID"); sleep 2; c1=$(cpu_ticks "$TA_PID")
    ((c1 - c0 <= 2)) && break
  done
  echo "tokenaudit memory after the second start-up: $(mem)"
  "$QB" --meta "$WORK/meta" --ta "http://$TA_ADDR" --ta-key "$ADMIN_KEY" --ch "$CH" --sqlite "$DB" \
    --runs 3 --user-rank "$USER_RANK" --systems tokenaudit --queries q1,q4 | grep -E '^   tokenaudit ' || true
  echo "tokenaudit memory after two queries: $(mem)"
fi

# ---- memory breakdown --------------------------------------------------------------------------
if [[ "${BREAKDOWN:-1}" == 1 ]]; then
  say "memory breakdown: the server's in-memory state rebuilt step by step in one process"
  kill -TERM "$TA_PID"; wait "$TA_PID" 2>/dev/null || true
  TA_PID=""
  run "$BUILD/bench/query/query_rss_breakdown" --data-dir "$TA_DATA" || true
fi

say "done; load $(load)"
exit "$QB_RC"
