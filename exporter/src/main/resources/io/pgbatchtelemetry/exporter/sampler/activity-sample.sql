-- The wait-event sampler's one query, the same on PostgreSQL 15-18 (ActivityQuery reads this file;
-- scripts/sampler-benchmark.sh times it). The two ? are the exporter's application names.
--
-- Rows: every session that counts as load (is_sampled), plus the sessions that block one of them
-- (is_sampled false), whose identity names the blocker's class. Not load, and left out:
--   * this session (pg_backend_pid) and the exporter's scrape sessions (by application_name);
--   * background processes idling in their main loop (wait_event_type 'Activity');
--   * idle client sessions ('idle', 'idle in transaction [(aborted)]', 'disabled').
-- pg_blocking_pids() is only called for sessions waiting on a heavyweight lock: it takes every
-- lock-manager partition lock, too dear to call for every session each second.
-- Parallel workers carry their leader's application_name, user and database, so batch rules
-- written for the leader also match its workers.
WITH activity AS MATERIALIZED (
    SELECT pid, leader_pid, backend_type, state, wait_event_type, wait_event,
           application_name, usename, datname,
           CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END AS blocked_by
      FROM pg_stat_activity
     WHERE pid <> pg_backend_pid()
), sampled AS MATERIALIZED (
    SELECT a.*,
           (wait_event_type IS DISTINCT FROM 'Activity'
            AND coalesce(state, '') NOT IN ('idle', 'idle in transaction', 'idle in transaction (aborted)', 'disabled')
            AND coalesce(application_name, '') NOT IN (?, ?)) AS is_sampled
      FROM activity a
)
SELECT s.pid, s.backend_type, s.wait_event_type, s.wait_event, s.is_sampled, s.blocked_by,
       coalesce(l.application_name, s.application_name) AS application_name,
       coalesce(l.usename, s.usename)::text AS usename,
       coalesce(l.datname, s.datname)::text AS datname
  FROM sampled s
  LEFT JOIN activity l ON l.pid = s.leader_pid
 WHERE s.is_sampled
    OR s.pid IN (SELECT unnest(blocked_by) FROM sampled WHERE is_sampled)
