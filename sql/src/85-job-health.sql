----------------------------------------------------------------------------------------------
-- Health of the collection jobs
----------------------------------------------------------------------------------------------

-- pg_cron's run history of the jobs this schema scheduled, for monitoring accounts. pg_cron does
-- not open its schema to pg_monitor, and row-level security shows each user only the jobs they
-- own, so a monitoring role cannot read it directly; this SECURITY DEFINER function answers for
-- the telemetry_* jobs of this database owned by the schema's owner, and for nothing else (no
-- commands, no messages). Empty without pg_cron in this database (or before pg_cron 1.3).
CREATE FUNCTION telemetry.cron_job_health()
RETURNS TABLE (jobname text, schedule text, active boolean, last_status text, last_start timestamptz,
               last_end timestamptz, failed_last_hour bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  IF to_regclass('cron.job') IS NULL OR to_regclass('cron.job_run_details') IS NULL THEN
    RETURN;
  END IF;
  -- dynamic: the function must exist (and compile) where pg_cron is not installed
  RETURN QUERY EXECUTE $q$
    SELECT j.jobname::text, j.schedule::text, j.active, last.status::text, last.start_time, last.end_time,
           (SELECT count(*) FROM cron.job_run_details d
             WHERE d.jobid = j.jobid AND d.status = 'failed'
               AND coalesce(d.end_time, d.start_time) > now() - interval '1 hour')
      FROM cron.job j
      LEFT JOIN LATERAL (SELECT d.status, d.start_time, d.end_time FROM cron.job_run_details d
                          WHERE d.jobid = j.jobid AND d.status IN ('succeeded', 'failed')
                          ORDER BY d.start_time DESC NULLS LAST, d.runid DESC LIMIT 1) last ON true
     WHERE j.jobname LIKE 'telemetry\_%'
       AND j.database = current_database()
       AND j.username = (SELECT pg_get_userbyid(n.nspowner) FROM pg_namespace n WHERE n.nspname = 'telemetry')
     ORDER BY 1 $q$;
END
$fn$;

