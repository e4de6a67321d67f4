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

-- Stores the texts (cut at statement_text_bytes) of kept statements that have none yet: those kept
-- by the captures since the last one that read texts (statement_captures.texts_done) and, with
-- p_run_id, by that run (run_statements). One read of pg_stat_statements(true), which copies the
-- whole text file, and only when a text is missing. A statement no longer in pg_stat_statements
-- keeps no text. Returns the texts stored; NULL when statement_text_bytes is 0 (no texts stored).
CREATE FUNCTION telemetry._store_statement_texts(p_pgss_schema text, p_run_id bigint)
RETURNS int LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
SET work_mem = '32MB'   -- the copied texts stay in memory instead of a temporary file
AS $fn$
DECLARE
  v_bytes int := telemetry._setting('statement_text_bytes', '1536')::int;
  v_since bigint;
  v_userid oid[];
  v_dbid oid[];
  v_queryid bigint[];
  v_stored int;
BEGIN
  IF v_bytes <= 0 THEN
    RETURN NULL;
  END IF;
  SELECT c.snapshot_id INTO v_since FROM telemetry.statement_captures c WHERE c.texts_done
   ORDER BY c.captured_at DESC LIMIT 1;
  SELECT array_agg(k.userid), array_agg(k.dbid), array_agg(k.queryid) INTO v_userid, v_dbid, v_queryid
    FROM (SELECT s.userid, s.dbid, s.queryid FROM telemetry.snapshot_statements s
           WHERE s.snapshot_id > coalesce(v_since, 0) AND s.queryid IS NOT NULL
          UNION   -- distinct
          SELECT r.userid, r.dbid, r.queryid FROM telemetry.run_statements r
           WHERE r.run_id = p_run_id AND r.queryid IS NOT NULL) k
   WHERE NOT EXISTS (SELECT 1 FROM telemetry.statement_texts t
                      WHERE t.userid = k.userid AND t.dbid = k.dbid AND t.queryid = k.queryid);
  IF v_queryid IS NULL THEN
    RETURN 0;
  END IF;
  EXECUTE format($q$
    INSERT INTO telemetry.statement_texts (userid, dbid, queryid, query, query_bytes)
    SELECT DISTINCT ON (p.userid, p.dbid, p.queryid) p.userid, p.dbid, p.queryid,
           convert_from(substring(convert_to(p.query, 'UTF8') FROM 1 FOR $4), 'UTF8'), octet_length(p.query)
      FROM %I.pg_stat_statements(true) p
      JOIN unnest($1, $2, $3) AS m(userid, dbid, queryid)
        ON m.userid = p.userid AND m.dbid = p.dbid AND m.queryid = p.queryid
     ORDER BY p.userid, p.dbid, p.queryid, p.query ~* '^\s*explain\M', p.toplevel DESC   -- not an EXPLAIN of it
    ON CONFLICT DO NOTHING $q$, p_pgss_schema)
  USING v_userid, v_dbid, v_queryid, v_bytes;
  GET DIAGNOSTICS v_stored = ROW_COUNT;
  RETURN v_stored;
END
$fn$;

-- Captures pg_stat_statements for snapshot p_snapshot_id: deltas since the previous capture for
-- the top statement_top_n statements by each measure plus one "all other statements" row, and, when
-- due, the texts of kept statements not stored yet. Never negative: an entry whose counters went down or
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
  v_top int := telemetry._setting('statement_top_n', '10')::int;
  v_text_bytes int := telemetry._setting('statement_text_bytes', '1536')::int;
  v_all_reset boolean;
  v_restarted boolean;
  v_entries int;
  v_kept int;
  v_hidden int;
  v_recreated int;
  v_notes text[] := '{}';
  v_texts_last timestamptz;   -- the last capture that read texts
  v_texts_done boolean := false;
  v_dealloc_delta numeric;
BEGIN
  IF v_pgss.schema_name IS NULL THEN
    INSERT INTO telemetry.statement_captures (snapshot_id, captured_at, status, note)
    VALUES (p_snapshot_id, v_at, 'unavailable', v_pgss.why);
    RETURN;
  END IF;
  BEGIN
    -- one capture at a time (pg_cron's snapshot() and a batch's): each takes its deltas against the
    -- base the one before it left; readers of statement_last are not blocked
    LOCK TABLE telemetry.statement_last IN SHARE ROW EXCLUSIVE MODE;
    -- the base is the last capture's; after a capture that failed or found no extension it may be
    -- old, so this one starts afresh instead of counting the whole gap as one delta: it keeps no
    -- deltas and only brings the base up to date (rows are rewritten where their entry moved, not
    -- deleted and added again, which would leave the base with as many dead rows as live ones)
    SELECT * INTO v_prev FROM telemetry.statement_captures ORDER BY captured_at DESC, snapshot_id DESC LIMIT 1;
    IF v_prev.status IS DISTINCT FROM 'ok' AND v_prev.status IS DISTINCT FROM 'baseline' THEN
      v_prev := NULL;
    END IF;
    SELECT postmaster_start_time INTO v_prev_start FROM telemetry.snapshots WHERE id = v_prev.snapshot_id;
    EXECUTE format('SELECT dealloc, stats_reset FROM %I.pg_stat_statements_info', v_pgss.schema_name)
       INTO v_dealloc, v_reset;
    v_all_reset := v_prev.snapshot_id IS NOT NULL AND v_prev.stats_reset IS DISTINCT FROM v_reset;
    v_restarted := v_prev.snapshot_id IS NOT NULL AND v_prev_start IS DISTINCT FROM pg_postmaster_start_time();

    -- One statement: read every entry, one pass over entries and base for what moved (its deltas)
    -- and what is gone, store the new base, and the kept deltas of this capture. The top N per
    -- measure is chosen over the moved entries with ORDER BY .. LIMIT (a bounded heap of N keys per
    -- measure, ties broken by the key so the choice is deterministic); only the kept rows and one
    -- sum are written. Zero deltas are stored as NULL (the null bitmap costs nothing, a zero 8).
    EXECUTE format($q$
      WITH cur AS MATERIALIZED (%s),
      d AS MATERIALIZED (
        SELECT coalesce(c.userid, l.userid) AS userid, coalesce(c.dbid, l.dbid) AS dbid,
               coalesce(c.toplevel, l.toplevel) AS toplevel, coalesce(c.queryid, l.queryid) AS queryid,
               c.userid IS NULL AS gone, l.queryid IS NULL AS new,
               c.userid IS NOT NULL AND f.fresh AND l.queryid IS NOT NULL AS recreated,
               l.ctid AS base_ctid,   -- the base row the new counters replace, and the new counters:
               c.calls AS now_calls, c.plans AS now_plans, c.total_exec_time AS now_total_exec_time,
               c.total_plan_time AS now_total_plan_time, c.rows AS now_rows,
               c.shared_blks_hit AS now_shared_blks_hit, c.shared_blks_read AS now_shared_blks_read,
               c.shared_blks_dirtied AS now_shared_blks_dirtied,
               c.shared_blks_written AS now_shared_blks_written, c.local_blks_hit AS now_local_blks_hit,
               c.local_blks_read AS now_local_blks_read, c.local_blks_dirtied AS now_local_blks_dirtied,
               c.local_blks_written AS now_local_blks_written, c.temp_blks_read AS now_temp_blks_read,
               c.temp_blks_written AS now_temp_blks_written, c.blk_read_time AS now_blk_read_time,
               c.blk_write_time AS now_blk_write_time, c.temp_blk_read_time AS now_temp_blk_read_time,
               c.temp_blk_write_time AS now_temp_blk_write_time, c.wal_records AS now_wal_records,
               c.wal_fpi AS now_wal_fpi, c.wal_bytes AS now_wal_bytes, c.jit_time AS now_jit_time,
               c.stats_since AS now_stats_since,
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
          FULL JOIN telemetry.statement_last l
            ON l.userid = c.userid AND l.dbid = c.dbid AND l.toplevel = c.toplevel AND l.queryid = c.queryid
         CROSS JOIN LATERAL (SELECT l.queryid IS NULL OR $3 OR c.calls < l.calls OR c.plans < l.plans
                                    OR c.total_exec_time < l.total_exec_time OR c.rows < l.rows
                                    OR c.shared_blks_hit < l.shared_blks_hit OR c.shared_blks_read < l.shared_blks_read
                                    OR c.temp_blks_written < l.temp_blks_written OR c.wal_bytes < l.wal_bytes
                                    OR c.stats_since IS DISTINCT FROM l.stats_since AS fresh) f
         WHERE c.userid IS NULL   -- gone from pg_stat_statements
            OR c.queryid IS NOT NULL AND (f.fresh OR c.calls <> l.calls OR c.plans <> l.plans)   -- moved
      ),
      moved AS (   -- the new base: moved entries are rewritten through their row's ctid (HOT updates:
                   -- see statement_last; one pass over the join above, not a second join with the
                   -- entries), new ones added, gone ones deleted; captures are serialized, so no
                   -- other one adds the same entry
        UPDATE telemetry.statement_last l
           SET calls = d.now_calls, plans = d.now_plans, total_exec_time = d.now_total_exec_time,
               total_plan_time = d.now_total_plan_time, rows = d.now_rows,
               shared_blks_hit = d.now_shared_blks_hit, shared_blks_read = d.now_shared_blks_read,
               shared_blks_dirtied = d.now_shared_blks_dirtied,
               shared_blks_written = d.now_shared_blks_written, local_blks_hit = d.now_local_blks_hit,
               local_blks_read = d.now_local_blks_read, local_blks_dirtied = d.now_local_blks_dirtied,
               local_blks_written = d.now_local_blks_written, temp_blks_read = d.now_temp_blks_read,
               temp_blks_written = d.now_temp_blks_written, blk_read_time = d.now_blk_read_time,
               blk_write_time = d.now_blk_write_time, temp_blk_read_time = d.now_temp_blk_read_time,
               temp_blk_write_time = d.now_temp_blk_write_time, wal_records = d.now_wal_records,
               wal_fpi = d.now_wal_fpi, wal_bytes = d.now_wal_bytes, jit_time = d.now_jit_time,
               stats_since = d.now_stats_since, snapshot_id = $1
          FROM d
         WHERE l.ctid = d.base_ctid AND NOT d.gone AND NOT d.new
      ),
      added AS (
        INSERT INTO telemetry.statement_last
        SELECT userid, dbid, toplevel, queryid, now_calls, now_plans, now_total_exec_time, now_total_plan_time,
               now_rows, now_shared_blks_hit, now_shared_blks_read, now_shared_blks_dirtied,
               now_shared_blks_written, now_local_blks_hit, now_local_blks_read, now_local_blks_dirtied,
               now_local_blks_written, now_temp_blks_read, now_temp_blks_written, now_blk_read_time,
               now_blk_write_time, now_temp_blk_read_time, now_temp_blk_write_time, now_wal_records,
               now_wal_fpi, now_wal_bytes, now_jit_time, now_stats_since, $1
          FROM d WHERE new
      ),
      gone AS (
        DELETE FROM telemetry.statement_last l USING d
         WHERE d.gone AND l.userid = d.userid AND l.dbid = d.dbid AND l.toplevel = d.toplevel AND l.queryid = d.queryid
      ),
      top AS (   -- the first capture only records the base
        (SELECT userid, dbid, toplevel, queryid FROM d WHERE $2 IS NOT NULL AND NOT gone AND (calls > 0 OR plans > 0)
          ORDER BY total_exec_time + total_plan_time DESC, userid, dbid, toplevel, queryid LIMIT $4)
        UNION
        (SELECT userid, dbid, toplevel, queryid FROM d WHERE $2 IS NOT NULL AND NOT gone AND (calls > 0 OR plans > 0)
          ORDER BY calls DESC, userid, dbid, toplevel, queryid LIMIT $4)
        UNION
        (SELECT userid, dbid, toplevel, queryid FROM d WHERE $2 IS NOT NULL AND NOT gone AND shared_blks_read > 0
          ORDER BY shared_blks_read DESC, userid, dbid, toplevel, queryid LIMIT $4)
        UNION
        (SELECT userid, dbid, toplevel, queryid FROM d WHERE $2 IS NOT NULL AND NOT gone AND temp_blks_written > 0
          ORDER BY temp_blks_written DESC, userid, dbid, toplevel, queryid LIMIT $4)
        UNION
        (SELECT userid, dbid, toplevel, queryid FROM d WHERE $2 IS NOT NULL AND NOT gone AND wal_bytes > 0
          ORDER BY wal_bytes DESC, userid, dbid, toplevel, queryid LIMIT $4)
      ),
      kept AS (
        INSERT INTO telemetry.snapshot_statements
        SELECT $1, userid, dbid, toplevel, queryid,
               nullif(calls, 0), nullif(plans, 0), nullif(total_exec_time, 0), nullif(total_plan_time, 0),
               nullif(rows, 0), nullif(shared_blks_hit, 0), nullif(shared_blks_read, 0),
               nullif(shared_blks_dirtied, 0), nullif(shared_blks_written, 0), nullif(local_blks_hit, 0),
               nullif(local_blks_read, 0), nullif(local_blks_dirtied, 0), nullif(local_blks_written, 0),
               nullif(temp_blks_read, 0), nullif(temp_blks_written, 0), nullif(blk_read_time, 0),
               nullif(blk_write_time, 0), nullif(temp_blk_read_time, 0), nullif(temp_blk_write_time, 0),
               nullif(wal_records, 0), nullif(wal_fpi, 0), nullif(wal_bytes, 0), nullif(jit_time, 0)
          FROM d
         WHERE EXISTS (SELECT 1 FROM top t WHERE t.userid = d.userid AND t.dbid = d.dbid
                          AND t.toplevel = d.toplevel AND t.queryid = d.queryid)
        RETURNING 1
      ),
      other AS (
        INSERT INTO telemetry.snapshot_statements
        SELECT $1, NULL, NULL, NULL, NULL,
               nullif(sum(calls), 0), nullif(sum(plans), 0), nullif(sum(total_exec_time), 0),
               nullif(sum(total_plan_time), 0), nullif(sum(rows), 0), nullif(sum(shared_blks_hit), 0),
               nullif(sum(shared_blks_read), 0), nullif(sum(shared_blks_dirtied), 0),
               nullif(sum(shared_blks_written), 0), nullif(sum(local_blks_hit), 0),
               nullif(sum(local_blks_read), 0), nullif(sum(local_blks_dirtied), 0),
               nullif(sum(local_blks_written), 0), nullif(sum(temp_blks_read), 0),
               nullif(sum(temp_blks_written), 0), nullif(sum(blk_read_time), 0),
               nullif(sum(blk_write_time), 0), nullif(sum(temp_blk_read_time), 0),
               nullif(sum(temp_blk_write_time), 0), nullif(sum(wal_records), 0), nullif(sum(wal_fpi), 0),
               nullif(sum(wal_bytes), 0), nullif(sum(jit_time), 0)
          FROM d WHERE $2 IS NOT NULL AND NOT gone AND (calls > 0 OR plans > 0)
           AND NOT EXISTS (SELECT 1 FROM top t WHERE t.userid = d.userid AND t.dbid = d.dbid
                              AND t.toplevel = d.toplevel AND t.queryid = d.queryid)
        HAVING count(*) > 0
      )
      SELECT (SELECT count(*) FROM cur)::int, (SELECT count(*) FROM kept)::int,
             (SELECT count(*) FROM cur WHERE queryid IS NULL)::int,
             (SELECT count(*) FROM d WHERE recreated AND NOT $3 AND $2 IS NOT NULL)::int $q$,
      format(telemetry.version_sql('statements'), v_pgss.schema_name))
    INTO v_entries, v_kept, v_hidden, v_recreated
    USING p_snapshot_id, v_prev.snapshot_id, v_all_reset, v_top;

    -- texts of kept statements, once each, at most every statement_text_interval: missing texts can
    -- wait (an entry keeps its text while it stays in pg_stat_statements), and one read of the whole
    -- text file serves every statement kept since the last one. Not while a batch run is open: a
    -- reset or an eviction in the run would cost its statements their texts, and its report is what
    -- a DBA reads (batch_end() reads the texts of the run's statements at once too).
    IF v_text_bytes > 0 THEN
      v_texts_last := (SELECT max(c.captured_at) FROM telemetry.statement_captures c WHERE c.texts_done);
      BEGIN
        v_texts_done := v_texts_last IS NULL
                        OR EXISTS (SELECT 1 FROM telemetry.runs r WHERE r.state = 'running')
                        OR v_at >= v_texts_last + telemetry._setting('statement_text_interval', '15 minutes')::interval;
      EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_parameter_value THEN
        v_texts_done := true;
        v_notes := v_notes || format('statement_text_interval %L in telemetry.config is not an interval: texts are read at every capture',
                                     telemetry._setting('statement_text_interval', NULL));
      END;
      IF v_texts_done THEN
        PERFORM telemetry._store_statement_texts(v_pgss.schema_name, NULL);
      END IF;
    END IF;

    IF v_prev.snapshot_id IS NULL THEN
      v_notes := v_notes || 'first capture: counters recorded as the base, statement deltas start with the next snapshot'::text;
    END IF;
    -- a clean shutdown saves pg_stat_statements (counters and stats_reset) and statement_last (an
    -- unlogged table survives it): the deltas stay exact, nothing to note. A crash, an immediate
    -- shutdown or pg_stat_statements.save = off start it empty with a new stats_reset, and empty
    -- statement_last (crash recovery truncates unlogged tables): every entry counts from zero.
    IF v_all_reset AND v_restarted THEN
      v_notes := v_notes || format('the server restarted since the previous capture (%s) and pg_stat_statements started empty '
                                   '(a crash or immediate shutdown, or pg_stat_statements.save = off): statement work between '
                                   'the previous capture and the restart is missing', v_prev.captured_at);
    ELSIF v_all_reset THEN
      v_notes := v_notes || format('pg_stat_statements was reset at %s: work between the previous capture (%s) and the reset is missing',
                                   v_reset, v_prev.captured_at);
    END IF;
    v_dealloc_delta := CASE WHEN v_prev.snapshot_id IS NULL THEN NULL
                            WHEN v_all_reset OR v_dealloc < v_prev.dealloc THEN v_dealloc
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
                                   'their work is missing (without a key there is no delta); GRANT pg_read_all_stats TO %I',
                                   v_hidden, current_user, current_user);
    END IF;
    INSERT INTO telemetry.statement_captures (snapshot_id, captured_at, status, entries, entries_max, kept, hidden,
                                              dealloc, dealloc_delta, recreated, stats_reset, reset_in_window, restarted,
                                              texts_done, note)
    VALUES (p_snapshot_id, v_at, CASE WHEN v_prev.snapshot_id IS NULL THEN 'baseline' ELSE 'ok' END, v_entries,
            current_setting('pg_stat_statements.max', true)::int, v_kept, v_hidden, v_dealloc, v_dealloc_delta,
            v_recreated, v_reset, v_all_reset, v_restarted, v_texts_done, nullif(array_to_string(v_notes, '; '), ''));
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

-- Retention: texts of statements no kept delta, run total or stored plan refers to any more
-- (cleanup() deletes old snapshots and runs, and their statement rows with them).
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
     AND NOT EXISTS (SELECT 1 FROM telemetry.run_statements r
                      WHERE r.queryid = t.queryid AND r.userid = t.userid AND r.dbid = t.dbid)
     AND NOT EXISTS (SELECT 1 FROM telemetry.statement_plans p
                      WHERE p.queryid = t.queryid AND p.userid = t.userid AND p.dbid = t.dbid);
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN jsonb_build_object('statement_texts', v_n);
END
$fn$;
