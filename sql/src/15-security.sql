----------------------------------------------------------------------------------------------
-- Security: bounded names, who may end a run, and who may read stored SQL text.
-- The threat model (what each role can do and see) is in docs/operations.md.
----------------------------------------------------------------------------------------------

-- telemetry_admin may end any run (batch_end), as may members of the schema owner and superusers.
DO $admin$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'telemetry_admin') THEN
    CREATE ROLE telemetry_admin NOLOGIN;
  END IF;
  GRANT telemetry_writer TO telemetry_admin;
END
$admin$;

-- Names users choose become Prometheus label values and report lines: at most 200 characters
-- (telemetry._name_problem() says so before anything is written). NOT VALID: rows written before the
-- bound existed stay (the exporter truncates long label values on its own); every new row is checked.
DO $bounds$
DECLARE
  c record;
BEGIN
  FOR c IN SELECT * FROM (VALUES ('runs', 'runs_name_length', 'name'),
                                 ('run_totals', 'run_totals_name_length', 'name'),
                                 ('run_rules', 'run_rules_run_name_length', 'run_name'),
                                 ('run_rules', 'run_rules_app_pattern_length', 'app_pattern')) AS v(tab, con, col) LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = c.con AND conrelid = format('telemetry.%I', c.tab)::regclass) THEN
      EXECUTE format('ALTER TABLE telemetry.%I ADD CONSTRAINT %I CHECK (char_length(%I) BETWEEN 1 AND 200) NOT VALID',
                     c.tab, c.con, c.col);
    END IF;
  END LOOP;
END
$bounds$;

-- The roles a rule opens runs for (NULL: sessions of any role; see docs/telemetry-schema.md).
ALTER TABLE telemetry.run_rules ADD COLUMN IF NOT EXISTS roles regrole[];

CREATE FUNCTION telemetry._name_problem(p_name text)
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN p_name IS NULL OR p_name = '' THEN 'a run name is required'
                  WHEN char_length(p_name) > 200
                    THEN format('a run name is at most 200 characters (this one has %s)', char_length(p_name)) END $$;

-- Whether the session's login role may end runs that another role started.
CREATE FUNCTION telemetry._is_admin()
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_has_role(session_user, 'telemetry_admin', 'MEMBER')
          OR pg_has_role(session_user, (SELECT n.nspowner FROM pg_namespace n WHERE n.nspname = 'telemetry'), 'MEMBER') $$;

-- Whether the current role may read SQL text of a session or statement of role p_owner: exactly
-- whom PostgreSQL shows pg_stat_activity.query and pg_stat_statements.query to, i.e. a role with the
-- privileges of p_owner (itself, or a member that inherits), or of pg_read_all_stats (superusers have
-- both). Every table that stores SQL text keeps the owning role's OID and gets a row-level security
-- policy USING (telemetry._may_read_text(<owner column>)). current_user is the role running the query:
-- inside a SECURITY DEFINER function that is the schema owner, which bypasses row-level security, so
-- such a function must never return stored text to its caller.
CREATE FUNCTION telemetry._may_read_text(p_owner oid)
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') THEN true
                  WHEN p_owner IS NULL OR NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = p_owner) THEN false
                  ELSE pg_has_role(current_user, p_owner, 'USAGE') END $$;

-- Upgrade from a schema that kept query text in sample_activity / sample_locks: move it to
-- sample_queries (owner from the stored user name; a role since dropped leaves the text to
-- pg_read_all_stats only) and drop the old columns, which every reader could see.
DO $texts$
DECLARE
  m record;
BEGIN
  FOR m IN SELECT * FROM (VALUES ('sample_activity', 'query_preview', 'pid', 'usename'),
                                 ('sample_locks', 'blocked_query', 'blocked_pid', 'blocked_user'),
                                 ('sample_locks', 'blocking_query', 'blocking_pid', 'blocking_user')) AS v(tab, col, pid, usr) LOOP
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = format('telemetry.%I', m.tab)::regclass
                  AND attname = m.col AND NOT attisdropped) THEN
      EXECUTE format('INSERT INTO telemetry.sample_queries (sample_id, pid, role_oid, query)
                      SELECT DISTINCT ON (t.sample_id, t.%2$I) t.sample_id, t.%2$I, r.oid, t.%1$I
                        FROM telemetry.%4$I t LEFT JOIN pg_roles r ON r.rolname = t.%3$I
                       WHERE t.%1$I IS NOT NULL AND t.%2$I IS NOT NULL
                      ON CONFLICT DO NOTHING', m.col, m.pid, m.usr, m.tab);
      EXECUTE format('ALTER TABLE telemetry.%I DROP COLUMN %I', m.tab, m.col);
    END IF;
  END LOOP;
END
$texts$;

ALTER TABLE telemetry.sample_queries ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS sample_queries_visible ON telemetry.sample_queries;
CREATE POLICY sample_queries_visible ON telemetry.sample_queries FOR SELECT
  USING (telemetry._may_read_text(role_oid));
