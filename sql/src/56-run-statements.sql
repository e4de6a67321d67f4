----------------------------------------------------------------------------------------------
-- Exact per-run statement totals, kept at batch_end
----------------------------------------------------------------------------------------------
-- Each capture keeps only its top statement_top_n statements per measure (55-statement-capture.sql),
-- so sums of captures over a run are partial for any statement that fell below the top in some
-- capture, and a statement too small to be kept in the baseline runs reads as "new statement" when
-- it gets slower. A run therefore keeps its own totals: batch_start() copies the cumulative
-- counters of every entry (statement_last after its capture) as the run's base, batch_end()
-- subtracts that base from statement_last after its own capture, keeps the top
-- run_statement_top_n statements by each measure plus every statement its baseline runs kept (so
-- both sides of a comparison have their rows) plus one "all other statements" row, and drops the
-- base. pg_stat_statements counts a statement when it finishes, so the totals need no settling.

INSERT INTO telemetry.config (key, value, description) VALUES
  ('run_statement_top_n', '50', 'statements a run keeps at batch_end by each measure (time, calls, blocks read, temp written, WAL bytes), besides those its baseline runs kept; the rest is one "all other statements" row')
ON CONFLICT (key) DO UPDATE SET description = excluded.description;   -- the value stays

-- One row per run started by batch_start() while statement capture worked: where its totals stand.
CREATE TABLE IF NOT EXISTS telemetry.run_statement_status (
  run_id            bigint PRIMARY KEY REFERENCES telemetry.runs (run_id) ON DELETE CASCADE,
  base_snapshot_id  bigint NOT NULL,    -- the capture of batch_start (its counters are the base)
  end_snapshot_id   bigint,             -- the capture of batch_end
  status            text NOT NULL CHECK (status IN ('open', 'kept', 'unavailable')),
  epoch_stats_reset timestamptz,        -- open runs: pg_stat_statements_info.stats_reset and the server start the
  epoch_started     timestamptz,        -- base is relative to (a reset or restart folds it: _run_statements_fold)
  entries           int,                -- statements that ran in the run
  kept              int,                -- of them, rows kept (besides "all other statements")
  complete          boolean,            -- no reset, restart, eviction or hidden entry in the run
  note              text,               -- what is missing, in words (the captures' notes), or why unavailable
  -- the statements in "all other statements", each with its calls and time (exec + plan, ms): a
  -- statement kept by a later run is then compared with its own numbers in this one, not as new
  minor_userid      oid[],
  minor_dbid        oid[],
  minor_toplevel    boolean[],
  minor_queryid     bigint[],
  minor_calls       bigint[],
  minor_total_ms    double precision[]
);

-- The base of open runs: UNLOGGED, because it is a copy of in-memory counters. A crash loses
-- pg_stat_statements' counters too (they are saved only at a clean shutdown, when unlogged tables
-- survive as well), so the base is lost exactly when it stops meaning anything, and ~5,000 rows
-- per batch_start write no WAL and are not sent to replicas.
CREATE UNLOGGED TABLE IF NOT EXISTS telemetry.run_statement_base (
  run_id bigint NOT NULL REFERENCES telemetry.runs (run_id) ON DELETE CASCADE,
  userid oid NOT NULL, dbid oid NOT NULL, toplevel boolean NOT NULL, queryid bigint NOT NULL,
  calls bigint, plans bigint, total_exec_time double precision, total_plan_time double precision, rows bigint,
  shared_blks_hit bigint, shared_blks_read bigint, shared_blks_dirtied bigint, shared_blks_written bigint,
  local_blks_hit bigint, local_blks_read bigint, local_blks_dirtied bigint, local_blks_written bigint,
  temp_blks_read bigint, temp_blks_written bigint, blk_read_time double precision, blk_write_time double precision,
  temp_blk_read_time double precision, temp_blk_write_time double precision, wal_records bigint, wal_fpi bigint,
  wal_bytes numeric, jit_time double precision, stats_since timestamptz,
  carried boolean NOT NULL DEFAULT false   -- minus the run's work before a reset or restart (_run_statements_fold)
);
-- no key: batch_end() reads a run's base whole (a hash join), and an index on the key would cost
-- batch_start() more than the copy itself
CREATE INDEX IF NOT EXISTS run_statement_base_run_idx ON telemetry.run_statement_base (run_id);

-- A run's totals per statement: the columns of snapshot_statements, per run instead of per
-- capture, and whether the run kept it by its own rank; queryid NULL is all other statements of the run.
CREATE TABLE IF NOT EXISTS telemetry.run_statements (
  run_id               bigint NOT NULL REFERENCES telemetry.runs (run_id) ON DELETE CASCADE,
  userid               oid,
  dbid                 oid,
  toplevel             boolean,
  queryid              bigint,
  calls                bigint,
  plans                bigint,
  total_exec_time      double precision,
  total_plan_time      double precision,
  rows                 bigint,
  shared_blks_hit      bigint,
  shared_blks_read     bigint,
  shared_blks_dirtied  bigint,
  shared_blks_written  bigint,
  local_blks_hit       bigint,
  local_blks_read      bigint,
  local_blks_dirtied   bigint,
  local_blks_written   bigint,
  temp_blks_read       bigint,
  temp_blks_written    bigint,
  blk_read_time        double precision,
  blk_write_time       double precision,
  temp_blk_read_time   double precision,
  temp_blk_write_time  double precision,
  wal_records          bigint,
  wal_fpi              bigint,
  wal_bytes            numeric,
  jit_time             double precision,
  ranked               boolean      -- among the run's own top by a measure (else kept for its baseline runs)
);
CREATE INDEX IF NOT EXISTS run_statements_run_idx ON telemetry.run_statements (run_id);

-- batch_start(), after its snapshot p_snapshot_id: the run's base. Nothing when that capture did
-- not read pg_stat_statements (extension missing, capture failed): the run then has no totals
-- and readers use the captures, as for runs from before this table.
CREATE FUNCTION telemetry._run_statements_start(p_run_id bigint, p_snapshot_id bigint)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM telemetry.statement_captures c
                  WHERE c.snapshot_id = p_snapshot_id AND c.status IN ('ok', 'baseline')) THEN
    RETURN;
  END IF;
  INSERT INTO telemetry.run_statement_status (run_id, base_snapshot_id, status, epoch_stats_reset, epoch_started)
  SELECT p_run_id, p_snapshot_id, 'open', c.stats_reset, s.postmaster_start_time
    FROM telemetry.statement_captures c JOIN telemetry.snapshots s ON s.id = c.snapshot_id
   WHERE c.snapshot_id = p_snapshot_id;
  INSERT INTO telemetry.run_statement_base
  SELECT p_run_id, l.userid, l.dbid, l.toplevel, l.queryid, l.calls, l.plans, l.total_exec_time, l.total_plan_time, l.rows,
         l.shared_blks_hit, l.shared_blks_read, l.shared_blks_dirtied, l.shared_blks_written,
         l.local_blks_hit, l.local_blks_read, l.local_blks_dirtied, l.local_blks_written, l.temp_blks_read, l.temp_blks_written,
         l.blk_read_time, l.blk_write_time, l.temp_blk_read_time, l.temp_blk_write_time, l.wal_records, l.wal_fpi,
         l.wal_bytes, l.jit_time, l.stats_since, false
    FROM telemetry.statement_last l;
END
$fn$;

-- batch_end(), after its snapshot p_snapshot_id: the run's totals per statement = the counters now
-- minus the base, never negative (an entry without a base, whose counters went down or whose
-- stats_since moved counts from zero; after a reset of pg_stat_statements or a server restart in
-- the run every entry does), kept as the captures keep theirs, and the base dropped.
CREATE FUNCTION telemetry._run_statements_end(p_run_id bigint, p_snapshot_id bigint)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  st telemetry.run_statement_status;
  v_end telemetry.statement_captures;
  v_all_fresh boolean;
  v_cov record;
  v_entries int;
  v_kept int;
  v_top int := telemetry._setting('run_statement_top_n', '50')::int;   -- once, not per statement
BEGIN
  SELECT * INTO st FROM telemetry.run_statement_status s WHERE s.run_id = p_run_id FOR UPDATE;
  IF NOT FOUND OR st.status <> 'open' THEN
    RETURN;
  END IF;
  SELECT * INTO v_end FROM telemetry.statement_captures c WHERE c.snapshot_id = p_snapshot_id;
  IF v_end.status IS DISTINCT FROM 'ok' AND v_end.status IS DISTINCT FROM 'baseline' THEN
    UPDATE telemetry.run_statement_status s
       SET status = 'unavailable', end_snapshot_id = p_snapshot_id, complete = false,
           note = 'the capture at batch_end did not read pg_stat_statements: ' || coalesce(v_end.note, 'no capture')
     WHERE s.run_id = p_run_id;
    DELETE FROM telemetry.run_statement_base b WHERE b.run_id = p_run_id;
    RETURN;
  END IF;
  -- pg_stat_statements restarted since the base and no capture folded it (_run_statements_fold):
  -- every entry counts from zero
  SELECT st.epoch_stats_reset IS DISTINCT FROM v_end.stats_reset OR st.epoch_started IS DISTINCT FROM es.postmaster_start_time
    INTO v_all_fresh
    FROM telemetry.snapshots es WHERE es.id = p_snapshot_id;
  v_all_fresh := coalesce(v_all_fresh, true);
  v_cov := telemetry._statement_coverage(st.base_snapshot_id, p_snapshot_id);

  -- an entry of the base carried over a reset (its work before it, negated) counts even when it is
  -- not in pg_stat_statements any more
  WITH b AS (SELECT * FROM telemetry.run_statement_base b WHERE b.run_id = p_run_id),
  d AS MATERIALIZED (
    SELECT coalesce(c.userid, b.userid) AS userid, coalesce(c.dbid, b.dbid) AS dbid,
           coalesce(c.toplevel, b.toplevel) AS toplevel, coalesce(c.queryid, b.queryid) AS queryid,
           coalesce(c.calls, 0) - CASE WHEN f.fresh THEN 0 ELSE b.calls END AS calls,
           coalesce(c.plans, 0) - CASE WHEN f.fresh THEN 0 ELSE b.plans END AS plans,
           coalesce(c.total_exec_time, 0) - CASE WHEN f.fresh THEN 0 ELSE b.total_exec_time END AS total_exec_time,
           coalesce(c.total_plan_time, 0) - CASE WHEN f.fresh THEN 0 ELSE b.total_plan_time END AS total_plan_time,
           coalesce(c.rows, 0) - CASE WHEN f.fresh THEN 0 ELSE b.rows END AS rows,
           coalesce(c.shared_blks_hit, 0) - CASE WHEN f.fresh THEN 0 ELSE b.shared_blks_hit END AS shared_blks_hit,
           coalesce(c.shared_blks_read, 0) - CASE WHEN f.fresh THEN 0 ELSE b.shared_blks_read END AS shared_blks_read,
           coalesce(c.shared_blks_dirtied, 0) - CASE WHEN f.fresh THEN 0 ELSE b.shared_blks_dirtied END AS shared_blks_dirtied,
           coalesce(c.shared_blks_written, 0) - CASE WHEN f.fresh THEN 0 ELSE b.shared_blks_written END AS shared_blks_written,
           coalesce(c.local_blks_hit, 0) - CASE WHEN f.fresh THEN 0 ELSE b.local_blks_hit END AS local_blks_hit,
           coalesce(c.local_blks_read, 0) - CASE WHEN f.fresh THEN 0 ELSE b.local_blks_read END AS local_blks_read,
           coalesce(c.local_blks_dirtied, 0) - CASE WHEN f.fresh THEN 0 ELSE b.local_blks_dirtied END AS local_blks_dirtied,
           coalesce(c.local_blks_written, 0) - CASE WHEN f.fresh THEN 0 ELSE b.local_blks_written END AS local_blks_written,
           coalesce(c.temp_blks_read, 0) - CASE WHEN f.fresh THEN 0 ELSE b.temp_blks_read END AS temp_blks_read,
           coalesce(c.temp_blks_written, 0) - CASE WHEN f.fresh THEN 0 ELSE b.temp_blks_written END AS temp_blks_written,
           coalesce(c.blk_read_time, 0) - CASE WHEN f.fresh THEN 0 ELSE b.blk_read_time END AS blk_read_time,
           coalesce(c.blk_write_time, 0) - CASE WHEN f.fresh THEN 0 ELSE b.blk_write_time END AS blk_write_time,
           coalesce(c.temp_blk_read_time, 0) - CASE WHEN f.fresh THEN 0 ELSE b.temp_blk_read_time END AS temp_blk_read_time,
           coalesce(c.temp_blk_write_time, 0) - CASE WHEN f.fresh THEN 0 ELSE b.temp_blk_write_time END AS temp_blk_write_time,
           coalesce(c.wal_records, 0) - CASE WHEN f.fresh THEN 0 ELSE b.wal_records END AS wal_records,
           coalesce(c.wal_fpi, 0) - CASE WHEN f.fresh THEN 0 ELSE b.wal_fpi END AS wal_fpi,
           coalesce(c.wal_bytes, 0) - CASE WHEN f.fresh THEN 0 ELSE b.wal_bytes END AS wal_bytes,
           coalesce(c.jit_time, 0) - CASE WHEN f.fresh THEN 0 ELSE b.jit_time END AS jit_time
      FROM telemetry.statement_last c
      FULL JOIN b ON b.userid = c.userid AND b.dbid = c.dbid AND b.toplevel = c.toplevel AND b.queryid = c.queryid
     CROSS JOIN LATERAL (SELECT b.queryid IS NULL OR NOT b.carried AND (v_all_fresh OR c.calls < b.calls OR c.plans < b.plans
                                OR c.total_exec_time < b.total_exec_time OR c.total_plan_time < b.total_plan_time
                                OR c.rows < b.rows OR c.shared_blks_hit < b.shared_blks_hit
                                OR c.shared_blks_read < b.shared_blks_read OR c.temp_blks_written < b.temp_blks_written
                                OR c.wal_bytes < b.wal_bytes OR c.stats_since IS DISTINCT FROM b.stats_since) AS fresh) f
     WHERE (c.queryid IS NOT NULL OR b.carried)
       AND (f.fresh OR b.carried OR c.calls <> b.calls OR c.plans <> b.plans)
  ),
  ran AS (SELECT * FROM d WHERE d.calls > 0 OR d.plans > 0),
  -- kept: the top v_top by each measure (bounded top-N sorts of the keys, not full sorts of the
  -- rows), and the statements its baseline runs kept by their own rank, whatever their rank here
  -- (only by rank: what a run kept for its own baseline would otherwise be kept by every later run)
  top_keys AS (
    (SELECT r.userid, r.dbid, r.toplevel, r.queryid FROM ran r ORDER BY r.total_exec_time + r.total_plan_time DESC LIMIT v_top)
    UNION (SELECT r.userid, r.dbid, r.toplevel, r.queryid FROM ran r ORDER BY r.calls DESC LIMIT v_top)
    UNION (SELECT r.userid, r.dbid, r.toplevel, r.queryid FROM ran r WHERE r.shared_blks_read > 0 ORDER BY r.shared_blks_read DESC LIMIT v_top)
    UNION (SELECT r.userid, r.dbid, r.toplevel, r.queryid FROM ran r WHERE r.temp_blks_written > 0 ORDER BY r.temp_blks_written DESC LIMIT v_top)
    UNION (SELECT r.userid, r.dbid, r.toplevel, r.queryid FROM ran r WHERE r.wal_bytes > 0 ORDER BY r.wal_bytes DESC LIMIT v_top)
  ),
  baseline_keys AS (
    SELECT DISTINCT s.userid, s.dbid, s.toplevel, s.queryid
      FROM telemetry.baseline_runs(p_run_id) br JOIN telemetry.run_statements s ON s.run_id = br.run_id
     WHERE s.ranked
  ),
  ranked AS (
    SELECT r.*, t.queryid IS NOT NULL AS ranked, t.queryid IS NOT NULL OR bk.queryid IS NOT NULL AS keep
      FROM ran r
      LEFT JOIN top_keys t ON t.userid = r.userid AND t.dbid = r.dbid AND t.toplevel = r.toplevel AND t.queryid = r.queryid
      LEFT JOIN baseline_keys bk ON bk.userid = r.userid AND bk.dbid = r.dbid AND bk.toplevel = r.toplevel AND bk.queryid = r.queryid
  ),
  kept AS (
    INSERT INTO telemetry.run_statements
    SELECT p_run_id, userid, dbid, toplevel, queryid, calls, plans, total_exec_time, total_plan_time, rows,
           shared_blks_hit, shared_blks_read, shared_blks_dirtied, shared_blks_written,
           local_blks_hit, local_blks_read, local_blks_dirtied, local_blks_written, temp_blks_read, temp_blks_written,
           blk_read_time, blk_write_time, temp_blk_read_time, temp_blk_write_time, wal_records, wal_fpi, wal_bytes, jit_time, ranked
      FROM ranked WHERE keep
    RETURNING 1
  ),
  other AS (
    INSERT INTO telemetry.run_statements
    SELECT p_run_id, NULL, NULL, NULL, NULL, sum(calls), sum(plans), sum(total_exec_time), sum(total_plan_time), sum(rows),
           sum(shared_blks_hit), sum(shared_blks_read), sum(shared_blks_dirtied), sum(shared_blks_written),
           sum(local_blks_hit), sum(local_blks_read), sum(local_blks_dirtied), sum(local_blks_written),
           sum(temp_blks_read), sum(temp_blks_written), sum(blk_read_time), sum(blk_write_time),
           sum(temp_blk_read_time), sum(temp_blk_write_time), sum(wal_records), sum(wal_fpi), sum(wal_bytes), sum(jit_time), NULL
      FROM ranked WHERE NOT keep HAVING count(*) > 0
  ),
  minor AS (
    UPDATE telemetry.run_statement_status s
       SET minor_userid = m.u, minor_dbid = m.d, minor_toplevel = m.t, minor_queryid = m.q, minor_calls = m.c, minor_total_ms = m.ms
      FROM (SELECT array_agg(userid) AS u, array_agg(dbid) AS d, array_agg(toplevel) AS t, array_agg(queryid) AS q,
                   array_agg(calls) AS c, array_agg(total_exec_time + total_plan_time) AS ms   -- one pass: aligned
              FROM ranked WHERE NOT keep) m
     WHERE s.run_id = p_run_id
  )
  SELECT (SELECT count(*) FROM ran)::int, (SELECT count(*) FROM kept)::int INTO v_entries, v_kept;

  UPDATE telemetry.run_statement_status s
     SET status = 'kept', end_snapshot_id = p_snapshot_id, entries = v_entries, kept = v_kept,
         complete = v_cov.complete AND NOT v_all_fresh,
         note = CASE WHEN v_cov.complete AND NOT v_all_fresh THEN NULL
                     ELSE coalesce(v_cov.note, 'statement evidence is incomplete: pg_stat_statements restarted in the run') END
   WHERE s.run_id = p_run_id;
  DELETE FROM telemetry.run_statement_base b WHERE b.run_id = p_run_id;

  -- the texts of the run's statements now, not when snapshot() next reads texts: a report is read
  -- right after the run; the read also serves the captures since the last one
  IF telemetry._store_statement_texts((telemetry._pgss_schema()).schema_name, p_run_id) IS NOT NULL THEN
    UPDATE telemetry.statement_captures c SET texts_done = true WHERE c.snapshot_id = p_snapshot_id;
  END IF;
END
$fn$;

-- Whether a run has its own statement totals (kept by batch_end()).
CREATE FUNCTION telemetry._run_statements_kept(p_run_id bigint)
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT coalesce((SELECT s.status = 'kept' FROM telemetry.run_statement_status s WHERE s.run_id = p_run_id), false)
$$;

-- A run's totals per statement, with the columns of _statement_sums (93-statement-compare.sql):
-- every reader of per-run totals goes through here. Compared with p_other_run, a statement that
-- run kept and this one folded into "all other statements" gets its own row here too, with its
-- calls and time (the other measures unknown, NULL), taken out of the "all other statements" row.
CREATE FUNCTION telemetry._run_statement_sums(p_run_id bigint, p_other_run bigint DEFAULT NULL)
RETURNS TABLE (userid oid, dbid oid, toplevel boolean, queryid bigint, calls numeric, total_ms numeric,
               rows numeric, shared_blks_read numeric, shared_blks_hit numeric, shared_blks_written numeric,
               temp_blks_written numeric, wal_bytes numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  WITH pulled AS MATERIALIZED (
    SELECT m.userid, m.dbid, m.toplevel, m.queryid, m.calls, m.total_ms
      FROM telemetry.run_statement_status st
     CROSS JOIN LATERAL unnest(st.minor_userid, st.minor_dbid, st.minor_toplevel, st.minor_queryid, st.minor_calls,
                               st.minor_total_ms) AS m(userid, dbid, toplevel, queryid, calls, total_ms)
     WHERE st.run_id = p_run_id AND p_other_run IS NOT NULL
       AND EXISTS (SELECT 1 FROM telemetry.run_statements o
                    WHERE o.run_id = p_other_run AND o.userid = m.userid AND o.dbid = m.dbid
                      AND o.toplevel = m.toplevel AND o.queryid = m.queryid))
  SELECT s.userid, s.dbid, s.toplevel, s.queryid,
         s.calls - CASE WHEN s.queryid IS NULL THEN coalesce((SELECT sum(p.calls) FROM pulled p), 0) ELSE 0 END,
         -- less the rounded times shown for the pulled statements: the rows still add up to the run's total
         round((s.total_exec_time + s.total_plan_time)::numeric, 3)
           - CASE WHEN s.queryid IS NULL THEN coalesce((SELECT sum(round(p.total_ms::numeric, 3)) FROM pulled p), 0) ELSE 0 END,
         s.rows, s.shared_blks_read, s.shared_blks_hit, s.shared_blks_written, s.temp_blks_written, s.wal_bytes
    FROM telemetry.run_statements s
   WHERE s.run_id = p_run_id
  UNION ALL
  SELECT p.userid, p.dbid, p.toplevel, p.queryid, p.calls, round(p.total_ms::numeric, 3), NULL, NULL, NULL, NULL, NULL, NULL
    FROM pulled p
$$;

-- A run closed without batch_end() (abandoned by its session, or by any other path that ends
-- it) has no closing capture: its base is dropped and its totals say why they are missing.
CREATE FUNCTION telemetry._run_statements_closed()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  UPDATE telemetry.run_statement_status s
     SET status = 'unavailable', complete = false,
         note = format('run closed as %s without batch_end(): no closing capture, so no per-run statement totals', NEW.state)
   WHERE s.run_id = NEW.run_id AND s.status = 'open';
  IF FOUND THEN
    DELETE FROM telemetry.run_statement_base b WHERE b.run_id = NEW.run_id;
  END IF;
  RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS runs_statements_abandoned ON telemetry.runs;
CREATE TRIGGER runs_statements_abandoned AFTER UPDATE OF state ON telemetry.runs
  FOR EACH ROW WHEN (OLD.state = 'running' AND NEW.state = 'abandoned')
  EXECUTE FUNCTION telemetry._run_statements_closed();

-- Retention: bases no open run will consume (runs ended by a path other than batch_end(), open
-- runs older than the cutoff that will never see their batch_end) are dropped. Rows of deleted
-- runs go with them (ON DELETE CASCADE).
CREATE FUNCTION telemetry._cleanup_run_statement_bases(p_cutoff timestamptz)
RETURNS jsonb LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_runs bigint[];
  v_n bigint;
BEGIN
  SELECT array_agg(r.run_id) INTO v_runs
    FROM telemetry.run_statement_status s JOIN telemetry.runs r ON r.run_id = s.run_id
   WHERE s.status = 'open' AND (r.state <> 'running' OR r.started_at < p_cutoff);
  UPDATE telemetry.run_statement_status s
     SET status = 'unavailable', complete = false,
         note = 'the base of the run was dropped by retention (the run ended without batch_end() or stayed open past the retention)'
   WHERE s.run_id = ANY (v_runs);
  DELETE FROM telemetry.run_statement_base b
   WHERE b.run_id = ANY (v_runs)
      OR NOT EXISTS (SELECT 1 FROM telemetry.run_statement_status s WHERE s.run_id = b.run_id AND s.status = 'open');
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN jsonb_build_object('run_statement_base', v_n);
END
$fn$;

-- Which statement numbers a comparison of runs p_run_a and p_run_b uses: runs = both runs' own
-- totals; note = what is missing in them, or why the captures' sums are used instead (NULL when
-- nothing needs saying, and for windows that are not runs).
CREATE FUNCTION telemetry._run_statements_note(p_run_a bigint, p_run_b bigint, OUT runs boolean, OUT note text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_a telemetry.run_statement_status;
  v_b telemetry.run_statement_status;
BEGIN
  runs := telemetry._run_statements_kept(p_run_a) AND telemetry._run_statements_kept(p_run_b);
  IF p_run_a IS NULL OR p_run_b IS NULL THEN
    RETURN;
  END IF;
  SELECT * INTO v_a FROM telemetry.run_statement_status s WHERE s.run_id = p_run_a;
  SELECT * INTO v_b FROM telemetry.run_statement_status s WHERE s.run_id = p_run_b;
  IF runs THEN
    note := nullif(concat_ws('; ', CASE WHEN NOT v_a.complete THEN format('run %s: %s', p_run_a, v_a.note) END,
                                   CASE WHEN NOT v_b.complete THEN format('run %s: %s', p_run_b, v_b.note) END), '');
  ELSE
    note := format('statements compared by the sums of the captures'' top statements (lower bounds for a statement that was not '
                   'among the top statement_top_n of every capture), because %s',
                   concat_ws(' and ',
                     CASE WHEN v_a.status IS DISTINCT FROM 'kept' THEN format('run %s has no per-run statement totals (%s)', p_run_a,
                       coalesce(v_a.note, CASE WHEN v_a.status = 'open' THEN 'it is still running'
                                               ELSE 'batch_start() did not capture pg_stat_statements for it' END)) END,
                     CASE WHEN v_b.status IS DISTINCT FROM 'kept' THEN format('run %s has no per-run statement totals (%s)', p_run_b,
                       coalesce(v_b.note, CASE WHEN v_b.status = 'open' THEN 'it is still running'
                                               ELSE 'batch_start() did not capture pg_stat_statements for it' END)) END));
  END IF;
END
$fn$;

-- A window's statements for a reader that knows its run: the run's own totals when it kept them,
-- else the sums of the captures after snapshot p_s1 up to p_s2 (the columns of _statement_sums).
CREATE FUNCTION telemetry._statement_sums_of(p_run_id bigint, p_s1 bigint, p_s2 bigint)
RETURNS TABLE (userid oid, dbid oid, toplevel boolean, queryid bigint, calls numeric, total_ms numeric,
               rows numeric, shared_blks_read numeric, shared_blks_hit numeric, shared_blks_written numeric,
               temp_blks_written numeric, wal_bytes numeric)
LANGUAGE plpgsql STABLE   -- not sql: _statement_sums comes later (93-statement-compare.sql)
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  IF telemetry._run_statements_kept(p_run_id) THEN
    RETURN QUERY SELECT * FROM telemetry._run_statement_sums(p_run_id);
  ELSE
    RETURN QUERY SELECT * FROM telemetry._statement_sums(p_s1, p_s2);
  END IF;
END
$fn$;

-- Called by snapshot() before its capture: when pg_stat_statements restarted (a reset, a server
-- restart) since an open run's base, the run's work up to now is what the last capture saw
-- (statement_last, still the counters before the restart) minus the base; it is carried in the
-- base as negative counters, and the base is otherwise empty: every entry counts from zero after
-- the restart, plus the work carried. Only the work between the last capture and the restart is
-- lost, as it is for the captures. Never makes snapshot() fail.
CREATE FUNCTION telemetry._run_statements_fold()
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_pgss record;
  v_reset timestamptz;
  v_runs bigint[];
BEGIN
  IF NOT EXISTS (SELECT 1 FROM telemetry.run_statement_status s WHERE s.status = 'open') THEN
    RETURN;
  END IF;
  BEGIN
    v_pgss := telemetry._pgss_schema();
    IF v_pgss.schema_name IS NULL THEN
      RETURN;
    END IF;
    EXECUTE format('SELECT stats_reset FROM %I.pg_stat_statements_info', v_pgss.schema_name) INTO v_reset;
    SELECT array_agg(s.run_id) INTO v_runs FROM telemetry.run_statement_status s
     WHERE s.status = 'open'
       AND (s.epoch_stats_reset IS DISTINCT FROM v_reset OR s.epoch_started IS DISTINCT FROM pg_postmaster_start_time());
    IF v_runs IS NULL THEN
      RETURN;
    END IF;
    WITH bb AS (SELECT * FROM telemetry.run_statement_base b WHERE b.run_id = ANY (v_runs)),
    rl AS (SELECT r.run_id, l.* FROM unnest(v_runs) r(run_id) CROSS JOIN telemetry.statement_last l),
    w AS (   -- each run's work per entry up to the last capture, by the rules of _run_statements_end
      SELECT coalesce(l.run_id, b.run_id) AS run_id, coalesce(l.userid, b.userid) AS userid, coalesce(l.dbid, b.dbid) AS dbid,
             coalesce(l.toplevel, b.toplevel) AS toplevel, coalesce(l.queryid, b.queryid) AS queryid,
             coalesce(l.calls, 0) - CASE WHEN f.fresh THEN 0 ELSE b.calls END AS calls,
             coalesce(l.plans, 0) - CASE WHEN f.fresh THEN 0 ELSE b.plans END AS plans,
             coalesce(l.total_exec_time, 0) - CASE WHEN f.fresh THEN 0 ELSE b.total_exec_time END AS total_exec_time,
             coalesce(l.total_plan_time, 0) - CASE WHEN f.fresh THEN 0 ELSE b.total_plan_time END AS total_plan_time,
             coalesce(l.rows, 0) - CASE WHEN f.fresh THEN 0 ELSE b.rows END AS rows,
             coalesce(l.shared_blks_hit, 0) - CASE WHEN f.fresh THEN 0 ELSE b.shared_blks_hit END AS shared_blks_hit,
             coalesce(l.shared_blks_read, 0) - CASE WHEN f.fresh THEN 0 ELSE b.shared_blks_read END AS shared_blks_read,
             coalesce(l.shared_blks_dirtied, 0) - CASE WHEN f.fresh THEN 0 ELSE b.shared_blks_dirtied END AS shared_blks_dirtied,
             coalesce(l.shared_blks_written, 0) - CASE WHEN f.fresh THEN 0 ELSE b.shared_blks_written END AS shared_blks_written,
             coalesce(l.local_blks_hit, 0) - CASE WHEN f.fresh THEN 0 ELSE b.local_blks_hit END AS local_blks_hit,
             coalesce(l.local_blks_read, 0) - CASE WHEN f.fresh THEN 0 ELSE b.local_blks_read END AS local_blks_read,
             coalesce(l.local_blks_dirtied, 0) - CASE WHEN f.fresh THEN 0 ELSE b.local_blks_dirtied END AS local_blks_dirtied,
             coalesce(l.local_blks_written, 0) - CASE WHEN f.fresh THEN 0 ELSE b.local_blks_written END AS local_blks_written,
             coalesce(l.temp_blks_read, 0) - CASE WHEN f.fresh THEN 0 ELSE b.temp_blks_read END AS temp_blks_read,
             coalesce(l.temp_blks_written, 0) - CASE WHEN f.fresh THEN 0 ELSE b.temp_blks_written END AS temp_blks_written,
             coalesce(l.blk_read_time, 0) - CASE WHEN f.fresh THEN 0 ELSE b.blk_read_time END AS blk_read_time,
             coalesce(l.blk_write_time, 0) - CASE WHEN f.fresh THEN 0 ELSE b.blk_write_time END AS blk_write_time,
             coalesce(l.temp_blk_read_time, 0) - CASE WHEN f.fresh THEN 0 ELSE b.temp_blk_read_time END AS temp_blk_read_time,
             coalesce(l.temp_blk_write_time, 0) - CASE WHEN f.fresh THEN 0 ELSE b.temp_blk_write_time END AS temp_blk_write_time,
             coalesce(l.wal_records, 0) - CASE WHEN f.fresh THEN 0 ELSE b.wal_records END AS wal_records,
             coalesce(l.wal_fpi, 0) - CASE WHEN f.fresh THEN 0 ELSE b.wal_fpi END AS wal_fpi,
             coalesce(l.wal_bytes, 0) - CASE WHEN f.fresh THEN 0 ELSE b.wal_bytes END AS wal_bytes,
             coalesce(l.jit_time, 0) - CASE WHEN f.fresh THEN 0 ELSE b.jit_time END AS jit_time
        FROM rl l
        FULL JOIN bb b
          ON b.run_id = l.run_id AND b.userid = l.userid AND b.dbid = l.dbid AND b.toplevel = l.toplevel AND b.queryid = l.queryid
       CROSS JOIN LATERAL (SELECT b.queryid IS NULL OR NOT b.carried AND (l.calls < b.calls OR l.plans < b.plans
                                  OR l.total_exec_time < b.total_exec_time OR l.rows < b.rows
                                  OR l.stats_since IS DISTINCT FROM b.stats_since) AS fresh) f
       WHERE l.queryid IS NOT NULL OR b.carried   -- an entry evicted before the last capture: its work is lost
    ),
    gone AS (DELETE FROM telemetry.run_statement_base b WHERE b.run_id = ANY (v_runs))
    INSERT INTO telemetry.run_statement_base
    SELECT w.run_id, w.userid, w.dbid, w.toplevel, w.queryid,
           -w.calls, -w.plans, -w.total_exec_time, -w.total_plan_time, -w.rows, -w.shared_blks_hit,
           -w.shared_blks_read, -w.shared_blks_dirtied, -w.shared_blks_written, -w.local_blks_hit, -w.local_blks_read,
           -w.local_blks_dirtied, -w.local_blks_written, -w.temp_blks_read, -w.temp_blks_written, -w.blk_read_time,
           -w.blk_write_time, -w.temp_blk_read_time, -w.temp_blk_write_time, -w.wal_records, -w.wal_fpi, -w.wal_bytes,
           -w.jit_time, NULL, true
      FROM w WHERE w.calls <> 0 OR w.plans <> 0;
    UPDATE telemetry.run_statement_status s SET epoch_stats_reset = v_reset, epoch_started = pg_postmaster_start_time()
     WHERE s.run_id = ANY (v_runs);
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'telemetry: could not carry the statement totals of open runs over a pg_stat_statements restart: %', SQLERRM;
  END;
END
$fn$;
