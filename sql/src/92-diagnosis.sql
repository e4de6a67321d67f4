----------------------------------------------------------------------------------------------
-- diagnose(): one row per finding, the six patterns, ranked by score (= multiple of its threshold)
----------------------------------------------------------------------------------------------

CREATE TYPE telemetry._finding AS (pattern text, score numeric, evidence text, recommendation text);

-- p_run_id: the run the window belongs to (its batch session's settings), NULL for a plain window;
-- p_baseline_run: the run its statements are compared with (statement_regression), NULL for none.
CREATE FUNCTION telemetry._diagnose(start_time timestamptz, end_time timestamptz, p_run_id bigint, p_baseline_run bigint)
RETURNS TABLE (rank int, pattern text, severity text, score numeric, evidence text, recommendation text)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  v_coverage record;
  v_rate_s numeric := greatest(extract(epoch FROM end_time - start_time), 1);   -- rate forms: per second, windows under 1 s as 1 s
  c telemetry._pair_deltas;
  v_findings telemetry._finding[] := '{}';
  v_missing text[] := '{}';
  v_have_compare boolean := false;
  v_samples bigint := 0;
  v_val numeric;
  v_score numeric;
  r record;
BEGIN
  PERFORM telemetry._check_window(start_time, end_time);
  BEGIN
    SELECT * INTO c FROM telemetry.compare(start_time, end_time);
    v_have_compare := true;
  EXCEPTION WHEN OTHERS THEN
    v_missing := v_missing || ('snapshots: ' || SQLERRM);
  END;
  BEGIN
    v_samples := telemetry._sample_window(start_time, end_time);
  EXCEPTION WHEN OTHERS THEN
    v_missing := v_missing || ('samples: ' || SQLERRM);
  END;
  IF NOT v_have_compare AND v_samples = 0 THEN
    RAISE EXCEPTION 'telemetry.diagnose: no telemetry for % .. %: %', start_time, end_time, array_to_string(v_missing, '; ');
  END IF;
  IF cardinality(v_missing) > 0 THEN
    RAISE NOTICE 'telemetry.diagnose: partial evidence: %', array_to_string(v_missing, '; ');
  END IF;
  SELECT * INTO v_coverage FROM telemetry.sample_coverage(start_time, end_time);
  RAISE NOTICE 'telemetry.diagnose: coverage: %', v_coverage.note;

  -- 1. lock contention: the longest wait of a blocked session (from pg_locks.waitstart)
  IF v_samples > 0 THEN
    SELECT extract(epoch FROM l.blocked_duration) AS wait_s, l.blocked_pid, l.lock_type, l.lock_mode, l.relation,
           l.blocking_pid, l.blocking_state, qb.query AS blocking_query,
           (SELECT count(DISTINCT s2.id) FROM telemetry.samples s2 JOIN telemetry.sample_locks l2 ON l2.sample_id = s2.id
             WHERE s2.captured_at BETWEEN start_time AND end_time) AS blocked_samples
      INTO r
      FROM telemetry.samples s JOIN telemetry.sample_locks l ON l.sample_id = s.id
      LEFT JOIN telemetry.sample_queries qb ON qb.sample_id = l.sample_id AND qb.pid = l.blocking_pid   -- row-level security
     WHERE s.captured_at BETWEEN start_time AND end_time
     ORDER BY l.blocked_duration DESC NULLS LAST LIMIT 1;
    IF FOUND THEN
      v_score := r.wait_s / telemetry._setting('diagnose.lock_wait_seconds', '1')::numeric;
      IF v_score >= 1 THEN
        v_findings := v_findings || ROW('lock_contention', v_score,
          format('blocked sessions in %s of %s samples; longest wait %s s: pid %s waiting for %s (%s) on %s, blocked by pid %s (%s): %s; coverage: %s',
                 r.blocked_samples, v_samples, round(r.wait_s, 1), r.blocked_pid, r.lock_mode, r.lock_type,
                 coalesce(r.relation, '-'), r.blocking_pid, coalesce(r.blocking_state, '?'), coalesce(r.blocking_query, '(no query text: previews off, or not yours to see without pg_read_all_stats)'),
                 v_coverage.note),
          'Find the blocker in telemetry.locks_between(start, end): shorten its transaction, keep DDL/TRUNCATE and long transactions out of the batch window, and set lock_timeout in the batch so it fails fast instead of queueing.')::telemetry._finding;
      END IF;
    END IF;
  END IF;

  IF v_have_compare THEN
    -- 2. buffer / WAL pressure: client backends writing dirty buffers themselves
    v_val := coalesce(c.io_client_normal_writes, c.bgw_buffers_backend_delta);
    v_score := greatest(v_val / telemetry._setting('diagnose.backend_writes', '1024')::numeric,
                        v_val / v_rate_s / telemetry._setting('diagnose.backend_writes_per_second', '256')::numeric);
    IF v_score >= 1 THEN
      v_findings := v_findings || ROW('buffer_wal_pressure', v_score,
        format('client backends wrote %s buffers (%s, %s buffers/s over %s s) themselves; checkpointer wrote %s, bgwriter %s (maxwritten_clean %s); backend fsyncs %s; WAL %s, wal_buffers_full %s',
               v_val, pg_size_pretty(v_val * current_setting('block_size')::numeric), round(v_val / v_rate_s, 1), round(v_rate_s, 1), c.ckpt_buffers_delta,
               c.bgw_buffers_clean_delta, c.bgw_maxwritten_clean_delta, coalesce(c.io_client_fsyncs, c.bgw_buffers_backend_fsync_delta),
               c.wal_bytes_pretty, c.wal_buffers_full_delta),
        'Backends are evicting dirty pages on their own: raise shared_buffers, let the background writer do more (bgwriter_lru_maxpages, bgwriter_delay), reduce concurrent writers; if wal_buffers_full grows, raise wal_buffers.')::telemetry._finding;
    END IF;

    -- 3. checkpoint interference: forced checkpoints or slow checkpoint fsyncs
    v_score := greatest(c.ckpt_requested_delta / telemetry._setting('diagnose.requested_checkpoints', '1')::numeric,
                        c.ckpt_sync_time_ms / telemetry._setting('diagnose.checkpoint_sync_ms', '10000')::numeric,
                        c.ckpt_sync_time_ms / v_rate_s / telemetry._setting('diagnose.checkpoint_sync_ms_per_second', '100')::numeric);
    IF v_score >= 1 THEN
      v_findings := v_findings || ROW('checkpoint_interference', v_score,
        format('%s requested (forced) and %s timed checkpoints; checkpoint write %s ms, sync %s ms, %s buffers written; WAL %s in the window (max_wal_size %s)',
               c.ckpt_requested_delta, c.ckpt_timed_delta, c.ckpt_write_time_ms, c.ckpt_sync_time_ms,
               c.ckpt_buffers_delta, c.wal_bytes_pretty, telemetry._window_setting(p_run_id, 'max_wal_size')),
        'Forced checkpoints mean the batch wrote more WAL than max_wal_size between checkpoints: raise max_wal_size (and checkpoint_timeout), or run the batch away from other write-heavy work.')::telemetry._finding;
    END IF;

    -- 5. temp file spills
    v_score := greatest(c.temp_bytes_delta / telemetry._setting('diagnose.temp_bytes', '33554432')::numeric,
                        c.temp_bytes_delta / v_rate_s / telemetry._setting('diagnose.temp_bytes_per_second', '8388608')::numeric);
    IF v_score >= 1 THEN
      v_findings := v_findings || ROW('temp_file_spills', v_score,
        format('%s temp files, %s written to disk by sorts/hashes (%s/s over %s s); work_mem %s, hash_mem_multiplier %s',
               c.temp_files_delta, c.temp_bytes_pretty, pg_size_pretty(round(c.temp_bytes_delta / v_rate_s)), round(v_rate_s, 1),
               telemetry._window_setting(p_run_id, 'work_mem'), telemetry._window_setting(p_run_id, 'hash_mem_multiplier')),
        'Sorts and hashes spill to disk: raise work_mem for the batch session (SET work_mem = ''256MB''), or avoid the large sort (index, smaller batches); EXPLAIN (ANALYZE, BUFFERS) shows "external merge" / hash batches.')::telemetry._finding;
    END IF;

    -- 4. autovacuum on tracked tables during the window
    SELECT sum(coalesce(d.autovacuum_count_delta, 0) + coalesce(d.autoanalyze_count_delta, 0)) AS runs,
           string_agg(format('%s.%s (autovacuum %s, autoanalyze %s, dead tuples %s)', d.schemaname, d.relname,
                             d.autovacuum_count_delta, d.autoanalyze_count_delta, d.end_dead_tup), ', ')
             FILTER (WHERE d.autovacuum_count_delta > 0 OR d.autoanalyze_count_delta > 0) AS tables
      INTO r
      FROM telemetry._table_pair_deltas d
     WHERE d.start_snapshot_id = c.start_snapshot_id AND d.end_snapshot_id = c.end_snapshot_id;
    v_val := coalesce(r.runs, 0);
    v_score := v_val / telemetry._setting('diagnose.autovacuum_runs', '1')::numeric;
    IF v_score >= 1 THEN
      v_findings := v_findings || ROW('autovacuum_interference', v_score,
        format('%s autovacuum/autoanalyze runs on tracked tables: %s; autovacuum I/O: %s reads, %s writes',
               v_val, r.tables, coalesce(c.io_autovacuum_reads::text, 'n/a'), coalesce(c.io_autovacuum_writes::text, 'n/a')),
        'Autovacuum worked on the batch''s tables during the batch: disable it on them for the load (ALTER TABLE ... SET (autovacuum_enabled = false)) and VACUUM ANALYZE afterwards, or schedule the batch away from it; a higher autovacuum_vacuum_cost_delay makes it gentler.')::telemetry._finding;
    END IF;
  END IF;

  -- 6. replication lag, from samples and snapshots in the window
  SELECT max(x.bytes) AS bytes, max(x.lag) AS lag,
         (array_agg(x.app ORDER BY x.bytes DESC NULLS LAST))[1] AS app
    INTO r
    FROM (SELECT rp.replay_lag_bytes AS bytes, rp.replay_lag AS lag, rp.application_name AS app
            FROM telemetry.samples s JOIN telemetry.sample_replication rp ON rp.sample_id = s.id
           WHERE s.captured_at BETWEEN start_time AND end_time
          UNION ALL
          SELECT rp.replay_lag_bytes, rp.replay_lag, rp.application_name
            FROM telemetry.snapshots s JOIN telemetry.snapshot_replication rp ON rp.snapshot_id = s.id
           WHERE s.captured_at BETWEEN start_time AND end_time) x;
  v_score := greatest(r.bytes / telemetry._setting('diagnose.replay_lag_bytes', '16777216')::numeric,
                      extract(epoch FROM r.lag) / telemetry._setting('diagnose.replay_lag_seconds', '10')::numeric);
  IF v_score >= 1 THEN
    v_findings := v_findings || ROW('replication_lag', v_score,
      format('replica %s was up to %s behind in replay (replay_lag up to %s); synchronous_commit %s, synchronous_standby_names ''%s''',
             r.app, pg_size_pretty(r.bytes), coalesce(r.lag::text, 'n/a'), telemetry._window_setting(p_run_id, 'synchronous_commit'),
             current_setting('synchronous_standby_names')),
      'A replica fell behind: check its disk, CPU and network (and whether replay was paused or conflicted); with synchronous replication the batch waits for it, so consider SET LOCAL synchronous_commit = local for the batch or fix the replica first.')::telemetry._finding;
  END IF;

  v_findings := telemetry._statement_evidence(v_findings, start_time, end_time, p_run_id, p_baseline_run);   -- 93-statement-compare.sql

  IF cardinality(v_findings) = 0 THEN
    RAISE NOTICE 'telemetry.diagnose: no findings for % .. % (% samples%; %)', start_time, end_time, v_samples,
      CASE WHEN v_have_compare THEN format(', snapshots %s .. %s', c.start_snapshot_at, c.end_snapshot_at) ELSE ', no snapshots' END,
      v_coverage.note;
  END IF;
  RETURN QUERY
  SELECT (row_number() OVER (ORDER BY f.score DESC, f.pattern))::int, f.pattern,
         CASE WHEN f.score >= 10 THEN 'high' WHEN f.score >= 3 THEN 'medium' ELSE 'low' END,
         round(f.score, 2), f.evidence, f.recommendation
    FROM unnest(v_findings) f
   ORDER BY f.score DESC, f.pattern;
END
$fn$;

CREATE FUNCTION telemetry.diagnose(start_time timestamptz, end_time timestamptz)
RETURNS TABLE (rank int, pattern text, severity text, score numeric, evidence text, recommendation text)
LANGUAGE sql
SET search_path = pg_catalog, telemetry, pg_temp
AS $$ SELECT * FROM telemetry._diagnose(start_time, end_time, NULL, NULL) $$;

CREATE FUNCTION telemetry.diagnose(run_id bigint)
RETURNS TABLE (rank int, pattern text, severity text, score numeric, evidence text, recommendation text)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  w record := telemetry._run_window(run_id);
  v_findings jsonb;
  -- the run's baseline (95-report.sql), as run_report(run_id) has it
  v_base bigint[] := telemetry._report_baseline(run_id, NULL);
BEGIN
  v_findings := (SELECT jsonb_agg(to_jsonb(d)) FROM telemetry._diagnose(w.start_time, w.end_time, run_id, telemetry._typical_run(v_base)) d);
  IF v_findings IS NULL THEN
    RETURN;
  END IF;
  -- each finding against that baseline: "temp written 1.2 GB, usually 3 MB (median of 5 runs)"
  RETURN QUERY
  SELECT f.rank, f.pattern, f.severity, f.score, f.evidence, f.recommendation
    FROM telemetry._findings_with_baseline(v_findings,
           (SELECT jsonb_agg(to_jsonb(c)) FROM telemetry.compare_to_baseline(run_id, v_base) c),
           (SELECT r.name FROM telemetry.runs r WHERE r.run_id = diagnose.run_id), cardinality(v_base)) f;
END
$fn$;

