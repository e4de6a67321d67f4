----------------------------------------------------------------------------------------------
-- Internal helpers
----------------------------------------------------------------------------------------------

CREATE FUNCTION telemetry._setting(p_key text, p_default text)
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$ SELECT coalesce((SELECT value FROM telemetry.config WHERE key = p_key), p_default) $$;

-- Delta of a cumulative counter: never negative. After a reset (or when the counter went down)
-- the end value is the work done since the reset, a lower bound for the window.
CREATE FUNCTION telemetry._d(a numeric, b numeric, was_reset boolean)
RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN a IS NULL OR b IS NULL THEN NULL
                  WHEN was_reset OR b < a THEN b
                  ELSE b - a END $$;

CREATE FUNCTION telemetry._d(a double precision, b double precision, was_reset boolean)
RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT round(CASE WHEN a IS NULL OR b IS NULL THEN NULL
                        WHEN was_reset OR b < a THEN b
                        ELSE b - a END::numeric, 3) $$;

-- Sessions that are load: active client/background work, not idle sessions and not background
-- processes idling in their main loop (wait type Activity, e.g. CheckpointerMain).
CREATE FUNCTION telemetry._is_load(p_state text, p_wait_event_type text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT (p_state IS NULL OR p_state IN ('active', 'fastpath function call'))
             AND p_wait_event_type IS DISTINCT FROM 'Activity' $$;

CREATE FUNCTION telemetry._preview(p_query text)
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$ SELECT CASE WHEN n > 0 THEN left(p_query, n) END
        FROM (SELECT telemetry._setting('query_preview_chars', '200')::int AS n) s $$;

-- Leaf relations of a tracked table, read from pg_inherits without taking locks.
CREATE FUNCTION telemetry._leaves(p_relid oid)
RETURNS TABLE (relid oid) LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  WITH RECURSIVE tree(relid) AS (
    SELECT p_relid
    UNION ALL
    SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid
  )
  SELECT t.relid FROM tree t JOIN pg_class c ON c.oid = t.relid WHERE c.relkind IN ('r', 'm', 'p', 't')
    AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = t.relid)
$$;

