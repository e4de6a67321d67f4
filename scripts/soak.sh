#!/usr/bin/env bash
# Soak test: pgbench load on a throw-away PostgreSQL plus one scrape per second, for a while, while
# the exporter's RSS and thread count are sampled. Prints a summary and writes a CSV; exits 1 when
# memory or threads keep growing after warm-up.
#
#   scripts/soak.sh                         # 10 minutes
#   SOAK_SECONDS=120 scripts/soak.sh        # shorter
#
# Settings (environment):
#   SOAK_SECONDS=600      how long the load and the scrapes run
#   SCRAPE_INTERVAL=1     seconds between scrapes
#   SAMPLE_EVERY=10       seconds between RSS/thread samples
#   PGBENCH_CLIENTS=4     pgbench clients
#   PGBENCH_RATE=200      pgbench target transactions per second (bounded: the machine is shared)
#   PGBENCH_SCALE=10      pgbench -i scale
#   JAVA_OPTS             extra JVM flags; the exporter starts through exporter/bin/pg-batch-exporter (its
#                         small-footprint flags) when that launcher exists, else with the same flags here
#   PG_BIN                PostgreSQL binaries (default: Debian's PostgreSQL 15)
#   SOAK_OUT              CSV of samples (default: target/soak-<date>.csv)
# Everything listens on 127.0.0.1 only, and everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

SOAK_SECONDS=${SOAK_SECONDS:-600}
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-1}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
PGBENCH_CLIENTS=${PGBENCH_CLIENTS:-4}
PGBENCH_RATE=${PGBENCH_RATE:-200}
PGBENCH_SCALE=${PGBENCH_SCALE:-10}
JAVA_OPTS=${JAVA_OPTS:-}
LAUNCHER=exporter/bin/pg-batch-exporter
# the launcher's defaults, for a tree without it
DEFAULT_JAVA_OPTS="-XX:+UseSerialGC -Xms8m -Xmx48m -Xss512k -XX:MaxMetaspaceSize=48m -XX:ReservedCodeCacheSize=24m \
-XX:TieredStopAtLevel=1 -XX:-UsePerfData -XX:+ExitOnOutOfMemoryError"
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
mkdir -p target
SOAK_OUT=${SOAK_OUT:-target/soak-$(date +%Y%m%d-%H%M%S).csv}
JAR=exporter/target/pg-batch-exporter.jar

log() { printf '%s soak: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

if [[ ! -f $JAR ]]; then
  log "building $JAR"
  mvn -B -q -ntp -DskipTests -pl harness,exporter package
fi
for tool in "$PG_BIN/initdb" "$PG_BIN/pg_ctl" "$PG_BIN/pgbench" "$PG_BIN/psql" curl; do
  command -v "$tool" >/dev/null || { log "missing $tool (apt-get install postgresql-15 curl)"; exit 2; }
done

WORK=$(mktemp -d /tmp/pgbt-soak.XXXXXX)
RUN_AS=()
if [[ $(id -u) == 0 ]]; then
  chown postgres:postgres "$WORK"
  RUN_AS=(runuser -u postgres --)   # PostgreSQL refuses to run as root
fi
PGPORT=$(free_port)
EXPORTER_PORT=$(free_port)
PGBENCH_PID=""
EXPORTER_PID=""

cleanup() {
  [[ -n $PGBENCH_PID ]] && kill "$PGBENCH_PID" 2>/dev/null || true
  [[ -n $EXPORTER_PID ]] && kill "$EXPORTER_PID" 2>/dev/null && wait "$EXPORTER_PID" 2>/dev/null || true
  "${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log "PostgreSQL on 127.0.0.1:$PGPORT ($WORK)"
"${RUN_AS[@]}" "$PG_BIN/initdb" -D "$WORK/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >/dev/null
cat >>"$WORK/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$WORK'
track_io_timing = on
EOF
"${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w start >/dev/null
PSQL=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
"${PSQL[@]}" -c "CREATE ROLE pgbt_monitor LOGIN PASSWORD 'soak-only' IN ROLE pg_monitor"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -q -s "$PGBENCH_SCALE" postgres >/dev/null 2>&1

export DATA_SOURCE_NAME="postgresql://pgbt_monitor:soak-only@127.0.0.1:$PGPORT/postgres"
if [[ -x $LAUNCHER ]]; then
  log "exporter on 127.0.0.1:$EXPORTER_PORT via $LAUNCHER (JAVA_OPTS=$JAVA_OPTS)"
  PGBT_EXPORTER_JAR=$JAR JAVA_OPTS=$JAVA_OPTS "$LAUNCHER" --web.listen-address="127.0.0.1:$EXPORTER_PORT" >"$WORK/exporter.log" 2>&1 &
else
  log "exporter on 127.0.0.1:$EXPORTER_PORT: java $DEFAULT_JAVA_OPTS $JAVA_OPTS"
  # shellcheck disable=SC2086
  java $DEFAULT_JAVA_OPTS $JAVA_OPTS -jar "$JAR" --web.listen-address="127.0.0.1:$EXPORTER_PORT" >"$WORK/exporter.log" 2>&1 &
fi
EXPORTER_PID=$!   # the launcher execs java, so this is the JVM
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$EXPORTER_PORT/-/healthy" >/dev/null 2>&1 && break
  sleep 0.2
done

log "load: pgbench -c $PGBENCH_CLIENTS --rate $PGBENCH_RATE for ${SOAK_SECONDS}s; one scrape every ${SCRAPE_INTERVAL}s"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -c "$PGBENCH_CLIENTS" -j 2 -R "$PGBENCH_RATE" -T "$SOAK_SECONDS" \
  -n postgres >"$WORK/pgbench.log" 2>&1 &
PGBENCH_PID=$!

echo "elapsed_s,rss_kib,threads,scrapes,failed_scrapes,last_scrape_s" >"$SOAK_OUT"
scrapes=0
failed=0
last_scrape=0
start=$(date +%s)
next_sample=0
while :; do
  now=$(date +%s)
  elapsed=$((now - start))
  (( elapsed >= SOAK_SECONDS )) && break
  kill -0 "$EXPORTER_PID" 2>/dev/null || { log "the exporter died:"; tail -20 "$WORK/exporter.log" >&2; exit 1; }
  if out=$(curl -s -o "$WORK/last.prom" -w '%{http_code} %{time_total}' "http://127.0.0.1:$EXPORTER_PORT/metrics"); then
    code=${out% *}
    last_scrape=${out#* }
    if [[ $code != 200 ]] || ! grep -q '^pg_up 1' "$WORK/last.prom"; then failed=$((failed + 1)); fi
  else
    failed=$((failed + 1))
  fi
  scrapes=$((scrapes + 1))
  if (( elapsed >= next_sample )); then
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$EXPORTER_PID/status")
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$EXPORTER_PID/status")
    echo "$elapsed,$rss,$threads,$scrapes,$failed,$last_scrape" >>"$SOAK_OUT"
    next_sample=$((next_sample + SAMPLE_EVERY))
  fi
  sleep "$SCRAPE_INTERVAL"
done
wait "$PGBENCH_PID" || true
PGBENCH_PID=""
tps=$(grep -Eo 'tps = [0-9.]+' "$WORK/pgbench.log" | tail -1 || true)

# warm-up: the first fifth of the run (JIT, class loading, pool filling); "flat" is judged after it
awk -F, -v out="$SOAK_OUT" -v tps="$tps" -v scrapes="$scrapes" -v failed="$failed" 'NR > 1 {
    n++; t[n] = $1; rss[n] = $2; th[n] = $3
  }
  END {
    if (n < 3) { print "too few samples; run longer" > "/dev/stderr"; exit 1 }
    w = int(n / 5) + 1
    minr = maxr = rss[w]; mint = maxt = th[w]
    for (i = w; i <= n; i++) {
      if (rss[i] < minr) minr = rss[i]; if (rss[i] > maxr) maxr = rss[i]
      if (th[i] < mint) mint = th[i]; if (th[i] > maxt) maxt = th[i]
    }
    growth = (rss[n] - rss[w]) / rss[w] * 100
    printf "soak summary (%s)\n", out
    printf "  duration            %d s, %d scrapes, %d failed; pgbench %s\n", t[n], scrapes, failed, tps
    printf "  RSS start           %.1f MiB (first sample)\n", rss[1] / 1024
    printf "  RSS after warm-up   %.1f MiB at %d s\n", rss[w] / 1024, t[w]
    printf "  RSS min/max/end     %.1f / %.1f / %.1f MiB (end vs warm-up %+.1f%%)\n", minr / 1024, maxr / 1024, rss[n] / 1024, growth
    printf "  threads min/max/end %d / %d / %d (after warm-up)\n", mint, maxt, th[n]
    verdict = (growth <= 15 && th[n] <= th[w] + 2 && failed == 0) ? "FLAT" : "GROWING or FAILING"
    printf "  verdict             %s\n", verdict
    exit verdict == "FLAT" ? 0 : 1
  }' "$SOAK_OUT"
