-- Test fixture, used only where the installed schema lacks telemetry.baseline_runs(): the function as the
-- shared definitions of the project agree it (owner: issue #15, which builds it in sql/src/). Tests that need a
-- baseline create it from here, loudly, until the schema ships its own; they never replace an existing one.
-- Previous successful runs with the same name that started before the run, most recent first, at most config
-- baseline_runs (default 5). (The real one also leaves out runs marked baseline_excluded.)
CREATE FUNCTION telemetry.baseline_runs(p_run_id bigint)
RETURNS TABLE (run_id bigint, started_at timestamptz, ended_at timestamptz, duration_s numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
  SELECT b.run_id, b.started_at, b.ended_at, extract(epoch FROM b.ended_at - b.started_at)
    FROM telemetry.runs r
    JOIN telemetry.runs b ON b.name = r.name AND b.state = 'succeeded' AND b.started_at < r.started_at
   WHERE r.run_id = p_run_id
   ORDER BY b.started_at DESC, b.run_id DESC
   LIMIT coalesce((SELECT c.value::int FROM telemetry.config c WHERE c.key = 'baseline_runs'), 5)
$fn$;
GRANT EXECUTE ON FUNCTION telemetry.baseline_runs(bigint) TO telemetry_reader;
