----------------------------------------------------------------------------------------------
-- Batch-run fidelity: per-second samples while a run is open, the closing snapshot after the
-- batch session's statistics flush, the batch session's settings, and the coverage of samples
----------------------------------------------------------------------------------------------

-- The closing snapshot of runs ended by batch_end(): PostgreSQL keeps a session's statistics (WAL,
-- blocks, temp files, tuples) in the session and flushes them at most once a second, when it goes
-- idle. batch_end() forces the next flush (pg_stat_force_next_flush()), but that happens only after
-- its own transaction: its snapshot can miss the last second of the batch's work, all of it for a
-- run of a few ms. Once the ending session has left that transaction its statistics are in shared
-- memory, and the next sample()/sample_open_runs()/diagnose(run) takes one snapshot that closes
-- every such run (within config run_stats_settle_window; later ones stay as batch_end left them).
CREATE FUNCTION telemetry._settle_runs()
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_window interval := telemetry._setting('run_stats_settle_window', '60 seconds')::interval;
  v_runs bigint[];
  v_snapshot bigint;
BEGIN
  SELECT array_agg(r.run_id) INTO v_runs
    FROM telemetry.runs r
   WHERE r.end_pid IS NOT NULL AND r.stats_snapshot_id IS NULL AND r.ended_at > now() - v_window
     AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                      WHERE a.pid = r.end_pid AND a.xact_start IS NOT NULL AND a.xact_start <= r.ended_at);
  IF v_runs IS NULL OR pg_is_in_recovery() THEN
    RETURN NULL;
  END IF;
  v_snapshot := telemetry.snapshot();
  UPDATE telemetry.runs r SET stats_snapshot_id = v_snapshot WHERE r.run_id = ANY (v_runs);
  RETURN v_snapshot;
END
$fn$;

-- A sample while any run is open (or a closing snapshot is due): called every second by the
-- pg_cron job telemetry_run_sample (pg_cron 1.5+, scheduled by batch_start) and by the exporter's
-- sampler when its role is a telemetry_writer. Returns the sample's id, or NULL when nothing is
-- open or another source sampled less than half an interval ago (both may run at once).
CREATE FUNCTION telemetry.sample_open_runs(p_source text, p_interval_s numeric)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_max_age interval := telemetry._setting('run_sample_max_age', '12 hours')::interval;
BEGIN
  IF p_source IS NULL OR p_interval_s IS NULL OR p_interval_s <= 0 THEN
    RAISE EXCEPTION 'telemetry.sample_open_runs: a source and a positive interval in seconds are required';
  END IF;
  IF pg_is_in_recovery() THEN
    RETURN NULL;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('telemetry.run_sampling'));   -- against batch_start scheduling the job
  IF NOT EXISTS (SELECT 1 FROM telemetry.runs r WHERE r.state = 'running' AND r.started_at > now() - v_max_age) THEN
    IF p_source = 'pg_cron' AND NOT EXISTS (SELECT 1 FROM telemetry.runs r WHERE r.end_pid IS NOT NULL AND r.stats_snapshot_id IS NULL
                                              AND r.ended_at > now() - telemetry._setting('run_stats_settle_window', '60 seconds')::interval) THEN
      PERFORM telemetry._run_sampling_job(false);   -- nothing open, nothing to settle: the per-second job stops itself
    END IF;
    PERFORM telemetry._settle_runs();
    RETURN NULL;
  END IF;
  IF EXISTS (SELECT 1 FROM telemetry.samples s WHERE s.captured_at > now() - make_interval(secs => (p_interval_s / 2)::double precision)) THEN
    PERFORM telemetry._settle_runs();
    RETURN NULL;
  END IF;
  RETURN telemetry._sample(p_source, p_interval_s);   -- settles runs too
END
$fn$;

-- Schedules (p_on) or removes the pg_cron job that samples every second while runs are open.
-- Second schedules need pg_cron 1.5+; the version string does not tell, so the schedule is tried.
-- Returns what happened, for batch_start's notice.
CREATE FUNCTION telemetry._run_sampling_job(p_on boolean)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
    RETURN 'no pg_cron in this database';
  END IF;
  IF NOT p_on THEN
    EXECUTE $q$SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'telemetry_run_sample'$q$;
    RETURN 'unscheduled';
  END IF;
  IF EXISTS (SELECT 1 FROM cron.job WHERE jobname = 'telemetry_run_sample') THEN
    RETURN 'scheduled';
  END IF;
  BEGIN
    EXECUTE $q$SELECT cron.schedule('telemetry_run_sample', '1 seconds', 'SELECT telemetry.sample_open_runs(''pg_cron'', 1)')$q$;
    RETURN 'scheduled';
  EXCEPTION WHEN OTHERS THEN
    RETURN 'this pg_cron has no second schedules (pg_cron 1.5+ has): ' || SQLERRM;
  END;
END
$fn$;

-- The batch session's settings, recorded by batch_start() in that session: every setting not at
-- its built-in default, and always the ones the evidence of diagnose() names.
CREATE FUNCTION telemetry._record_run_settings(p_run_id bigint)
RETURNS void LANGUAGE sql
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  INSERT INTO telemetry.run_settings (run_id, name, setting, unit, source)
  SELECT p_run_id, s.name, s.setting, s.unit, s.source
    FROM pg_settings s
   WHERE s.source NOT IN ('default', 'override')
      OR s.name IN ('work_mem', 'maintenance_work_mem', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout',
                    'random_page_cost', 'jit', 'effective_cache_size', 'temp_buffers', 'hash_mem_multiplier',
                    'max_parallel_workers_per_gather', 'synchronous_commit', 'track_io_timing',
                    'track_wal_io_timing', 'temp_file_limit')
  ON CONFLICT (run_id, name) DO NOTHING
$$;

-- A setting as users write it: 65536 with unit kB is '64 MB', 300 with unit s is '300s'.
CREATE FUNCTION telemetry._setting_display(p_setting text, p_unit text)
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN p_setting !~ '^-?[0-9]+$' OR p_unit IS NULL THEN p_setting
              WHEN p_setting::numeric < 0 THEN p_setting
              WHEN p_unit IN ('B', 'kB', 'MB', '8kB', '16MB')
                THEN pg_size_pretty(p_setting::numeric * CASE p_unit WHEN 'B' THEN 1 WHEN 'kB' THEN 1024 WHEN 'MB' THEN 1048576
                                                                     WHEN '8kB' THEN 8192 ELSE 16777216 END)
              ELSE p_setting || p_unit END
$$;

-- The server's own value of a setting (postgresql.conf, ALTER SYSTEM, else built in), as the server
-- sees it, not the calling session's: pg_file_settings needs the schema owner's rights.
CREATE FUNCTION telemetry._server_setting(p_name text)
RETURNS text LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_file text;
  v_unit text;
  v_boot text;
BEGIN
  IF p_name NOT IN ('work_mem', 'maintenance_work_mem', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout',
                    'random_page_cost', 'jit', 'effective_cache_size', 'temp_buffers', 'hash_mem_multiplier',
                    'max_parallel_workers_per_gather', 'synchronous_commit', 'synchronous_standby_names',
                    'track_io_timing', 'track_wal_io_timing', 'temp_file_limit') THEN
    RAISE EXCEPTION 'telemetry._server_setting: % is not a setting the evidence names', p_name;   -- file values may hold secrets
  END IF;
  SELECT s.unit, s.boot_val INTO v_unit, v_boot FROM pg_settings s WHERE s.name = p_name;
  BEGIN
    SELECT f.setting INTO v_file FROM pg_file_settings f
     WHERE f.name = p_name AND f.applied ORDER BY f.seqno DESC LIMIT 1;
  EXCEPTION WHEN insufficient_privilege THEN
    v_file := NULL;
  END;
  IF v_file IS NOT NULL THEN
    RETURN CASE WHEN v_file ~ '^[0-9]+$' THEN telemetry._setting_display(v_file, v_unit) ELSE v_file END
           || ' (server default, configuration file)';
  END IF;
  RETURN telemetry._setting_display(v_boot, v_unit) || ' (server default, built in)';
END
$fn$;

-- A setting for the evidence of a window: the batch session's value when the window is a run whose
-- settings batch_start() recorded, else the server default (a session may have used another).
CREATE FUNCTION telemetry._window_setting(p_run_id bigint, p_name text)
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT coalesce((SELECT telemetry._setting_display(rs.setting, rs.unit) || ' (batch session)'
                     FROM telemetry.run_settings rs WHERE rs.run_id = p_run_id AND rs.name = p_name),
                  telemetry._server_setting(p_name))
$$;

-- What the samples of a window can and cannot show: how many, from which sources at which
-- intervals, and the longest stretch of the window without a sample (a wait shorter than that
-- may have happened unseen between two samples).
CREATE FUNCTION telemetry.sample_coverage(start_time timestamptz, end_time timestamptz)
RETURNS TABLE (samples bigint, sources text, longest_gap_s numeric, note text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  WITH s AS (
    SELECT captured_at, source, interval_s FROM telemetry.samples
     WHERE captured_at BETWEEN start_time AND end_time
  ), edges AS (
    SELECT start_time AS t UNION ALL SELECT captured_at FROM s UNION ALL SELECT end_time
  ), gaps AS (
    SELECT extract(epoch FROM lead(t) OVER (ORDER BY t) - t) AS gap FROM edges
  ), src AS (
    SELECT string_agg(format('%s from %s%s', n, coalesce(source, 'sample()'),
                             CASE WHEN interval_s IS NOT NULL THEN format(' every %s s', trim_scale(interval_s)) ELSE '' END), ', '
                      ORDER BY n DESC) AS sources
      FROM (SELECT source, interval_s, count(*) AS n FROM s GROUP BY 1, 2) x
  )
  SELECT (SELECT count(*) FROM s), src.sources, round(max(g.gap), 1),
         format('%s samples (%s); longest stretch without a sample %s s: waits shorter than that may be missing',
                (SELECT count(*) FROM s), coalesce(src.sources, 'none'), round(max(g.gap), 1))
    FROM gaps g, src
   GROUP BY src.sources
$$;

-- The end of a run's window for its evidence: the snapshot taken after the batch session flushed
-- its statistics when there is one (taken now if it is due and the caller may collect), else the
-- end batch_end() recorded, with a notice that the run's own last second of work may be missing.
CREATE FUNCTION telemetry._run_closing(p_run_id bigint, p_end timestamptz)
RETURNS timestamptz LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  r record;
BEGIN
  SELECT x.end_pid, x.stats_snapshot_id, x.ended_at INTO r FROM telemetry.runs x WHERE x.run_id = p_run_id;
  IF r.end_pid IS NULL THEN
    RETURN p_end;   -- open, or not ended by batch_end()
  END IF;
  IF r.stats_snapshot_id IS NULL AND has_function_privilege('telemetry._settle_runs()', 'EXECUTE') THEN
    PERFORM telemetry._settle_runs();
    SELECT x.stats_snapshot_id INTO r.stats_snapshot_id FROM telemetry.runs x WHERE x.run_id = p_run_id;
  END IF;
  IF r.stats_snapshot_id IS NULL THEN
    RAISE NOTICE 'telemetry: run % ended at % and no snapshot was taken after its session flushed its statistics: '
                 'WAL, block, temp and table numbers may miss up to the last second of the run''s own work '
                 '(PostgreSQL flushes a session''s statistics at most once a second; all of it for a run of a few ms)',
      p_run_id, r.ended_at;
    RETURN p_end;
  END IF;
  RETURN greatest(p_end, (SELECT s.captured_at FROM telemetry.snapshots s WHERE s.id = r.stats_snapshot_id));
END
$fn$;
