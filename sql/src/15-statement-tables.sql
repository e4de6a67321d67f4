----------------------------------------------------------------------------------------------
-- Statement evidence (pg_stat_statements): data tables and their settings
----------------------------------------------------------------------------------------------

INSERT INTO telemetry.config (key, value, description) VALUES
  ('statement_top_n',             '10',       'statements kept per capture by each measure (time, calls, blocks read, temp written, WAL bytes); the rest is one "all other statements" row. '
                                              '10: at most 51 rows a capture (~135 bytes each with the index), so even five disjoint top lists stay within 2 MB a day at 5-minute snapshots (docs/statements-benchmark.md)'),
  ('statement_text_bytes',        '1536',     'bytes of query text stored once per statement; 0 stores no statement texts (privacy)'),
  ('statement_text_interval',     '15 minutes', 'snapshot() reads the texts of newly kept statements at most this often (pg_stat_statements(true) copies the whole text file), but at once while a batch run is open; batch_end() reads those of its run'),
  ('plan_top_n',                  '10',       'capture_plans(): plans of this many statements of a run, by total time'),
  ('plan_lock_timeout',           '100ms',    'capture_plans(): lock_timeout while planning, so a lock held by the batch never makes it wait'),
  ('plan_statement_timeout',      '2s',       'capture_plans(): statement_timeout per EXPLAIN'),
  ('diagnose.statement_extra_seconds', '1',   'statement_regression: a statement took at least this many seconds more than in the baseline run'),
  ('diagnose.statement_share_pct', '10',      'statement_regression: ... and at least this share (%) of the run''s extra time')
ON CONFLICT (key) DO UPDATE SET description = excluded.description;   -- the value stays

-- One row per snapshot: whether statement data was captured and what makes it incomplete.
CREATE TABLE IF NOT EXISTS telemetry.statement_captures (
  snapshot_id      bigint PRIMARY KEY REFERENCES telemetry.snapshots (id) ON DELETE CASCADE,
  captured_at      timestamptz NOT NULL,
  status           text NOT NULL CHECK (status IN ('ok', 'baseline', 'unavailable', 'failed')),
  entries          int,            -- rows in pg_stat_statements at the capture
  entries_max      int,            -- pg_stat_statements.max
  kept             int,            -- statement rows stored (besides "all other statements")
  hidden           int,            -- entries whose queryid the schema owner may not see (no pg_read_all_stats)
  dealloc          numeric,        -- pg_stat_statements_info.dealloc (cumulative)
  dealloc_delta    numeric,        -- entries evicted since the previous capture (their work since then is lost)
  recreated        int,            -- entries whose counters restarted (evicted and re-created, or reset)
  stats_reset      timestamptz,    -- pg_stat_statements_info.stats_reset
  reset_in_window  boolean,        -- pg_stat_statements_reset() since the previous capture
  restarted        boolean,        -- server restarted since the previous capture
  note             text            -- what happened and how to avoid it, in words
);
-- texts_done: this capture (or the batch_end() it belongs to) stored the texts of the statements kept
-- since the previous one that did; the next read of pg_stat_statements(true) is due an interval later
ALTER TABLE telemetry.statement_captures ADD COLUMN IF NOT EXISTS texts_done boolean;
CREATE INDEX IF NOT EXISTS statement_captures_texts_done_idx ON telemetry.statement_captures (captured_at) WHERE texts_done;

-- Per-statement deltas since the previous capture: the top statements by each measure, and one
-- row with queryid NULL for all other statements, so that sums over a window stay exact.
CREATE TABLE IF NOT EXISTS telemetry.snapshot_statements (
  snapshot_id          bigint NOT NULL REFERENCES telemetry.snapshots (id) ON DELETE CASCADE,
  userid               oid,
  dbid                 oid,
  toplevel             boolean,
  queryid              bigint,      -- NULL: all other statements of this capture
  calls                bigint,
  plans                bigint,
  total_exec_time      double precision,   -- ms
  total_plan_time      double precision,   -- ms
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
  blk_read_time        double precision,   -- ms, shared + local (track_io_timing)
  blk_write_time       double precision,
  temp_blk_read_time   double precision,
  temp_blk_write_time  double precision,
  wal_records          bigint,
  wal_fpi              bigint,
  wal_bytes            numeric,
  jit_time             double precision    -- ms, generation + inlining + optimization + emission (+ deform)
);
CREATE INDEX IF NOT EXISTS snapshot_statements_snapshot_idx ON telemetry.snapshot_statements (snapshot_id);

-- The cumulative counters of every entry as of the last capture: the base of the next delta. Only
-- entries whose counters moved are rewritten (snapshot_id: the capture that last wrote the row),
-- entries gone from pg_stat_statements are removed; not history. UNLOGGED: it is only the base of
-- the next delta and needs no WAL. Crash recovery empties it, and then pg_stat_statements is empty
-- too (its counters are saved only by a clean shutdown) with a new stats_reset, so the next capture
-- counts every entry from zero and notes the restart; a clean shutdown keeps both, and the deltas
-- stay exact. A fillfactor that leaves room for each row's next version lets the rewrite of the
-- moved rows be HOT updates (no index entries, pruned without vacuum).
CREATE UNLOGGED TABLE IF NOT EXISTS telemetry.statement_last (
  userid oid NOT NULL, dbid oid NOT NULL, toplevel boolean NOT NULL, queryid bigint NOT NULL,
  calls bigint, plans bigint, total_exec_time double precision, total_plan_time double precision, rows bigint,
  shared_blks_hit bigint, shared_blks_read bigint, shared_blks_dirtied bigint, shared_blks_written bigint,
  local_blks_hit bigint, local_blks_read bigint, local_blks_dirtied bigint, local_blks_written bigint,
  temp_blks_read bigint, temp_blks_written bigint, blk_read_time double precision, blk_write_time double precision,
  temp_blk_read_time double precision, temp_blk_write_time double precision, wal_records bigint, wal_fpi bigint,
  wal_bytes numeric, jit_time double precision, stats_since timestamptz, snapshot_id bigint NOT NULL,
  PRIMARY KEY (userid, dbid, toplevel, queryid)
) WITH (fillfactor = 50);
DO $unlogged$
BEGIN   -- installs before the base was unlogged
  IF (SELECT relpersistence FROM pg_class WHERE oid = 'telemetry.statement_last'::regclass) = 'p' THEN
    ALTER TABLE telemetry.statement_last SET UNLOGGED;
  END IF;
END
$unlogged$;
ALTER TABLE telemetry.statement_last SET (fillfactor = 50);

-- Query text, once per statement, capped at statement_text_bytes. userid is the role that ran it:
-- a reader sees the text only where PostgreSQL would show it (same role, or pg_read_all_stats).
CREATE TABLE IF NOT EXISTS telemetry.statement_texts (
  userid      oid NOT NULL,
  dbid        oid NOT NULL,
  queryid     bigint NOT NULL,
  query       text,
  query_bytes int,                -- length of the full text; more than stored means it was cut
  first_seen  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (userid, dbid, queryid)
);

-- Plans of a run's top statements (capture_plans()): generic plans, never with ANALYZE. userid
-- as in statement_texts: a plan shows the statement's shape and is visible under the same rule.
CREATE TABLE IF NOT EXISTS telemetry.statement_plans (
  run_id       bigint NOT NULL REFERENCES telemetry.runs (run_id) ON DELETE CASCADE,
  userid       oid NOT NULL,
  dbid         oid NOT NULL,
  queryid      bigint NOT NULL,
  captured_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  captured_by  text NOT NULL DEFAULT current_user,
  status       text NOT NULL CHECK (status IN ('captured', 'skipped', 'failed')),
  reason       text,             -- why skipped or failed
  plan         jsonb,            -- EXPLAIN (FORMAT JSON)
  shape        text,             -- one line: node types, relations and indexes in plan order
  fingerprint  text,             -- md5 of the shape: changes only when the plan does
  PRIMARY KEY (run_id, userid, dbid, queryid)
);
