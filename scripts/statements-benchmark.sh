#!/usr/bin/env bash
# Benchmark of statement evidence (see docs/statements-benchmark.md for the method and results).
#
#   scripts/statements-benchmark.sh                 # 5,000 statements, 30 snapshots per workload
#   STATEMENTS=5000 SNAPSHOTS=30 WARMUP=5 scripts/statements-benchmark.sh
#   STATEMENT_TOP_N=50 scripts/statements-benchmark.sh   # another statement_top_n than the default
#   (also: PG_BIN, PSQL, QUERY_RUNS)
#
# On a throw-away PostgreSQL cluster (Debian's PostgreSQL 15 by default) with pg_stat_statements
# loaded (max 10000, track = all) and STATEMENTS distinct statements in it, it measures:
#  1. snapshot(): wall time (p50 of SNAPSHOTS) with statement capture, under three workloads run
#     before each snapshot, and without pg_stat_statements (DROP EXTENSION: capture stops at its
#     first check) under each of them, right before (so both sides see the same load);
#       uniform: every one of the STATEMENTS statements runs once (only time and calls move);
#       mix:     the same, plus five groups of 60 statements that each lead one measure: called 5
#                times (calls), pg_sleep (time), sequential scans bigger than the buffer ring
#                (shared blocks read), sorts over work_mem (temp written), INSERTs (WAL bytes), so
#                the five top-N lists hardly overlap: the worst case for storage;
#       groups:  only the five groups run (300 of the statements active): a realistic mix;
#     and, since snapshots seconds apart read texts at most once per statement_text_interval, the
#     mix once more with the interval 0 on emptied texts: the cost of captures that read texts;
#  2. storage per capture in steady state: after each snapshot the bytes of snapshot_statements
#     (heap), its index and statement_texts (with TOAST and index); the slope over the captures
#     after the first WARMUP of each workload, times 288 for a day of 5-minute snapshots;
#  3. the statements collector's query (the exporter's one added statement per scrape, read from
#     StatementsCollector.java): client-side latency over QUERY_RUNS runs (p50, p90);
#  4. capture_plans() for a run of 10 plannable statements, while another session holds an
#     ACCESS EXCLUSIVE lock on one of their tables (the plan for that one fails fast).
# Results: target/statements-benchmark/<time>/summary.md
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

STATEMENTS=${STATEMENTS:-5000}
SNAPSHOTS=${SNAPSHOTS:-30}
WARMUP=${WARMUP:-5}
QUERY_RUNS=${QUERY_RUNS:-200}
ACTIVE=${ACTIVE:-$STATEMENTS}   # statements run in each run of the per-run totals (5.)
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
shared_buffers = 16MB
EOF
as_server_user "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w start >/dev/null
PSQL_CMD=("$PSQL" -X -q -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
psql_() { "${PSQL_CMD[@]}" "$@"; }

log "install, and $STATEMENTS distinct statements"
psql_ -f sql/install.sql >/dev/null 2>&1
psql_ -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
if [ -n "${STATEMENT_TOP_N:-}" ]; then
  psql_ -c "UPDATE telemetry.config SET value = '$((STATEMENT_TOP_N))' WHERE key = 'statement_top_n'"
fi
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
# five groups of 60 statements, each leading one measure (distinct shapes: k times '+1')
psql_ -c "CREATE TABLE mix_read AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 60000) g"   # ~8 MB: over shared_buffers / 4, read through a ring
psql_ -c "CREATE TABLE mix_wal (v int)"
psql_ -c "CREATE FUNCTION bench_groups() RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE r bigint; e text;
BEGIN
  PERFORM set_config('work_mem', '64kB', true);
  FOR k IN 1 .. 60 LOOP
    e := '(1' || repeat('+1', k) || ')';
    FOR i IN 1 .. 5 LOOP EXECUTE 'SELECT 2 * ' || e INTO r; END LOOP;
    EXECUTE 'SELECT count(*) FROM pg_sleep(0.01) WHERE ' || e || ' > 0' INTO r;
    EXECUTE 'SELECT count(*) FROM mix_read WHERE id > ' || e INTO r;
    EXECUTE 'SELECT count(*) FROM (SELECT g FROM generate_series(1, 5000) g ORDER BY g * ' || e || ') s' INTO r;
    EXECUTE 'INSERT INTO mix_wal SELECT g + ' || e || ' FROM generate_series(1, 100) g';
  END LOOP;
  TRUNCATE mix_wal;
END \$\$"
psql_ -c "SELECT bench_groups()"
ENTRIES=$(psql_ -Atc "SELECT count(*) FROM pg_stat_statements")
log "pg_stat_statements holds $ENTRIES entries"

workload() {
  case $1 in
    uniform) echo "SELECT bench_run($STATEMENTS)" ;;
    mix)     echo "SELECT bench_run($STATEMENTS), bench_groups()" ;;
    groups)  echo "SELECT bench_groups()" ;;
  esac
}
# SNAPSHOTS snapshots, each after the workload; prints "<ms> <heap> <index> <texts> <rows>" per snapshot
time_snapshots() {
  for _ in $(seq 1 "$SNAPSHOTS"); do
    psql_ -c "$(workload "$1")" >/dev/null
    psql_ -At -F' ' -c "SELECT round(extract(epoch FROM clock_timestamp() - t) * 1000, 2),
        pg_relation_size('telemetry.snapshot_statements'), pg_indexes_size('telemetry.snapshot_statements'),
        pg_total_relation_size('telemetry.statement_texts'), (SELECT count(*) FROM telemetry.snapshot_statements)
      FROM (SELECT clock_timestamp() AS t) s, LATERAL (SELECT telemetry.snapshot()) x"
  done
}
stats() {   # p50 and mean of numbers on stdin
  sort -n | awk '{a[NR]=$1; s+=$1} END {printf "p50 %.1f ms, mean %.1f ms, max %.1f ms (n=%d)", a[int((NR+1)/2)], s/NR, a[NR], NR}'
}
p50() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# steady-state growth per capture from time_snapshots' lines: the slope after the first WARMUP
growth() {
  awk -v w="$WARMUP" '{n++; if (n == w) {h0=$2; i0=$3; t0=$4; r0=$5} h=$2; i=$3; t=$4; r=$5}
    END {c = n - w; if (c < 1) c = 1; hs=(h-h0)/c; is=(i-i0)/c; ts=(t-t0)/c; tot=hs+is+ts;
         printf "%.1f rows, %.0f B rows + %.0f B index + %.0f B texts = %.0f B per capture, %.2f MB per day (slope over %d captures)",
                (r-r0)/c, hs, is, ts, tot, tot*288/1e6, c}'
}

declare -A TIMES GROWTH P50 TEXT_READS WITHOUT
texts_read() {   # captures after snapshot $1 that read pg_stat_statements texts
  psql_ -Atc "SELECT count(*) FROM telemetry.statement_captures WHERE snapshot_id > $1 AND texts_done"
}
# Each workload: SNAPSHOTS snapshots without pg_stat_statements (DROP EXTENSION: the capture stops
# at its first check), then, right after, SNAPSHOTS with it (after CREATE EXTENSION and one untimed
# capture that records the base), so that both sides of the difference see the same load.
phase() {   # phase <name> <workload>
  log "snapshots without and with statement capture, workload $2 ($1)"
  psql_ -c "DROP EXTENSION IF EXISTS pg_stat_statements" >/dev/null
  WITHOUT[$1]=$(time_snapshots "$2" | cut -d' ' -f1)
  psql_ -c "CREATE EXTENSION pg_stat_statements" -c "SELECT telemetry.snapshot()" >/dev/null
  local from_id r
  from_id=$(psql_ -Atc "SELECT max(id) FROM telemetry.snapshots")
  r=$(time_snapshots "$2")
  TIMES[$1]=$(cut -d' ' -f1 <<<"$r" | stats)
  P50[$1]=$(cut -d' ' -f1 <<<"$r" | p50)
  GROWTH[$1]=$(growth <<<"$r")
  TEXT_READS[$1]=$(texts_read "$from_id")
}
for w in uniform mix groups; do
  phase "$w" "$w"
done
# snapshots seconds apart read texts at most once per statement_text_interval (15 minutes): the
# cost of a capture that reads them, measured with the interval 0 (a read at every capture that
# keeps a statement without a stored text) on texts emptied first, as after an install
psql_ -c "UPDATE telemetry.config SET value = '0' WHERE key = 'statement_text_interval'" -c "TRUNCATE telemetry.statement_texts" >/dev/null
phase mix_texts mix
psql_ -c "UPDATE telemetry.config SET value = '15 minutes' WHERE key = 'statement_text_interval'" >/dev/null
ROW_BYTES=$(psql_ -Atc "SELECT round(avg(pg_column_size(s.*))) FROM telemetry.snapshot_statements s")
LAST=$(psql_ -Atc "SELECT pg_total_relation_size('telemetry.statement_last')")
TOP_N=$(psql_ -Atc "SELECT value FROM telemetry.config WHERE key = 'statement_top_n'")

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

log "plan capture for 10 statements"
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
  echo "pg_stat_statements entries: $ENTRIES; statement_top_n = $TOP_N; $SNAPSHOTS snapshots per workload (see the script's header)"
  echo
  echo "| measure | result |"
  echo "|---|---|"
  for w in uniform mix groups; do
    echo "| snapshot() without pg_stat_statements, $w | $(printf '%s\n' "${WITHOUT[$w]}" | stats) |"
    echo "| snapshot() with statement capture, $w | ${TIMES[$w]}; extra over the p50 without: $(awk -v a="${P50[$w]}" -v b="$(printf '%s\n' "${WITHOUT[$w]}" | p50)" 'BEGIN {printf "%.1f", a - b}') ms; captures that read texts: ${TEXT_READS[$w]} |"
  done
  echo "| snapshot() without pg_stat_statements, mix (before the next line) | $(printf '%s\n' "${WITHOUT[mix_texts]}" | stats) |"
  echo "| snapshot() with statement capture, mix, texts read at every capture (statement_text_interval 0) | ${TIMES[mix_texts]}; extra over the p50 without: $(awk -v a="${P50[mix_texts]}" -v b="$(printf '%s\n' "${WITHOUT[mix_texts]}" | p50)" 'BEGIN {printf "%.1f", a - b}') ms; captures that read texts: ${TEXT_READS[mix_texts]} |"
  for w in uniform mix groups; do
    echo "| storage growth, $w | ${GROWTH[$w]} |"
  done
  echo "| statement row, mean pg_column_size | $ROW_BYTES bytes |"
  echo "| statement_last (the base, unlogged, fillfactor 50) | $LAST bytes |"
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
