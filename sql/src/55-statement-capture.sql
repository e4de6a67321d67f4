----------------------------------------------------------------------------------------------
-- Statement capture: pg_stat_statements deltas at every snapshot()
----------------------------------------------------------------------------------------------

-- The schema of pg_stat_statements when it is usable here, else NULL with the reason in p_why.
CREATE FUNCTION telemetry._pgss_schema(OUT schema_name text, OUT why text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  SELECT n.nspname INTO schema_name FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
   WHERE e.extname = 'pg_stat_statements';
  -- the library defines pg_stat_statements.max when loaded (shared_preload_libraries itself is
  -- readable only with pg_read_all_settings; an unloaded library's setting is a text placeholder)
  IF NOT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'pg_stat_statements.max' AND vartype = 'integer') THEN
    schema_name := NULL;
    why := 'pg_stat_statements is not loaded: add it to shared_preload_libraries, restart PostgreSQL, '
           'then CREATE EXTENSION pg_stat_statements in database ' || current_database();
  ELSIF schema_name IS NULL THEN
    why := 'the pg_stat_statements extension is not created in database ' || current_database()
           || ': CREATE EXTENSION pg_stat_statements (the library is already loaded)';
  END IF;
END
$fn$;

-- Captures pg_stat_statements for snapshot p_snapshot_id: deltas since the previous capture for
-- the top statement_top_n statements by each measure plus one "all other statements" row, and the
-- texts of kept statements not stored yet. Never negative: an entry whose counters went down or
-- whose stats_since moved (evicted and re-created, reset) counts from zero, and a reset of all of
-- pg_stat_statements makes every entry count from zero; both are recorded as incompleteness.
CREATE FUNCTION telemetry._capture_statements(p_snapshot_id bigint)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_pgss record := telemetry._pgss_schema();
  v_at timestamptz := (SELECT captured_at FROM telemetry.snapshots WHERE id = p_snapshot_id);
  v_prev telemetry.statement_captures;
  v_prev_start timestamptz;
  v_dealloc numeric;
  v_reset timestamptz;
  v_top int := telemetry._setting('statement_top_n', '50')::int;
  v_text_bytes int := telemetry._setting('statement_text_bytes', '1536')::int;
  v_all_reset boolean;
  v_restarted boolean;
  v_entries int;
  v_kept int;
  v_hidden int;
  v_recreated int;
  v_notes text[] := '{}';
  v_missing_texts boolean;
  v_dealloc_delta numeric;
BEGIN
  IF v_pgss.schema_name IS NULL THEN
    INSERT INTO telemetry.statement_captures (snapshot_id, captured_at, status, note)
    VALUES (p_snapshot_id, v_at, 'unavailable', v_pgss.why);
    RETURN;
  END IF;
  BEGIN
    -- the base is the last capture's; after a capture that failed or found no extension it may be
    -- old, so this one starts afresh instead of counting the whole gap as one delta
    SELECT * INTO v_prev FROM telemetry.statement_captures ORDER BY captured_at DESC, snapshot_id DESC LIMIT 1;
    IF v_prev.status IS DISTINCT FROM 'ok' AND v_prev.status IS DISTINCT FROM 'baseline' THEN
      v_prev := NULL;
      DELETE FROM telemetry.statement_last;
    END IF;
    SELECT postmaster_start_time INTO v_prev_start FROM telemetry.snapshots WHERE id = v_prev.snapshot_id;
    EXECUTE format('SELECT dealloc, stats_reset FROM %I.pg_stat_statements_info', v_pgss.schema_name)
       INTO v_dealloc, v_reset;
    v_all_reset := v_prev.snapshot_id IS NOT NULL AND v_prev.stats_reset IS DISTINCT FROM v_reset;
    v_restarted := v_prev.snapshot_id IS NOT NULL AND v_prev_start IS DISTINCT FROM pg_postmaster_start_time();

    -- one statement: read every entry, store the new base, and the kept deltas of this capture
    EXECUTE format($q$
      WITH cur AS MATERIALIZED (%s),
      d AS MATERIALIZED (
        SELECT c.userid, c.dbid, c.toplevel, c.queryid, f.fresh AND l.queryid IS NOT NULL AS recreated,
               c.calls - CASE WHEN f.fresh THEN 0 ELSE l.calls END AS calls,
               c.plans - CASE WHEN f.fresh THEN 0 ELSE l.plans END AS plans,
               c.total_exec_time - CASE WHEN f.fresh THEN 0 ELSE l.total_exec_time END AS total_exec_time,
               c.total_plan_time - CASE WHEN f.fresh THEN 0 ELSE l.total_plan_time END AS total_plan_time,
               c.rows - CASE WHEN f.fresh THEN 0 ELSE l.rows END AS rows,
               c.shared_blks_hit - CASE WHEN f.fresh THEN 0 ELSE l.shared_blks_hit END AS shared_blks_hit,
               c.shared_blks_read - CASE WHEN f.fresh THEN 0 ELSE l.shared_blks_read END AS shared_blks_read,
               c.shared_blks_dirtied - CASE WHEN f.fresh THEN 0 ELSE l.shared_blks_dirtied END AS shared_blks_dirtied,
               c.shared_blks_written - CASE WHEN f.fresh THEN 0 ELSE l.shared_blks_written END AS shared_blks_written,
               c.local_blks_hit - CASE WHEN f.fresh THEN 0 ELSE l.local_blks_hit END AS local_blks_hit,
               c.local_blks_read - CASE WHEN f.fresh THEN 0 ELSE l.local_blks_read END AS local_blks_read,
               c.local_blks_dirtied - CASE WHEN f.fresh THEN 0 ELSE l.local_blks_dirtied END AS local_blks_dirtied,
               c.local_blks_written - CASE WHEN f.fresh THEN 0 ELSE l.local_blks_written END AS local_blks_written,
               c.temp_blks_read - CASE WHEN f.fresh THEN 0 ELSE l.temp_blks_read END AS temp_blks_read,
               c.temp_blks_written - CASE WHEN f.fresh THEN 0 ELSE l.temp_blks_written END AS temp_blks_written,
               c.blk_read_time - CASE WHEN f.fresh THEN 0 ELSE l.blk_read_time END AS blk_read_time,
               c.blk_write_time - CASE WHEN f.fresh THEN 0 ELSE l.blk_write_time END AS blk_write_time,
               c.temp_blk_read_time - CASE WHEN f.fresh THEN 0 ELSE l.temp_blk_read_time END AS temp_blk_read_time,
               c.temp_blk_write_time - CASE WHEN f.fresh THEN 0 ELSE l.temp_blk_write_time END AS temp_blk_write_time,
               c.wal_records - CASE WHEN f.fresh THEN 0 ELSE l.wal_records END AS wal_records,
               c.wal_fpi - CASE WHEN f.fresh THEN 0 ELSE l.wal_fpi END AS wal_fpi,
               c.wal_bytes - CASE WHEN f.fresh THEN 0 ELSE l.wal_bytes END AS wal_bytes,
               c.jit_time - CASE WHEN f.fresh THEN 0 ELSE l.jit_time END AS jit_time
          FROM cur c
          LEFT JOIN telemetry.statement_last l
            ON l.userid = c.userid AND l.dbid = c.dbid AND l.toplevel = c.toplevel AND l.queryid = c.queryid
         CROSS JOIN LATERAL (SELECT l.queryid IS NULL OR $3 OR c.calls < l.calls OR c.plans < l.plans
                                    OR c.total_exec_time < l.total_exec_time OR c.rows < l.rows
                                    OR c.shared_blks_hit < l.shared_blks_hit OR c.shared_blks_read < l.shared_blks_read
                                    OR c.temp_blks_written < l.temp_blks_written OR c.wal_bytes < l.wal_bytes
                                    OR c.stats_since IS DISTINCT FROM l.stats_since AS fresh) f
         WHERE c.queryid IS NOT NULL
           AND (f.fresh OR c.calls <> l.calls OR c.plans <> l.plans)   -- only entries that moved
      ),
      base AS (   -- the new base: rows of the entries that moved, and no rows for entries gone
        INSERT INTO telemetry.statement_last AS l
        SELECT c.*, $1 FROM cur c JOIN d USING (userid, dbid, toplevel, queryid)
        ON CONFLICT (userid, dbid, toplevel, queryid) DO UPDATE
          SET calls = excluded.calls, plans = excluded.plans, total_exec_time = excluded.total_exec_time,
              total_plan_time = excluded.total_plan_time, rows = excluded.rows, shared_blks_hit = excluded.shared_blks_hit,
              shared_blks_read = excluded.shared_blks_read, shared_blks_dirtied = excluded.shared_blks_dirtied,
              shared_blks_written = excluded.shared_blks_written, local_blks_hit = excluded.local_blks_hit,
              local_blks_read = excluded.local_blks_read, local_blks_dirtied = excluded.local_blks_dirtied,
              local_blks_written = excluded.local_blks_written, temp_blks_read = excluded.temp_blks_read,
              temp_blks_written = excluded.temp_blks_written, blk_read_time = excluded.blk_read_time,
              blk_write_time = excluded.blk_write_time, temp_blk_read_time = excluded.temp_blk_read_time,
              temp_blk_write_time = excluded.temp_blk_write_time, wal_records = excluded.wal_records,
              wal_fpi = excluded.wal_fpi, wal_bytes = excluded.wal_bytes, jit_time = excluded.jit_time,
              stats_since = excluded.stats_since, snapshot_id = excluded.snapshot_id
      ),
      gone AS (
        DELETE FROM telemetry.statement_last l
         WHERE NOT EXISTS (SELECT 1 FROM cur c WHERE c.userid = l.userid AND c.dbid = l.dbid
                              AND c.toplevel = l.toplevel AND c.queryid = l.queryid)
      ),
      ranked AS (
        SELECT d.*, (d.queryid IS NOT NULL AND (
                 row_number() OVER (ORDER BY d.total_exec_time + d.total_plan_time DESC) <= $4
              OR row_number() OVER (ORDER BY d.calls DESC) <= $4
              OR row_number() OVER (ORDER BY d.shared_blks_read DESC) <= $4 AND d.shared_blks_read > 0
              OR row_number() OVER (ORDER BY d.temp_blks_written DESC) <= $4 AND d.temp_blks_written > 0
              OR row_number() OVER (ORDER BY d.wal_bytes DESC) <= $4 AND d.wal_bytes > 0)) AS keep
          FROM d WHERE $2 IS NOT NULL AND (d.calls > 0 OR d.plans > 0)   -- the first capture only records the base
      ),
      kept AS (
        INSERT INTO telemetry.snapshot_statements
        SELECT $1, userid, dbid, toplevel, queryid, calls, plans, total_exec_time, total_plan_time, rows,
               shared_blks_hit, shared_blks_read, shared_blks_dirtied, shared_blks_written,
               local_blks_hit, local_blks_read, local_blks_dirtied, local_blks_written, temp_blks_read, temp_blks_written,
               blk_read_time, blk_write_time, temp_blk_read_time, temp_blk_write_time, wal_records, wal_fpi, wal_bytes, jit_time
          FROM ranked WHERE keep
        RETURNING userid, dbid, queryid
      ),
      other AS (
        INSERT INTO telemetry.snapshot_statements
        SELECT $1, NULL, NULL, NULL, NULL, sum(calls), sum(plans), sum(total_exec_time), sum(total_plan_time), sum(rows),
               sum(shared_blks_hit), sum(shared_blks_read), sum(shared_blks_dirtied), sum(shared_blks_written),
               sum(local_blks_hit), sum(local_blks_read), sum(local_blks_dirtied), sum(local_blks_written),
               sum(temp_blks_read), sum(temp_blks_written), sum(blk_read_time), sum(blk_write_time),
               sum(temp_blk_read_time), sum(temp_blk_write_time), sum(wal_records), sum(wal_fpi), sum(wal_bytes), sum(jit_time)
          FROM ranked WHERE NOT keep HAVING count(*) > 0
      )
      SELECT (SELECT count(*) FROM cur)::int, (SELECT count(*) FROM kept)::int,
             (SELECT count(*) FROM cur WHERE queryid IS NULL)::int,
             (SELECT count(*) FROM d WHERE recreated AND NOT $3 AND $2 IS NOT NULL)::int,
             EXISTS (SELECT 1 FROM kept k WHERE NOT EXISTS (SELECT 1 FROM telemetry.statement_texts t
                      WHERE t.userid = k.userid AND t.dbid = k.dbid AND t.queryid = k.queryid)) $q$,
      format(telemetry.version_sql('statements'), v_pgss.schema_name))
    INTO v_entries, v_kept, v_hidden, v_recreated, v_missing_texts
    USING p_snapshot_id, v_prev.snapshot_id, v_all_reset OR v_restarted, v_top;

    -- texts of kept statements, once each: pg_stat_statements(true) reads the whole text file,
    -- so only when a kept statement has none stored yet
    IF v_missing_texts AND v_text_bytes > 0 THEN
      EXECUTE format($q$
        INSERT INTO telemetry.statement_texts (userid, dbid, queryid, query, query_bytes)
        SELECT DISTINCT ON (p.userid, p.dbid, p.queryid) p.userid, p.dbid, p.queryid,
               convert_from(substring(convert_to(p.query, 'UTF8') FROM 1 FOR $2), 'UTF8'), octet_length(p.query)
          FROM %I.pg_stat_statements(true) p
          JOIN telemetry.snapshot_statements s
            ON s.snapshot_id = $1 AND s.userid = p.userid AND s.dbid = p.dbid AND s.queryid = p.queryid
         ORDER BY p.userid, p.dbid, p.queryid, p.query ~* '^\s*explain\M', p.toplevel DESC   -- not an EXPLAIN of it
        ON CONFLICT DO NOTHING $q$, v_pgss.schema_name)
      USING p_snapshot_id, v_text_bytes;
    END IF;

    IF v_prev.snapshot_id IS NULL THEN
      v_notes := v_notes || 'first capture: counters recorded as the base, statement deltas start with the next snapshot'::text;
    END IF;
    IF v_all_reset THEN
      v_notes := v_notes || format('pg_stat_statements was reset at %s: work between the previous capture (%s) and the reset is missing',
                                   v_reset, v_prev.captured_at);
    END IF;
    IF v_restarted THEN
      v_notes := v_notes || format('the server restarted since the previous capture (%s): work not saved by a clean shutdown is missing',
                                   v_prev.captured_at);
    END IF;
    v_dealloc_delta := CASE WHEN v_prev.snapshot_id IS NULL THEN NULL
                            WHEN v_all_reset OR v_restarted OR v_dealloc < v_prev.dealloc THEN v_dealloc
                            ELSE v_dealloc - v_prev.dealloc END;
    IF v_dealloc_delta > 0 THEN
      v_notes := v_notes || format('%s statement entries were evicted (pg_stat_statements.max = %s, %s entries now): their work since '
                                   'the previous capture is missing; raise pg_stat_statements.max (needs a restart) or snapshot more often',
                                   v_dealloc_delta, current_setting('pg_stat_statements.max', true), v_entries);
    END IF;
    IF v_recreated > 0 THEN
      v_notes := v_notes || format('%s statement entries restarted their counters (evicted and re-created, or reset one by one): '
                                   'their work before that is missing', v_recreated);
    END IF;
    IF v_hidden > 0 THEN
      v_notes := v_notes || format('%s entries have no visible queryid (the schema owner %s is not a member of pg_read_all_stats): '
                                   'counted only in "all other statements"', v_hidden, current_user);
    END IF;
    INSERT INTO telemetry.statement_captures (snapshot_id, captured_at, status, entries, entries_max, kept, hidden,
                                              dealloc, dealloc_delta, recreated, stats_reset, reset_in_window, restarted, note)
    VALUES (p_snapshot_id, v_at, CASE WHEN v_prev.snapshot_id IS NULL THEN 'baseline' ELSE 'ok' END, v_entries,
            current_setting('pg_stat_statements.max', true)::int, v_kept, v_hidden, v_dealloc, v_dealloc_delta,
            v_recreated, v_reset, v_all_reset, v_restarted, nullif(array_to_string(v_notes, '; '), ''));
  EXCEPTION WHEN OTHERS THEN
    INSERT INTO telemetry.statement_captures (snapshot_id, captured_at, status, note)
    VALUES (p_snapshot_id, v_at, 'failed', 'statement capture failed: ' || SQLERRM);
  END;
END
$fn$;

-- With the library preloaded, the extension is created here as pg_cron is: statement evidence
-- then needs nothing more than the install.
DO $pgss$
BEGIN
  IF current_setting('shared_preload_libraries') ~ 'pg_stat_statements'
     AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') THEN
    BEGIN
      CREATE EXTENSION pg_stat_statements;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE 'could not create extension pg_stat_statements: % (statement evidence stays off until it exists)', SQLERRM;
    END;
  END IF;
END
$pgss$;

-- Stored texts and plans are read under the one rule for stored SQL text (telemetry._may_read_text,
-- 15-security.sql); the owner (snapshot(), _store_plan()) is not subject to it.
ALTER TABLE telemetry.statement_texts ENABLE ROW LEVEL SECURITY;
ALTER TABLE telemetry.statement_plans ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS statement_texts_visible ON telemetry.statement_texts;
CREATE POLICY statement_texts_visible ON telemetry.statement_texts FOR SELECT USING (telemetry._may_read_text(userid));
DROP POLICY IF EXISTS statement_plans_visible ON telemetry.statement_plans;
CREATE POLICY statement_plans_visible ON telemetry.statement_plans FOR SELECT USING (telemetry._may_read_text(userid));

-- Retention: texts of statements no kept delta or stored plan refers to any more (cleanup() deletes
-- old snapshots, and their statement rows with them).
CREATE FUNCTION telemetry._cleanup_statement_texts()
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_n bigint;
BEGIN
  DELETE FROM telemetry.statement_texts t
   WHERE NOT EXISTS (SELECT 1 FROM telemetry.snapshot_statements s
                      WHERE s.queryid = t.queryid AND s.userid = t.userid AND s.dbid = t.dbid)
     AND NOT EXISTS (SELECT 1 FROM telemetry.statement_plans p
                      WHERE p.queryid = t.queryid AND p.userid = t.userid AND p.dbid = t.dbid);
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN jsonb_build_object('statement_texts', v_n);
END
$fn$;
