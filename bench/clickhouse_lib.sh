# Shared by the benchmark scripts that use ClickHouse as a peer (bench/ingest, bench/query):
# free loopback ports, and a ClickHouse server with its data under one directory. Source it after
# setting CH_BIN. Sets CH (base URL), CH_HTTP and CH_PID.

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    [[ -z $(ss -Htln "sport = :$p") ]] && { echo "$p"; return; }
  done
}

chq() { curl -sS --fail-with-body "$CH" --data-binary "$1"; }

# start_clickhouse_server DIR: a ClickHouse (UTC) with its data under DIR, on two free loopback
# ports; waits (at most 30 s) until it answers.
start_clickhouse_server() {
  local dir=$1
  mkdir -p "$dir"/{data,tmp,user_files,format_schemas}
  cp /etc/clickhouse-server/users.xml "$dir/users.xml"
  local tcp
  CH_HTTP=$(free_port)
  tcp=$(free_port)
  cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/server.log</log><errorlog>$dir/server.err.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$CH_HTTP</http_port>
  <tcp_port>$tcp</tcp_port>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>536870912</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
XML
  cat "$dir/config.xml"
  printf '+ %s\n' "$CH_BIN --config-file=$dir/config.xml &"
  "$CH_BIN" --config-file="$dir/config.xml" >"$dir/stdout" 2>&1 &
  CH_PID=$!
  CH="http://127.0.0.1:$CH_HTTP/"
  for _ in $(seq 300); do
    [[ "$(curl -s "${CH}ping" || true)" == Ok.* ]] && break
    sleep 0.1
  done
  echo "ClickHouse $(chq 'SELECT version()') pid $CH_PID, http 127.0.0.1:$CH_HTTP, data $dir" \
    "on $(findmnt -n -T "$dir" -o FSTYPE,SOURCE | head -1 | tr -s ' ')"
}
