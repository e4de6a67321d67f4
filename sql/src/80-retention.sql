----------------------------------------------------------------------------------------------
-- Retention: deletes in batches of config.cleanup_batch_rows parent rows (samples or snapshots,
-- each with its child rows). The daily job CALLs cleanup_in_batches(), which commits after every
-- batch: no transaction holds back vacuum for long, and autovacuum can make the deleted space
-- reusable while the deletion goes on, so the tables stay near one retention's worth of rows.
-- Time partitions (DROP instead of DELETE) would leave no dead rows at all, but need partition
-- maintenance, the time column in every child key, and a data migration for existing installs;
-- at a few hundred thousand rows a day, committed batches are the simpler bound.
----------------------------------------------------------------------------------------------

-- One batch: up to p_batch samples older than p_cutoff with their child rows or, when no such
-- sample is left, up to p_batch such snapshots with theirs. Returns rows deleted per table;
-- an empty object when nothing older than the cutoff is left.
CREATE FUNCTION telemetry._cleanup_batch(p_cutoff timestamptz, p_batch int)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_ids bigint[];
  v_n bigint;
  v_counts jsonb := '{}';
  v_child text;
BEGIN
  IF p_batch IS NULL OR p_batch < 1 THEN
    RAISE EXCEPTION 'telemetry: the cleanup batch size must be a positive number of rows, not %', p_batch;
  END IF;
  SELECT array_agg(id) INTO v_ids
    FROM (SELECT id FROM telemetry.samples WHERE captured_at < p_cutoff ORDER BY captured_at, id LIMIT p_batch) x;
  IF v_ids IS NOT NULL THEN
    FOREACH v_child IN ARRAY ARRAY['sample_waits', 'sample_activity', 'sample_locks', 'sample_queries', 'sample_progress', 'sample_replication'] LOOP
      EXECUTE format('DELETE FROM telemetry.%I WHERE sample_id = ANY ($1)', v_child) USING v_ids;
      GET DIAGNOSTICS v_n = ROW_COUNT;
      v_counts := v_counts || jsonb_build_object(v_child, v_n);
    END LOOP;
    DELETE FROM telemetry.samples WHERE id = ANY (v_ids);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_counts || jsonb_build_object('samples', v_n);
  END IF;
  SELECT array_agg(id) INTO v_ids
    FROM (SELECT id FROM telemetry.snapshots WHERE captured_at < p_cutoff ORDER BY captured_at, id LIMIT p_batch) x;
  IF v_ids IS NOT NULL THEN
    FOREACH v_child IN ARRAY ARRAY['snapshot_tables', 'snapshot_replication'] LOOP
      EXECUTE format('DELETE FROM telemetry.%I WHERE snapshot_id = ANY ($1)', v_child) USING v_ids;
      GET DIAGNOSTICS v_n = ROW_COUNT;
      v_counts := v_counts || jsonb_build_object(v_child, v_n);
    END LOOP;
    DELETE FROM telemetry.snapshots WHERE id = ANY (v_ids);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_counts || jsonb_build_object('snapshots', v_n);
  END IF;
  RETURN '{}';
END
$fn$;

-- After the batches: finished runs older than the cutoff, and pg_cron's run history of the
-- telemetry jobs (a row per job run: 2880 a day for a 30 s job).
CREATE FUNCTION telemetry._cleanup_rest(p_cutoff timestamptz)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_n bigint;
  v_counts jsonb;
BEGIN
  DELETE FROM telemetry.runs WHERE coalesce(ended_at, started_at) < p_cutoff AND state <> 'running';
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_counts := jsonb_build_object('runs', v_n);
  -- a name whose last run is gone loses its totals (and its series); a later run starts them at 1 again
  DELETE FROM telemetry.run_totals t WHERE NOT EXISTS (SELECT 1 FROM telemetry.runs r WHERE r.name = t.name);
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_counts := v_counts || jsonb_build_object('run_totals', v_n);
  v_counts := v_counts || telemetry._cleanup_statement_texts();   -- 55-statement-capture.sql
  v_counts := v_counts || telemetry._cleanup_run_statement_bases(p_cutoff);   -- 56-run-statements.sql
  IF to_regclass('cron.job_run_details') IS NOT NULL THEN
    BEGIN
      EXECUTE $q$DELETE FROM cron.job_run_details
                  WHERE jobid IN (SELECT jobid FROM cron.job WHERE jobname LIKE 'telemetry\_%')
                    AND coalesce(end_time, start_time) < now() - $1::interval$q$
        USING telemetry._setting('cron_history_retain', '1 day');
      GET DIAGNOSTICS v_n = ROW_COUNT;
      v_counts := v_counts || jsonb_build_object('cron.job_run_details', v_n);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'telemetry cleanup: no privilege to purge cron.job_run_details';
    END;
  END IF;
  RETURN v_counts;
END
$fn$;

-- Sums two objects of row counts per table.
CREATE FUNCTION telemetry._add_counts(a jsonb, b jsonb)
RETURNS jsonb LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce(jsonb_object_agg(k, coalesce((a ->> k)::bigint, 0) + coalesce((b ->> k)::bigint, 0)), '{}')
        FROM (SELECT jsonb_object_keys(a) UNION SELECT jsonb_object_keys(b)) AS keys(k) $$;

-- The retention API in one transaction (a function cannot commit); the pg_cron job uses
-- cleanup_in_batches(), which commits between batches.
CREATE FUNCTION telemetry.cleanup(retain interval DEFAULT '7 days')
RETURNS TABLE (table_name text, rows_deleted bigint) LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  v_cutoff timestamptz := now() - retain;
  v_batch int := telemetry._setting('cleanup_batch_rows', '5000')::int;
  v_counts jsonb := '{}';
  v_step jsonb;
BEGIN
  IF retain IS NULL OR retain < interval '0' THEN
    RAISE EXCEPTION 'telemetry.cleanup: retain must be a non-negative interval';
  END IF;
  LOOP
    v_step := telemetry._cleanup_batch(v_cutoff, v_batch);
    EXIT WHEN v_step = '{}';
    v_counts := telemetry._add_counts(v_counts, v_step);
  END LOOP;
  v_counts := v_counts || telemetry._cleanup_rest(v_cutoff);
  RETURN QUERY SELECT k, coalesce((v_counts ->> k)::bigint, 0)
    FROM unnest(ARRAY['samples', 'sample_waits', 'sample_activity', 'sample_locks', 'sample_queries', 'sample_progress',
                      'sample_replication', 'snapshots', 'snapshot_tables', 'snapshot_replication', 'runs',
                      'run_totals', 'cron.job_run_details']) AS k
   WHERE k <> 'cron.job_run_details' OR v_counts ? k;
END
$fn$;

-- What the daily pg_cron job runs: CALL telemetry.cleanup_in_batches(). It commits after every
-- batch, so it must be CALLed outside a transaction block. A procedure that commits may have
-- neither SET search_path nor SECURITY DEFINER; this one runs with its caller's rights and only
-- calls schema-qualified functions that pin their search_path.
CREATE PROCEDURE telemetry.cleanup_in_batches(retain interval DEFAULT '7 days', batch_size int DEFAULT NULL)
LANGUAGE plpgsql
AS $pr$
DECLARE
  v_cutoff timestamptz := pg_catalog.now() - retain;
  v_batch int := coalesce(batch_size, telemetry._setting('cleanup_batch_rows', '5000')::int);
  v_counts jsonb := '{}';
  v_step jsonb;
  v_batches int := 0;
BEGIN
  IF retain IS NULL OR retain < interval '0' THEN
    RAISE EXCEPTION 'telemetry.cleanup_in_batches: retain must be a non-negative interval';
  END IF;
  LOOP
    v_step := telemetry._cleanup_batch(v_cutoff, v_batch);
    EXIT WHEN v_step = '{}';
    v_counts := telemetry._add_counts(v_counts, v_step);
    v_batches := v_batches + 1;
    COMMIT;
  END LOOP;
  v_counts := v_counts || telemetry._cleanup_rest(v_cutoff);
  COMMIT;
  RAISE NOTICE 'telemetry.cleanup_in_batches: % batches of up to % rows committed; rows deleted: %', v_batches, v_batch, v_counts;
END
$pr$;

