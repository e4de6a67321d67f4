----------------------------------------------------------------------------------------------
-- Abandoned runs: a run whose session has gone without batch_end()
----------------------------------------------------------------------------------------------
-- A batch that crashes, is killed or loses its connection never calls batch_end(): its run would
-- stay 'running' forever, so "is the batch running?" (alerts, dashboards, the usual duration)
-- would be wrong from then on. batch_start() records the session that started the run (pid and
-- backend_start: a pid alone can be reused by a later session); once no session with both is
-- left, the run is abandoned. sample() closes such runs (state 'abandoned', ended_at = when it
-- found out); readers that cannot wait for the next sample() (the exporter) ask
-- run_session_gone() directly, so both use this one definition.
--
-- Runs without a recorded backend_start are never judged: runs started with
-- batch_start(name, session_bound => false) (batch_start and batch_end from different sessions,
-- as orchestrators that open one connection per task do), runs opened by sample()'s
-- application_name rules (closed by those rules), and runs from before this column existed.

ALTER TABLE telemetry.runs ADD COLUMN IF NOT EXISTS backend_start timestamptz;
DO $abandoned_state$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'telemetry.runs'::regclass AND conname = 'runs_state_check'
                    AND pg_get_constraintdef(oid) LIKE '%abandoned%') THEN
    ALTER TABLE telemetry.runs DROP CONSTRAINT IF EXISTS runs_state_check;
    ALTER TABLE telemetry.runs ADD CONSTRAINT runs_state_check
      CHECK (state IN ('running', 'succeeded', 'failed', 'abandoned'));
  END IF;
END
$abandoned_state$;
ALTER TABLE telemetry.run_totals ADD COLUMN IF NOT EXISTS abandoned bigint NOT NULL DEFAULT 0;
-- open runs are few among many finished ones: sample() and every scrape look them up by this
CREATE INDEX IF NOT EXISTS runs_running_idx ON telemetry.runs (run_id) WHERE state = 'running';

-- True when the run is open, was started by a session batch_start() recorded, and that session is
-- gone. On a standby the sessions are the standby's own, not the primary's: never true there. A
-- session whose backend_start this role may not see (no pg_read_all_stats) counts as still there.
CREATE FUNCTION telemetry.run_session_gone(p_run_id bigint)
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT coalesce(bool_and(r.state = 'running' AND r.backend_start IS NOT NULL AND NOT pg_is_in_recovery()
                           AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                            WHERE a.pid = r.pid
                                              AND (a.backend_start IS NULL OR a.backend_start = r.backend_start))), false)
    FROM telemetry.runs r
   WHERE r.run_id = p_run_id
$$;

-- Closes every abandoned run; returns how many. Called by sample() (so every 30 s under pg_cron).
CREATE FUNCTION telemetry.close_abandoned_runs()
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_closed integer;
BEGIN
  IF pg_is_in_recovery() THEN
    RETURN 0;
  END IF;
  UPDATE telemetry.runs r SET state = 'abandoned', ended_at = clock_timestamp()
   WHERE r.state = 'running' AND r.backend_start IS NOT NULL AND telemetry.run_session_gone(r.run_id);
  GET DIAGNOSTICS v_closed = ROW_COUNT;
  RETURN v_closed;
END
$fn$;
