#!/usr/bin/env bash
# Benchmark of the telemetry schema against a running server (PostgreSQL 15-18).
#   PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres [PGPASSWORD=...] scripts/bench-sql.sh [database]
# Creates database <database> (default telemetry_bench), installs sql/install.sql there, then:
#   1. sample() with 200 sessions connected (150 idle, 50 running pg_sleep), 20 calls; the per-second
#      run sampling: sample_open_runs() with no run open, the sample of an open run, and a tick that
#      finds a sample taken less than half a second ago
#   2. snapshot() with 100 tracked tables, 20 calls in one session, and the median of 9 calls
#      each in a new session (as pg_cron runs it)
#   3. storage per sample/snapshot measured from relation sizes -> rows/day and bytes/day at the defaults
#   4. 7 days of synthetic history at the default rates (2016 snapshots, 20160 samples), then
#      compare() / wait_summary() / diagnose() over a 1-hour window and compare() over 7 days
# Needs max_connections >= 210. Prints one line per measurement (milliseconds per call; with
# "cpu" and the backend's CPU milliseconds per call where the server can read /proc/self).
set -euo pipefail
DB=${1:-telemetry_bench}
HERE=$(cd "$(dirname "$0")/.." && pwd)
PSQL="psql -X -q -v ON_ERROR_STOP=1"
$PSQL -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
$PSQL -d "$DB" -f "$HERE/sql/install.sql" >/dev/null 2>&1
q() { $PSQL -At -d "$DB" -c "$1"; }
# The backend's own CPU time (ns) from /proc/self/schedstat (Linux, superuser), NULL elsewhere. On a
# busy machine wall time mostly measures waiting for a core; CPU time shows the work itself.
CPU_NS="(SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::numeric)"
CPU_PROBE=$(q "SELECT $CPU_NS" 2>/dev/null || true)
[ -n "$CPU_PROBE" ] || CPU_NS="NULL::numeric"
# average milliseconds of N calls of an expression, timed inside the server, then "cpu" and the
# backend's CPU milliseconds per call
timeit() {
  q "DO \$\$ DECLARE t0 timestamptz; c0 numeric; n int := $2; BEGIN c0 := $CPU_NS; t0 := clock_timestamp();
       FOR i IN 1..n LOOP PERFORM $1; END LOOP;
       RAISE NOTICE '% cpu %', round(extract(epoch FROM clock_timestamp() - t0) * 1000 / n, 2),
                               coalesce(round(($CPU_NS - c0) / 1e6 / n, 2)::text, 'n/a'); END \$\$" 2>&1 \
    | grep -v "telemetry\.diagnose" | sed -n "s/.*NOTICE: *//p"
}
# median milliseconds of one call in each of N new sessions (then "cpu" and the median CPU ms):
# what a pg_cron job pays, as every run is a new backend (cold caches, PL/pgSQL compiled and plans
# made again)
timeit_fresh() {
  local calls
  calls=$(for i in $(seq 1 "$2"); do
    q "DO \$\$ DECLARE t0 timestamptz; c0 numeric; BEGIN c0 := $CPU_NS; t0 := clock_timestamp(); PERFORM $1;
         RAISE NOTICE '% %', round(extract(epoch FROM clock_timestamp() - t0) * 1000, 2),
                             coalesce(round(($CPU_NS - c0) / 1e6, 2)::text, 'n/a'); END \$\$" 2>&1 \
      | sed -n "s/.*NOTICE: *//p"
  done)
  echo "$(median 1 <<<"$calls") cpu $(median 2 <<<"$calls")"
}
median() { cut -d' ' -f"$1" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

pids=()
for i in $(seq 1 150); do $PSQL -d "$DB" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 & pids+=($!); done
for i in $(seq 1 50); do $PSQL -d "$DB" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 & pids+=($!); done
# 150 of them idle: open sessions that wait for input
q "SELECT 1" >/dev/null
for i in $(seq 1 300); do
  n=$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB' AND wait_event = 'PgSleep'")
  [ "$n" -ge 200 ] && break; sleep 0.2
done
echo "sessions_connected $(q "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB'")"
echo "sample_ms_200_sessions $(timeit 'telemetry.sample()' 20)"
# per-second sampling while a run is open (pg_cron 1.5+ job or the exporter's sampler): what one tick
# costs with no run open (every tick), and the sample itself with one open (once a second per run)
q "UPDATE telemetry.runs SET state = 'failed', ended_at = now() WHERE state = 'running'" >/dev/null
echo "run_tick_ms_no_open_run $(timeit "telemetry.sample_open_runs('bench', 1)" 100)"
q "INSERT INTO telemetry.runs (name) VALUES ('bench_open_run')" >/dev/null
echo "run_sample_ms_200_sessions $(timeit "telemetry._sample('bench', 1)" 20)"
echo "run_tick_ms_open_run_sampled_just_now $(timeit "telemetry.sample_open_runs('bench', 1)" 100)"
q "UPDATE telemetry.runs SET state = 'failed', ended_at = now() WHERE state = 'running'" >/dev/null
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$DB' AND pid <> pg_backend_pid()" >/dev/null

q "DO \$\$ BEGIN FOR i IN 1..100 LOOP
     EXECUTE format('CREATE TABLE bench_t%s (id int PRIMARY KEY, v text)', i);
     EXECUTE format('INSERT INTO bench_t%s SELECT g, ''x'' FROM generate_series(1, 100) g', i);
     PERFORM telemetry.track_table(format('bench_t%s', i)); END LOOP; END \$\$"
echo "snapshot_ms_100_tables $(timeit 'telemetry.snapshot()' 20)"
echo "snapshot_ms_100_tables_new_session $(timeit_fresh 'telemetry.snapshot()' 9)"

# storage: per-sample and per-snapshot bytes from the rows collected above
q "SELECT 'rows_per_sample ' || round((SELECT (SELECT count(*) FROM telemetry.samples) + (SELECT count(*) FROM telemetry.sample_waits)
          + (SELECT count(*) FROM telemetry.sample_activity) + (SELECT count(*) FROM telemetry.sample_locks)
          + (SELECT count(*) FROM telemetry.sample_progress) + (SELECT count(*) FROM telemetry.sample_replication))::numeric
          / (SELECT count(*) FROM telemetry.samples), 1)"
q "SELECT 'bytes_per_sample ' || round((pg_total_relation_size('telemetry.samples') + pg_total_relation_size('telemetry.sample_waits')
          + pg_total_relation_size('telemetry.sample_activity') + pg_total_relation_size('telemetry.sample_locks')
          + pg_total_relation_size('telemetry.sample_progress') + pg_total_relation_size('telemetry.sample_replication'))::numeric
          / (SELECT count(*) FROM telemetry.samples))"
q "SELECT 'rows_per_snapshot_100_tables ' || round(((SELECT count(*) FROM telemetry.snapshots) + (SELECT count(*) FROM telemetry.snapshot_tables))::numeric
          / (SELECT count(*) FROM telemetry.snapshots), 1)"
q "SELECT 'bytes_per_snapshot_100_tables ' || round((pg_total_relation_size('telemetry.snapshots') + pg_total_relation_size('telemetry.snapshot_tables'))::numeric
          / (SELECT count(*) FROM telemetry.snapshots))"

# 7 days of history at the default rates: copies of the collected rows, shifted in time
q "SELECT telemetry.untrack_table(format('bench_t%s', i)) FROM generate_series(11, 100) i" >/dev/null
q "INSERT INTO telemetry.snapshots SELECT (jsonb_populate_record(NULL::telemetry.snapshots,
        to_jsonb(s) || jsonb_build_object('id', nextval(pg_get_serial_sequence('telemetry.snapshots', 'id')),
                                          'captured_at', now() - g * interval '5 minutes'))).*
     FROM (SELECT * FROM telemetry.snapshots ORDER BY id DESC LIMIT 1) s, generate_series(1, 2016) g" 2>/dev/null \
  || q "INSERT INTO telemetry.snapshots OVERRIDING SYSTEM VALUE SELECT (jsonb_populate_record(NULL::telemetry.snapshots,
        to_jsonb(s) || jsonb_build_object('id', nextval(pg_get_serial_sequence('telemetry.snapshots', 'id')),
                                          'captured_at', now() - g * interval '5 minutes'))).*
     FROM (SELECT * FROM telemetry.snapshots ORDER BY id DESC LIMIT 1) s, generate_series(1, 2016) g"
q "INSERT INTO telemetry.snapshot_tables SELECT s.id, t.relid, t.schemaname, t.relname, t.partitions, t.total_bytes, t.size_exact,
          t.n_live_tup, t.n_dead_tup, t.n_tup_ins, t.n_tup_upd, t.n_tup_del, t.n_tup_hot_upd, t.seq_scan, t.idx_scan,
          t.vacuum_count, t.autovacuum_count, t.analyze_count, t.autoanalyze_count, NULL, NULL, NULL, NULL, NULL
     FROM telemetry.snapshots s
     CROSS JOIN (SELECT DISTINCT ON (relid) * FROM telemetry.snapshot_tables WHERE relid IN (SELECT relid FROM telemetry.tracked_tables)
                  ORDER BY relid, snapshot_id DESC) t
    WHERE s.captured_at < now() - interval '1 minute' AND NOT EXISTS (SELECT 1 FROM telemetry.snapshot_tables x WHERE x.snapshot_id = s.id)"
q "INSERT INTO telemetry.samples (captured_at, active_sessions, idle_in_xact, blocked_sessions, total_backends)
     SELECT now() - g * interval '30 seconds', 5, 0, 0, 12 FROM generate_series(1, 20160) g"
q "INSERT INTO telemetry.sample_waits SELECT s.id, 'client backend', w.t, w.e, 1 FROM telemetry.samples s,
     (VALUES ('CPU', 'CPU'), ('IO', 'DataFileRead'), ('LWLock', 'WALWrite'), ('Lock', 'transactionid')) w(t, e)
    WHERE s.captured_at < now() - interval '1 minute'"
q "INSERT INTO telemetry.sample_activity (sample_id, pid, usename, application_name, backend_type, state, query_start, query_preview)
     SELECT s.id, 1000 + k, 'app', 'batch', 'client backend', 'active', s.captured_at - interval '1 minute', 'UPDATE orders SET ...'
       FROM telemetry.samples s, generate_series(1, 5) k WHERE s.captured_at < now() - interval '1 minute'"
q "ANALYZE" >/dev/null
echo "history_snapshots $(q 'SELECT count(*) FROM telemetry.snapshots') history_samples $(q 'SELECT count(*) FROM telemetry.samples')"
echo "compare_ms_1h_window $(timeit "(SELECT count(*) FROM telemetry.compare(now() - interval '26 hours', now() - interval '25 hours'))" 20)"
echo "compare_ms_7d_window $(timeit "(SELECT count(*) FROM telemetry.compare(now() - interval '7 days', now() - interval '10 minutes'))" 20)"
echo "table_compare_ms_1h_window $(timeit "(SELECT count(*) FROM telemetry.table_compare('bench_t1', now() - interval '26 hours', now() - interval '25 hours'))" 20)"
echo "wait_summary_ms_1h_window $(timeit "(SELECT count(*) FROM telemetry.wait_summary(now() - interval '26 hours', now() - interval '25 hours'))" 20)"
echo "diagnose_ms_1h_window $(timeit "(SELECT count(*) FROM telemetry.diagnose(now() - interval '26 hours', now() - interval '25 hours'))" 10)"
echo "deltas_view_ms_7d $(timeit "(SELECT count(*) FROM telemetry.deltas)" 3)"
echo "schema_bytes_7d $(q "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relnamespace = 'telemetry'::regnamespace AND c.relkind = 'r'")"
