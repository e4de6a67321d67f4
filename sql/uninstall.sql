-- pg-batch-telemetry: remove the `telemetry` schema, its pg_cron jobs and their run history.
--   psql -v ON_ERROR_STOP=1 -d <db> -f sql/uninstall.sql
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
DO $un$
DECLARE
  r record;
BEGIN
  IF to_regclass('cron.job') IS NOT NULL THEN
    EXECUTE $q$DELETE FROM cron.job_run_details
                WHERE jobid IN (SELECT jobid FROM cron.job WHERE jobname LIKE 'telemetry\_%')$q$;
    FOR r IN EXECUTE $q$SELECT jobid, jobname FROM cron.job WHERE jobname LIKE 'telemetry\_%'$q$ LOOP
      PERFORM cron.unschedule(r.jobid);
    END LOOP;
  END IF;
END
$un$;
DROP SCHEMA IF EXISTS telemetry CASCADE;
COMMIT;

-- The roles are cluster-wide and may still be used by telemetry in another database.
DO $roles$
DECLARE
  v text;
BEGIN
  FOREACH v IN ARRAY ARRAY['telemetry_admin', 'telemetry_writer', 'telemetry_reader'] LOOP
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v) THEN
      BEGIN
        EXECUTE format('DROP ROLE %I', v);
      EXCEPTION WHEN dependent_objects_still_exist THEN
        RAISE NOTICE 'role % kept: still used elsewhere (%)', v, SQLERRM;
      END;
    END IF;
  END LOOP;
END
$roles$;
