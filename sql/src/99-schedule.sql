----------------------------------------------------------------------------------------------
-- Collection schedule (pg_cron when it is there; otherwise how to collect by hand)
----------------------------------------------------------------------------------------------

SET client_min_messages = notice;
DO $cron$
DECLARE
  v_cron_db text := current_setting('cron.database_name', true);
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron')
     AND current_setting('shared_preload_libraries') ~ 'pg_cron'
     AND coalesce(v_cron_db, 'postgres') = current_database() THEN
    BEGIN
      CREATE EXTENSION pg_cron;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE 'could not create extension pg_cron: %', SQLERRM;
    END;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
    RAISE NOTICE E'telemetry installed WITHOUT automatic collection: pg_cron is not available in database %.%\n'
      'Collect by hand or from any scheduler (cron, systemd timer, your batch runner):\n'
      '  psql -d % -c "SELECT telemetry.snapshot()"          -- every 5 minutes, and before/after each batch\n'
      '  psql -d % -c "SELECT telemetry.sample()"            -- every 30 seconds while batches run\n'
      '  psql -d % -c "SELECT * FROM telemetry.cleanup()"    -- daily (keeps 7 days)\n'
      '  psql -d % -c "SELECT * FROM telemetry.capture_pending_plans()"  -- every minute, with pg_stat_statements: plans of runs that ended\n'
      'or wrap a batch in telemetry.batch_start(''name'') / telemetry.batch_end(run_id), which snapshot and sample at both ends.',
      current_database(),
      CASE WHEN v_cron_db IS NOT NULL AND v_cron_db <> current_database()
           THEN format(' (pg_cron runs in database %s: schedule these calls there with cron.schedule_in_database)', v_cron_db)
           ELSE '' END,
      current_database(), current_database(), current_database(), current_database();
    RETURN;
  END IF;

  PERFORM cron.schedule('telemetry_snapshot', '*/5 * * * *', 'SELECT telemetry.snapshot()');
  -- second-granularity schedules need pg_cron 1.5+; extversion does not tell, so try it
  BEGIN
    PERFORM cron.schedule('telemetry_sample', '30 seconds', 'SELECT telemetry.sample()');
  EXCEPTION WHEN OTHERS THEN
    PERFORM cron.schedule('telemetry_sample', '* * * * *', 'SELECT telemetry.sample()');
    RAISE NOTICE 'this pg_cron does not accept a ''30 seconds'' schedule (pg_cron 1.5+ does): telemetry_sample runs every minute instead (%)', SQLERRM;
  END;
  PERFORM cron.schedule('telemetry_cleanup', '17 3 * * *', 'CALL telemetry.cleanup_in_batches()');
  -- plans of runs that just ended (capture_pending_plans: as each statement's role)
  PERFORM cron.schedule('telemetry_plans', '* * * * *', 'SELECT count(*) FROM telemetry.capture_pending_plans()');
  RAISE NOTICE 'telemetry: pg_cron jobs scheduled: %',
    (SELECT string_agg(format('%s (%s)', jobname, schedule), ', ' ORDER BY jobname) FROM cron.job WHERE jobname LIKE 'telemetry\_%');
END
$cron$;
