----------------------------------------------------------------------------------------------
-- Plans of a run's top statements, captured and compared between runs
----------------------------------------------------------------------------------------------

-- One plan node and its children on one line: node types, relations and indexes, join types and
-- aggregate strategies in plan order; no costs, row estimates or widths, so the line (and its
-- md5, the fingerprint) changes only when the plan does.
CREATE FUNCTION telemetry._plan_shape(p_node jsonb)
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_self text;
  v_children text[];
BEGIN
  IF p_node IS NULL THEN
    RETURN NULL;
  END IF;
  IF jsonb_typeof(p_node) = 'array' THEN      -- EXPLAIN (FORMAT JSON) returns [ { "Plan": ... } ]
    RETURN telemetry._plan_shape(p_node -> 0 -> 'Plan');
  END IF;
  v_self := concat_ws(' ',
    CASE p_node ->> 'Node Type'
      WHEN 'ModifyTable' THEN p_node ->> 'Operation'
      WHEN 'Aggregate' THEN CASE p_node ->> 'Strategy' WHEN 'Hashed' THEN 'HashAggregate' WHEN 'Sorted' THEN 'GroupAggregate'
                                                       WHEN 'Mixed' THEN 'MixedAggregate' ELSE 'Aggregate' END
      ELSE p_node ->> 'Node Type' END,
    CASE WHEN p_node ->> 'Join Type' NOT IN ('Inner') THEN p_node ->> 'Join Type' END,
    'using ' || (p_node ->> 'Index Name'),
    'on ' || nullif(concat_ws('.', p_node ->> 'Schema', p_node ->> 'Relation Name'), ''),
    CASE WHEN p_node ->> 'Parent Relationship' IN ('InitPlan', 'SubPlan') THEN '[' || (p_node ->> 'Parent Relationship') || ']' END);
  SELECT array_agg(telemetry._plan_shape(c) ORDER BY o) INTO v_children
    FROM jsonb_array_elements(coalesce(p_node -> 'Plans', '[]')) WITH ORDINALITY AS x(c, o);
  RETURN v_self || CASE coalesce(cardinality(v_children), 0)
                     WHEN 0 THEN ''
                     WHEN 1 THEN ' -> ' || v_children[1]
                     ELSE ' -> (' || array_to_string(v_children, '; ') || ')' END;
END
$fn$;

-- Stores one capture_plans() result. SECURITY DEFINER so that writers need no write access to
-- the table; it plans nothing itself. Writers can call it directly, so it keeps capture_plans()'s
-- own rule: a captured plan is stored only by a login role that may become the statement's role
-- (as capture_plans plans it), and a captured plan is replaced only by another captured plan, so
-- a later attempt that was skipped or failed (a lock held by the batch) never erases it.
CREATE FUNCTION telemetry._store_plan(p_run_id bigint, p_userid oid, p_dbid oid, p_queryid bigint,
                                      p_status text, p_reason text, p_plan jsonb)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_shape text := telemetry._plan_shape(p_plan);
BEGIN
  IF p_status = 'captured' AND NOT coalesce(pg_has_role(session_user, p_userid, 'MEMBER'), false) THEN
    RAISE EXCEPTION 'telemetry._store_plan: % may not store a plan of a statement of role %: only a role that may become it plans it',
      session_user, coalesce((SELECT r.rolname::text FROM pg_roles r WHERE r.oid = p_userid), p_userid::text)
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO telemetry.statement_plans AS p (run_id, userid, dbid, queryid, captured_by, status, reason, plan, shape, fingerprint)
  VALUES (p_run_id, p_userid, p_dbid, p_queryid, session_user, p_status, p_reason, p_plan, v_shape, md5(v_shape))
  ON CONFLICT (run_id, userid, dbid, queryid) DO UPDATE
    SET captured_at = clock_timestamp(), captured_by = excluded.captured_by, status = excluded.status,
        reason = excluded.reason, plan = excluded.plan, shape = excluded.shape, fingerprint = excluded.fingerprint
    WHERE excluded.status = 'captured' OR p.status <> 'captured';
  RETURN v_shape;
END
$fn$;

-- The statement text with leading whitespace and comments removed, for its first keyword.
CREATE FUNCTION telemetry._statement_command(p_query text)
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v text := p_query;
BEGIN
  LOOP
    v := ltrim(v, E' \t\r\n(');
    IF v LIKE '--%' THEN
      v := CASE WHEN strpos(v, E'\n') > 0 THEN substr(v, strpos(v, E'\n') + 1) ELSE '' END;
    ELSIF v LIKE '/*%' THEN
      v := CASE WHEN strpos(v, '*/') > 0 THEN substr(v, strpos(v, '*/') + 2) ELSE '' END;
    ELSE
      RETURN upper(substring(v FROM '^[A-Za-z]+'));
    END IF;
  END LOOP;
END
$fn$;

-- The search_path a new session of role p_role in database p_db starts with: its role-and-database,
-- role, or database setting, else the server's. Statement texts name tables as the batch did.
CREATE FUNCTION telemetry._role_search_path(p_role oid, p_db oid)
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(
    (SELECT substr(c, length('search_path=') + 1)
       FROM pg_db_role_setting s CROSS JOIN LATERAL unnest(s.setconfig) WITH ORDINALITY AS u(c, o)
      WHERE c LIKE 'search\_path=%' AND (s.setrole, s.setdatabase) IN ((p_role, p_db), (p_role, 0), (0, p_db))
      ORDER BY (s.setrole = p_role) DESC, (s.setdatabase = p_db) DESC LIMIT 1),
    (SELECT reset_val FROM pg_settings WHERE name = 'search_path'))
$$;

-- Captures the generic plans of a run's top statements (by total time), each planned as the
-- statement's own role: SECURITY INVOKER, because it must run in the
-- caller's session (the batch's own session, or a role allowed to become the statement's role,
-- e.g. the pg_cron job's owner): PostgreSQL refuses SET ROLE inside a SECURITY DEFINER function,
-- and planning can execute functions, so it never plans with more rights than the statement's
-- role. Never ANALYZE; short lock_timeout/statement_timeout so a lock held by the batch makes
-- a plan fail fast instead of waiting. PG16+: EXPLAIN (GENERIC_PLAN); PG15 only plans statements
-- without parameters and lists the others as skipped. Statement names resolve in the search_path
-- a session of the statement's role starts with (_role_search_path).
CREATE FUNCTION telemetry.capture_plans(run_id bigint, top_n int DEFAULT NULL)
RETURNS TABLE (queryid bigint, username text, status text, reason text, plan text)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  w record := telemetry._run_window(run_id);
  b record;
  v_pgss record := telemetry._pgss_schema();
  st record;
  v_text text;
  v_cmd text;
  v_plan jsonb;
  v_status text;
  v_reason text;
  v_role text;
  v_generic boolean := pg_catalog.current_setting('server_version_num')::int >= 160000;
  v_me text := current_user;
  v_lock text := pg_catalog.current_setting('lock_timeout');
  v_timeout text := pg_catalog.current_setting('statement_timeout');
  v_db oid := (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database());
BEGIN
  IF NOT pg_catalog.has_function_privilege('telemetry._store_plan(bigint, oid, oid, bigint, text, text, jsonb)', 'EXECUTE') THEN
    RAISE NOTICE 'telemetry.capture_plans: role % may not capture plans: it needs telemetry_writer (GRANT telemetry_writer TO %I); nothing captured',
      v_me, v_me;
    RETURN;
  END IF;
  IF v_pgss.schema_name IS NULL THEN
    RAISE NOTICE 'telemetry.capture_plans: %; nothing captured', v_pgss.why;
    RETURN;
  END IF;
  b := telemetry._bracket(w.start_time, w.end_time, false);
  -- the texts of all of them in one read: pg_stat_statements(true) reads the whole text file each time
  FOR st IN EXECUTE pg_catalog.format($q$
      -- the run's top plannable statements; the telemetry schema's own (nested ones too, with
      -- track = all) are not the batch's
      -- one text per statement: the top-level entry's (an EXPLAIN of it, tracked nested, shares its queryid)
      WITH t AS MATERIALIZED (SELECT DISTINCT ON (p.userid, p.dbid, p.queryid) p.userid, p.dbid, p.queryid, p.query
                                FROM %I.pg_stat_statements(true) p
                               ORDER BY p.userid, p.dbid, p.queryid, p.query ~* '^\s*explain\M', p.toplevel DESC)
      SELECT s.userid, s.dbid, s.queryid, r.rolname::text AS rolname, s.query
        FROM (SELECT x.*, t.query
                FROM telemetry._statement_sums_of($4, $1, $2) x   -- the run's own totals where kept (56-run-statements.sql)
                LEFT JOIN t ON t.userid = x.userid AND t.dbid = x.dbid AND t.queryid = x.queryid
               WHERE x.queryid IS NOT NULL AND x.calls > 0) s
        LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.userid
       WHERE NOT telemetry._is_telemetry_statement(s.query)
         AND (s.query IS NULL OR telemetry._statement_command(s.query) IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'WITH'))
       ORDER BY s.total_ms DESC, s.queryid LIMIT $3 $q$, v_pgss.schema_name)
    USING b.s1, b.s2, coalesce(top_n, telemetry._setting('plan_top_n', '10')::int), run_id LOOP
    v_status := 'skipped';
    v_reason := NULL;
    v_plan := NULL;
    v_text := NULL;
    IF st.dbid IS DISTINCT FROM v_db THEN
      v_reason := pg_catalog.format('runs in database %s: call telemetry.capture_plans there',
                                    (SELECT d.datname FROM pg_catalog.pg_database d WHERE d.oid = st.dbid));
    ELSIF st.rolname IS NULL THEN
      v_reason := 'its role no longer exists';
    ELSIF st.rolname <> v_me AND NOT pg_catalog.pg_has_role(session_user, st.rolname, 'MEMBER') THEN
      v_reason := pg_catalog.format('planning runs as the statement''s role %I, which %I may not become: call capture_plans in the batch''s own session, or as a role granted %I',
                                    st.rolname, session_user, st.rolname);
    ELSE
      v_text := st.query;
      v_cmd := telemetry._statement_command(v_text);
      IF v_text IS NULL THEN
        v_reason := 'no longer in pg_stat_statements (evicted or reset)';
      ELSIF v_text = '<insufficient privilege>' THEN
        v_reason := pg_catalog.format('%I may not read this statement''s text: run capture_plans as its role or as a member of pg_read_all_stats', v_me);
      ELSIF v_cmd IS NULL OR v_cmd NOT IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'WITH') THEN
        v_reason := pg_catalog.format('%s statement: only SELECT, INSERT, UPDATE, DELETE and MERGE are planned', coalesce(v_cmd, 'unknown'));
      ELSIF pg_catalog.strpos(pg_catalog.rtrim(v_text, E' \t\r\n;'), ';') > 0 THEN
        v_reason := 'the text holds more than one statement';
      ELSIF NOT v_generic AND v_text ~ '\$[0-9]' THEN
        v_reason := 'it has parameters ($1, ...): PostgreSQL 15 cannot plan it without values (16+ plans it with GENERIC_PLAN)';
      ELSE
        BEGIN
          PERFORM pg_catalog.set_config('lock_timeout', telemetry._setting('plan_lock_timeout', '100ms'), true);
          PERFORM pg_catalog.set_config('statement_timeout', telemetry._setting('plan_statement_timeout', '2s'), true);
          PERFORM pg_catalog.set_config('search_path', telemetry._role_search_path(st.userid, st.dbid), true);
          IF st.rolname <> v_me THEN
            EXECUTE pg_catalog.format('SET LOCAL ROLE %I', st.rolname);
          END IF;
          EXECUTE pg_catalog.format('EXPLAIN (%sFORMAT JSON) %s', CASE WHEN v_generic THEN 'GENERIC_PLAN, ' END,
                                    pg_catalog.rtrim(v_text, E' \t\r\n;'))
             INTO v_plan;
          IF st.rolname <> v_me THEN
            EXECUTE pg_catalog.format('SET LOCAL ROLE %I', v_me);
          END IF;
          PERFORM pg_catalog.set_config('search_path', 'pg_catalog, telemetry, pg_temp', true);
          v_status := 'captured';
        EXCEPTION WHEN OTHERS THEN   -- the subtransaction's rollback also restores role and timeouts
          v_status := 'failed';
          v_reason := pg_catalog.format('planning as %I failed: %s', st.rolname, SQLERRM);
        END;
        PERFORM pg_catalog.set_config('lock_timeout', v_lock, true);
        PERFORM pg_catalog.set_config('statement_timeout', v_timeout, true);
      END IF;
    END IF;
    queryid := st.queryid;
    username := st.rolname;
    status := v_status;
    reason := v_reason;
    plan := telemetry._store_plan(run_id, st.userid, st.dbid, st.queryid, v_status, v_reason, v_plan);
    RETURN NEXT;
  END LOOP;
END
$fn$;

-- Plans of the runs that ended within the last `within` and have none stored yet: what the pg_cron
-- job telemetry_plans runs every minute, so a run's plans are captured right after batch_end()
-- without the batch calling capture_plans() itself (batch_end() cannot: it is SECURITY DEFINER,
-- and PostgreSQL refuses SET ROLE there). SECURITY INVOKER like capture_plans(): run by the job's
-- owner, it plans each statement as the statement's role where the owner may become it, and stores
-- why not otherwise. A run with nothing to plan stores nothing, so it is tried again until it is
-- older than `within`: the window stays short to bound those retries.
-- One run's trouble (no snapshot in its window, say) is a WARNING and a note, never an error: the
-- job must not fail, and alert, for a run it cannot plan.
CREATE FUNCTION telemetry.capture_pending_plans(within interval DEFAULT '10 minutes')
RETURNS TABLE (run_id bigint, captured int, skipped int, failed int, note text)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  r record;
BEGIN
  IF (telemetry._pgss_schema()).schema_name IS NULL THEN
    RETURN;
  END IF;
  FOR r IN SELECT x.run_id FROM telemetry.runs x
            WHERE x.state IN ('succeeded', 'failed') AND x.ended_at > now() - within
              AND NOT EXISTS (SELECT 1 FROM telemetry.statement_plans p WHERE p.run_id = x.run_id)
            ORDER BY x.ended_at, x.run_id LOOP
    BEGIN
      SELECT (count(*) FILTER (WHERE c.status = 'captured'))::int, (count(*) FILTER (WHERE c.status = 'skipped'))::int,
             (count(*) FILTER (WHERE c.status = 'failed'))::int
        INTO captured, skipped, failed
        FROM telemetry.capture_plans(r.run_id) c;
      note := NULL;
    EXCEPTION WHEN OTHERS THEN
      captured := 0; skipped := 0; failed := 0;
      note := 'capture_plans failed: ' || SQLERRM;
      RAISE WARNING 'telemetry.capture_pending_plans: run %: %', r.run_id, note;
    END;
    run_id := r.run_id;
    RETURN NEXT;
  END LOOP;
END
$fn$;

-- Plans stored for a run, as the current role may see them.
CREATE FUNCTION telemetry.run_plans(run_id bigint)
RETURNS TABLE (queryid bigint, username text, status text, reason text, shape text, fingerprint text,
               captured_at timestamptz, plan jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT p.queryid, (SELECT r.rolname::text FROM pg_roles r WHERE r.oid = p.userid), p.status, p.reason,
         CASE WHEN v.ok THEN p.shape END, CASE WHEN v.ok THEN p.fingerprint END, p.captured_at,
         CASE WHEN v.ok THEN p.plan END
    FROM telemetry.statement_plans p
   CROSS JOIN LATERAL (SELECT telemetry._may_read_text(p.userid) AS ok) v
   WHERE p.run_id = run_plans.run_id
   ORDER BY p.captured_at, p.queryid
$$;
