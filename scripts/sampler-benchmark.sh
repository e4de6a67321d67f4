#!/usr/bin/env bash
# Benchmark of the wait-event sampler (see docs/sampler-benchmark.md for the method and results).
#
#   scripts/sampler-benchmark.sh            # defaults: 3 rounds x 30 s per mode, pgbench -c 4, scale 10
#   ROUNDS=5 DURATION=60 scripts/sampler-benchmark.sh
#   PARTS=query JAVA_OPTS=-Xmx64m scripts/sampler-benchmark.sh    # only the query cost and RSS at 1000 sessions
#   (also: CLIENTS, SCALE, QUERY_RUNS_SECONDS, EXPORTER_WARMUP, PG_BIN, SKIP_BUILD=1, MAVEN_ARGS=-o)
#
# On a throw-away PostgreSQL cluster (Debian's PostgreSQL 15 by default, PG_BIN to change), it measures:
#  1. pgbench TPS with the exporter off, sampling every 1 s and every 100 ms: the three modes in the
#     same run, interleaved round by round (the order rotates), reported as ratios to "off";
#  2. the sampler query's cost with 10, 200 and 1000 other sessions (9 in 10 in pg_sleep, 1 in 10
#     blocked on a row lock): client-side latency over many runs (pgbench, prepared, like JDBC), and
#     the server-side execution time (EXPLAIN ANALYZE, TIMING OFF);
#  3. the exporter's resident memory (VmRSS) while sampling, during the TPS runs and at 1000 sessions;
#  4. CPU time (utime + stime from /proc/<pid>/stat) of the exporter JVM and of the sampler's backend
#     during the TPS runs, and of the backend running the timed query: unlike wall-clock latency
#     and TPS, CPU time barely moves when other processes compete for the cores, so it bounds the
#     cost even on a busy machine.
# The query timed is the exporter's own (exporter/src/main/resources/.../sampler/activity-sample.sql).
# Results: target/sampler-benchmark/<time>/summary.md (and the raw pgbench logs next to it).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-30}
CLIENTS=${CLIENTS:-4}
SCALE=${SCALE:-10}
QUERY_RUNS_SECONDS=${QUERY_RUNS_SECONDS:-10}
EXPORTER_WARMUP=${EXPORTER_WARMUP:-5}
PARTS=${PARTS:-tps,query}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
JAVA_OPTS=${JAVA_OPTS:-}
PGBENCH=${PGBENCH:-/usr/bin/pgbench}
PSQL=${PSQL:-/usr/bin/psql}
SQL_FILE=$REPO/exporter/src/main/resources/io/pgbatchtelemetry/exporter/sampler/activity-sample.sql
JAR=$REPO/exporter/target/pg-batch-exporter.jar

OUT=$REPO/target/sampler-benchmark/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/pgbt-sampler-bench.XXXXXX)
chmod 755 "$WORK"

as_server_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

EXPORTER_PID=""
BACKGROUND_PIDS=()
cleanup() {
  [ -n "$EXPORTER_PID" ] && kill "$EXPORTER_PID" 2>/dev/null || true
  for pid in "${BACKGROUND_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  cp "$WORK/server.log" "$OUT/server.log" 2>/dev/null || true
  if [ -f "$WORK/data/postmaster.pid" ]; then
    as_server_user "$PG_BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ "${SKIP_BUILD:-0}" != 1 ]; then # SKIP_BUILD=1 to time the jar already in exporter/target
  log "building the exporter jar"
  # shellcheck disable=SC2086
  mvn -B -q ${MAVEN_ARGS:-} -DskipTests package -pl harness,exporter
fi

# ---------------------------------------------------------------- cluster
PORT=$(free_port)
[ "$(id -u)" = 0 ] && chown postgres "$WORK"
log "initdb in $WORK (PostgreSQL from $PG_BIN, port $PORT)"
as_server_user "$PG_BIN/initdb" -D "$WORK/data" -U postgres --auth=trust --no-sync --locale=C -E UTF8 >/dev/null
cat >> "$WORK/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
max_connections = 1100
shared_buffers = 256MB
max_wal_size = 2GB
checkpoint_timeout = 30min
log_min_messages = warning
CONF
as_server_user "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w start >/dev/null
export PGHOST=$WORK PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
# the exporter's slow statements and lock waits go to server.log, kept with the results
"$PSQL" -qAt -c "CREATE ROLE pgbt_bench_monitor LOGIN IN ROLE pg_monitor" \
            -c "ALTER ROLE pgbt_bench_monitor SET log_min_duration_statement = 200" \
            -c "ALTER ROLE pgbt_bench_monitor SET log_lock_waits = on" \
            -c "CREATE TABLE bench_lock (id int PRIMARY KEY); INSERT INTO bench_lock SELECT generate_series(1, 200)"
SERVER_VERSION=$("$PSQL" -qAt -c "SHOW server_version")
log "pgbench -i -s $SCALE"
"$PGBENCH" -i -q -s "$SCALE" >/dev/null 2>&1

# ---------------------------------------------------------------- exporter
EXPORTER_PORT=$(free_port)
start_exporter() { # $1 = interval
  # shellcheck disable=SC2086
  DATA_SOURCE_NAME="postgresql://pgbt_bench_monitor@127.0.0.1:$PORT/postgres?sslmode=disable" \
    java $JAVA_OPTS -jar "$JAR" --web.listen-address="127.0.0.1:$EXPORTER_PORT" --sampler.interval="$1" \
    --log.level=warn >"$OUT/exporter-$1.log" 2>&1 &
  EXPORTER_PID=$!
  for _ in $(seq 1 100); do
    local samples
    samples=$(metric pg_sampler_samples_total 2>/dev/null || true)
    if [ -n "$samples" ] && awk -v s="$samples" 'BEGIN { exit !(s > 0) }'; then return 0; fi
    sleep 0.2
  done
  echo "exporter did not start sampling; see $OUT/exporter-$1.log" >&2; exit 1
}
stop_exporter() {
  kill "$EXPORTER_PID"; wait "$EXPORTER_PID" 2>/dev/null || true; EXPORTER_PID=""
}
metric() { # value of an unlabelled metric
  curl -sf "http://127.0.0.1:$EXPORTER_PORT/metrics" | awk -v m="$1" '$1 == m { v = $2 } END { print v }'
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
CLK_TCK=$(getconf CLK_TCK)
cpu_ms() { # user + system CPU of a process so far, in ms
  awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); print ($12 + $13) * 1000 / hz }' "/proc/$1/stat"
}
backend_pid() { # pid of the session with this application_name
  "$PSQL" -qAt -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$1' LIMIT 1"
}
# max VmRSS of the exporter while a command runs
watch_rss() { # $1 = pid, $2 = file
  local max=0 v
  while kill -0 "$1" 2>/dev/null; do
    v=$(rss_kb "$1" 2>/dev/null || echo 0); [ "${v:-0}" -gt "$max" ] && max=$v; echo "$max" >"$2"; sleep 1
  done
}

# ---------------------------------------------------------------- 1. TPS, interleaved
echo "round mode tps exporter_max_rss_kb samples sample_duration_s exporter_cpu_ms_per_s sampler_backend_cpu_ms_per_s" >"$OUT/tps.txt"
if [[ ,$PARTS, == *,tps,* ]]; then
run_pgbench() { # $1 = label; prints TPS
  "$PSQL" -qAt -c "CHECKPOINT" >/dev/null
  "$PGBENCH" -n -M prepared -c "$CLIENTS" -j 2 -T "$DURATION" >"$OUT/pgbench-$1.txt" 2>&1
  awk '/^tps = / { print $3; exit }' "$OUT/pgbench-$1.txt"
}
log "warm-up pgbench run (not counted)"
run_pgbench warmup >/dev/null
MODES=(off 1s 100ms)
for round in $(seq 1 "$ROUNDS"); do
  for k in 0 1 2; do
    mode=${MODES[$(( (k + round - 1) % 3 ))]}
    rss="-"; samples="-"; duration="-"; jvm_cpu="-"; backend_cpu="-"
    if [ "$mode" != off ]; then
      start_exporter "$mode"
      sleep "$EXPORTER_WARMUP" # JIT compilation and class loading are start-up costs, not sampling costs
      watch_rss "$EXPORTER_PID" "$WORK/rss" & BACKGROUND_PIDS+=($!)
      sampler_backend=$(backend_pid pg-batch-exporter-sampler)
      jvm0=$(cpu_ms "$EXPORTER_PID"); be0=$(cpu_ms "$sampler_backend"); t0=$(date +%s.%N)
    fi
    log "round $round: $mode"
    tps=$(run_pgbench "r$round-$mode")
    if [ "$mode" != off ]; then
      jvm1=$(cpu_ms "$EXPORTER_PID"); be1=$(cpu_ms "$sampler_backend"); t1=$(date +%s.%N)
      jvm_cpu=$(awk -v a="$jvm0" -v b="$jvm1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.2f", (b - a) / (e - s) }')
      backend_cpu=$(awk -v a="$be0" -v b="$be1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.2f", (b - a) / (e - s) }')
      samples=$(metric pg_sampler_samples_total); duration=$(metric pg_sampler_sample_duration_seconds)
      rss=$(cat "$WORK/rss")
      stop_exporter
    fi
    echo "$round $mode $tps $rss $samples $duration $jvm_cpu $backend_cpu" >>"$OUT/tps.txt"
  done
done

fi

# ---------------------------------------------------------------- 2. sampler query cost
echo "sessions client_mean_ms client_p50_ms client_p95_ms client_p99_ms runs backend_cpu_ms_per_run server_exec_median_ms rows baseline_mean_ms baseline_p50_ms baseline_p95_ms baseline_p99_ms baseline_runs baseline_cpu_ms exporter_rss_kb exporter_sample_duration_ms" >"$OUT/query.txt"
if [[ ,$PARTS, == *,query,* ]]; then
grep -v '^--' "$SQL_FILE" | sed "0,/?/s//'pg-batch-exporter'/; 0,/?/s//'pg-batch-exporter-sampler'/" >"$WORK/sampler.sql"
echo ";" >>"$WORK/sampler.sql"
echo "SELECT pg_sleep(3600);" >"$WORK/sleep.sql"
echo "SELECT id FROM bench_lock WHERE id = 1 + :client_id % 200 FOR UPDATE;" >"$WORK/wait.sql"

echo "SELECT count(*) FROM pg_stat_activity;" >"$WORK/baseline.sql"
# Times a query file over QUERY_RUNS_SECONDS with pgbench (one client, prepared, like JDBC after its
# fifth execution): "mean p50 p95 p99 runs cpu_ms_per_run", the CPU being the backend's.
time_query() { # $1 = sql file, $2 = label
  rm -f "$WORK"/qlog*
  (cd "$WORK" && PGAPPNAME=bench_probe "$PGBENCH" -n -M prepared -c 1 -j 1 -T $((QUERY_RUNS_SECONDS + 2)) -f "$1" \
      -l --log-prefix=qlog >"$OUT/query-$2.txt" 2>&1) & local bench=$!
  local probe="" c0 c1 t0 t1
  for _ in $(seq 1 50); do probe=$(backend_pid bench_probe); [ -n "$probe" ] && break; sleep 0.1; done
  sleep 1 # past connection start-up and the first (custom-plan) executions
  c0=$(cpu_ms "$probe"); t0=$(date +%s%N)
  sleep "$QUERY_RUNS_SECONDS"
  c1=$(cpu_ms "$probe"); t1=$(date +%s%N)
  wait "$bench"
  # per-transaction log: client tx latency_us script epoch_s epoch_us
  local window
  window=$(cat "$WORK"/qlog* | awk -v s="$t0" -v e="$t1" '{ t = $5 * 1000000000 + $6 * 1000; if (t >= s && t <= e) n++ } END { print n + 0 }')
  cat "$WORK"/qlog* | awk '{ print $3 / 1000.0 }' | sort -n | awk -v cpu="$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')" -v window="$window" '
    { lat[NR] = $1; sum += $1 }
    END { printf "%.3f %.3f %.3f %.3f %d %.3f", sum / NR, lat[int(NR * 0.50) + 1], lat[int(NR * 0.95) + 1], lat[int(NR * 0.99) + 1], NR, cpu / window }'
}

SLEEPERS_PID=""; WAITERS_PID=""
# the holder locks every row of bench_lock and keeps its transaction open
( "$PSQL" -qAt -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT count(*) FROM (SELECT id FROM bench_lock FOR UPDATE) s" \
    -c "SELECT pg_sleep(86400)" >/dev/null 2>&1 ) & BACKGROUND_PIDS+=($!)
for n in 10 200 1000; do
  waiters=$(( n / 10 )); sleepers=$(( n - waiters ))
  log "query cost with $n sessions ($sleepers in pg_sleep, $waiters blocked on a row lock)"
  "$PSQL" -qAt -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name IN ('bench_sleep', 'bench_wait')" >/dev/null
  for pid in $SLEEPERS_PID $WAITERS_PID; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  PGAPPNAME=bench_sleep "$PGBENCH" -n -c "$sleepers" -j 4 -T 3600 -f "$WORK/sleep.sql" >/dev/null 2>&1 & SLEEPERS_PID=$!
  PGAPPNAME=bench_wait "$PGBENCH" -n -c "$waiters" -j 2 -T 3600 -f "$WORK/wait.sql" >/dev/null 2>&1 & WAITERS_PID=$!
  BACKGROUND_PIDS+=("$SLEEPERS_PID" "$WAITERS_PID")
  for _ in $(seq 1 600); do
    ready=$("$PSQL" -qAt -c "SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('bench_sleep','bench_wait') AND wait_event_type IN ('Timeout','Lock')")
    [ "$ready" -ge "$n" ] && break; sleep 0.5
  done
  [ "$ready" -ge "$n" ] || { echo "only $ready of $n sessions started" >&2; exit 1; }
  rows=$("$PSQL" -qAt -f "$WORK/sampler.sql" | wc -l)
  sampler_stats=$(time_query "$WORK/sampler.sql" "sampler-$n")
  baseline_stats=$(time_query "$WORK/baseline.sql" "baseline-$n")
  server=$(for _ in $(seq 1 21); do
      { echo "EXPLAIN (ANALYZE, TIMING OFF)"; cat "$WORK/sampler.sql"; } | "$PSQL" -qAt | awk '/Execution Time/ { print $3 }'
    done | sort -n | awk '{ v[NR] = $1 } END { printf "%.3f", v[int((NR + 1) / 2)] }')
  exporter_rss="-"; exporter_duration="-"
  if [ "$n" = 1000 ]; then
    start_exporter 100ms
    sleep 20
    exporter_rss=$(rss_kb "$EXPORTER_PID")
    exporter_duration=$(metric pg_sampler_sample_duration_seconds | awk '{ printf "%.3f", $1 * 1000 }')
    stop_exporter
  fi
  echo "$n $sampler_stats $server $rows $baseline_stats $exporter_rss $exporter_duration" >>"$OUT/query.txt"
done
fi

# ---------------------------------------------------------------- summary
{
  echo "# Sampler benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "PostgreSQL $SERVER_VERSION, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). pgbench -c $CLIENTS -j 2 -T $DURATION -M prepared (TPC-B like), scale $SCALE, $ROUNDS rounds."
  echo "Parts: $PARTS. JAVA_OPTS: ${JAVA_OPTS:-none, the default heap sizing of the JVM}."
  echo
  if [[ ,$PARTS, == *,tps,* ]]; then
  echo "## TPS"
  echo
  echo "| round | off | sampler 1 s | ratio | sampler 100 ms | ratio |"
  echo "|---|---|---|---|---|---|"
  awk 'NR > 1 { tps[$1, $2] = $3; rounds[$1] = 1 }
       END { for (r in rounds) printf "| %s | %.1f | %.1f | %.4f | %.1f | %.4f |\n", r, tps[r, "off"], tps[r, "1s"], tps[r, "1s"] / tps[r, "off"], tps[r, "100ms"], tps[r, "100ms"] / tps[r, "off"] }' \
      "$OUT/tps.txt" | sort -t'|' -k2n
  awk 'NR > 1 { s[$2] += $3; n[$2]++ }
       END { printf "\nmean TPS: off %.1f, 1 s %.1f (ratio %.4f), 100 ms %.1f (ratio %.4f)\n", s["off"]/n["off"], s["1s"]/n["1s"], (s["1s"]/n["1s"])/(s["off"]/n["off"]), s["100ms"]/n["100ms"], (s["100ms"]/n["100ms"])/(s["off"]/n["off"]) }' "$OUT/tps.txt"
  echo
  awk 'NR > 1 && $2 != "off" { j[$2] += $7; b[$2] += $8; n[$2]++ }
       END { printf "\nCPU while sampling (ms of CPU per second of wall time, mean over rounds): 1 s: exporter JVM %.2f, sampler backend %.2f; 100 ms: exporter JVM %.2f, sampler backend %.2f\n", j["1s"]/n["1s"], b["1s"]/n["1s"], j["100ms"]/n["100ms"], b["100ms"]/n["100ms"] }' "$OUT/tps.txt"
  echo
  echo "raw: exporter max RSS during the run (kB), samples taken, last sample duration (s), CPU ms per s:"
  echo
  echo '```'
  cat "$OUT/tps.txt"
  echo '```'
  echo
  echo
  fi
  if [[ ,$PARTS, == *,query,* ]]; then
  echo "## Sampler query cost"
  echo
  echo "| sessions | rows | sampler query: backend CPU ms per run | client latency mean / p50 / p95 / p99 ms | runs | EXPLAIN ANALYZE execution median ms | pg_stat_activity alone: CPU ms / latency mean / p50 ms | exporter at 100 ms: RSS kB, last sample ms |"
  echo "|---|---|---|---|---|---|---|---|"
  awk 'NR > 1 { printf "| %s | %s | %s | %s / %s / %s / %s | %s | %s | %s / %s / %s | %s, %s |\n", $1, $9, $7, $2, $3, $4, $5, $6, $8, $15, $10, $11, $16, $17 }' "$OUT/query.txt"
  fi
} >"$OUT/summary.md"
cat "$OUT/summary.md"
