----------------------------------------------------------------------------------------------
-- Baselines: the ONE definition of "usual" for a run (batch_runs, the exporter's usual duration,
-- compare_to_baseline, diagnose and the report all read it)
----------------------------------------------------------------------------------------------

-- The previous succeeded runs of the same name that started before the run, most recent first, at
-- most config baseline_runs, leaving out runs marked with exclude_from_baseline(). Never the run
-- itself: a slow run must not raise its own yardstick.
CREATE FUNCTION telemetry.baseline_runs(p_run_id bigint)
RETURNS TABLE (run_id bigint, started_at timestamptz, ended_at timestamptz, duration_s numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT b.run_id, b.started_at, b.ended_at, round(extract(epoch FROM b.ended_at - b.started_at), 3)
    FROM telemetry.runs r
    JOIN telemetry.runs b ON b.name = r.name AND b.started_at < r.started_at AND b.run_id <> r.run_id
   WHERE r.run_id = p_run_id AND b.state = 'succeeded' AND b.ended_at IS NOT NULL AND NOT b.baseline_excluded
   ORDER BY b.started_at DESC, b.run_id DESC
   LIMIT telemetry._setting('baseline_runs', '5')::int
$$;

-- Of the given runs, the one a single-run comparison (statements and plans: the report's statements
-- section and diagnose()'s statement_regression) is made against: the run whose duration is closest
-- to their median, the most recent on a tie, so that one odd run in the baseline is not the yardstick.
CREATE FUNCTION telemetry._typical_run(p_runs bigint[])
RETURNS bigint LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  WITH d AS (SELECT r.run_id, round(extract(epoch FROM coalesce(r.ended_at, now()) - r.started_at), 3) AS s
               FROM telemetry.runs r WHERE r.run_id = ANY (p_runs))
  SELECT d.run_id FROM d
   ORDER BY abs(d.s - (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x.s) FROM d x)::numeric), d.run_id DESC
   LIMIT 1
$$;

-- The usual duration of a run in seconds: the mean of its baseline runs, NULL while there are fewer
-- than config baseline_min_runs of them (two runs are not a habit).
CREATE FUNCTION telemetry.usual_duration(p_run_id bigint, OUT usual_s numeric, OUT baseline_count int)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT CASE WHEN count(*) >= telemetry._setting('baseline_min_runs', '3')::int THEN round(avg(b.duration_s), 3) END,
         count(*)::int
    FROM telemetry.baseline_runs(p_run_id) b
$$;

CREATE FUNCTION telemetry.exclude_from_baseline(run_id bigint, excluded boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_variable
BEGIN
  UPDATE telemetry.runs r SET baseline_excluded = coalesce(excluded, true) WHERE r.run_id = run_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'telemetry.exclude_from_baseline: run % does not exist (see telemetry.batch_runs)', run_id;
  END IF;
END
$fn$;
