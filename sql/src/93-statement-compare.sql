----------------------------------------------------------------------------------------------
-- Statements: which statements a window's time went to, and which made a run slower than its baseline
----------------------------------------------------------------------------------------------

-- Sums of the statement deltas captured after snapshot p_s1 up to and including p_s2; the row
-- with queryid NULL is all other statements (exact in sum, so totals over rows are exact). The one
-- reader of snapshot_statements' counters: a zero delta is stored as NULL, read here as 0.
CREATE FUNCTION telemetry._statement_sums(p_s1 bigint, p_s2 bigint)
RETURNS TABLE (userid oid, dbid oid, toplevel boolean, queryid bigint, calls numeric, total_ms numeric,
               rows numeric, shared_blks_read numeric, shared_blks_hit numeric, shared_blks_written numeric,
               temp_blks_written numeric, wal_bytes numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT s.userid, s.dbid, s.toplevel, s.queryid, coalesce(sum(s.calls), 0),
         round(coalesce(sum(coalesce(s.total_exec_time, 0) + coalesce(s.total_plan_time, 0)), 0)::numeric, 3),
         coalesce(sum(s.rows), 0), coalesce(sum(s.shared_blks_read), 0), coalesce(sum(s.shared_blks_hit), 0),
         coalesce(sum(s.shared_blks_written), 0), coalesce(sum(s.temp_blks_written), 0), coalesce(sum(s.wal_bytes), 0)
    FROM telemetry.snapshot_statements s
   WHERE s.snapshot_id > p_s1 AND s.snapshot_id <= p_s2
   GROUP BY 1, 2, 3, 4
$$;

-- Whether statement data covers snapshots p_s1 .. p_s2 and, in words, what is missing.
CREATE FUNCTION telemetry._statement_coverage(p_s1 bigint, p_s2 bigint, OUT available boolean, OUT complete boolean, OUT note text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_notes text[];
  v_why text;
BEGIN
  SELECT bool_or(c.status = 'ok'),
         bool_and(c.status = 'ok' AND c.note IS NULL) AND count(*) > 0,
         array_agg(DISTINCT CASE WHEN c.status = 'ok' THEN c.note ELSE concat_ws(': ', c.status, c.note) END) FILTER (WHERE c.note IS NOT NULL OR c.status <> 'ok')
    INTO available, complete, v_notes
    FROM telemetry.statement_captures c
   WHERE c.snapshot_id > p_s1 AND c.snapshot_id <= p_s2;
  available := coalesce(available, false);
  complete := coalesce(complete, false);
  IF NOT available THEN
    v_why := coalesce((SELECT c.note FROM telemetry.statement_captures c
                        WHERE c.status IN ('unavailable', 'failed') AND c.snapshot_id > p_s1 AND c.snapshot_id <= p_s2
                        ORDER BY c.snapshot_id DESC LIMIT 1),
                      (telemetry._pgss_schema()).why);
    note := 'statement evidence is unavailable for this window'
            || coalesce(': ' || v_why, ': no statement captures in it (they start with the first snapshot after install)');
  ELSIF NOT complete THEN
    note := 'statement evidence is incomplete: ' || array_to_string(v_notes, '; ');
  END IF;
END
$fn$;

-- A statement's text for the current role: NULL when none is stored, a marker when PostgreSQL
-- would not show it to this role.
CREATE FUNCTION telemetry._statement_text(p_userid oid, p_dbid oid, p_queryid bigint, p_chars int DEFAULT NULL)
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT CASE WHEN p_queryid IS NULL THEN '(all other statements)'
              WHEN NOT telemetry._may_read_text(p_userid) THEN '<insufficient privilege>'
              ELSE (SELECT left(regexp_replace(t.query, '\s+', ' ', 'g'),
                                coalesce(p_chars, telemetry._setting('query_preview_chars', '200')::int))
                      FROM telemetry.statement_texts t
                     WHERE t.userid = p_userid AND t.dbid = p_dbid AND t.queryid = p_queryid) END
$$;

-- Whether a statement is the telemetry schema's own work (snapshot(), sample_open_runs(), ... and
-- the exporter's calls of them) rather than a batch's: by its text, the only mark it carries in
-- pg_stat_statements. A longer run calls them more, which is no news to a DBA, so comparisons rank
-- them after the batch's statements and capture_plans() does not plan them.
CREATE FUNCTION telemetry._is_telemetry_statement(p_query text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce(p_query, '') ~* '\m"?telemetry"?\.' $$;

-- What changed for one statement between two windows. The extra time splits exactly into a part
-- the change in calls explains and a part the change in mean time per call explains, each taken at
-- the average of the two sides (the symmetric, Shapley split: (cb - ca) * (ma + mb) / 2 and
-- (mb - ma) * (ca + cb) / 2 add up to cb * mb - ca * ma); the larger part names the verdict.
CREATE FUNCTION telemetry._statement_verdict(calls_a numeric, total_a numeric, calls_b numeric, total_b numeric,
                                             plan_changed boolean)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE
    WHEN coalesce(calls_a, 0) = 0 AND coalesce(calls_b, 0) > 0 THEN 'new statement'
    WHEN coalesce(calls_b, 0) = 0 AND coalesce(calls_a, 0) > 0 THEN 'gone'
    WHEN plan_changed THEN 'plan changed'
    WHEN abs(total_b - total_a) < greatest(0.1 * total_a, 1) THEN 'unchanged'
    WHEN abs((calls_b - calls_a) * (total_a / calls_a + total_b / calls_b))
         >= abs((total_b / calls_b - total_a / calls_a) * (calls_a + calls_b)) THEN
      CASE WHEN calls_b > calls_a THEN 'more calls' ELSE 'fewer calls' END
    ELSE
      CASE WHEN total_b / calls_b > total_a / calls_a THEN 'slower per call' ELSE 'faster per call' END
  END
$$;

-- Statements of one window, the most time first.
CREATE FUNCTION telemetry.statement_compare(start_time timestamptz, end_time timestamptz)
RETURNS TABLE (rank int, queryid bigint, username text, datname text, toplevel boolean, calls numeric,
               total_ms numeric, mean_ms numeric, pct_of_time numeric, rows numeric, shared_blks_read numeric,
               shared_blks_hit numeric, temp_blks_written numeric, wal_bytes numeric, query text)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  b record := telemetry._bracket(start_time, end_time);
  v record := telemetry._statement_coverage(b.s1, b.s2);
BEGIN
  IF NOT v.available THEN
    RAISE EXCEPTION 'telemetry.statement_compare: %', v.note;
  END IF;
  IF v.note IS NOT NULL OR b.note IS NOT NULL THEN
    RAISE WARNING 'telemetry.statement_compare: %', concat_ws('; ', v.note, b.note);
  END IF;
  RETURN QUERY
  SELECT (row_number() OVER (ORDER BY s.queryid IS NULL, s.total_ms DESC, s.queryid))::int, s.queryid,
         (SELECT r.rolname::text FROM pg_roles r WHERE r.oid = s.userid),
         (SELECT d.datname::text FROM pg_database d WHERE d.oid = s.dbid), s.toplevel, s.calls, s.total_ms,
         round(s.total_ms / nullif(s.calls, 0), 3),
         round(100 * s.total_ms / nullif(sum(s.total_ms) OVER (), 0), 1),
         s.rows, s.shared_blks_read, s.shared_blks_hit, s.temp_blks_written, s.wal_bytes,
         telemetry._statement_text(s.userid, s.dbid, s.queryid)
    FROM telemetry._statement_sums(b.s1, b.s2) s
   ORDER BY 1;
END
$fn$;

-- One statement in two windows (statement_compare_runs, statement_compare_windows).
CREATE TYPE telemetry.statement_comparison AS (
  rank int, queryid bigint, username text, datname text, toplevel boolean,
  verdict text,                 -- more calls, slower per call, new statement, gone, plan changed, unchanged, fewer calls, faster per call
  share_of_extra_pct numeric,   -- this statement's extra time as a share of the whole extra time of the slow side
  extra_ms numeric,
  baseline_calls numeric, slow_calls numeric, baseline_mean_ms numeric, slow_mean_ms numeric,
  baseline_total_ms numeric, slow_total_ms numeric, baseline_rows numeric, slow_rows numeric,
  baseline_blks_read numeric, slow_blks_read numeric, baseline_temp_written numeric, slow_temp_written numeric,
  baseline_wal_bytes numeric, slow_wal_bytes numeric,
  baseline_plan text, slow_plan text,   -- one line each (capture_plans()), runs only
  query text,
  source text);                 -- 'run totals' (both runs' own, exact: 56-run-statements.sql) or 'captures' (sums of per-capture top statements)

-- The statements whose plans were captured in both runs and differ. SECURITY DEFINER (row-level
-- security on statement_plans hides a plan from a role that may not read its text): a reader is
-- told that a statement's plan changed, the verdict everyone gets, and only that: keys, never a
-- plan, a shape or a fingerprint.
CREATE FUNCTION telemetry._plans_changed(run_a bigint, run_b bigint)
RETURNS TABLE (userid oid, dbid oid, queryid bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT a.userid, a.dbid, a.queryid
    FROM telemetry.statement_plans a
    JOIN telemetry.statement_plans b ON b.userid = a.userid AND b.dbid = a.dbid AND b.queryid = a.queryid
   WHERE a.run_id = run_a AND b.run_id = run_b AND a.status = 'captured' AND b.status = 'captured'
     AND a.fingerprint <> b.fingerprint
$$;

-- The statements that are the telemetry schema's own work (_is_telemetry_statement), by key.
-- SECURITY DEFINER (row-level security on statement_texts hides a text from a role that may not
-- read it): whether a statement ranks with the batch's or after them must not depend on who
-- reads, so every reader is told which statements are the schema's own, and only that: keys,
-- never a text.
CREATE FUNCTION telemetry._telemetry_statements()
RETURNS TABLE (userid oid, dbid oid, queryid bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT t.userid, t.dbid, t.queryid FROM telemetry.statement_texts t WHERE telemetry._is_telemetry_statement(t.query)
$$;

-- Two windows side by side per statement: the statements that took the most extra time first,
-- with their share of the whole extra time and what changed (the verdict). Two runs that both
-- kept their own totals (56-run-statements.sql) are compared by those, else by the captures'
-- sums over the windows.
CREATE FUNCTION telemetry._statement_compare(a1 bigint, a2 bigint, b1 bigint, b2 bigint, run_a bigint, run_b bigint)
RETURNS SETOF telemetry.statement_comparison
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  WITH src AS (SELECT telemetry._run_statements_kept(run_a) AND telemetry._run_statements_kept(run_b) AS runs),
       a AS (SELECT * FROM telemetry._run_statement_sums(run_a, run_b) WHERE (SELECT runs FROM src)
             UNION ALL SELECT * FROM telemetry._statement_sums(a1, a2) WHERE NOT (SELECT runs FROM src)),
       b AS (SELECT * FROM telemetry._run_statement_sums(run_b, run_a) WHERE (SELECT runs FROM src)
             UNION ALL SELECT * FROM telemetry._statement_sums(b1, b2) WHERE NOT (SELECT runs FROM src)),
       own AS MATERIALIZED (SELECT * FROM telemetry._telemetry_statements()),
       j AS (
         SELECT coalesce(b.userid, a.userid) AS userid, coalesce(b.dbid, a.dbid) AS dbid,
                coalesce(b.toplevel, a.toplevel) AS toplevel, coalesce(b.queryid, a.queryid) AS queryid,
                coalesce(a.calls, 0) AS ca, coalesce(b.calls, 0) AS cb, coalesce(a.total_ms, 0) AS ta, coalesce(b.total_ms, 0) AS tb,
                a.rows AS ra, b.rows AS rb, a.shared_blks_read AS bra, b.shared_blks_read AS brb,
                a.temp_blks_written AS twa, b.temp_blks_written AS twb, a.wal_bytes AS wa, b.wal_bytes AS wb
           FROM a FULL JOIN b ON a.userid = b.userid AND a.dbid = b.dbid AND a.toplevel = b.toplevel AND a.queryid = b.queryid
          WHERE a.queryid IS NOT NULL OR b.queryid IS NOT NULL
         UNION ALL   -- all other statements: one row per side, summed
         SELECT NULL, NULL, NULL, NULL, coalesce((SELECT a.calls FROM a WHERE a.queryid IS NULL), 0),
                coalesce((SELECT b.calls FROM b WHERE b.queryid IS NULL), 0),
                coalesce((SELECT a.total_ms FROM a WHERE a.queryid IS NULL), 0),
                coalesce((SELECT b.total_ms FROM b WHERE b.queryid IS NULL), 0),
                (SELECT a.rows FROM a WHERE a.queryid IS NULL), (SELECT b.rows FROM b WHERE b.queryid IS NULL),
                (SELECT a.shared_blks_read FROM a WHERE a.queryid IS NULL), (SELECT b.shared_blks_read FROM b WHERE b.queryid IS NULL),
                (SELECT a.temp_blks_written FROM a WHERE a.queryid IS NULL), (SELECT b.temp_blks_written FROM b WHERE b.queryid IS NULL),
                (SELECT a.wal_bytes FROM a WHERE a.queryid IS NULL), (SELECT b.wal_bytes FROM b WHERE b.queryid IS NULL)
       ),
       p AS (
         SELECT j.*, pc.queryid IS NOT NULL AS plan_changed, o.queryid IS NOT NULL AS own,   -- the same for every reader
                CASE WHEN telemetry._may_read_text(j.userid) THEN pa.shape WHEN pc.queryid IS NOT NULL THEN '<insufficient privilege>' END AS shape_a,
                CASE WHEN telemetry._may_read_text(j.userid) THEN pb.shape WHEN pc.queryid IS NOT NULL THEN '<insufficient privilege>' END AS shape_b
           FROM j
           LEFT JOIN telemetry._plans_changed(run_a, run_b) pc ON pc.userid = j.userid AND pc.dbid = j.dbid AND pc.queryid = j.queryid
           LEFT JOIN own o ON o.userid = j.userid AND o.dbid = j.dbid AND o.queryid = j.queryid
           LEFT JOIN telemetry.statement_plans pa
             ON pa.run_id = run_a AND pa.userid = j.userid AND pa.dbid = j.dbid AND pa.queryid = j.queryid AND pa.status = 'captured'
           LEFT JOIN telemetry.statement_plans pb
             ON pb.run_id = run_b AND pb.userid = j.userid AND pb.dbid = j.dbid AND pb.queryid = j.queryid AND pb.status = 'captured'
       )
  SELECT (row_number() OVER (ORDER BY p.queryid IS NULL, p.own, p.tb - p.ta DESC, p.queryid))::int, p.queryid,
         (SELECT r.rolname::text FROM pg_roles r WHERE r.oid = p.userid),
         (SELECT d.datname::text FROM pg_database d WHERE d.oid = p.dbid), p.toplevel,
         CASE WHEN p.queryid IS NOT NULL THEN telemetry._statement_verdict(p.ca, p.ta, p.cb, p.tb, p.plan_changed) END,
         CASE WHEN sum(p.tb - p.ta) OVER () > 0 THEN round(100 * (p.tb - p.ta) / sum(p.tb - p.ta) OVER (), 1) END,
         p.tb - p.ta, p.ca, p.cb, round(p.ta / nullif(p.ca, 0), 3), round(p.tb / nullif(p.cb, 0), 3), p.ta, p.tb,
         p.ra, p.rb, p.bra, p.brb, p.twa, p.twb, p.wa, p.wb, p.shape_a, p.shape_b,
         telemetry._statement_text(p.userid, p.dbid, p.queryid),
         CASE WHEN (SELECT runs FROM src) THEN 'run totals' ELSE 'captures' END
    FROM p
   ORDER BY 1
$$;

CREATE FUNCTION telemetry.statement_compare_windows(baseline_start timestamptz, baseline_end timestamptz,
                                                    slow_start timestamptz, slow_end timestamptz)
RETURNS SETOF telemetry.statement_comparison
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  RETURN QUERY SELECT * FROM telemetry._statement_compare_checked(baseline_start, baseline_end, slow_start, slow_end, NULL, NULL);
END
$fn$;

CREATE FUNCTION telemetry._statement_compare_checked(baseline_start timestamptz, baseline_end timestamptz,
                                                     slow_start timestamptz, slow_end timestamptz, run_a bigint, run_b bigint)
RETURNS SETOF telemetry.statement_comparison LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  a record := telemetry._bracket(baseline_start, baseline_end);
  b record := telemetry._bracket(slow_start, slow_end);
  va record := telemetry._statement_coverage(a.s1, a.s2);
  vb record := telemetry._statement_coverage(b.s1, b.s2);
  vr record := telemetry._run_statements_note(run_a, run_b);
BEGIN
  IF vr.runs THEN   -- both runs' own totals: their windows' captures do not matter
    IF vr.note IS NOT NULL THEN
      RAISE WARNING 'telemetry: %', vr.note;
    END IF;
    RETURN QUERY SELECT * FROM telemetry._statement_compare(a.s1, a.s2, b.s1, b.s2, run_a, run_b);
    RETURN;
  END IF;
  IF NOT va.available OR NOT vb.available THEN
    RAISE EXCEPTION 'telemetry: %', CASE WHEN NOT vb.available THEN 'slow side: ' || vb.note ELSE 'baseline side: ' || va.note END;
  END IF;
  IF concat(va.note, vb.note, a.note, b.note) <> '' THEN
    RAISE WARNING 'telemetry: %', concat_ws('; ', 'baseline side: ' || va.note, 'slow side: ' || vb.note,
                                           'baseline window: ' || a.note, 'slow window: ' || b.note, vr.note);
  END IF;
  RETURN QUERY SELECT * FROM telemetry._statement_compare(a.s1, a.s2, b.s1, b.s2, run_a, run_b);
END
$fn$;

CREATE FUNCTION telemetry.statement_compare_runs(baseline_run bigint, slow_run bigint)
RETURNS SETOF telemetry.statement_comparison
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  a record := telemetry._run_window(baseline_run);
  b record := telemetry._run_window(slow_run);
BEGIN
  RETURN QUERY SELECT * FROM telemetry._statement_compare_checked(a.start_time, a.end_time, b.start_time, b.end_time,
                                                                  baseline_run, slow_run);
END
$fn$;

-- Which statements the sampled sessions were running, per wait: "Lock:transactionid 42
-- session-seconds, 95 % in queryid 8121 UPDATE acct ...". Session-seconds are samples times the
-- mean sampling interval of the window.
CREATE FUNCTION telemetry.statement_waits(start_time timestamptz, end_time timestamptz)
RETURNS TABLE (wait_event_type text, wait_event text, queryid bigint, username text, sessions_sampled bigint,
               session_seconds numeric, pct_of_wait numeric, query text)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  v_n bigint := telemetry._sample_window(start_time, end_time);
  v_interval numeric;
BEGIN
  SELECT extract(epoch FROM max(s.captured_at) - min(s.captured_at)) / nullif(count(*) - 1, 0) INTO v_interval
    FROM telemetry.samples s WHERE s.captured_at BETWEEN start_time AND end_time;
  RETURN QUERY
  SELECT x.wt, x.we, x.query_id, x.usename, x.n, round(x.n * v_interval, 1),
         round(100.0 * x.n / sum(x.n) OVER (PARTITION BY x.wt, x.we), 1),
         coalesce(telemetry._statement_text((SELECT r.oid FROM pg_roles r WHERE r.rolname = x.usename),
                                            (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()), x.query_id),
                  CASE WHEN telemetry._may_read_text((SELECT r.oid FROM pg_roles r WHERE r.rolname = x.usename))
                       THEN x.preview ELSE '<insufficient privilege>' END)
    FROM (SELECT coalesce(a.wait_event_type, 'CPU') AS wt, coalesce(a.wait_event, 'CPU') AS we, a.query_id, a.usename,
                 count(*) AS n,
                 (array_agg(q.query ORDER BY s.captured_at DESC) FILTER (WHERE q.query IS NOT NULL))[1] AS preview
            FROM telemetry.samples s JOIN telemetry.sample_activity a ON a.sample_id = s.id
            -- the sampled text, under its row-level security (15-security.sql)
            LEFT JOIN telemetry.sample_queries q ON q.sample_id = a.sample_id AND q.pid = a.pid
           WHERE s.captured_at BETWEEN start_time AND end_time AND telemetry._is_load(a.state, a.wait_event_type)
           GROUP BY 1, 2, 3, 4) x
   ORDER BY sum(x.n) OVER (PARTITION BY x.wt, x.we) DESC, x.wt, x.we, x.n DESC, x.query_id;
END
$fn$;

-- The top statements of a window by one measure, on one line: "queryid 812 (9.1 s) UPDATE acct ...".
CREATE FUNCTION telemetry._top_statements_line(p_s1 bigint, p_s2 bigint, p_measure text, p_limit int DEFAULT 3,
                                               p_run_id bigint DEFAULT NULL)
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT string_agg(format('queryid %s (%s) %s', x.queryid, x.shown, coalesce(telemetry._statement_text(x.userid, x.dbid, x.queryid, 60), '')),
                    ', ' ORDER BY x.v DESC)
    FROM (SELECT s.*, m.v, m.shown
            FROM telemetry._statement_sums_of(p_run_id, p_s1, p_s2) s   -- the run's own totals where kept (56-run-statements.sql)
           CROSS JOIN LATERAL (SELECT CASE p_measure WHEN 'temp' THEN s.temp_blks_written WHEN 'wal' THEN s.wal_bytes
                                                     WHEN 'written' THEN s.shared_blks_written ELSE s.total_ms END AS v) m0
           CROSS JOIN LATERAL (SELECT m0.v, CASE p_measure
                                 WHEN 'temp' THEN pg_size_pretty(m0.v * current_setting('block_size')::numeric) || ' temp'
                                 WHEN 'wal' THEN pg_size_pretty(m0.v) || ' WAL'
                                 WHEN 'written' THEN m0.v || ' buffers written'
                                 ELSE round(m0.v / 1000, 1) || ' s' END AS shown) m
           WHERE s.queryid IS NOT NULL AND m0.v > 0
           ORDER BY m0.v DESC LIMIT p_limit) x
$$;

-- The statements that waited for locks in a window, and the statements of the sessions blocking them.
CREATE FUNCTION telemetry._lock_statements_line(start_time timestamptz, end_time timestamptz)
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  WITH w AS (
    SELECT a.query_id, a.usename, count(*) AS n FROM telemetry.samples s JOIN telemetry.sample_activity a ON a.sample_id = s.id
     WHERE s.captured_at BETWEEN start_time AND end_time AND a.wait_event_type = 'Lock' AND a.query_id IS NOT NULL
     GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 3),
  bl AS (
    SELECT a.query_id, a.usename, count(*) AS n FROM telemetry.samples s JOIN telemetry.sample_locks l ON l.sample_id = s.id
      JOIN telemetry.sample_activity a ON a.sample_id = s.id AND a.pid = l.blocking_pid
     WHERE s.captured_at BETWEEN start_time AND end_time AND a.query_id IS NOT NULL
     GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 3),
  db AS (SELECT oid FROM pg_database WHERE datname = current_database())
  SELECT nullif(concat_ws('; ',
    'waiting: ' || (SELECT string_agg(format('queryid %s (%s samples) %s', w.query_id, w.n,
                      coalesce(telemetry._statement_text((SELECT r.oid FROM pg_roles r WHERE r.rolname = w.usename), (SELECT oid FROM db), w.query_id, 60), '')), ', ' ORDER BY w.n DESC) FROM w),
    'blocking: ' || (SELECT string_agg(format('queryid %s (%s samples) %s', bl.query_id, bl.n,
                      coalesce(telemetry._statement_text((SELECT r.oid FROM pg_roles r WHERE r.rolname = bl.usename), (SELECT oid FROM db), bl.query_id, 60), '')), ', ' ORDER BY bl.n DESC) FROM bl)), '')
$$;

-- diagnose()'s statement part: each pattern finding names its top statements, a window without
-- (complete) statement data says so (NOTICE) and how to fix it, and with a baseline run each statement
-- that took a large share of the extra time is a statement_regression finding of its own
-- (score = share of the extra time / 10: all of it is 10, high). The window is a run's when it is
-- exactly that run's (diagnose(run_id) passes it so); p_baseline_run is the run its statements are
-- compared with: _typical_run() of the run's baseline (_report_baseline(): the runs given, else
-- baseline_runs()), the run run_report()'s statements section compares with too.
CREATE FUNCTION telemetry._statement_evidence(p_findings telemetry._finding[], start_time timestamptz, end_time timestamptz,
                                              p_run_id bigint, p_baseline_run bigint)
RETURNS telemetry._finding[] LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  b record;
  ba record;
  v record;
  f telemetry._finding;
  r record;
  v_out telemetry._finding[] := '{}';
  v_line text;
  -- the run being diagnosed, if any (diagnose(run_id) passes it: a run's window may end after ended_at,
  -- at its closing snapshot)
  v_run bigint := p_run_id;
BEGIN
  BEGIN
    b := telemetry._bracket(start_time, end_time, false);
  EXCEPTION WHEN OTHERS THEN
    RETURN p_findings;   -- no snapshots: diagnose() already says so
  END;
  v := telemetry._statement_coverage(b.s1, b.s2);
  FOREACH f IN ARRAY p_findings LOOP
    IF v.available THEN
      v_line := CASE f.pattern
        WHEN 'temp_file_spills' THEN telemetry._top_statements_line(b.s1, b.s2, 'temp', 3, v_run)
        WHEN 'buffer_wal_pressure' THEN concat_ws('; ', 'most buffers written: ' || telemetry._top_statements_line(b.s1, b.s2, 'written', 3, v_run),
                                                        'most WAL: ' || telemetry._top_statements_line(b.s1, b.s2, 'wal', 3, v_run))
        WHEN 'checkpoint_interference' THEN telemetry._top_statements_line(b.s1, b.s2, 'wal', 3, v_run)
        WHEN 'replication_lag' THEN telemetry._top_statements_line(b.s1, b.s2, 'wal', 3, v_run)
        WHEN 'lock_contention' THEN telemetry._lock_statements_line(start_time, end_time)
        ELSE telemetry._top_statements_line(b.s1, b.s2, 'time', 3, v_run) END;
      IF v_line IS NOT NULL AND v_line <> '' THEN
        f.evidence := f.evidence || ' | statements: ' || v_line;
      END IF;
    END IF;
    v_out := v_out || f;
  END LOOP;
  -- said as a NOTICE, not a finding: a finding is a pattern over its threshold
  IF telemetry._run_statements_kept(v_run) THEN   -- the run's own totals (56-run-statements.sql)
    v.note := (SELECT s.note FROM telemetry.run_statement_status s WHERE s.run_id = v_run);
  END IF;
  IF NOT v.available THEN
    RAISE NOTICE 'telemetry.diagnose: %; statement evidence names the statements behind each finding', v.note;
    RETURN v_out;
  ELSIF v.note IS NOT NULL THEN
    RAISE NOTICE 'telemetry.diagnose: % (per-statement numbers are lower bounds)', v.note;
  END IF;
  IF p_baseline_run IS NULL THEN
    RETURN v_out;
  END IF;
  BEGIN
    ba := telemetry._bracket((telemetry._run_window(p_baseline_run)).start_time, (telemetry._run_window(p_baseline_run)).end_time, false);
  EXCEPTION WHEN OTHERS THEN
    RETURN v_out;
  END;
  IF NOT (telemetry._statement_coverage(ba.s1, ba.s2)).available THEN
    RETURN v_out;
  END IF;
  IF NOT (telemetry._run_statements_note(p_baseline_run, v_run)).runs AND (telemetry._run_statements_note(p_baseline_run, v_run)).note IS NOT NULL THEN
    RAISE NOTICE 'telemetry.diagnose: %', (telemetry._run_statements_note(p_baseline_run, v_run)).note;
  END IF;
  FOR r IN SELECT c.* FROM telemetry._statement_compare(ba.s1, ba.s2, b.s1, b.s2, p_baseline_run, v_run) c
            WHERE c.queryid IS NOT NULL
              AND c.extra_ms >= 1000 * telemetry._setting('diagnose.statement_extra_seconds', '1')::numeric
              AND c.share_of_extra_pct >= telemetry._setting('diagnose.statement_share_pct', '10')::numeric
            ORDER BY c.extra_ms DESC LIMIT 5 LOOP
    v_out := v_out || ROW('statement_regression', r.share_of_extra_pct / 10,
      format('%s: queryid %s (%s) took %s s more than in baseline run %s, %s %% of the extra time; calls %s -> %s, mean %s -> %s ms (%s)%s: %s',
             r.verdict, r.queryid, r.username, round(r.extra_ms / 1000, 1), p_baseline_run, r.share_of_extra_pct,
             r.baseline_calls, r.slow_calls, r.baseline_mean_ms, r.slow_mean_ms,
             CASE r.source WHEN 'run totals' THEN 'per-run totals' ELSE 'sums of captures' END,
             CASE WHEN r.verdict = 'plan changed' THEN format('; plan %s → %s', r.baseline_plan, r.slow_plan) ELSE '' END,
             coalesce(r.query, '(no text stored)')),
      CASE r.verdict
        WHEN 'plan changed' THEN 'The plan changed between the runs: compare them (telemetry.run_plans(run_id)); look for a dropped or invalid index, stale statistics (ANALYZE the tables after bulk loads) or a changed setting (work_mem, random_page_cost).'
        WHEN 'more calls' THEN 'The statement ran many more times than in the baseline: check the batch''s input volume or a loop that now runs per row; batch the work into set-based statements.'
        WHEN 'slower per call' THEN 'Each call got slower: compare its blocks read and temp written with the baseline, capture plans (telemetry.capture_plans(run_id)) and use auto_explain to see the actual plan.'
        WHEN 'new statement' THEN 'The statement did not run in the baseline: a code or data change made the batch run it.'
        ELSE 'Compare the statement with the baseline in telemetry.statement_compare_runs().' END)::telemetry._finding;
  END LOOP;
  RETURN v_out;
END
$fn$;
