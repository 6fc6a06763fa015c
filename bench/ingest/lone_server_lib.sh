# Sourced by the benchmarks that measure `tokenaudit serve` alone (cpu_per_record.sh,
# singles_p99.sh): a fresh server on a temporary data directory, stopped and removed on exit.
#
#   lone_server_start NAME: needs TA (the binary); sets WORK, TA_PID, ADDR, URL (/v1/events),
#   KEY (an ingest key) and ADMIN (an admin key, for /metrics). WORK is made under DATA_PARENT
#   (default /tmp).

TA_PID=""
WORK=""
lone_server_cleanup() {
  if [[ -n "$TA_PID" ]] && kill -0 "$TA_PID" 2>/dev/null; then
    kill -TERM "$TA_PID"; wait "$TA_PID" 2>/dev/null || true
  fi
  [[ -n "$WORK" ]] && rm -rf "$WORK"
}

lone_server_start() {
  WORK=$(mktemp -d "${DATA_PARENT:-/tmp}/$1.XXXXXX")
  trap lone_server_cleanup EXIT
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "tokenaudit: $TA"
  export TOKENAUDIT_PSEUDONYM_KEY=${TOKENAUDIT_PSEUDONYM_KEY:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}
  local data="$WORK/data"
  KEY=$("$TA" keys create --data-dir "$data" --role ingest --name "$1" 2>/dev/null)
  ADMIN=$("$TA" keys create --data-dir "$data" --role admin --name "$1-admin" 2>/dev/null)
  # Created before the server starts: the loop below may read it before the background shell
  # has opened it (a failed `sed` in an assignment would end the script under `set -e`).
  : >"$WORK/serve.out"
  "$TA" serve --data-dir "$data" --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
  TA_PID=$!
  ADDR=""
  for _ in $(seq 200); do
    ADDR=$(sed -n 's/^tokenaudit listening on http:\/\///p' "$WORK/serve.out")
    [[ -n "$ADDR" && "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/readyz")" == 200 ]] &&
      break
    sleep 0.1
  done
  URL="http://$ADDR/v1/events"
}
