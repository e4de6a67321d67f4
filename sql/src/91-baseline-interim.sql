----------------------------------------------------------------------------------------------
-- INTERIM COPY of issue #15's shared definitions (run_settings, baseline_runs), built exactly as
-- the brief defines them so that the report (95-report.sql) can be built and tested before #15
-- lands. When issue-15 is merged into main, DELETE THIS FILE and keep #15's definitions.
-- (#15 fills run_settings from batch_start(); until then a trigger on telemetry.runs does it, in
-- the same session and transaction, for runs opened by batch_start().)
----------------------------------------------------------------------------------------------

INSERT INTO telemetry.config (key, value, description) VALUES
  ('baseline_runs',     '5', 'a run''s baseline: at most this many previous successful runs with the same name'),
  ('baseline_min_runs', '3', 'a baseline counts as "usual" only with at least this many runs')
ON CONFLICT (key) DO UPDATE SET description = excluded.description;

ALTER TABLE telemetry.runs ADD COLUMN IF NOT EXISTS baseline_excluded boolean NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS telemetry.run_settings (
  run_id   bigint REFERENCES telemetry.runs ON DELETE CASCADE,
  name     text,
  setting  text,
  unit     text,
  source   text,
  PRIMARY KEY (run_id, name)
);

CREATE FUNCTION telemetry._capture_run_settings()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  IF NEW.source = 'batch_start' THEN
    INSERT INTO telemetry.run_settings (run_id, name, setting, unit, source)
    SELECT NEW.run_id, s.name, s.setting, s.unit, s.source
      FROM pg_settings s
     WHERE s.source NOT IN ('default', 'override')
        OR s.name IN ('work_mem', 'maintenance_work_mem', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout',
                      'random_page_cost', 'jit', 'effective_cache_size', 'temp_buffers', 'hash_mem_multiplier',
                      'max_parallel_workers_per_gather', 'synchronous_commit', 'track_io_timing',
                      'track_wal_io_timing', 'temp_file_limit')
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS runs_capture_settings ON telemetry.runs;
CREATE TRIGGER runs_capture_settings AFTER INSERT ON telemetry.runs
  FOR EACH ROW EXECUTE FUNCTION telemetry._capture_run_settings();

CREATE FUNCTION telemetry.baseline_runs(p_run_id bigint)
RETURNS TABLE (run_id bigint, started_at timestamptz, ended_at timestamptz, duration_s numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT b.run_id, b.started_at, b.ended_at, round(extract(epoch FROM b.ended_at - b.started_at), 3)
    FROM telemetry.runs r
    JOIN telemetry.runs b ON b.name = r.name AND b.started_at < r.started_at AND b.run_id <> r.run_id
   WHERE r.run_id = p_run_id AND b.state = 'succeeded' AND NOT b.baseline_excluded AND b.ended_at IS NOT NULL
   ORDER BY b.started_at DESC, b.run_id DESC
   LIMIT telemetry._setting('baseline_runs', '5')::int
$$;

CREATE FUNCTION telemetry.exclude_from_baseline(run_id bigint, excluded boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_variable
BEGIN
  UPDATE telemetry.runs r SET baseline_excluded = excluded WHERE r.run_id = run_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'telemetry.exclude_from_baseline: run % does not exist (see telemetry.batch_runs)', run_id;
  END IF;
END
$fn$;
