-- The wait-event sampler's one query, the same on PostgreSQL 15-18 (ActivityQuery reads this file;
-- scripts/sampler-benchmark.sh times it). The two ? are the exporter's application names.
--
-- One pass over pg_stat_activity, no CTE or self-join: it costs about what reading the view costs
-- (see docs/sampler-benchmark.md). Rows: the sessions that count as load (is_sampled), plus the
-- sessions that may hold a lock someone waits for, so that a blocker's identity is at hand:
-- sessions idle in a transaction, the exporter's own sessions, and the startup process (on a
-- standby it holds the replayed locks while idling in an Activity wait). Not load:
--   * this session (pg_backend_pid) and the exporter's scrape sessions (by application_name);
--   * background processes idling in their main loop (wait_event_type 'Activity');
--   * idle client sessions ('idle', 'idle in transaction [(aborted)]', 'disabled').
-- Sessions in state 'idle' are not returned at all: they hold no transaction, so they can only
-- block through a session-level advisory lock, and such a blocker is classified 'other'.
-- pg_blocking_pids() is only called for sessions waiting on a heavyweight lock: it takes every
-- lock-manager partition lock, too dear to call for every session each second.
-- query_id (compute_query_id, on with pg_stat_statements loaded) attributes a batch's waits to its
-- statements: the same queryid as pg_stat_statements and the statements collector.
-- Parallel workers carry their leader's application_name, user and database, so batch rules
-- written for the leader match its workers too.
SELECT pid, backend_type, wait_event_type, wait_event, application_name,
       usename::text AS usename, datname::text AS datname, query_id::text AS query_id,
       CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END AS blocked_by,
       (wait_event_type IS DISTINCT FROM 'Activity'
        AND coalesce(state, '') NOT IN ('idle in transaction', 'idle in transaction (aborted)', 'disabled')
        AND coalesce(application_name, '') NOT IN (?, ?)) AS is_sampled
  FROM pg_stat_activity
 WHERE pid <> pg_backend_pid()
   AND (wait_event_type IS DISTINCT FROM 'Activity' OR backend_type = 'startup')
   AND state IS DISTINCT FROM 'idle'
