----------------------------------------------------------------------------------------------
-- A run against its baseline: compare_to_baseline(), the baseline wording of diagnose(run_id),
-- and run_report(), the one JSON document every report (HTML, Markdown) renders. Numbers are
-- computed here, once; renderers only format. See docs/report.md for the format.
----------------------------------------------------------------------------------------------

-- The metrics a run is compared on: unit, the diagnostic pattern each serves, and how a DBA says it.
-- Volumes are also given per second of run time: a run that took longer did not necessarily do more.
CREATE FUNCTION telemetry._report_metrics()
RETURNS TABLE (metric text, unit text, pattern text, label text, ord int)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ VALUES
  ('duration_s',            's',         NULL,                      'duration',                               1),
  ('db_time_s',             's',         NULL,                      'database time (active sessions x time)', 2),
  ('aas',                   'sessions',  NULL,                      'average active sessions',                3),
  ('wait_lock_s',           's',         'lock_contention',         'time waiting for locks',                 10),
  ('max_lock_wait_s',       's',         'lock_contention',         'longest lock wait',                      11),
  ('wait_lwlock_s',         's',         'buffer_wal_pressure',     'time in LWLock waits',                   12),
  ('wait_io_s',             's',         NULL,                      'time in I/O waits',                      13),
  ('wait_cpu_s',            's',         NULL,                      'time on CPU (no wait event)',            14),
  ('wait_ipc_s',            's',         NULL,                      'time in IPC waits',                      15),
  ('wait_client_s',         's',         NULL,                      'time in Client waits',                   16),
  ('wait_bufferpin_s',      's',         NULL,                      'time in BufferPin waits',                17),
  ('wait_timeout_s',        's',         NULL,                      'time in Timeout waits',                  18),
  ('wait_extension_s',      's',         NULL,                      'time in Extension waits',                19),
  ('temp_bytes',            'bytes',     'temp_file_spills',        'temp written',                           20),
  ('temp_bytes_per_s',      'bytes/s',   'temp_file_spills',        'temp written per second',                21),
  ('temp_files',            'count',     'temp_file_spills',        'temp files',                             22),
  ('wal_bytes',             'bytes',     'buffer_wal_pressure',     'WAL written',                            30),
  ('wal_bytes_per_s',       'bytes/s',   'buffer_wal_pressure',     'WAL written per second',                 31),
  ('backend_buffer_writes', 'buffers',   'buffer_wal_pressure',     'buffers written by backends themselves', 32),
  ('wal_buffers_full',      'count',     'buffer_wal_pressure',     'WAL buffers full',                       33),
  ('checkpoints_requested', 'count',     'checkpoint_interference', 'requested checkpoints',                  40),
  ('checkpoints_timed',     'count',     'checkpoint_interference', 'timed checkpoints',                      41),
  ('checkpoint_write_ms',   'ms',        'checkpoint_interference', 'checkpoint write time',                  42),
  ('checkpoint_sync_ms',    'ms',        'checkpoint_interference', 'checkpoint sync time',                   43),
  ('autovacuum_runs',       'count',     'autovacuum_interference', 'autovacuum runs on tracked tables',      50),
  ('max_replay_lag_bytes',  'bytes',     'replication_lag',         'replay lag',                             60),
  ('blocks_read',           'blocks',    NULL,                      'blocks read',                            70),
  ('blocks_read_per_s',     'blocks/s',  NULL,                      'blocks read per second',                 71),
  ('blocks_hit',            'blocks',    NULL,                      'blocks found in shared buffers',         72),
  ('xact_commit',           'count',     NULL,                      'commits (whole database)',               80),
  ('deadlocks',             'count',     'lock_contention',         'deadlocks',                              81)
$$;

-- A value in its unit as a DBA writes it: 1.2 GB, 45.0 s, 3 min.
CREATE FUNCTION telemetry._fmt(v numeric, unit text)
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE
    WHEN v IS NULL THEN 'n/a'
    WHEN unit = 'bytes' THEN pg_size_pretty(round(v))
    WHEN unit = 'bytes/s' THEN pg_size_pretty(round(v)) || '/s'
    WHEN unit = 's' AND abs(v) >= 3600 THEN round(v / 3600, 1) || ' h'
    WHEN unit = 's' AND abs(v) >= 120 THEN round(v / 60, 1) || ' min'
    WHEN unit = 's' THEN round(v, 1) || ' s'
    WHEN unit = 'ms' THEN round(v) || ' ms'
    WHEN v = trunc(v) THEN trunc(v)::text || CASE WHEN unit IN ('count', 'sessions') THEN '' ELSE ' ' || unit END
    ELSE round(v, 2)::text || CASE WHEN unit IN ('count', 'sessions') THEN '' ELSE ' ' || unit END
  END $$;

-- A pg_settings value with its unit, as postgresql.conf would say it (work_mem 4096 kB -> 4MB).
CREATE FUNCTION telemetry._setting_pretty(p_setting text, p_unit text)
RETURNS text LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_bytes numeric;
BEGIN
  IF p_setting IS NULL THEN
    RETURN NULL;
  END IF;
  IF p_unit IN ('B', 'kB', 'MB', 'GB', '8kB', '16MB') AND p_setting ~ '^-?[0-9]+$' AND p_setting::numeric >= 0 THEN
    v_bytes := p_setting::numeric * CASE p_unit WHEN 'B' THEN 1 WHEN 'kB' THEN 1024 WHEN '8kB' THEN 8192
                                                WHEN 'MB' THEN 1048576 WHEN '16MB' THEN 16777216 ELSE 1073741824 END;
    RETURN CASE WHEN v_bytes >= 1073741824 AND v_bytes % 1073741824 = 0 THEN (v_bytes / 1073741824)::bigint || 'GB'
                WHEN v_bytes >= 1048576 AND v_bytes % 1048576 = 0 THEN (v_bytes / 1048576)::bigint || 'MB'
                WHEN v_bytes >= 1024 AND v_bytes % 1024 = 0 THEN (v_bytes / 1024)::bigint || 'kB'
                ELSE v_bytes::bigint || 'B' END;
  END IF;
  IF p_unit IN ('ms', 's', 'min') AND p_setting ~ '^-?[0-9]+$' THEN
    RETURN p_setting || p_unit;
  END IF;
  RETURN p_setting;
END
$fn$;

-- Everything measured about one run, once: its window, its snapshot pair (compare()), its samples
-- (average active sessions by wait class, lock waits, gaps) and its tracked tables. The report
-- and compare_to_baseline() read only this; a part that is missing is named in "notes".
CREATE FUNCTION telemetry._run_evidence(p_run_id bigint)
RETURNS jsonb LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
SET client_min_messages = warning
AS $fn$
DECLARE
  r telemetry.runs;
  v_end timestamptz;
  v_dur numeric;
  c telemetry._pair_deltas;
  v_have_compare boolean := false;
  v_notes text[] := '{}';
  v_m jsonb := '{}';
  v_s record;
  v_tables jsonb := '[]';
BEGIN
  SELECT * INTO r FROM telemetry.runs WHERE run_id = p_run_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'telemetry: run % does not exist (see telemetry.batch_runs)', p_run_id;
  END IF;
  v_end := coalesce(r.ended_at, now());
  v_dur := round(extract(epoch FROM v_end - r.started_at), 3);
  v_m := jsonb_build_object('duration_s', v_dur);

  IF v_dur > 0 THEN
    BEGIN
      SELECT * INTO c FROM telemetry.compare(r.started_at, v_end);
      v_have_compare := true;
    EXCEPTION WHEN OTHERS THEN
      v_notes := v_notes || ('snapshots: ' || SQLERRM);
    END;
  END IF;
  IF v_have_compare THEN
    v_m := v_m || jsonb_strip_nulls(jsonb_build_object(
      'temp_bytes', c.temp_bytes_delta, 'temp_files', c.temp_files_delta,
      'temp_bytes_per_s', round(c.temp_bytes_delta / v_dur, 1),
      'wal_bytes', c.wal_bytes_delta, 'wal_bytes_per_s', round(c.wal_bytes_delta / v_dur, 1),
      'wal_buffers_full', c.wal_buffers_full_delta,
      'backend_buffer_writes', coalesce(c.io_client_normal_writes, c.bgw_buffers_backend_delta),
      'checkpoints_requested', c.ckpt_requested_delta, 'checkpoints_timed', c.ckpt_timed_delta,
      'checkpoint_write_ms', c.ckpt_write_time_ms, 'checkpoint_sync_ms', c.ckpt_sync_time_ms,
      'blocks_read', c.blks_read_delta, 'blocks_read_per_s', round(c.blks_read_delta / v_dur, 1),
      'blocks_hit', c.blks_hit_delta, 'xact_commit', c.xact_commit_delta, 'deadlocks', c.deadlocks_delta,
      'max_replay_lag_bytes', c.max_replay_lag_bytes));
    v_m := v_m || jsonb_build_object('autovacuum_runs',
      (SELECT coalesce(sum(coalesce(d.autovacuum_count_delta, 0) + coalesce(d.autoanalyze_count_delta, 0)), 0)
         FROM telemetry._table_pair_deltas d
        WHERE d.start_snapshot_id = c.start_snapshot_id AND d.end_snapshot_id = c.end_snapshot_id));
    SELECT coalesce(jsonb_agg(jsonb_build_object(
             'relid', d.relid, 'table', format('%I.%I', d.schemaname, d.relname),
             'rows_inserted', d.n_tup_ins_delta, 'rows_updated', d.n_tup_upd_delta, 'rows_deleted', d.n_tup_del_delta,
             'rows_written', coalesce(d.n_tup_ins_delta, 0) + coalesce(d.n_tup_upd_delta, 0) + coalesce(d.n_tup_del_delta, 0),
             'seq_scans', d.seq_scan_delta, 'idx_scans', d.idx_scan_delta, 'size_delta_bytes', d.size_delta,
             'end_size_bytes', d.end_size, 'dead_tuple_ratio', d.dead_tuple_ratio,
             'autovacuum_ran', d.autovacuum_ran, 'autoanalyze_ran', d.autoanalyze_ran) ORDER BY d.schemaname, d.relname), '[]')
      INTO v_tables
      FROM telemetry._table_pair_deltas d
     WHERE d.start_snapshot_id = c.start_snapshot_id AND d.end_snapshot_id = c.end_snapshot_id;
  END IF;

  -- samples: AAS by wait class (database time = AAS x duration), the longest lock wait, gaps
  SELECT count(*) AS n,
         max(g.gap) AS max_gap_s,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY g.gap) AS median_interval_s,
         min(g.captured_at) AS first_at, max(g.captured_at) AS last_at, min(g.id) AS first_id, max(g.id) AS last_id
    INTO v_s
    FROM (SELECT s.id, s.captured_at, extract(epoch FROM s.captured_at - lag(s.captured_at) OVER (ORDER BY s.captured_at)) AS gap
            FROM telemetry.samples s WHERE s.captured_at BETWEEN r.started_at AND v_end) g;
  IF v_s.n > 0 THEN
    -- one pass over the run's samples; their ids bound the waits read (an index range, not the whole history)
    v_m := v_m || (
      WITH w AS (SELECT x.wait_event_type AS class, sum(x.waiters) AS waiters
                   FROM telemetry.samples s JOIN telemetry.sample_waits x ON x.sample_id = s.id
                  WHERE s.captured_at BETWEEN r.started_at AND v_end
                    AND x.sample_id BETWEEN v_s.first_id AND v_s.last_id
                  GROUP BY 1)
      SELECT jsonb_object_agg(k.metric, round(coalesce(w.waiters, 0)::numeric / v_s.n * v_dur, 3))
             || jsonb_build_object('db_time_s', round(coalesce((SELECT sum(waiters) FROM w), 0)::numeric / v_s.n * v_dur, 3),
                                   'aas', round(coalesce((SELECT sum(waiters) FROM w), 0)::numeric / v_s.n, 3))
        FROM (VALUES ('wait_lock_s', 'Lock'), ('wait_lwlock_s', 'LWLock'), ('wait_io_s', 'IO'), ('wait_cpu_s', 'CPU'),
                     ('wait_ipc_s', 'IPC'), ('wait_client_s', 'Client'), ('wait_bufferpin_s', 'BufferPin'),
                     ('wait_timeout_s', 'Timeout'), ('wait_extension_s', 'Extension')) k(metric, class)
        LEFT JOIN w ON w.class = k.class);
    v_m := v_m || jsonb_build_object('max_lock_wait_s',
      (SELECT coalesce(round(max(extract(epoch FROM l.blocked_duration)), 3), 0)
         FROM telemetry.samples s JOIN telemetry.sample_locks l ON l.sample_id = s.id
        WHERE s.captured_at BETWEEN r.started_at AND v_end));
  ELSE
    v_notes := v_notes || 'samples: none during the run (is the telemetry_sample job running?)'::text;
  END IF;

  RETURN jsonb_build_object(
    'run_id', r.run_id, 'name', r.name, 'state', r.state, 'started_at', r.started_at, 'ended_at', r.ended_at,
    'duration_s', v_dur, 'duration_text', telemetry._fmt(v_dur, 's'), 'started_by', r.started_by, 'source', r.source,
    'metrics', v_m, 'tables', v_tables,
    'snapshots', CASE WHEN v_have_compare THEN jsonb_build_object(
        'start_id', c.start_snapshot_id, 'end_id', c.end_snapshot_id, 'start_at', c.start_snapshot_at,
        'end_at', c.end_snapshot_at, 'stats_reset', c.stats_reset_in_window, 'reset_groups', to_jsonb(c.reset_groups),
        'server_restarted', c.server_restarted, 'track_io_timing', c.track_io_timing,
        'coverage_note', c.coverage_note, 'errors', c.snapshot_errors) END,
    'samples', jsonb_build_object('count', v_s.n, 'max_gap_s', round(v_s.max_gap_s, 1),
        'median_interval_s', round(v_s.median_interval_s::numeric, 1),
        'first_after_start_s', round(extract(epoch FROM v_s.first_at - r.started_at), 1),
        'last_before_end_s', round(extract(epoch FROM v_end - v_s.last_at), 1)),
    'notes', to_jsonb(v_notes));
END
$fn$;

-- The baseline a report uses: the runs given, or telemetry.baseline_runs(run_id). Runs given by
-- hand must exist; they need not have the same name (a DBA may compare against another batch).
CREATE FUNCTION telemetry._report_baseline(p_run_id bigint, p_baseline bigint[])
RETURNS bigint[] LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_missing bigint;
BEGIN
  IF p_baseline IS NULL THEN
    RETURN ARRAY(SELECT b.run_id FROM telemetry.baseline_runs(p_run_id) b);
  END IF;
  SELECT x INTO v_missing FROM unnest(p_baseline) x WHERE NOT EXISTS (SELECT 1 FROM telemetry.runs r WHERE r.run_id = x) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'telemetry: baseline run % does not exist (see telemetry.batch_runs)', v_missing;
  END IF;
  IF p_run_id = ANY (p_baseline) THEN
    RAISE EXCEPTION 'telemetry: run % cannot be its own baseline', p_run_id;
  END IF;
  RETURN ARRAY(SELECT DISTINCT x FROM unnest(p_baseline) x ORDER BY x DESC);
END
$fn$;

-- Per metric: the run's value against its baseline runs' median, quartiles and range. "outside"
-- means beyond anything the baseline has seen (above its max or below its min), and is only said
-- once the baseline is usual (at least baseline_min_runs runs).
CREATE FUNCTION telemetry._compare_evidence(p_run jsonb, p_baseline jsonb)
RETURNS TABLE (metric text, label text, unit text, pattern text, run_value numeric, baseline_median numeric,
               baseline_p25 numeric, baseline_p75 numeric, baseline_min numeric, baseline_max numeric,
               baseline_runs int, ratio numeric, outside boolean, run_text text, baseline_text text, baseline_range_text text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  WITH b AS (SELECT (k.value)::numeric AS v, k.key
               FROM jsonb_array_elements(p_baseline) e, jsonb_each_text(e -> 'metrics') k),
       agg AS (SELECT b.key, count(*)::int AS n,
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY b.v) AS med,
                      percentile_cont(0.25) WITHIN GROUP (ORDER BY b.v) AS p25,
                      percentile_cont(0.75) WITHIN GROUP (ORDER BY b.v) AS p75,
                      min(b.v) AS lo, max(b.v) AS hi
                 FROM b GROUP BY b.key),
       m AS (SELECT d.metric, d.label, d.unit, d.pattern, d.ord, (p_run -> 'metrics' ->> d.metric)::numeric AS v
               FROM telemetry._report_metrics() d)
  SELECT m.metric, m.label, m.unit, m.pattern, m.v, round(a.med::numeric, 3), round(a.p25::numeric, 3),
         round(a.p75::numeric, 3), a.lo, a.hi, coalesce(a.n, 0),
         round(m.v / nullif(a.med::numeric, 0), 2),
         CASE WHEN m.v IS NULL OR coalesce(a.n, 0) < telemetry._setting('baseline_min_runs', '3')::int THEN NULL
              ELSE m.v > a.hi OR m.v < a.lo END,
         telemetry._fmt(m.v, m.unit), telemetry._fmt(round(a.med::numeric, 3), m.unit),
         CASE WHEN a.n > 0 THEN telemetry._fmt(a.lo, m.unit) || ' - ' || telemetry._fmt(a.hi, m.unit) END
    FROM m LEFT JOIN agg a ON a.key = m.metric
   WHERE m.v IS NOT NULL OR a.n IS NOT NULL
   ORDER BY m.ord
$$;

CREATE FUNCTION telemetry.compare_to_baseline(run_id bigint, baseline bigint[] DEFAULT NULL)
RETURNS TABLE (metric text, label text, unit text, pattern text, run_value numeric, baseline_median numeric,
               baseline_p25 numeric, baseline_p75 numeric, baseline_min numeric, baseline_max numeric,
               baseline_runs int, ratio numeric, outside boolean, run_text text, baseline_text text, baseline_range_text text)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  v_base bigint[] := telemetry._report_baseline(run_id, baseline);
BEGIN
  RETURN QUERY SELECT * FROM telemetry._compare_evidence(
    telemetry._run_evidence(run_id),
    coalesce((SELECT jsonb_agg(telemetry._run_evidence(x)) FROM unnest(v_base) x), '[]'));
END
$fn$;

-- The baseline sentence of each diagnostic pattern: "temp written 1.2 GB, usually 3 MB (median of
-- 5 runs)", from compare rows as JSON; without a usual baseline, says so.
CREATE FUNCTION telemetry._baseline_notes(p_cmp jsonb, p_run_name text, p_baseline_runs int)
RETURNS TABLE (pattern text, note text, outside boolean, ratio numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT p.pattern,
         CASE WHEN p_baseline_runs < telemetry._setting('baseline_min_runs', '3')::int
              THEN format('no usual baseline yet: %s earlier successful run(s) of %s (%s needed)',
                          p_baseline_runs, p_run_name, telemetry._setting('baseline_min_runs', '3'))
              WHEN c IS NULL THEN NULL
              ELSE format('%s %s, usually %s (median of %s runs%s)', c ->> 'label',
                          telemetry._fmt((c ->> 'run_value')::numeric, c ->> 'unit'),
                          telemetry._fmt((c ->> 'baseline_median')::numeric, c ->> 'unit'), c ->> 'baseline_runs',
                          CASE WHEN (c ->> 'outside')::boolean AND (c ->> 'run_value')::numeric > (c ->> 'baseline_max')::numeric
                               THEN ', at most ' || telemetry._fmt((c ->> 'baseline_max')::numeric, c ->> 'unit') || ' before'
                               ELSE '' END) END,
         (c ->> 'outside')::boolean, (c ->> 'ratio')::numeric
    FROM (VALUES ('lock_contention', 'wait_lock_s'), ('buffer_wal_pressure', 'backend_buffer_writes'),
                 ('checkpoint_interference', 'checkpoints_requested'), ('autovacuum_interference', 'autovacuum_runs'),
                 ('temp_file_spills', 'temp_bytes'), ('replication_lag', 'max_replay_lag_bytes')) p(pattern, metric)
    LEFT JOIN LATERAL (SELECT e AS c FROM jsonb_array_elements(p_cmp) e WHERE e ->> 'metric' = p.metric) x ON true
$$;

-- diagnose(run_id)'s findings with their baseline sentence appended (diagnose(start, end) knows
-- no baseline); findings given as JSON rows of diagnose().
CREATE FUNCTION telemetry._findings_with_baseline(p_findings jsonb, p_cmp jsonb, p_run_name text, p_baseline_runs int)
RETURNS TABLE (rank int, pattern text, severity text, score numeric, evidence text, recommendation text,
               usual text, outside_baseline boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT (f ->> 'rank')::int, f ->> 'pattern', f ->> 'severity', (f ->> 'score')::numeric,
         f ->> 'evidence' || coalesce('; ' || n.note, ''), f ->> 'recommendation', n.note, n.outside
    FROM jsonb_array_elements(p_findings) f
    LEFT JOIN telemetry._baseline_notes(p_cmp, p_run_name, p_baseline_runs) n ON n.pattern = f ->> 'pattern'
   ORDER BY (f ->> 'rank')::int
$$;

-- AAS by wait class per time bucket from the start of each run: the run's own series and the
-- baseline's (mean over the baseline runs that had samples in the bucket), for one chart.
CREATE FUNCTION telemetry._waits_over_time(p_run_id bigint, p_baseline bigint[])
RETURNS jsonb LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_max numeric;
  v_bucket int;
  v_buckets int;
BEGIN
  SELECT max(extract(epoch FROM coalesce(r.ended_at, now()) - r.started_at)) INTO v_max
    FROM telemetry.runs r WHERE r.run_id = p_run_id OR r.run_id = ANY (p_baseline);
  -- at most ~240 points per series, whatever the sampling interval: the chart's width, and the report's size
  v_bucket := greatest(1, ceil(coalesce(v_max, 1) / 240.0))::int;
  v_buckets := greatest(1, ceil(coalesce(v_max, 1) / v_bucket))::int;
  RETURN (
    WITH runs AS (SELECT r.run_id, r.run_id = p_run_id AS is_run, r.started_at, coalesce(r.ended_at, now()) AS ended_at
                    FROM telemetry.runs r WHERE r.run_id = p_run_id OR r.run_id = ANY (p_baseline)),
         smp AS (SELECT r.run_id, r.is_run, s.id,
                        least(floor(extract(epoch FROM s.captured_at - r.started_at) / v_bucket)::int, v_buckets - 1) AS bucket
                   FROM runs r JOIN telemetry.samples s ON s.captured_at BETWEEN r.started_at AND r.ended_at),
         n AS (SELECT smp.run_id, smp.is_run, smp.bucket, count(*) AS samples FROM smp GROUP BY 1, 2, 3),
         -- sample ids grow with time: each run's id range bounds the waits read (an index range, not the whole history)
         ids AS (SELECT smp.run_id, min(smp.id) AS first_id, max(smp.id) AS last_id FROM smp GROUP BY 1),
         w AS (SELECT ids.run_id, x.bucket, x.class, x.waiters
                 FROM ids JOIN runs r ON r.run_id = ids.run_id
                CROSS JOIN LATERAL (
                      SELECT least(floor(extract(epoch FROM s.captured_at - r.started_at) / v_bucket)::int, v_buckets - 1) AS bucket,
                             sw.wait_event_type AS class, sum(sw.waiters) AS waiters
                        FROM telemetry.sample_waits sw JOIN telemetry.samples s ON s.id = sw.sample_id
                       WHERE sw.sample_id BETWEEN ids.first_id AND ids.last_id AND s.id BETWEEN ids.first_id AND ids.last_id
                         AND s.captured_at BETWEEN r.started_at AND r.ended_at
                       GROUP BY 1, 2) x),
         classes AS (SELECT DISTINCT w.class FROM w),
         aas AS (SELECT n.run_id, n.is_run, n.bucket, c.class, coalesce(w.waiters, 0)::numeric / n.samples AS aas
                   FROM n CROSS JOIN classes c
                   LEFT JOIN w ON w.run_id = n.run_id AND w.bucket = n.bucket AND w.class = c.class),
         per AS (SELECT a.is_run, a.bucket, a.class, avg(a.aas) AS aas FROM aas a GROUP BY 1, 2, 3),
         series AS (SELECT c.class, t.is_run,
                           jsonb_agg(round(p.aas, 3) ORDER BY b.bucket) AS points
                      FROM classes c CROSS JOIN (VALUES (true), (false)) t(is_run)
                     CROSS JOIN generate_series(0, v_buckets - 1) b(bucket)
                      LEFT JOIN per p ON p.is_run = t.is_run AND p.bucket = b.bucket AND p.class = c.class
                     GROUP BY 1, 2)
    SELECT jsonb_build_object(
             'bucket_s', v_bucket,
             't', (SELECT jsonb_agg(b * v_bucket ORDER BY b) FROM generate_series(0, v_buckets - 1) b),
             'classes', coalesce((SELECT jsonb_agg(c.class ORDER BY c.class) FROM classes c), '[]'),
             'run', coalesce((SELECT jsonb_object_agg(s.class, s.points) FROM series s WHERE s.is_run), '{}'),
             'baseline', coalesce((SELECT jsonb_object_agg(s.class, s.points) FROM series s WHERE NOT s.is_run
                                     AND cardinality(p_baseline) > 0), '{}'),
             'baseline_runs', cardinality(p_baseline)));
END
$fn$;

-- Checkpoints, WAL, temp and I/O per snapshot interval from the run's first snapshot to its last,
-- as rates (intervals differ in length), offset from the start of the run.
CREATE FUNCTION telemetry._activity_over_time(p_run jsonb)
RETURNS jsonb LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  WITH snaps AS (SELECT s.id, s.captured_at, lag(s.id) OVER (ORDER BY s.captured_at, s.id) AS prev_id
                   FROM telemetry.snapshots s
                  WHERE s.captured_at BETWEEN (p_run -> 'snapshots' ->> 'start_at')::timestamptz
                                          AND (p_run -> 'snapshots' ->> 'end_at')::timestamptz),
       d AS (SELECT round(extract(epoch FROM s.captured_at - (p_run ->> 'started_at')::timestamptz), 1) AS t,
                    greatest(extract(epoch FROM d.covered), 0.001) AS secs, d.*
               FROM snaps s JOIN telemetry._pair_deltas d ON d.start_snapshot_id = s.prev_id AND d.end_snapshot_id = s.id)
  SELECT jsonb_build_object(
    'source', 'snapshots',
    't', coalesce(jsonb_agg(d.t ORDER BY d.t), '[]'),
    'wal_bytes_per_s', coalesce(jsonb_agg(round(d.wal_bytes_delta / d.secs, 1) ORDER BY d.t), '[]'),
    'temp_bytes_per_s', coalesce(jsonb_agg(round(d.temp_bytes_delta / d.secs, 1) ORDER BY d.t), '[]'),
    'blocks_read_per_s', coalesce(jsonb_agg(round(d.blks_read_delta / d.secs, 1) ORDER BY d.t), '[]'),
    'backend_buffer_writes_per_s', coalesce(jsonb_agg(round(coalesce(d.io_client_normal_writes, d.bgw_buffers_backend_delta) / d.secs, 1) ORDER BY d.t), '[]'),
    'checkpoints_requested', coalesce(jsonb_agg(d.ckpt_requested_delta ORDER BY d.t), '[]'),
    'checkpoints_timed', coalesce(jsonb_agg(d.ckpt_timed_delta ORDER BY d.t), '[]'))
    FROM d
   WHERE p_run -> 'snapshots' IS NOT NULL AND jsonb_typeof(p_run -> 'snapshots') = 'object'
$$;

-- Settings whose value in the run differs from the value most baseline runs had (run_settings).
CREATE FUNCTION telemetry._settings_changed(p_run_id bigint, p_baseline bigint[])
RETURNS jsonb LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  WITH base AS (SELECT s.name, s.setting, s.unit, count(*) AS runs,
                       row_number() OVER (PARTITION BY s.name ORDER BY count(*) DESC, s.setting) AS rn
                  FROM telemetry.run_settings s WHERE s.run_id = ANY (p_baseline) GROUP BY s.name, s.setting, s.unit),
       usual AS (SELECT * FROM base WHERE rn = 1),
       run AS (SELECT s.name, s.setting, s.unit, s.source FROM telemetry.run_settings s WHERE s.run_id = p_run_id),
       nbase AS (SELECT count(DISTINCT s.run_id) AS n FROM telemetry.run_settings s WHERE s.run_id = ANY (p_baseline))
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'name', coalesce(r.name, u.name),
           'baseline', telemetry._setting_pretty(u.setting, u.unit),
           'run', telemetry._setting_pretty(r.setting, r.unit),
           'run_source', r.source,
           'baseline_runs_with_value', u.runs, 'baseline_runs', nbase.n)
           ORDER BY coalesce(r.name, u.name)), '[]')
    FROM run r FULL JOIN usual u ON u.name = r.name
   CROSS JOIN nbase
   WHERE nbase.n > 0 AND r.setting IS DISTINCT FROM u.setting
$$;

-- run_report(): everything a report of one run shows, as one versioned JSON document
-- (format_version; docs/report.md describes every key). baseline NULL = telemetry.baseline_runs(run_id).
CREATE FUNCTION telemetry.run_report(run_id bigint, baseline bigint[] DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
SET client_min_messages = warning
AS $fn$
#variable_conflict use_variable
DECLARE
  v_run jsonb := telemetry._run_evidence(run_id);
  v_base_ids bigint[] := telemetry._report_baseline(run_id, baseline);
  v_base jsonb;
  v_cmp jsonb;
  v_findings jsonb := '[]';
  v_findings_error text;
  v_min int := telemetry._setting('baseline_min_runs', '3')::int;
  v_n int := cardinality(v_base_ids);
  v_warn jsonb := '[]';
  v_settings jsonb;
  v_statements jsonb;
  v_plan_changes jsonb;
  v_typical bigint;
  v_verdict jsonb;
  v_dur record;
  w text;
  b jsonb;
BEGIN
  -- the one run of the baseline statements are compared with, in the statements section and in
  -- diagnose()'s statement_regression alike: the typical run of the runs given, or of baseline_runs()
  v_typical := telemetry._typical_run(v_base_ids);
  v_base := coalesce((SELECT jsonb_agg(telemetry._run_evidence(x) ORDER BY x DESC) FROM unnest(v_base_ids) x), '[]');
  v_cmp := coalesce((SELECT jsonb_agg(to_jsonb(c)) FROM telemetry._compare_evidence(v_run, v_base) c), '[]');

  BEGIN
    -- as diagnose(run_id) finds them (its window, and the run's id, which statement_regression needs),
    -- against this report's baseline, with the baseline wording added below from its own comparison
    v_findings := coalesce((SELECT jsonb_agg(to_jsonb(d) ORDER BY d.rank)
                              FROM telemetry._run_window(run_id) w
                             CROSS JOIN LATERAL telemetry._diagnose(w.start_time, w.end_time, run_id, v_typical) d), '[]');
    v_findings := coalesce((SELECT jsonb_agg(to_jsonb(f) ORDER BY f.rank)
                              FROM telemetry._findings_with_baseline(v_findings, v_cmp, v_run ->> 'name', v_n) f), '[]');
  EXCEPTION WHEN OTHERS THEN
    v_findings_error := SQLERRM;
  END;

  -- warnings: what makes the numbers below less than the whole truth
  IF v_run ->> 'state' = 'running' THEN
    v_warn := v_warn || jsonb_build_object('code', 'run_running', 'message',
      format('run %s is still running: this report covers it until %s', run_id, now()));
  ELSIF v_run ->> 'state' = 'abandoned' THEN
    v_warn := v_warn || jsonb_build_object('code', 'run_abandoned', 'message',
      format('run %s was abandoned (its session ended without batch_end()): its work may be incomplete', run_id));
  ELSIF v_run ->> 'state' = 'failed' THEN
    v_warn := v_warn || jsonb_build_object('code', 'run_failed', 'message',
      format('run %s failed: its work may be incomplete, so lower numbers than usual are not good news', run_id));
  END IF;
  IF v_n = 0 THEN
    v_warn := v_warn || jsonb_build_object('code', 'no_baseline', 'message',
      format('no baseline: no earlier successful run of %s that is not excluded; the report shows this run alone', v_run ->> 'name'));
  ELSIF v_n < v_min THEN
    v_warn := v_warn || jsonb_build_object('code', 'baseline_too_small', 'message',
      format('the baseline has %s run(s), fewer than baseline_min_runs (%s): nothing is called outside the usual', v_n, v_min));
  END IF;
  FOR b IN SELECT jsonb_build_object('run', v_run) UNION ALL SELECT jsonb_build_object('run', e) FROM jsonb_array_elements(v_base) e LOOP
    FOR w IN SELECT jsonb_array_elements_text(b -> 'run' -> 'notes') LOOP
      v_warn := v_warn || jsonb_build_object('code', 'missing_data', 'run_id', b -> 'run' -> 'run_id',
                                             'message', format('run %s: %s', b -> 'run' ->> 'run_id', w));
    END LOOP;
    IF (b -> 'run' -> 'snapshots' ->> 'stats_reset')::boolean THEN
      v_warn := v_warn || jsonb_build_object('code', 'stats_reset', 'run_id', b -> 'run' -> 'run_id', 'message',
        format('run %s: statistics were reset during the run (%s): its counters cover only the time since the reset',
               b -> 'run' ->> 'run_id', (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(b -> 'run' -> 'snapshots' -> 'reset_groups') x)));
    END IF;
    IF (b -> 'run' -> 'snapshots' ->> 'server_restarted')::boolean THEN
      v_warn := v_warn || jsonb_build_object('code', 'server_restarted', 'run_id', b -> 'run' -> 'run_id', 'message',
        format('run %s: the server restarted during the run', b -> 'run' ->> 'run_id'));
    END IF;
    IF b -> 'run' -> 'snapshots' ->> 'errors' IS NOT NULL THEN
      v_warn := v_warn || jsonb_build_object('code', 'snapshot_errors', 'run_id', b -> 'run' -> 'run_id', 'message',
        format('run %s: snapshot errors: %s', b -> 'run' ->> 'run_id', b -> 'run' -> 'snapshots' ->> 'errors'));
    END IF;
    -- a gap of more than 3 sampling intervals (and more than 10 s) means the sampler missed part of the run
    IF (b -> 'run' -> 'samples' ->> 'count')::int > 2
       AND (b -> 'run' -> 'samples' ->> 'max_gap_s')::numeric
           > greatest(10, 3 * (b -> 'run' -> 'samples' ->> 'median_interval_s')::numeric) THEN
      v_warn := v_warn || jsonb_build_object('code', 'missing_samples', 'run_id', b -> 'run' -> 'run_id', 'message',
        format('run %s: no sample for %s s at one point (samples are usually %s s apart): waits in that gap are not seen',
               b -> 'run' ->> 'run_id', b -> 'run' -> 'samples' ->> 'max_gap_s', b -> 'run' -> 'samples' ->> 'median_interval_s'));
    END IF;
  END LOOP;
  IF (v_run -> 'snapshots' ->> 'track_io_timing')::boolean IS FALSE THEN
    v_warn := v_warn || jsonb_build_object('code', 'track_io_timing_off', 'message',
      'track_io_timing is off: I/O times are not measured (zero does not mean fast)');
  END IF;
  IF v_findings_error IS NOT NULL THEN
    v_warn := v_warn || jsonb_build_object('code', 'diagnose_failed', 'message', 'diagnose: ' || v_findings_error);
  END IF;
  v_warn := v_warn || coalesce((SELECT jsonb_agg(jsonb_build_object('code', 'cron_job_failing', 'message',
      format('collection job %s: %s', h.jobname,
             CASE WHEN NOT h.active THEN 'inactive'
                  ELSE format('last run %s, %s failed runs in the last hour', h.last_status, h.failed_last_hour) END)))
    FROM telemetry.cron_job_health() h
   WHERE NOT h.active OR h.last_status = 'failed' OR h.failed_last_hour > 0), '[]');

  -- statements and plans: read from the statement functions when this schema has them
  IF to_regprocedure('telemetry.statement_compare_runs(bigint,bigint)') IS NULL THEN
    v_statements := jsonb_build_object('status', 'unavailable', 'reason',
      'this telemetry schema has no statement capture (telemetry.statement_compare_runs is missing): install a version with statement evidence');
  ELSIF v_typical IS NULL THEN
    v_statements := jsonb_build_object('status', 'unavailable', 'reason', 'no baseline run to compare statements with');
  ELSE
    BEGIN
      -- from one comparison: the statements that took the most extra time (statement_compare_runs()
      -- ranks them), at most 20, and every plan change wherever it ranks (a plan that changed is what
      -- a DBA looks for, and a statement with little extra time can still have one)
      EXECUTE 'SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.rank) FILTER (WHERE x.rank <= 20), ''[]''),
                      coalesce(jsonb_agg(jsonb_build_object(''rank'', x.rank, ''queryid'', x.queryid, ''verdict'', x.verdict,
                                                            ''baseline_plan'', x.baseline_plan, ''slow_plan'', x.slow_plan,
                                                            ''query'', x.query) ORDER BY x.rank)
                                 FILTER (WHERE x.verdict = ''plan changed''), ''[]'')
                 FROM telemetry.statement_compare_runs($1, $2) x'
        INTO v_statements, v_plan_changes USING v_typical, run_id;
      v_statements := jsonb_build_object('status', 'ok', 'baseline_run_id', v_typical, 'rows', v_statements);
      v_plan_changes := jsonb_build_object('status', 'ok', 'baseline_run_id', v_typical, 'rows', v_plan_changes);
    EXCEPTION WHEN OTHERS THEN
      v_statements := jsonb_build_object('status', 'unavailable', 'reason', 'statement_compare_runs: ' || SQLERRM);
    END;
  END IF;
  IF v_statements ->> 'status' <> 'ok' THEN
    v_plan_changes := jsonb_build_object('status', 'unavailable', 'reason', v_statements ->> 'reason');
    v_warn := v_warn || jsonb_build_object('code', 'statements_unavailable', 'message', 'statements: ' || (v_statements ->> 'reason'));
  ELSE
    -- statement data of either side that misses work (a reset, eviction, a restart) is named, not only raised as a WARNING
    v_warn := v_warn || coalesce((
      SELECT jsonb_agg(jsonb_build_object('code', 'statements_incomplete', 'run_id', r.id, 'message', format('run %s: %s', r.id, c.note))
                       ORDER BY r.ord)
        FROM unnest(ARRAY[run_id, v_typical]) WITH ORDINALITY AS r(id, ord)
        CROSS JOIN LATERAL telemetry._run_window(r.id) w
        CROSS JOIN LATERAL telemetry._bracket(w.start_time, w.end_time, false) k
        CROSS JOIN LATERAL telemetry._statement_coverage(k.s1, k.s2) c
       WHERE c.available AND NOT c.complete), '[]');
  END IF;

  v_settings := telemetry._settings_changed(run_id, v_base_ids);

  -- the verdict: findings ranked, those beyond anything the baseline has seen first, in one sentence
  -- each; settings that changed and bear on a finding are named with it
  SELECT (x ->> 'run_value')::numeric AS run_s, (x ->> 'baseline_median')::numeric AS med, (x ->> 'baseline_runs')::int AS n
    INTO v_dur FROM jsonb_array_elements(v_cmp) x WHERE x ->> 'metric' = 'duration_s';
  v_verdict := jsonb_build_object(
    'summary', CASE WHEN v_dur.n >= v_min
                    THEN format('Run %s of %s took %s, %s its usual %s (median of %s runs).', run_id, v_run ->> 'name',
                                telemetry._fmt(v_dur.run_s, 's'),
                                CASE WHEN v_dur.med > 0 THEN round(v_dur.run_s / v_dur.med, 1) || 'x' ELSE 'against' END,
                                telemetry._fmt(v_dur.med, 's'), v_dur.n)
                    ELSE format('Run %s of %s took %s; there is no usual baseline to compare it with (%s earlier successful runs, %s needed).',
                                run_id, v_run ->> 'name', telemetry._fmt(v_dur.run_s, 's'), coalesce(v_dur.n, 0), v_min) END,
    'causes', coalesce((
      SELECT jsonb_agg(jsonb_build_object(
               'rank', c.rank, 'pattern', c.pattern, 'severity', c.severity, 'outside_baseline', c.outside,
               'headline', c.headline, 'usual', c.usual, 'evidence', c.evidence, 'settings', c.settings,
               'recommendation', c.recommendation)
               ORDER BY c.rank)
        FROM (SELECT row_number() OVER (ORDER BY coalesce((f ->> 'outside_baseline')::boolean, false) DESC,
                                                 (f ->> 'score')::numeric DESC, f ->> 'pattern') AS rank,
                     f ->> 'pattern' AS pattern, f ->> 'severity' AS severity, (f ->> 'outside_baseline')::boolean AS outside,
                     f ->> 'recommendation' AS recommendation, f ->> 'usual' AS usual,
                     -- without a usual value the headline is the evidence: not said twice
                     CASE WHEN f ->> 'usual' IS NOT NULL THEN left(f ->> 'evidence', length(f ->> 'evidence') - length('; ' || (f ->> 'usual'))) END AS evidence,
                     (SELECT string_agg(format('%s %s → %s', s ->> 'name', coalesce(s ->> 'baseline', '(not set)'),
                                               coalesce(s ->> 'run', '(not set)')), '; ')
                        FROM jsonb_array_elements(v_settings) s
                       WHERE s ->> 'name' = ANY (CASE f ->> 'pattern'
                               WHEN 'temp_file_spills' THEN ARRAY['work_mem', 'hash_mem_multiplier', 'temp_file_limit', 'temp_buffers']
                               WHEN 'checkpoint_interference' THEN ARRAY['max_wal_size', 'checkpoint_timeout', 'checkpoint_completion_target']
                               WHEN 'buffer_wal_pressure' THEN ARRAY['shared_buffers', 'wal_buffers', 'bgwriter_lru_maxpages', 'bgwriter_delay', 'synchronous_commit']
                               WHEN 'lock_contention' THEN ARRAY['lock_timeout', 'deadlock_timeout']
                               WHEN 'autovacuum_interference' THEN ARRAY['autovacuum_vacuum_cost_delay', 'autovacuum_vacuum_cost_limit', 'autovacuum']
                               WHEN 'replication_lag' THEN ARRAY['synchronous_commit', 'synchronous_standby_names']
                               ELSE ARRAY[]::text[] END)) AS settings,
                     format('%s: %s', CASE f ->> 'pattern'
                               WHEN 'lock_contention' THEN 'Lock contention'
                               WHEN 'temp_file_spills' THEN 'Temp-file spills'
                               WHEN 'checkpoint_interference' THEN 'Checkpoint interference'
                               WHEN 'buffer_wal_pressure' THEN 'Buffer/WAL pressure'
                               WHEN 'autovacuum_interference' THEN 'Autovacuum interference'
                               WHEN 'replication_lag' THEN 'Replication lag'
                               WHEN 'statement_regression' THEN 'Statement regression'
                               ELSE f ->> 'pattern' END,
                            coalesce(f ->> 'usual', f ->> 'evidence')) AS headline
                FROM jsonb_array_elements(v_findings) f) c), '[]'),
    'also_outside_baseline', coalesce((
      SELECT jsonb_agg(format('%s %s, usually %s', x ->> 'label', telemetry._fmt((x ->> 'run_value')::numeric, x ->> 'unit'),
                              telemetry._fmt((x ->> 'baseline_median')::numeric, x ->> 'unit')) ORDER BY (x ->> 'ratio')::numeric DESC NULLS LAST)
        FROM jsonb_array_elements(v_cmp) x
       WHERE (x ->> 'outside')::boolean AND x ->> 'metric' <> 'duration_s'
         -- causes, not volume of work: the batch's waits and the patterns' own measures, clearly beyond the usual
         AND (x ->> 'pattern' IS NOT NULL OR x ->> 'metric' LIKE 'wait\_%')
         AND (x ->> 'unit') IN ('s', 'bytes', 'count', 'buffers', 'ms')
         AND coalesce((x ->> 'ratio')::numeric >= 1.5, (x ->> 'run_value')::numeric > 0)
         -- a wait class matters when it took a tenth of the run or more (one sample is not a trend)
         AND (x ->> 'metric' NOT LIKE 'wait\_%' OR (x ->> 'run_value')::numeric >= 0.1 * v_dur.run_s)
         AND coalesce(x ->> 'pattern', '') NOT IN (SELECT f ->> 'pattern' FROM jsonb_array_elements(v_findings) f)), '[]'));

  SELECT jsonb_build_object(
           'median_s', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY (e ->> 'duration_s')::numeric)::numeric, 3),
           'min_s', min((e ->> 'duration_s')::numeric), 'max_s', max((e ->> 'duration_s')::numeric),
           'median_text', telemetry._fmt(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY (e ->> 'duration_s')::numeric)::numeric, 3), 's'))
    INTO b FROM jsonb_array_elements(v_base) e;

  RETURN jsonb_build_object(
    'format_version', 1,
    'generated_at', now(),
    'server', jsonb_build_object('version', current_setting('server_version'), 'database', current_database()),
    'run', v_run - 'notes' - 'metrics' - 'tables',
    'baseline', jsonb_build_object(
       'mode', CASE WHEN baseline IS NULL THEN 'auto' ELSE 'explicit' END,
       'min_runs', v_min, 'usual', v_n >= v_min,
       'runs', coalesce((SELECT jsonb_agg(jsonb_build_object('run_id', e -> 'run_id', 'name', e -> 'name', 'state', e -> 'state',
                                                            'started_at', e -> 'started_at', 'ended_at', e -> 'ended_at',
                                                            'duration_s', e -> 'duration_s', 'duration_text', e -> 'duration_text'))
                           FROM jsonb_array_elements(v_base) e), '[]'),
       'duration', b),
    'verdict', v_verdict,
    'findings', v_findings,
    'metrics', v_cmp,
    'statements', v_statements,
    'plan_changes', v_plan_changes,
    'waits_over_time', telemetry._waits_over_time(run_id, v_base_ids),
    'activity_over_time', coalesce(telemetry._activity_over_time(v_run), jsonb_build_object('source', 'snapshots', 't', '[]')),
    'tables', (SELECT coalesce(jsonb_agg(t || jsonb_build_object(
                 'baseline_rows_written_median', (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY (bt ->> 'rows_written')::numeric)
                                                    FROM jsonb_array_elements(v_base) e, jsonb_array_elements(e -> 'tables') bt
                                                   WHERE bt ->> 'relid' = t ->> 'relid'),
                 'baseline_seq_scans_median', (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY (bt ->> 'seq_scans')::numeric)
                                                 FROM jsonb_array_elements(v_base) e, jsonb_array_elements(e -> 'tables') bt
                                                WHERE bt ->> 'relid' = t ->> 'relid'))), '[]')
                 FROM jsonb_array_elements(v_run -> 'tables') t),
    'settings_changed', v_settings,
    'warnings', v_warn);
END
$fn$;
