----------------------------------------------------------------------------------------------
-- Sample history: window functions (start_time, end_time) and their recent_* views (last 2 hours)
----------------------------------------------------------------------------------------------

CREATE FUNCTION telemetry._waits(start_time timestamptz, end_time timestamptz)
RETURNS TABLE (captured_at timestamptz, backend_type text, wait_event_type text, wait_event text, waiters int)
LANGUAGE sql STABLE SET search_path = pg_catalog, telemetry, pg_temp
AS $$ SELECT s.captured_at, w.backend_type, w.wait_event_type, w.wait_event, w.waiters
        FROM telemetry.samples s JOIN telemetry.sample_waits w ON w.sample_id = s.id
       WHERE s.captured_at BETWEEN start_time AND end_time
       ORDER BY s.captured_at, w.waiters DESC $$;

CREATE FUNCTION telemetry._activity(start_time timestamptz, end_time timestamptz)
RETURNS TABLE (captured_at timestamptz, pid int, usename text, application_name text, client_addr inet,
               backend_type text, state text, wait_event_type text, wait_event text, xact_start timestamptz,
               query_start timestamptz, xact_duration interval, query_duration interval, query_id bigint, query_preview text)
LANGUAGE sql STABLE SET search_path = pg_catalog, telemetry, pg_temp
AS $$ SELECT s.captured_at, a.pid, a.usename, a.application_name, a.client_addr, a.backend_type, a.state,
             a.wait_event_type, a.wait_event, a.xact_start, a.query_start, s.captured_at - a.xact_start,
             s.captured_at - a.query_start, a.query_id, q.query
        FROM telemetry.samples s JOIN telemetry.sample_activity a ON a.sample_id = s.id
        LEFT JOIN telemetry.sample_queries q ON q.sample_id = a.sample_id AND q.pid = a.pid
       WHERE s.captured_at BETWEEN start_time AND end_time
       ORDER BY s.captured_at, a.xact_start $$;

CREATE FUNCTION telemetry._locks(start_time timestamptz, end_time timestamptz)
RETURNS TABLE (captured_at timestamptz, blocked_pid int, blocked_user text, blocked_application text,
               blocked_query text, wait_started_at timestamptz, blocked_duration interval, blocking_pid int,
               blocking_user text, blocking_application text, blocking_state text, blocking_query text,
               blocking_xact_duration interval, lock_type text, lock_mode text, relation text)
LANGUAGE sql STABLE SET search_path = pg_catalog, telemetry, pg_temp
AS $$ SELECT s.captured_at, l.blocked_pid, l.blocked_user, l.blocked_application, qw.query,
             l.wait_started_at, l.blocked_duration, l.blocking_pid, l.blocking_user, l.blocking_application,
             l.blocking_state, qb.query, l.blocking_xact_duration, l.lock_type, l.lock_mode, l.relation
        FROM telemetry.samples s JOIN telemetry.sample_locks l ON l.sample_id = s.id
        LEFT JOIN telemetry.sample_queries qw ON qw.sample_id = l.sample_id AND qw.pid = l.blocked_pid
        LEFT JOIN telemetry.sample_queries qb ON qb.sample_id = l.sample_id AND qb.pid = l.blocking_pid
       WHERE s.captured_at BETWEEN start_time AND end_time
       ORDER BY s.captured_at, l.blocked_duration DESC $$;

CREATE FUNCTION telemetry._progress(start_time timestamptz, end_time timestamptz)
RETURNS TABLE (captured_at timestamptz, pid int, backend_type text, datname text, command text, relation text,
               phase text, blocks_total numeric, blocks_done numeric, pct_done numeric, tuples_done numeric,
               dead_items numeric, max_dead_items numeric, dead_tuple_bytes numeric, max_dead_tuple_bytes numeric)
LANGUAGE sql STABLE SET search_path = pg_catalog, telemetry, pg_temp
AS $$ SELECT s.captured_at, p.pid, p.backend_type, p.datname, p.command, p.relation, p.phase, p.blocks_total,
             p.blocks_done, round(100.0 * p.blocks_done / nullif(p.blocks_total, 0), 1), p.tuples_done,
             p.dead_items, p.max_dead_items, p.dead_tuple_bytes, p.max_dead_tuple_bytes
        FROM telemetry.samples s JOIN telemetry.sample_progress p ON p.sample_id = s.id
       WHERE s.captured_at BETWEEN start_time AND end_time
       ORDER BY s.captured_at, p.pid $$;

CREATE FUNCTION telemetry._replication(start_time timestamptz, end_time timestamptz)
RETURNS TABLE (captured_at timestamptz, pid int, application_name text, client_addr inet, state text,
               sync_state text, write_lag interval, flush_lag interval, replay_lag interval,
               replay_lag_bytes numeric, replay_lag_pretty text)
LANGUAGE sql STABLE SET search_path = pg_catalog, telemetry, pg_temp
AS $$ SELECT s.captured_at, r.pid, r.application_name, r.client_addr, r.state, r.sync_state, r.write_lag,
             r.flush_lag, r.replay_lag, r.replay_lag_bytes, pg_size_pretty(r.replay_lag_bytes)
        FROM telemetry.samples s JOIN telemetry.sample_replication r ON r.sample_id = s.id
       WHERE s.captured_at BETWEEN start_time AND end_time
       ORDER BY s.captured_at, r.application_name $$;

CREATE VIEW telemetry.recent_waits AS
  SELECT * FROM telemetry._waits(now() - interval '2 hours', now());
CREATE VIEW telemetry.recent_activity AS
  SELECT * FROM telemetry._activity(now() - interval '2 hours', now());
CREATE VIEW telemetry.recent_locks AS
  SELECT * FROM telemetry._locks(now() - interval '2 hours', now());
CREATE VIEW telemetry.recent_progress AS
  SELECT * FROM telemetry._progress(now() - interval '2 hours', now());
CREATE VIEW telemetry.recent_replication AS
  SELECT * FROM telemetry._replication(now() - interval '2 hours', now());

-- Window twins of the recent_* views, for any window still in retention (batches are
-- diagnosed the next morning). They raise when the window holds no samples, saying why.
DO $twins$
DECLARE
  v text;
BEGIN
  FOREACH v IN ARRAY ARRAY['waits', 'activity', 'locks', 'progress', 'replication'] LOOP
    EXECUTE format($f$
      CREATE FUNCTION telemetry.%I(start_time timestamptz, end_time timestamptz)
      RETURNS SETOF telemetry.%I LANGUAGE plpgsql STABLE
      SET search_path = pg_catalog, telemetry, pg_temp
      AS $b$ BEGIN
        PERFORM telemetry._sample_window(start_time, end_time);
        RETURN QUERY SELECT * FROM telemetry.%I(start_time, end_time);
      END $b$ $f$, v || '_between', 'recent_' || v, '_' || v);
  END LOOP;
END
$twins$;

