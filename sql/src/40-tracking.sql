----------------------------------------------------------------------------------------------
-- Tracking tables (by OID: renames keep tracking)
----------------------------------------------------------------------------------------------

CREATE FUNCTION telemetry._resolve_table(p_name text, p_schema text)
RETURNS oid LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_oid oid;
BEGIN
  IF p_name IS NULL THEN
    RAISE EXCEPTION 'table name must not be NULL';
  END IF;
  v_oid := to_regclass(format('%I.%I', coalesce(p_schema, 'public'), p_name));
  IF v_oid IS NULL AND p_schema IS NULL THEN
    v_oid := to_regclass(p_name);   -- qualified or search_path name given as one string
  END IF;
  RETURN v_oid;
END
$fn$;

CREATE FUNCTION telemetry.track_table(p_table text, p_schema text DEFAULT 'public')
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_oid oid := telemetry._resolve_table(p_table, p_schema);
  v_kind "char";
BEGIN
  IF v_oid IS NULL THEN
    RAISE EXCEPTION 'table %.% does not exist', coalesce(p_schema, 'public'), p_table;
  END IF;
  SELECT relkind INTO v_kind FROM pg_class WHERE oid = v_oid;
  IF v_kind NOT IN ('r', 'p', 'm') THEN
    RAISE EXCEPTION '% is not a table, partitioned table or materialized view', v_oid::regclass;
  END IF;
  INSERT INTO telemetry.tracked_tables (relid, schemaname, relname)
  SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = v_oid
  ON CONFLICT (relid) DO UPDATE SET schemaname = excluded.schemaname, relname = excluded.relname;
  RETURN format('tracking %s', v_oid::regclass);
END
$fn$;

CREATE FUNCTION telemetry.untrack_table(p_table text, p_schema text DEFAULT 'public')
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_oid oid := telemetry._resolve_table(p_table, p_schema);
  v_n int;
BEGIN
  -- by current name, or by the remembered name when the table was dropped
  DELETE FROM telemetry.tracked_tables t
   WHERE t.relid = v_oid
      OR (v_oid IS NULL AND t.relname = p_table AND t.schemaname = coalesce(p_schema, 'public'));
  GET DIAGNOSTICS v_n = ROW_COUNT;
  IF v_n = 0 THEN
    RAISE EXCEPTION 'table %.% is not tracked', coalesce(p_schema, 'public'), p_table;
  END IF;
  RETURN format('stopped tracking %s.%s', coalesce(p_schema, 'public'), p_table);
END
$fn$;

CREATE FUNCTION telemetry.list_tracked_tables()
RETURNS TABLE (relid oid, schemaname text, relname text, relkind text, partitions int,
               last_snapshot_bytes bigint, tracked_at timestamptz, table_exists boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT t.relid, coalesce(n.nspname, t.schemaname), coalesce(c.relname, t.relname),
         CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table'
                        WHEN 'm' THEN 'materialized view' END,
         CASE WHEN c.relkind = 'p' THEN (SELECT count(*)::int FROM telemetry._leaves(t.relid)) END,
         (SELECT st.total_bytes::bigint FROM telemetry.snapshot_tables st
           WHERE st.relid = t.relid ORDER BY st.snapshot_id DESC LIMIT 1),
         t.tracked_at, c.oid IS NOT NULL
    FROM telemetry.tracked_tables t
    LEFT JOIN pg_class c ON c.oid = t.relid
    LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
   ORDER BY 2, 3
$$;

