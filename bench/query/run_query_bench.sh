#!/usr/bin/env bash
# The issue-4 query benchmark on one machine, one engine at a time (phases):
#   gen     query_datagen writes N synthetic records (bench/query/record_shape.cc) to a tokenaudit
#           data directory through the Ledger API (Durability::kInterval, for generation speed),
#           and `meta` (time range, users by rank, the records' count and column sums);
#   ta      `tokenaudit serve` on that directory (durability sync, the default): its start-up
#           rebuild timed, its memory read from /proc, the five queries, bytes on disk, a perf
#           profile of the slowest query, a second start-up, the memory breakdown;
#   ch      ClickHouse (Debian clickhouse-server 18.16, started here on loopback from a minimal
#           config, as bench/ingest/run_ingest_bench.sh does): MergeTree ORDER BY (user_id,
#           timestamp, model), loaded by streaming the generator's rows into an HTTP INSERT (no
#           file on disk), OPTIMIZE FINAL (one part: its best case), the queries, bytes on disk;
#   sqlite  the same table in SQLite, the rows streamed into the sqlite3 CLI's .import, index on
#           (user_id, timestamp, model), the queries, bytes on disk;
#   check   every system's answers against SQLite's (the phases saved them in the work dir), and
#           each system's Q1 totals against the generator's sums.
# The generator is deterministic (record i is a function of seed, i and N), so the peers get the
# ledger's records without TSV files on disk; each peer phase also compares its table's count and
# column sums with `meta`. Every command is printed before it runs.
#
#   bench/query/run_query_bench.sh                  # 10M records, every phase, data removed at exit
#   RECORDS=1000000 RUNS=3 bench/query/run_query_bench.sh
#   REUSE=1 ...          keep $DATA_PARENT/query_bench.<records> and reuse it: a phase whose outputs
#                        exist (gen: meta + the data dir; ta/ch/sqlite: answers.<phase>) is skipped
#   PHASES="gen ta"      run only these phases (default: gen ta ch sqlite check), in this order
#   FORCE="ch"           re-run these phases even when REUSE=1 finds their outputs
#   DROP="ta ch sqlite"  delete each listed system's data once its phase is done (answers, timings
#                        and logs stay): 50M fits in ~45 GB at a time instead of ~60
#   SQLITE_RUNS=2        runs per query for SQLite (default RUNS; ~5-125 s per query at 50M)
#   SCALE=50 REUSE=1 DROP="ta ch sqlite" SQLITE_RUNS=2 bench/query/run_query_bench.sh   # 50M
#   NO_BUILD=1 ...  use the binaries in BUILD_DIR;  PROFILE=0: no perf profile; BREAKDOWN=0: no
#                   memory breakdown; RESTART=0: no second start-up; COLD_START=0: keep the
#                   columns/ files of an earlier run (default: remove them, rebuild from the log);
#                   PROFILE_QUERIES="q1 q5": profile these, not the slowest
#   MAX_LOAD=1.5 LOAD_WAIT=600: before each phase's queries, wait (at most LOAD_WAIT s) for a
#                   1-minute load below MAX_LOAD
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-querybench}
SCALE=${SCALE:-10}
RECORDS=${RECORDS:-$((SCALE * 1000000))}
RUNS=${RUNS:-5}
SQLITE_RUNS=${SQLITE_RUNS:-$RUNS}
SEED=${SEED:-4}
USER_RANK=${USER_RANK:-20}
PROFILE=${PROFILE:-1}
REUSE=${REUSE:-0}
KEEP=${KEEP:-$REUSE}
MAX_LOAD=${MAX_LOAD:-1.5}
LOAD_WAIT=${LOAD_WAIT:-600}
DATA_PARENT=${DATA_PARENT:-/tmp}
PHASES=${PHASES:-gen ta ch sqlite check}
FORCE=${FORCE:-}
DROP=${DROP:-}
for p in $PHASES $FORCE; do
  case "$p" in gen | ta | ch | sqlite | check) ;; *) echo "unknown phase '$p'"; exit 2 ;; esac
done
for p in $DROP; do
  case "$p" in ta | ch | sqlite) ;; *) echo "DROP takes ta, ch, sqlite, not '$p'"; exit 2 ;; esac
done

run() {
  printf '+ %s\n' "$*"
  "$@"
}
say() { printf '\n== %s\n' "$*"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
listed() { [[ " $2 " == *" $1 "* ]]; }  # listed WORD "LIST"
gb() { awk -v b="$1" 'BEGIN { printf "%.2f GB", b / 1e9 }'; }

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
TA_DATA="$WORK/tokenaudit-data"
CH_DIR="$WORK/clickhouse"
DB="$WORK/usage.sqlite"
TA_PID="" CH_PID="" SAMPLER_PID=""
stop_ta() {
  if [[ -n "$TA_PID" ]] && kill -0 "$TA_PID" 2>/dev/null; then
    kill -TERM "$TA_PID"; wait "$TA_PID" 2>/dev/null || true
  fi
  TA_PID=""
}
stop_ch() {
  if [[ -n "$CH_PID" ]] && kill -0 "$CH_PID" 2>/dev/null; then
    kill -TERM "$CH_PID"; wait "$CH_PID" 2>/dev/null || true
  fi
  CH_PID=""
}
cleanup() {
  stop_ta
  stop_ch
  if [[ -n "$SAMPLER_PID" ]]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
  if [[ "$KEEP" == 1 ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
if [[ "$REUSE" != 1 ]]; then rm -rf "$WORK"; fi
mkdir -p "$WORK"

# Phase outputs: a phase that has them is skipped with REUSE=1 unless FORCEd. The tokenaudit
# data (DROPped after the ta phase, say) is only needed again when the ta phase runs again.
phase_done() {
  case "$1" in
    gen) [[ -f "$WORK/meta" ]] && { [[ -d "$TA_DATA" ]] || ! will_run ta; } ;;
    ta | ch | sqlite) [[ -f "$WORK/answers.$1" ]] ;;
    *) return 1 ;;
  esac
}
will_run() { listed "$1" "$PHASES" && { [[ "$REUSE" != 1 ]] || listed "$1" "$FORCE" || ! phase_done "$1"; }; }
size_of() { { du -sb "$@" 2>/dev/null || true; } | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

# ---- disk --------------------------------------------------------------------------------------
# Bytes per record, measured at 10M (peaks at 1M): the log 754 (+ 34 of columns/ written by the
# ta phase, and perf data); ClickHouse 108 when merged into one part, ~2x while the parts
# OPTIMIZE FINAL merged wait for their removal (old_parts_lifetime, 8 min) and merges run;
# SQLite 344 (table + index), plus CREATE INDEX's sort.
# The plan's peak: what each phase adds at its worst on top of what the phases before it left
# (a DROPped system's data, pre-existing included, is freed after its phase).
GEN_B=760 TA_B=40 CH_PEAK_B=300 CH_B=110 SQ_PEAK_B=430 SQ_B=345
declare -A PEAK_B=([gen]=$GEN_B [ta]=$TA_B [ch]=$CH_PEAK_B [sqlite]=$SQ_PEAK_B [check]=0)
declare -A FINAL_B=([gen]=$GEN_B [ta]=$TA_B [ch]=$CH_B [sqlite]=$SQ_B [check]=0)
held=0 peak=0
declare -A NEW=([ta]=0 [ch]=0 [sqlite]=0)
declare -A DIR_OF=([ta]="$TA_DATA" [ch]="$CH_DIR" [sqlite]="$DB")
for p in $PHASES; do
  sys=${p/gen/ta}
  if will_run "$p"; then
    need=$((RECORDS * PEAK_B[$p])) add=$((RECORDS * FINAL_B[$p]))
    case "$p" in  # data a phase reuses costs nothing more
      ta) [[ -d "$TA_DATA/columns" && "${COLD_START:-1}" != 1 ]] && need=0 add=0 ;;
      ch) [[ -d "$CH_DIR" ]] && need=0 add=0 ;;
      sqlite) [[ -f "$DB" ]] && need=0 add=0 ;;
    esac
    ((held + need > peak)) && peak=$((held + need))
    held=$((held + add))
    [[ "$p" == check ]] || NEW[$sys]=$((NEW[$sys] + add))
    if listed "$p" "$DROP"; then
      held=$((held - $(size_of "${DIR_OF[$sys]}") - NEW[$sys]))
      NEW[$sys]=0
    fi
  fi
done
NEED_B=$((peak + 2000000000))
AVAIL_B=$(df -B1 --output=avail "$DATA_PARENT" | tail -1 | tr -dc 0-9)
echo "disk plan: phases '$PHASES', DROP '$DROP': peak ~$(gb "$peak") more than now (+2 GB margin), $(gb "$AVAIL_B") free in $DATA_PARENT"
if ((AVAIL_B < NEED_B)); then
  echo "not enough space: this plan needs ~$(gb "$NEED_B") free in $DATA_PARENT (DROP=\"ta ch sqlite\" deletes each system's data after its phase)"
  exit 1
fi

# Disk use sampled every 5 s: the work dir (du) and the file system's free space (df; SQLite's
# sort files are unlinked, so only df sees them). phase_disk prints the extremes since the last call.
SAMPLES="$WORK/disk.samples"
: >"$SAMPLES"
(while :; do echo "$(size_of "$WORK") $(df -B1 --output=avail "$DATA_PARENT" | tail -1 | tr -dc 0-9)"; sleep 5; done >>"$SAMPLES") &
SAMPLER_PID=$!
phase_disk() {
  local line
  line=$(awk -v w="$(size_of "$WORK")" -v a="$(df -B1 --output=avail "$DATA_PARENT" | tail -1 | tr -dc 0-9)" '
    BEGIN { mw = w; ma = a }
    { if ($1 > mw) mw = $1; if ($2 < ma) ma = $2 }
    END { printf "%.2f GB now, peak %.2f GB (sampled every 5 s); free %.2f GB now, lowest %.2f GB", w / 1e9, mw / 1e9, a / 1e9, ma / 1e9 }' "$SAMPLES")
  : >"$SAMPLES"
  echo "disk, $1: work dir $line"
}

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
echo "records:    $RECORDS (seed $SEED), runs per query $RUNS (SQLite $SQLITE_RUNS)"
echo "phases:     $PHASES (REUSE=$REUSE FORCE='$FORCE' DROP='$DROP')"
phase_disk "start"

if [[ -f "$WORK/meta" ]] && ! { grep -qx "records=$RECORDS" "$WORK/meta" && grep -qx "seed=$SEED" "$WORK/meta"; }; then
  echo "$WORK/meta was generated with other records/seed than $RECORDS/$SEED"; exit 1
fi

wait_quiet() {
  say "wait for a quiet machine (1-minute load < $MAX_LOAD, at most $LOAD_WAIT s)"
  local t0
  t0=$(now)
  while awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v m="$MAX_LOAD" 'BEGIN { exit !(l >= m) }'; do
    if awk -v s="$(since "$t0")" -v w="$LOAD_WAIT" 'BEGIN { exit !(s >= w) }'; then
      echo "load still $(load) after $LOAD_WAIT s: running anyway (figures marked with their load)"
      break
    fi
    sleep 10
  done
  echo "load now $(load)$( [[ -r /proc/pressure/cpu ]] && echo "; cpu pressure: $(head -1 /proc/pressure/cpu)")"
}
bpr() { awk -v b="$1" -v n="$RECORDS" 'BEGIN { printf "%.0f bytes = %.1f bytes/record", b, b / n }'; }

# rows_check NAME "count<TAB>sum(tokens_milli)<TAB>...": the loaded table against the generator.
rows_check() {
  local want
  if ! grep -q '^sum_tokens_milli=' "$WORK/meta"; then
    echo "rows check, $1: meta has no sums (an older query_datagen): got $2"; return 0
  fi
  want=$(awk -F= '{ v[$1] = $2 } END { printf "%s\t%s\t%s\t%s\t%s\t%s", v["records"], v["sum_tokens_milli"],
    v["sum_gflops_milli"], v["sum_cost_micros"], v["sum_duration_ms"], v["sum_pixels"] }' "$WORK/meta")
  if [[ "$2" == "$want" ]]; then
    echo "rows check, $1: count, sum(tokens_milli), sum(gflops_milli), sum(cost_micros), sum(duration_ms), sum(width*height) = $(tr '\t' ' ' <<<"$2"): MATCH the generator's (meta)"
  else
    echo "rows check, $1: MISMATCH: table $(tr '\t' ' ' <<<"$2"), generator $(tr '\t' ' ' <<<"$want")"
    exit 1
  fi
}
SUMS_SQL="sum(tokens_milli), sum(gflops_milli), sum(cost_micros), sum(duration_ms), sum(width * height) FROM usage_records"
RC=0

# ---- gen: the tokenaudit data directory ---------------------------------------------------------
phase_gen() {
  say "phase gen: $RECORDS records into a tokenaudit data directory (not timed as a result)"
  rm -rf "$TA_DATA" "$WORK/meta" "$WORK/admin.key"
  local t0
  t0=$(now)
  run "$GEN" --records "$RECORDS" --seed "$SEED" --ledger-dir "$TA_DATA" --meta "$WORK/meta.tmp"
  mv "$WORK/meta.tmp" "$WORK/meta"
  echo "generated in $(since "$t0") s; load $(load)"
}

# ---- ClickHouse --------------------------------------------------------------------------------
CH_TABLE="CREATE TABLE IF NOT EXISTS usage_records (tenant String, user_id String, timestamp DateTime,
  model String, workflow String, task_type String, status String, node_type String, device String,
  duration_ms UInt32, tokens_milli UInt64, gflops_milli UInt64, cost_micros UInt64, width UInt32,
  height UInt32, batch UInt16, model_input_size UInt32, input_hash String, id String,
  source String, error_type String)
  ENGINE = MergeTree ORDER BY (user_id, timestamp, model)"

phase_ch() {
  say "phase ch: start ClickHouse on loopback"
  start_clickhouse_server "$CH_DIR"
  echo "$CH_TABLE"
  chq "$CH_TABLE"
  if [[ "$(chq 'SELECT count() FROM usage_records')" != "$RECORDS" ]]; then
    chq 'TRUNCATE TABLE usage_records' >/dev/null 2>&1 || true
    say "load ClickHouse: the generator's rows streamed into one INSERT (time includes generating them)"
    local t0
    t0=$(now)
    # curl -T - streams standard input (chunked POST); nothing is written to disk but the table.
    printf '+ %s\n' "$GEN --records $RECORDS --seed $SEED --ch-tsv - | curl -sS --fail-with-body -X POST -H 'Transfer-Encoding: chunked' -T - '${CH}?query=INSERT%20INTO%20usage_records%20FORMAT%20TabSeparated'"
    "$GEN" --records "$RECORDS" --seed "$SEED" --ch-tsv - |
      curl -sS --fail-with-body -X POST -H 'Transfer-Encoding: chunked' -T - \
        "${CH}?query=INSERT%20INTO%20usage_records%20FORMAT%20TabSeparated"
    echo "generate + INSERT: $(since "$t0") s; active parts $(chq "SELECT count() FROM system.parts WHERE active AND table = 'usage_records'")"
    phase_disk "ch, after INSERT"
    t0=$(now)
    run chq "OPTIMIZE TABLE usage_records FINAL"
    echo "OPTIMIZE FINAL: $(since "$t0") s; active parts $(chq "SELECT count() FROM system.parts WHERE active AND table = 'usage_records'"); load $(load)"
  fi
  rows_check ClickHouse "$(chq "SELECT count(), $SUMS_SQL")"
  wait_quiet
  say "queries: ClickHouse ($RUNS runs each: first, then warm median/min)"
  run "$QB" --meta "$WORK/meta" --ch "$CH" --runs "$RUNS" --user-rank "$USER_RANK" \
    --systems clickhouse,clickhouse_1thread,clickhouse_exact --answers "$WORK/answers.ch.tmp" |
    tee "$WORK/query_bench.ch.out"
  echo "ClickHouse memory: $(grep -E '^(VmRSS|VmHWM)' "/proc/$CH_PID/status" | tr -s ' \t' ' ' | paste -sd';')"
  say "bytes on disk: ClickHouse"
  echo "ClickHouse system.parts (active): $(bpr "$(chq "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND table = 'usage_records'")"), uncompressed $(chq "SELECT sum(data_uncompressed_bytes) FROM system.parts WHERE active AND table = 'usage_records'") B"
  echo "ClickHouse table directory: $(bpr "$(du -sb "$CH_DIR/data/data/default/usage_records" | cut -f1)")"
  echo "ClickHouse per column (compressed bytes):"
  chq "SELECT name, sum(data_compressed_bytes) FROM system.columns WHERE table = 'usage_records' GROUP BY name ORDER BY sum(data_compressed_bytes) DESC" | sed 's/^/  /'
  stop_ch
  mv "$WORK/answers.ch.tmp" "$WORK/answers.ch"
}

# ---- SQLite ------------------------------------------------------------------------------------
phase_sqlite() {
  if [[ ! -f "$DB" ]]; then
    say "phase sqlite: load SQLite, the generator's rows streamed into .import (time includes generating them)"
    local t0
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
.import /dev/stdin usage_records
CREATE INDEX usage_user_time_model ON usage_records (user_id, timestamp, model);
SQL
    rm -f "$DB.tmp"
    printf '+ %s\n' "$GEN --records $RECORDS --seed $SEED --sqlite-tsv - | SQLITE_TMPDIR=$WORK sqlite3 -bail $DB.tmp '.read $WORK/load.sql'"
    cat "$WORK/load.sql"
    "$GEN" --records "$RECORDS" --seed "$SEED" --sqlite-tsv - |
      SQLITE_TMPDIR="$WORK" sqlite3 -bail "$DB.tmp" ".read $WORK/load.sql" >/dev/null
    mv "$DB.tmp" "$DB"
    echo "generate + SQLite load + index: $(since "$t0") s; load $(load)"
  else
    say "phase sqlite: reusing $DB"
  fi
  rows_check SQLite "$(sqlite3 -separator $'\t' "$DB" "SELECT count(*), $SUMS_SQL")"
  wait_quiet
  say "queries: SQLite ($SQLITE_RUNS runs each: first, then warm median/min)"
  run "$QB" --meta "$WORK/meta" --sqlite "$DB" --runs "$SQLITE_RUNS" --user-rank "$USER_RANK" \
    --systems sqlite --answers "$WORK/answers.sqlite.tmp" | tee "$WORK/query_bench.sqlite.out"
  say "bytes on disk: SQLite"
  echo "SQLite file: $(bpr "$(stat -c %s "$DB")")"
  sqlite3 "$DB" "SELECT name, sum(pgsize) FROM dbstat GROUP BY name" | sed 's/^/  /'
  mv "$WORK/answers.sqlite.tmp" "$WORK/answers.sqlite"
}

# ---- tokenaudit serve --------------------------------------------------------------------------
mem() { grep -E '^(VmRSS|VmHWM|RssAnon|RssFile)' "/proc/$TA_PID/status" | tr -s ' \t' ' ' | paste -sd';'; }
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# The sealer compresses the chunks filled during the rebuild in the background: wait until the
# server is idle (no CPU for 2 s, at most 120 s) before measuring.
wait_idle() {
  for _ in $(seq 60); do
    c0=$(cpu_ticks "$TA_PID"); sleep 2; c1=$(cpu_ticks "$TA_PID")
    ((c1 - c0 <= 2)) && break
  done
}
# start_ta OUT_PREFIX: serve on a free port; sets TA_PID, TA_URL.
start_ta() {
  printf '+ %s\n' "$TA serve --data-dir $TA_DATA --listen 127.0.0.1:0 &   (env TOKENAUDIT_PSEUDONYM_KEY=<64 hex>)"
  : >"$WORK/$1.out"  # exists before the wait loop reads it (see bench/ingest/lone_server_lib.sh)
  "$TA" serve --data-dir "$TA_DATA" --listen 127.0.0.1:0 >"$WORK/$1.out" 2>"$WORK/$1.err" &
  TA_PID=$!
  local addr=""
  for _ in $(seq 36000); do
    addr=$(sed -n 's/^tokenaudit listening on http:\/\///p' "$WORK/$1.out")
    [[ -n "$addr" && "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/readyz")" == 200 ]] && break
    kill -0 "$TA_PID" || { cat "$WORK/$1.err"; exit 1; }
    sleep 0.1
  done
  TA_URL="http://$addr"
}

phase_ta() {
  [[ -f "$WORK/meta" && -d "$TA_DATA" ]] || { echo "phase ta: no data in $TA_DATA (run the gen phase)"; exit 1; }
  if [[ ! -f "$WORK/pseudonym.key" ]]; then od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$WORK/pseudonym.key"; fi
  TOKENAUDIT_PSEUDONYM_KEY=$(cat "$WORK/pseudonym.key")
  export TOKENAUDIT_PSEUDONYM_KEY
  if [[ ! -f "$WORK/admin.key" ]]; then
    printf '+ %s\n' "$TA keys create --data-dir $TA_DATA --role admin --name query-bench"
    "$TA" keys create --data-dir "$TA_DATA" --role admin --name query-bench 2>/dev/null >"$WORK/admin.key"
  fi
  ADMIN_KEY=$(cat "$WORK/admin.key")

  say "phase ta: start tokenaudit serve (durability sync, the default) and time its start-up rebuild"
  if [[ "${COLD_START:-1}" == 1 && -d "$TA_DATA/columns" ]]; then
    # Column files written by an earlier run: removed, so this start-up rebuilds from the log.
    run rm -rf "$TA_DATA/columns"
  fi
  echo "load before: $(load)"
  local t0
  t0=$(now)
  start_ta serve
  echo "ready after $(since "$t0") s (start-up incl. ledger recovery and index rebuild); load $(load)"
  grep -E 'ready|opening|indexing' "$WORK/serve.err" | sed -n '1p;$p'
  wait_idle
  echo "idle after $(since "$t0") s"
  echo "tokenaudit memory after the rebuild: $(mem)"

  wait_quiet
  say "queries: tokenaudit ($RUNS runs each: first, then warm median/min)"
  printf '+ %s\n' "$QB --meta $WORK/meta --ta $TA_URL --ta-key <admin key> --runs $RUNS --user-rank $USER_RANK --systems tokenaudit --answers $WORK/answers.ta.tmp"
  set +e
  "$QB" --meta "$WORK/meta" --ta "$TA_URL" --ta-key "$ADMIN_KEY" --runs "$RUNS" \
    --user-rank "$USER_RANK" --systems tokenaudit --answers "$WORK/answers.ta.tmp" |
    tee "$WORK/query_bench.ta.out"
  local qb_rc=${PIPESTATUS[0]}
  set -e
  echo "query_bench exit status $qb_rc"
  ((qb_rc == 0)) || RC=$qb_rc
  echo "tokenaudit memory after the queries: $(mem)"
  grep -E '^(VmRSS|VmHWM|RssAnon|RssFile)' "/proc/$TA_PID/status"
  echo "tokenaudit /metrics (query engine, ledger):"
  curl -s "$TA_URL/metrics" -H "Authorization: Bearer $ADMIN_KEY" |
    grep -E '^tokenaudit_(ledger_size|access_records_total|usage_|query_)' || true

  say "bytes on disk: tokenaudit"
  echo "tokenaudit data dir: $(bpr "$(du -sb "$TA_DATA" | cut -f1)") (everything)"
  for d in "$TA_DATA"/*/; do echo "  $(basename "$d")/: $(bpr "$(du -sb "$d" | cut -f1)")"; done
  [[ -d "$TA_DATA/columns" ]] ||
    echo "  (no columns/ directory: this build holds the query engine's column chunks in memory only)"

  if [[ "$PROFILE" == 1 ]] && command -v perf >/dev/null; then
    local slow q ppid
    slow=$(grep '^RESULT ' "$WORK/query_bench.ta.out" | grep '"system":"tokenaudit"' |
      sed 's/.*"query":"\([^"]*\)".*"warm_median_ms":\([0-9.]*\).*/\2 \1/' | sort -rn | head -1 | cut -d' ' -f2)
    for q in ${PROFILE_QUERIES:-$slow}; do
      say "profile: tokenaudit serve answering $q repeatedly (perf, cpu-clock, 250 Hz, DWARF call graphs)"
      printf '+ %s\n' "perf record -e cpu-clock -F 250 --call-graph dwarf,16384 -p $TA_PID -o $WORK/perf.$q.data -- sleep 20"
      perf record -e cpu-clock -F 250 --call-graph dwarf,16384 -p "$TA_PID" -o "$WORK/perf.$q.data" \
        -- sleep 20 >/dev/null 2>&1 &
      ppid=$!
      sleep 0.5
      printf '+ %s\n' "$QB --meta $WORK/meta --ta $TA_URL --ta-key <admin key> --user-rank $USER_RANK --repeat $q:18"
      "$QB" --meta "$WORK/meta" --ta "$TA_URL" --ta-key "$ADMIN_KEY" --user-rank "$USER_RANK" --repeat "$q:18" || true
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

  if [[ "${RESTART:-1}" == 1 ]]; then
    say "restart tokenaudit serve (second start-up: what it loads instead of rebuilding)"
    stop_ta
    echo "load before: $(load)"
    t0=$(now)
    start_ta serve2
    echo "ready after $(since "$t0") s; load $(load)"
    grep -E 'ready|column|indexing' "$WORK/serve2.err" | sed -n '1,3p;$p' || true
    wait_idle
    echo "tokenaudit memory after the second start-up: $(mem)"
    printf '+ %s\n' "$QB --meta $WORK/meta --ta $TA_URL --ta-key <admin key> --runs 3 --user-rank $USER_RANK --systems tokenaudit --queries q1,q4"
    "$QB" --meta "$WORK/meta" --ta "$TA_URL" --ta-key "$ADMIN_KEY" --runs 3 --user-rank "$USER_RANK" \
      --systems tokenaudit --queries q1,q4 | grep -E '^   tokenaudit ' || true
    echo "tokenaudit memory after two queries: $(mem)"
  fi
  stop_ta

  if [[ "${BREAKDOWN:-1}" == 1 ]]; then
    say "memory breakdown: the server's in-memory state rebuilt step by step in one process"
    run "$BUILD/bench/query/query_rss_breakdown" --data-dir "$TA_DATA" || true
  fi
  mv "$WORK/answers.ta.tmp" "$WORK/answers.ta"
}

# ---- check: the answers of the phases, against SQLite's --------------------------------------
phase_check() {
  say "phase check: every figure of this work dir's phases, and the answers against SQLite's"
  local f files=()
  for f in ta ch sqlite; do
    [[ -f "$WORK/query_bench.$f.out" ]] && grep -h '^RESULT ' "$WORK/query_bench.$f.out" |
      sed 's/^RESULT {"query":"\([^"]*\)","system":"\([^"]*\)","first_ms":\([^,]*\),"warm_median_ms":\([^,]*\),"warm_min_ms":\([^,]*\),"runs":\([^,]*\),.*"ok":\([a-z]*\),"load":"\([^"]*\)".*/\1 \2 \3 \4 \5 \6 \7 \8/' |
      awk '{ printf "   %-3s %-20s first %10.1f ms   warm median %10.1f ms   min %10.1f ms   (%d runs%s; load before %s %s %s)\n", $1, $2, $3, $4, $5, $6, $7 == "true" ? "" : ", ERROR", $8, $9, $10 }'
    [[ -f "$WORK/answers.$f" ]] && files+=("$WORK/answers.$f")
  done
  if [[ ! -f "$WORK/answers.sqlite" ]]; then
    echo "no SQLite answers in $WORK (phase sqlite): nothing to check against"; return
  fi
  local list
  list=$(IFS=,; echo "${files[*]}")
  set +e
  run "$QB" --meta "$WORK/meta" --check "$list"
  local rc=$?
  set -e
  ((rc == 0)) || RC=$rc
}

# ---- the phases --------------------------------------------------------------------------------
# shellcheck source=../clickhouse_lib.sh
source "$ROOT/bench/clickhouse_lib.sh"
for p in $PHASES; do
  if [[ "$p" != check ]] && ! will_run "$p"; then
    say "phase $p: skipped (REUSE=1 and its outputs exist in $WORK; FORCE=\"$p\" re-runs it)"
    continue
  fi
  t_phase=$(now)
  "phase_$p"
  echo "phase $p: $(since "$t_phase") s; load $(load)"
  phase_disk "after phase $p"
  if listed "$p" "$DROP"; then
    case "$p" in
      ta) run rm -rf "$TA_DATA" "$WORK/admin.key" ;;
      ch) run rm -rf "$CH_DIR" ;;
      sqlite) run rm -f "$DB" ;;
    esac
    phase_disk "after DROP of $p's data"
  fi
done
ls -l "$WORK"

say "done; load $(load)"
exit "$RC"
