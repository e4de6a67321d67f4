----------------------------------------------------------------------------------------------
-- Batch runs
----------------------------------------------------------------------------------------------

-- session_bound: the run belongs to the calling session, and is closed as 'abandoned' if that
-- session ends without batch_end() (91-abandoned-runs.sql); false when batch_end() will come from
-- another session.
CREATE FUNCTION telemetry.batch_start(run_name text, session_bound boolean DEFAULT true)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_id bigint;
  v_job text;
  v_snapshot bigint;
BEGIN
  IF telemetry._name_problem(run_name) IS NOT NULL THEN
    RAISE EXCEPTION 'telemetry.batch_start: %', telemetry._name_problem(run_name);
  END IF;
  -- exact boundaries: a snapshot and a sample at the start of the run
  v_snapshot := telemetry.snapshot();
  INSERT INTO telemetry.runs (name, started_by, backend_start)
  VALUES (run_name, session_user,
          CASE WHEN session_bound THEN (SELECT a.backend_start FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()) END)
  RETURNING run_id INTO v_id;
  PERFORM telemetry._run_statements_start(v_id, v_snapshot);   -- the base of its statement totals (56-run-statements.sql)
  PERFORM telemetry._sample('batch_start', NULL);   -- after the run began: inside its window
  PERFORM telemetry._record_run_settings(v_id);   -- this session's settings: the batch's (91-run-fidelity.sql)
  PERFORM pg_advisory_xact_lock(hashtext('telemetry.run_sampling'));
  v_job := telemetry._run_sampling_job(true);     -- a sample every second while the run is open, where pg_cron can
  IF v_job <> 'scheduled' THEN
    RAISE DEBUG 'telemetry.batch_start: no per-second pg_cron sampling (%)', v_job;
  END IF;
  RETURN v_id;
END
$fn$;

CREATE FUNCTION telemetry.batch_end(run_id bigint, state text DEFAULT 'succeeded')
RETURNS interval LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  v_duration interval;
  v_snapshot bigint;
BEGIN
  IF state NOT IN ('succeeded', 'failed') THEN
    RAISE EXCEPTION 'telemetry.batch_end: state must be ''succeeded'' or ''failed'', not %', state;
  END IF;
  -- only the login role that started the run, or an administrator (telemetry._is_admin), may end it
  IF NOT telemetry._is_admin() AND EXISTS (SELECT 1 FROM telemetry.runs r WHERE r.run_id = batch_end.run_id
                                              AND r.started_by IS DISTINCT FROM session_user::text) THEN
    RAISE EXCEPTION 'telemetry.batch_end: run % was started by another role; only that role or a member of telemetry_admin may end it', run_id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- this session's statistics are flushed when it leaves this transaction; _settle_runs() then
  -- takes the run's closing snapshot again (91-run-fidelity.sql)
  PERFORM pg_stat_force_next_flush();
  UPDATE telemetry.runs r SET state = batch_end.state, ended_at = clock_timestamp(), end_pid = pg_backend_pid()
   WHERE r.run_id = batch_end.run_id AND r.state = 'running'
  RETURNING r.ended_at - r.started_at INTO v_duration;
  IF NOT FOUND AND EXISTS (SELECT 1 FROM telemetry.runs r WHERE r.run_id = batch_end.run_id AND r.state = 'abandoned') THEN
    RAISE EXCEPTION 'telemetry.batch_end: run % was closed as abandoned when the session that started it ended; '
                    'call batch_start(name, session_bound => false) when batch_end() comes from another session', run_id;
  ELSIF NOT FOUND THEN
    RAISE EXCEPTION 'telemetry.batch_end: run % does not exist or has already ended', run_id;
  END IF;
  PERFORM telemetry._sample('batch_end', NULL);
  v_snapshot := telemetry.snapshot();
  PERFORM telemetry._run_statements_end(run_id, v_snapshot);   -- its statement totals (56-run-statements.sql)
  RETURN v_duration;
END
$fn$;

CREATE VIEW telemetry.batch_runs AS
SELECT r.run_id, r.name, r.state, r.started_at, r.ended_at,
       coalesce(r.ended_at, now()) - r.started_at AS duration,
       make_interval(secs => u.usual_s::double precision) AS avg_succeeded_duration,   -- the run's baseline: telemetry.usual_duration()
       round(extract(epoch FROM coalesce(r.ended_at, now()) - r.started_at) / nullif(u.usual_s, 0), 2) AS duration_vs_avg,
       r.started_by, r.pid, r.source, u.baseline_count AS baseline_runs, r.baseline_excluded
  FROM telemetry.runs r
 CROSS JOIN LATERAL telemetry.usual_duration(r.run_id) u;

-- Keeps telemetry.run_totals: a run counts as started when inserted and as succeeded/failed when
-- its state leaves 'running' (or when it is inserted already finished). Every path that writes runs
-- (batch_start/batch_end, sample()'s application_name rules, a DBA's own INSERT) goes through here.
CREATE FUNCTION telemetry._count_run()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  IF TG_OP = 'INSERT' OR (OLD.state = 'running' AND NEW.state <> 'running') THEN
    INSERT INTO telemetry.run_totals AS t (name, started, succeeded, failed, abandoned)
    VALUES (NEW.name, CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE 0 END,
            (NEW.state = 'succeeded')::int, (NEW.state = 'failed')::int, (NEW.state = 'abandoned')::int)
    ON CONFLICT (name) DO UPDATE SET started = t.started + excluded.started,
                                     succeeded = t.succeeded + excluded.succeeded,
                                     failed = t.failed + excluded.failed,
                                     abandoned = t.abandoned + excluded.abandoned;
  END IF;
  RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS runs_count ON telemetry.runs;
CREATE TRIGGER runs_count AFTER INSERT OR UPDATE OF state ON telemetry.runs
  FOR EACH ROW EXECUTE FUNCTION telemetry._count_run();

-- First install of the totals over existing history (an upgrade, or a restored dump): start from
-- the runs kept so far. Later installs find the totals filled and leave them alone.
INSERT INTO telemetry.run_totals (name, started, succeeded, failed)
SELECT r.name, count(*), count(*) FILTER (WHERE r.state = 'succeeded'), count(*) FILTER (WHERE r.state = 'failed')
  FROM telemetry.runs r
 WHERE NOT EXISTS (SELECT 1 FROM telemetry.run_totals)
 GROUP BY r.name;

CREATE FUNCTION telemetry._run_window(p_run_id bigint, OUT start_time timestamptz, OUT end_time timestamptz)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  SELECT r.started_at, coalesce(r.ended_at, now()) INTO start_time, end_time FROM telemetry.runs r WHERE r.run_id = p_run_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'telemetry: run % does not exist (see telemetry.batch_runs)', p_run_id;
  END IF;
  end_time := telemetry._run_closing(p_run_id, end_time);   -- 91-run-fidelity.sql
END
$fn$;

-- Every numeric compare() metric of two windows side by side, the biggest relative change first.
CREATE FUNCTION telemetry.compare_windows(baseline_start timestamptz, baseline_end timestamptz,
                                          slow_start timestamptz, slow_end timestamptz)
RETURNS TABLE (metric text, baseline numeric, slow numeric, ratio numeric, change numeric)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  a jsonb;
  b jsonb;
BEGIN
  a := (SELECT to_jsonb(c) FROM telemetry.compare(baseline_start, baseline_end) c);
  b := (SELECT to_jsonb(c) FROM telemetry.compare(slow_start, slow_end) c);
  a := a || jsonb_build_object('window_seconds', extract(epoch FROM baseline_end - baseline_start));
  b := b || jsonb_build_object('window_seconds', extract(epoch FROM slow_end - slow_start));
  RETURN QUERY
  SELECT k.key, (a ->> k.key)::numeric, (b ->> k.key)::numeric,
         round((b ->> k.key)::numeric / nullif((a ->> k.key)::numeric, 0), 2),
         (b ->> k.key)::numeric - (a ->> k.key)::numeric
    FROM jsonb_each(b) k
   WHERE jsonb_typeof(k.value) = 'number' AND coalesce(jsonb_typeof(a -> k.key), 'null') IN ('number', 'null')
     AND k.key NOT IN ('start_snapshot_id', 'end_snapshot_id', 'slot_count')
   ORDER BY abs((b ->> k.key)::numeric - coalesce((a ->> k.key)::numeric, 0))
              / greatest(abs(coalesce((a ->> k.key)::numeric, 0)), 1) DESC,
            k.key;
END
$fn$;

CREATE FUNCTION telemetry.compare_runs(baseline_run bigint, slow_run bigint)
RETURNS TABLE (metric text, baseline numeric, slow numeric, ratio numeric, change numeric)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  a record := telemetry._run_window(baseline_run);
  b record := telemetry._run_window(slow_run);
BEGIN
  RETURN QUERY SELECT * FROM telemetry.compare_windows(a.start_time, a.end_time, b.start_time, b.end_time);
END
$fn$;

