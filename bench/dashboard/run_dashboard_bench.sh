#!/usr/bin/env bash
# The dashboard's first view at 10M records (issue 6), in one run:
#   1. query_datagen (bench/query) writes RECORDS synthetic records into a tokenaudit data
#      directory: 30 days ending now (--end-unix), Zipf users over 10,000 pseudonyms; the user of
#      Zipf rank USER_RANK (default 1, the heaviest: ~10% of the records) carries the pseudonym of
#      a `user` key named USER_NAME (--user-pseudonym; the server's HMAC of the name);
#   2. keys: admin and that user key;
#   3. `tokenaudit serve` on it (durability sync, the default); start-up timed, then wait until
#      it is idle (the sealer compresses the chunks filled during a rebuild);
#   4. first_view_bench.mjs: Debian chromium headless (playwright-core from test/dashboard) signs
#      in as admin and as the user and reloads RUNS times each: first view, interactive, all
#      panels, every API request of a load, and each first-view request alone;
#   5. load (uptime) before and after; everything under `flock /tmp/ta-bench.lock`.
# Every command is printed before it runs.
#
#   bench/dashboard/run_dashboard_bench.sh                     # 10M records in /tmp/dash10m
#   REUSE=1 ...        keep and reuse the generated data directory (and keys) in WORK
#   NO_BUILD=1 ...     use the binaries in BUILD_DIR as they are
#   BUILD_DIR=/tmp/x/build-dash  build and run from there (default: build-dash of this tree;
#                      for recorded figures use a `git archive` export, see bench/RESULTS.md)
#   RECORDS=1000000 RUNS=5 WORK=/tmp/dash1m ...
#   ALSO_WINDOWS="day week" ...  after the first view, the same loads with these windows selected
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-dash}
RECORDS=${RECORDS:-10000000}
RUNS=${RUNS:-7}
SEED=${SEED:-4}
WORK=${WORK:-/tmp/dash10m}
REUSE=${REUSE:-0}
KEEP=${KEEP:-$REUSE}
USER_NAME=${USER_NAME:-dash-user}
USER_RANK=${USER_RANK:-1}
ZONE=${ZONE:-Europe/Berlin}
ALSO_WINDOWS=${ALSO_WINDOWS:-day}   # also measured with these windows selected ("" for none)

run() {
  printf '+ %s\n' "$*"
  "$@"
}
say() { printf '\n== %s\n' "$*"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

if [[ "${NO_BUILD:-0}" != 1 ]]; then
  if [[ ! -f "$BUILD/build.ninja" ]]; then
    run cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  run ninja -C "$BUILD" -j2 tokenaudit query_datagen
fi
TA="$BUILD/tools/tokenaudit/tokenaudit"
GEN="$BUILD/bench/query/query_datagen"
if [[ ! -d "$ROOT/test/dashboard/node_modules/playwright-core" ]]; then
  (cd "$ROOT/test/dashboard" && run npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
fi

TA_PID=""
cleanup() {
  if [[ -n "$TA_PID" ]] && kill -0 "$TA_PID" 2>/dev/null; then
    kill -TERM "$TA_PID"; wait "$TA_PID" 2>/dev/null || true
  fi
  if [[ "$KEEP" == 1 ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
if [[ "$REUSE" != 1 ]]; then rm -rf "$WORK"; fi
mkdir -p "$WORK"
DATA="$WORK/data"

say "machine"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpu:        $(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "memory:     $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "load:       $(load)"
echo "tokenaudit: $TA"
echo "chromium:   $(${CHROMIUM:-chromium} --version 2>/dev/null || echo '?')"
echo "records:    $RECORDS (query_datagen seed $SEED); user key $USER_NAME = Zipf rank $USER_RANK"

if [[ ! -f "$WORK/pseudonym.key" ]]; then
  od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$WORK/pseudonym.key"
fi
export TOKENAUDIT_PSEUDONYM_KEY=$(cat "$WORK/pseudonym.key")
if [[ "$REUSE" == 1 && -f "$WORK/generated" ]]; then
  say "reusing $DATA ($(cat "$WORK/generated"))"
else
  say "generate $RECORDS records"
  # The user key's pseudonym (the server's HMAC of its name), from a scratch key store.
  "$TA" keys create --data-dir "$WORK/scratch" --role user --name "$USER_NAME" >/dev/null
  PSEUDONYM=$("$TA" keys list --data-dir "$WORK/scratch" --json |
    sed -n 's/.*"user_pseudonym":"\(u_[A-Za-z0-9_-]*\)".*/\1/p' | head -1)
  rm -rf "$WORK/scratch"
  END=$(date +%s)
  t0=$(now)
  run "$GEN" --records "$RECORDS" --seed "$SEED" --ledger-dir "$DATA" --meta "$WORK/meta" \
    --end-unix "$END" --user-pseudonym "$USER_RANK=$PSEUDONYM"
  echo "generated in $(since "$t0") s"
  echo "records from $(date -u -d "@$((END - 30 * 86400))" +%FT%TZ) to $(date -u -d "@$END" +%FT%TZ), user rank $USER_RANK = $PSEUDONYM" >"$WORK/generated"
  for k in admin:admin:dash-bench user:user:"$USER_NAME"; do
    IFS=: read -r file role name <<<"$k"
    printf '+ %s\n' "$TA keys create --data-dir $DATA --role $role --name $name > $WORK/$file.key"
    "$TA" keys create --data-dir "$DATA" --role "$role" --name "$name" >"$WORK/$file.key"
  done
fi
cat "$WORK/generated"

say "start tokenaudit serve"
echo "load before: $(load)"
printf '+ %s\n' "$TA serve --data-dir $DATA --listen 127.0.0.1:0 &   (env TOKENAUDIT_PSEUDONYM_KEY=<64 hex>)"
t0=$(now)
: >"$WORK/serve.out"  # exists before the wait loop reads it (see lone_server_lib.sh)
"$TA" serve --data-dir "$DATA" --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
TA_PID=$!
ADDR=""
for _ in $(seq 36000); do
  ADDR=$(sed -n 's/^tokenaudit listening on http:\/\///p' "$WORK/serve.out")
  [[ -n "$ADDR" && "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/readyz")" == 200 ]] && break
  kill -0 "$TA_PID" || { cat "$WORK/serve.err"; exit 1; }
  sleep 0.1
done
URL="http://$ADDR"
echo "ready after $(since "$t0") s; load $(load)"
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
for _ in $(seq 60); do
  c0=$(cpu_ticks "$TA_PID"); sleep 2; c1=$(cpu_ticks "$TA_PID")
  ((c1 - c0 <= 2)) && break
done
echo "idle after $(since "$t0") s; memory: $(grep -E '^(VmRSS|VmHWM)' "/proc/$TA_PID/status" | tr -s ' \t' ' ' | paste -sd';')"

ADMIN=$(cat "$WORK/admin.key")
echo "ledger size: $(curl -s "$URL/metrics" -H "Authorization: Bearer $ADMIN" |
  sed -n 's/^tokenaudit_ledger_size //p')"

say "first view: admin and user, $RUNS reloads each"
echo "load before: $(load)"
printf '+ %s\n' "flock /tmp/ta-bench.lock node bench/dashboard/first_view_bench.mjs $URL $WORK/admin.key $WORK/user.key $WORK/out $RUNS $ZONE"
flock /tmp/ta-bench.lock node "$ROOT/bench/dashboard/first_view_bench.mjs" "$URL" \
  "$WORK/admin.key" "$WORK/user.key" "$WORK/out" "$RUNS" "$ZONE"
echo "load after: $(load)"
for w in $ALSO_WINDOWS; do
  say "the same with the $w window selected (not the first view: what switching to it costs)"
  printf '+ %s\n' "flock /tmp/ta-bench.lock node bench/dashboard/first_view_bench.mjs $URL $WORK/admin.key $WORK/user.key $WORK/out-$w $RUNS $ZONE $w"
  flock /tmp/ta-bench.lock node "$ROOT/bench/dashboard/first_view_bench.mjs" "$URL" \
    "$WORK/admin.key" "$WORK/user.key" "$WORK/out-$w" "$RUNS" "$ZONE" "$w" || true
  echo "load after: $(load)"
done
echo "serve memory: $(grep -E '^(VmRSS|VmHWM)' "/proc/$TA_PID/status" | tr -s ' \t' ' ' | paste -sd';')"
echo "results: $WORK/out/first_view_bench.json, screenshots $WORK/out/first_view_{admin,user}.png"
