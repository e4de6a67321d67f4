#!/usr/bin/env bash
# Benchmark of statement evidence (see docs/statements-benchmark.md for the method and results).
#
#   scripts/statements-benchmark.sh                 # 5,000 statements, 10 snapshots per mode
#   STATEMENTS=5000 SNAPSHOTS=20 ACTIVE=5000 scripts/statements-benchmark.sh
#   (also: PG_BIN, PSQL, QUERY_RUNS)
#
# On a throw-away PostgreSQL cluster (Debian's PostgreSQL 15 by default) with pg_stat_statements
# loaded (max 10000, track = all) and STATEMENTS distinct statements in it, it measures:
#  1. snapshot(): wall time of SNAPSHOTS snapshots with the extension, against as many after
#     DROP EXTENSION pg_stat_statements (statement capture then stops at its first check); before
#     each snapshot ACTIVE of the statements run once, so every capture has ACTIVE changed entries;
#  2. storage: bytes of the statement tables (with indexes and TOAST) per capture, times 288 for a
#     day of 5-minute snapshots;
#  3. the statements collector's query (the exporter's one added statement per scrape, read from
#     StatementsCollector.java): client-side latency over QUERY_RUNS runs (p50, p90);
#  4. capture_plans() for a run of 10 plannable statements, while another session holds an
#     ACCESS EXCLUSIVE lock on one of their tables (the plan for that one fails fast).
# Results: target/statements-benchmark/<time>/summary.md
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

STATEMENTS=${STATEMENTS:-5000}
ACTIVE=${ACTIVE:-$STATEMENTS}
SNAPSHOTS=${SNAPSHOTS:-10}
QUERY_RUNS=${QUERY_RUNS:-200}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PSQL=${PSQL:-/usr/bin/psql}

OUT=$REPO/target/statements-benchmark/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/pgbt-stmt-bench.XXXXXX)
chmod 755 "$WORK"

as_server_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

HOLDER_PID=""
cleanup() {
  [ -n "$HOLDER_PID" ] && kill "$HOLDER_PID" 2>/dev/null || true
  if [ -f "$WORK/data/postmaster.pid" ]; then
    as_server_user "$PG_BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(free_port)
[ "$(id -u)" = 0 ] && chown postgres "$WORK"
as_server_user "$PG_BIN/initdb" -D "$WORK/data" -U postgres --auth=trust --no-sync >/dev/null
cat >> "$WORK/data/postgresql.conf" <<EOF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$WORK'
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.max = 10000
pg_stat_statements.track = all
track_io_timing = on
EOF
as_server_user "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w start >/dev/null
PSQL_CMD=("$PSQL" -X -q -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
psql_() { "${PSQL_CMD[@]}" "$@"; }

log "install, and $STATEMENTS distinct statements"
psql_ -f sql/install.sql >/dev/null 2>&1
psql_ -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
# distinct shapes (1+1+..)*(1*1*..), run nested (track = all) so they are cheap to create
psql_ -c "CREATE FUNCTION bench_run(n int) RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE r int; a int; b int; side int := ceil(sqrt(n));
BEGIN
  FOR i IN 0 .. n - 1 LOOP
    a := i / side + 1; b := i % side + 1;
    EXECUTE 'SELECT (1' || repeat('+1', a) || ') * (1' || repeat('*1', b) || ')' INTO r;
  END LOOP;
END \$\$"
psql_ -c "SELECT bench_run($STATEMENTS)"
ENTRIES=$(psql_ -Atc "SELECT count(*) FROM pg_stat_statements")
log "pg_stat_statements holds $ENTRIES entries"

time_snapshots() {   # prints the wall time of each snapshot() in ms, one per line
  for _ in $(seq 1 "$SNAPSHOTS"); do
    psql_ -c "SELECT bench_run($ACTIVE)" >/dev/null
    psql_ -Atc "SELECT round(extract(epoch FROM clock_timestamp() - t) * 1000, 2) FROM (SELECT clock_timestamp() AS t) s, LATERAL (SELECT telemetry.snapshot()) x"
  done
}
stats() {   # p50 and mean of numbers on stdin
  sort -n | awk '{a[NR]=$1; s+=$1} END {printf "p50 %.1f ms, mean %.1f ms, max %.1f ms (n=%d)", a[int((NR+1)/2)], s/NR, a[NR], NR}'
}

log "snapshots with statement capture"
psql_ -c "SELECT telemetry.snapshot()" >/dev/null     # the base capture
WITH_CAPTURE=$(time_snapshots)
STORAGE=$(psql_ -Atc "SELECT (sum(pg_total_relation_size(c)))::bigint FROM unnest(ARRAY['telemetry.snapshot_statements', 'telemetry.statement_captures', 'telemetry.statement_texts']::regclass[]) c")
CAPTURES=$(psql_ -Atc "SELECT count(*) FROM telemetry.statement_captures WHERE status = 'ok'")
ROWS=$(psql_ -Atc "SELECT round(avg(n)) FROM (SELECT count(*) n FROM telemetry.snapshot_statements GROUP BY snapshot_id) x")
LAST=$(psql_ -Atc "SELECT pg_total_relation_size('telemetry.statement_last')")

log "the statements collector's query"
QUERY=$(python3 - "$REPO/exporter/src/main/java/io/pgbatchtelemetry/exporter/collector/StatementsCollector.java" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
sql = re.search(r'READ = VersionedSql.of\(15, """(.*?)"""\);', src, re.S).group(1)
print(sql.replace('%1$s', '"public"').replace('%2$d', '40').strip())
PY
)
printf '%s\n' "$QUERY" > "$WORK/collector.sql"
SCRAPE=$(for _ in $(seq 1 "$QUERY_RUNS"); do
  psql_ -At -c '\timing on' -f "$WORK/collector.sql" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
done | stats)

log "snapshots without pg_stat_statements"
psql_ -c "DROP EXTENSION pg_stat_statements"
WITHOUT_CAPTURE=$(time_snapshots)

log "plan capture for 10 statements"
psql_ -c "CREATE EXTENSION pg_stat_statements"
for i in $(seq 1 10); do psql_ -c "CREATE TABLE IF NOT EXISTS plan_t$i (id int PRIMARY KEY, v int)"; done
RUN=$(psql_ -Atc "SELECT telemetry.batch_start('bench_plans')")
for i in $(seq 1 10); do
  for _ in 1 2 3; do psql_ -c "SELECT count(*) FROM plan_t$i a JOIN plan_t$(( i % 10 + 1 )) b USING (id) WHERE a.v > b.v" >/dev/null; done
done
psql_ -c "SELECT telemetry.batch_end($RUN)" >/dev/null
# a batch holds an exclusive lock on one table while the plans are captured
( "${PSQL_CMD[@]}" -c "BEGIN; LOCK TABLE plan_t1 IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(30); COMMIT" >/dev/null 2>&1 ) &
HOLDER_PID=$!
sleep 1
PLANS=$(psql_ -At -c '\timing on' -c "SELECT status, count(*) FROM telemetry.capture_plans($RUN, 10) GROUP BY 1 ORDER BY 1" \
        | tr '\n' ' ')
kill "$HOLDER_PID" 2>/dev/null || true
HOLDER_PID=""

{
  echo "# Statement evidence benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(git -C "$REPO" rev-parse --short HEAD))"
  echo
  echo "PostgreSQL: $(psql_ -Atc 'SHOW server_version'); machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "pg_stat_statements entries: $ENTRIES; statements run before each snapshot: $ACTIVE"
  echo
  echo "| measure | result |"
  echo "|---|---|"
  echo "| snapshot() with statement capture | $(printf '%s\n' "$WITH_CAPTURE" | stats) |"
  echo "| snapshot() without pg_stat_statements | $(printf '%s\n' "$WITHOUT_CAPTURE" | stats) |"
  echo "| statement rows kept per capture (mean) | $ROWS |"
  echo "| statement tables after $CAPTURES captures | $STORAGE bytes, $(( STORAGE / (CAPTURES > 0 ? CAPTURES : 1) )) per capture, $(( STORAGE * 288 / (CAPTURES > 0 ? CAPTURES : 1) / 1024 )) kB per day at 5-minute snapshots |"
  echo "| statement_last (the base, replaced each capture) | $LAST bytes |"
  echo "| statements collector query (client-side) | $SCRAPE |"
  echo "| capture_plans() for 10 statements, one table exclusively locked | $PLANS |"
} | tee "$OUT/summary.md"

# 5. per-run statement totals (56-run-statements.sql): the two steps batch_start()/batch_end() add
#    after their snapshot, timed on their own (the snapshot itself is measured in 1.): copying the
#    base of every entry, and the run's deltas, ranking and kept rows; ACTIVE statements run in each
#    run, SNAPSHOTS runs of one name (each keeps the statements its baseline runs kept as well).
log "per-run statement totals: batch_start/batch_end extra"
timed() {   # wall time of one SQL expression in ms
  psql_ -Atc "SELECT round(extract(epoch FROM clock_timestamp() - t) * 1000, 2) FROM (SELECT clock_timestamp() AS t) s, LATERAL (SELECT $1) x"
}
RUN_START_MS=""; RUN_END_MS=""
for _ in $(seq 1 "$SNAPSHOTS"); do
  RUN=$(psql_ -Atc "INSERT INTO telemetry.runs (name) VALUES ('bench_run_totals') RETURNING run_id")
  SNAP=$(psql_ -Atc "SELECT telemetry.snapshot()")
  RUN_START_MS+="$(timed "telemetry._run_statements_start($RUN, $SNAP)")"$'\n'
  psql_ -c "SELECT bench_run($ACTIVE)" >/dev/null
  psql_ -c "UPDATE telemetry.runs SET state = 'succeeded', ended_at = clock_timestamp() WHERE run_id = $RUN" >/dev/null
  SNAP=$(psql_ -Atc "SELECT telemetry.snapshot()")
  RUN_END_MS+="$(timed "telemetry._run_statements_end($RUN, $SNAP)")"$'\n'
done
RUN_ROWS=$(psql_ -Atc "SELECT round(avg(n)) FROM (SELECT count(*) n FROM telemetry.run_statements GROUP BY run_id) x")
RUN_BYTES=$(psql_ -Atc "SELECT (pg_total_relation_size('telemetry.run_statements') + pg_total_relation_size('telemetry.run_statement_status')) / greatest((SELECT count(DISTINCT run_id) FROM telemetry.run_statements), 1)")
RUN_ENTRIES=$(psql_ -Atc "SELECT round(avg(entries)) FROM telemetry.run_statement_status WHERE status = 'kept'")
{
  echo "| per-run totals: batch_start() extra (base of $ENTRIES entries) | $(printf '%s' "$RUN_START_MS" | stats) |"
  echo "| per-run totals: batch_end() extra ($RUN_ENTRIES statements ran in the run) | $(printf '%s' "$RUN_END_MS" | stats) |"
  echo "| per-run totals: rows kept per run (mean), storage per run (rows, and the calls and time of the statements in "all other statements") | $RUN_ROWS rows, $RUN_BYTES bytes |"
} | tee -a "$OUT/summary.md"
