----------------------------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC; telemetry_reader reads, telemetry_writer also collects
----------------------------------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA telemetry FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA telemetry FROM PUBLIC;
REVOKE ALL ON ALL ROUTINES IN SCHEMA telemetry FROM PUBLIC;   -- functions and procedures
GRANT USAGE ON SCHEMA telemetry TO telemetry_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA telemetry TO telemetry_reader;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA telemetry TO telemetry_reader;
REVOKE EXECUTE ON FUNCTION telemetry.snapshot(), telemetry.sample(), telemetry.cleanup(interval),
  telemetry._cleanup_batch(timestamptz, int), telemetry._cleanup_rest(timestamptz), telemetry.batch_start(text, boolean), telemetry.batch_end(bigint, text), telemetry.track_table(text, text),
  telemetry.untrack_table(text, text), telemetry.close_abandoned_runs(),
  telemetry.exclude_from_baseline(bigint, boolean) FROM telemetry_reader;
GRANT EXECUTE ON FUNCTION telemetry.snapshot(), telemetry.sample(), telemetry.batch_start(text, boolean),
  telemetry.batch_end(bigint, text) TO telemetry_writer;
-- plans are stored by writers only (capture_plans() itself plans as the statement's role)
REVOKE EXECUTE ON FUNCTION telemetry._store_plan(bigint, oid, oid, bigint, text, text, jsonb),
  telemetry._cleanup_statement_texts() FROM telemetry_reader;
GRANT EXECUTE ON FUNCTION telemetry._store_plan(bigint, oid, oid, bigint, text, text, jsonb) TO telemetry_writer;
-- batch-run fidelity (91-run-fidelity.sql, 89-baseline.sql)
REVOKE EXECUTE ON FUNCTION telemetry._sample(text, numeric), telemetry.sample_open_runs(text, numeric),
  telemetry._settle_runs(), telemetry._run_sampling_job(boolean), telemetry._record_run_settings(bigint),
  telemetry.exclude_from_baseline(bigint, boolean) FROM telemetry_reader;
GRANT EXECUTE ON FUNCTION telemetry.sample_open_runs(text, numeric), telemetry._settle_runs(),
  telemetry.exclude_from_baseline(bigint, boolean) TO telemetry_writer;

COMMIT;

