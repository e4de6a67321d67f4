#!/usr/bin/env bash
# Benchmark of telemetry.run_report() and the HTML report at the size the issue names: a 1-hour run
# sampled every second (3 600 samples, 4 wait rows and 4 activity rows each, a snapshot every
# 5 minutes) and 5 such baseline runs, in a schema that also holds 7 days of 30-second samples.
# Starts a throw-away PostgreSQL 15 (Debian) cluster on a free port, times run_report() 7 times
# (the first is a cold cache), renders the HTML with the exporter's jar and prints its size, then
# removes the cluster. Numbers go to docs/report.md with the commit they were measured at.
#
#   scripts/bench-report.sh          # needs exporter/target/pg-batch-exporter.jar (mvn -DskipTests package)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=/usr/lib/postgresql/15/bin
jar="$here/exporter/target/pg-batch-exporter.jar"
[[ -x $bin/initdb ]] || { echo "bench-report.sh: PostgreSQL 15 is missing (scripts/install-deps.sh)" >&2; exit 1; }
[[ -f $jar ]] || { echo "bench-report.sh: build the jar first: mvn -B -DskipTests package" >&2; exit 1; }

dir=$(mktemp -d /tmp/pgbt-bench-report.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg=()
if [[ $(id -u) -eq 0 ]]; then chown postgres "$dir"; as_pg=(runuser -u postgres --); fi
cleanup() { "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
[[ -n ${BENCH_KEEP:-} ]] && trap - EXIT && echo "bench-report.sh: keeping $dir (port $port)"
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
track_io_timing = on
CONF
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
psql=(psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1)
"${psql[@]}" -f "$here/sql/install.sql" >/dev/null 2>&1

echo "bench-report.sh: generating 7 days of 30 s samples and 6 one-hour runs sampled every second ..."
"${psql[@]}" <<'SQL'
SELECT telemetry.snapshot();
DO $gen$
DECLARE
  v_run bigint;
  v_start timestamptz;
  v_template bigint := (SELECT max(id) FROM telemetry.snapshots);
  v_cols text := (SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) FROM information_schema.columns
                   WHERE table_schema = 'telemetry' AND table_name = 'snapshots'
                     AND column_name NOT IN ('id', 'captured_at', 'wal_bytes', 'temp_bytes', 'blks_read', 'ckpt_timed'));
BEGIN
  FOR r IN 1..6 LOOP
    v_start := date_trunc('day', now()) - (7 - r) * interval '1 day' + interval '1 hour';
    INSERT INTO telemetry.runs (name, state, started_at, ended_at)
    VALUES ('bench_nightly', 'succeeded', v_start, v_start + CASE WHEN r = 6 THEN interval '1 hour' ELSE interval '50 min' END)
    RETURNING run_id INTO v_run;
    IF r = 6 THEN
      UPDATE telemetry.run_settings SET setting = '4096', source = 'session' WHERE run_id = v_run AND name = 'work_mem';
    END IF;
    -- a snapshot every 5 minutes with counters that grow
    FOR k IN 0..13 LOOP
      EXECUTE format('INSERT INTO telemetry.snapshots (captured_at, wal_bytes, temp_bytes, blks_read, ckpt_timed, %s)
                      SELECT $1, $2, $3, $4, $5, %s FROM telemetry.snapshots WHERE id = $6', v_cols, v_cols)
        USING v_start + k * interval '5 min' - interval '1 s', (r * 1e12 + k * 5e8)::numeric,
              (r * 1e12 + k * CASE WHEN r = 6 THEN 1e9 ELSE 3e6 END)::numeric, (r * 1e9 + k * 1e5)::numeric,
              (r * 100 + k / 3)::numeric, v_template;
    END LOOP;
  END LOOP;
  -- samples in time order, as sample() writes them: every 30 s for 7 days, every second inside the 1-hour runs
  CREATE TEMP TABLE ts AS
    SELECT t, false AS in_run FROM generate_series(now() - interval '7 days', now(), interval '30 s') t
     WHERE NOT EXISTS (SELECT 1 FROM telemetry.runs r WHERE t BETWEEN r.started_at AND r.started_at + interval '1 hour')
    UNION ALL
    SELECT r.started_at + g * interval '1 s', true FROM telemetry.runs r, generate_series(0, 3599) g;
  WITH s AS (INSERT INTO telemetry.samples (captured_at, active_sessions, idle_in_xact, blocked_sessions, total_backends)
             SELECT t, CASE WHEN in_run THEN 4 ELSE 1 END, 0, 0, 30 FROM ts ORDER BY t RETURNING id, captured_at)
  INSERT INTO telemetry.sample_waits (sample_id, backend_type, wait_event_type, wait_event, waiters)
  SELECT s.id, 'client backend', w.t, w.e, 1 + (random() * 2)::int
    FROM s JOIN ts ON ts.t = s.captured_at,
         (VALUES ('CPU', 'CPU', false), ('IO', 'DataFileRead', false), ('Lock', 'transactionid', true), ('LWLock', 'WALWrite', true)) w(t, e, run_only)
   WHERE ts.in_run OR NOT w.run_only
   ORDER BY s.id;
  INSERT INTO telemetry.sample_activity (sample_id, pid, usename, application_name, backend_type, state, wait_event_type,
                                         wait_event, xact_start, query_start)
  SELECT s.id, 1000 + p, 'batch', 'nightly', 'client backend', 'active', 'IO', 'DataFileRead', s.captured_at, s.captured_at
    FROM telemetry.samples s JOIN ts ON ts.t = s.captured_at AND ts.in_run, generate_series(1, 4) p;
  INSERT INTO telemetry.sample_queries (sample_id, pid, role_oid, query)
  SELECT a.sample_id, a.pid, 10, 'UPDATE orders SET status = $1 WHERE id = $2' FROM telemetry.sample_activity a;
END
$gen$;
ANALYZE;
SQL

slow=$("${psql[@]}" -At -c "SELECT max(run_id) FROM telemetry.runs")
echo "bench-report.sh: samples: $("${psql[@]}" -At -c "SELECT count(*) FROM telemetry.samples"), sample_waits: $("${psql[@]}" -At -c "SELECT count(*) FROM telemetry.sample_waits"), run $slow against $("${psql[@]}" -At -c "SELECT count(*) FROM telemetry.baseline_runs($slow)") baseline runs"
# Wall time on a shared machine says more about the other tenants than about run_report(); the
# backend's own CPU time (utime + stime from /proc, 10 ms ticks) is printed beside it.
times=()
cpu=()
for i in 1 2 3 4 5 6 7; do
  t=$("${psql[@]}" -At <<SQL
SELECT pg_backend_pid() AS pid \gset
\setenv BENCH_PID :pid
\! awk '{print "cpu_before", \$14 + \$15}' /proc/\$BENCH_PID/stat
\timing on
SELECT length(telemetry.run_report($slow)::text);
\timing off
\! awk '{print "cpu_after", \$14 + \$15}' /proc/\$BENCH_PID/stat
SQL
)
  times+=("$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$t")")
  b=$(sed -n 's/^cpu_before //p' <<<"$t"); a=$(sed -n 's/^cpu_after //p' <<<"$t")
  cpu+=("$(( (a - b) * 1000 / $(getconf CLK_TCK) ))")
done
echo "bench-report.sh: load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench-report.sh: run_report($slow) wall ms, 7 calls (first cold): ${times[*]}"
echo "bench-report.sh: run_report($slow) backend CPU ms, same calls:   ${cpu[*]}"
size=$("${psql[@]}" -At -c "SELECT length(telemetry.run_report($slow)::text)")
echo "bench-report.sh: run_report JSON: $size bytes"
out="$dir/report.html"
start=$(date +%s%N)
DATA_SOURCE_NAME="postgresql://postgres@127.0.0.1:$port/postgres" java -jar "$jar" report --run "$slow" --out "$out" 2>/dev/null
end=$(date +%s%N)
echo "bench-report.sh: HTML report: $(stat -c %s "$out") bytes, command took $(( (end - start) / 1000000 )) ms (JVM start included)"
DATA_SOURCE_NAME="postgresql://postgres@127.0.0.1:$port/postgres" java -jar "$jar" report --run "$slow" --format md 2>/dev/null | sed -n '/## Verdict/,/## Warnings/p' | head -12
