-- pg-batch-telemetry: the `telemetry` schema (PostgreSQL 15, 16, 17, 18).
--
--   psql -v ON_ERROR_STOP=1 -d <db> -f sql/install.sql
--
-- Re-running this script over an existing install upgrades it in place: data tables are
-- created only if missing (new columns are added with ADD COLUMN IF NOT EXISTS), while all
-- code (functions, views, types) is dropped and recreated, so the code always matches this file.
-- See docs/telemetry-schema.md for the API, the privileges and the diagnose() thresholds.
--
-- Built from sql/src/*.sql (in file-name order) by sql/build.sh: edit those files, then run it.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DO $pre$
BEGIN
  IF current_setting('server_version_num')::int < 150000 THEN
    RAISE EXCEPTION 'pg-batch-telemetry needs PostgreSQL 15 or newer (this is %)', current_setting('server_version');
  END IF;
END
$pre$;

BEGIN;

CREATE SCHEMA IF NOT EXISTS telemetry;
REVOKE ALL ON SCHEMA telemetry FROM PUBLIC;

-- Roles: readers query history; writers may also collect and mark batch runs.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'telemetry_reader') THEN
    CREATE ROLE telemetry_reader NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'telemetry_writer') THEN
    CREATE ROLE telemetry_writer NOLOGIN;
  END IF;
  GRANT telemetry_reader TO telemetry_writer;
  -- monitoring accounts (pg_monitor) can read the history without further grants
  GRANT telemetry_reader TO pg_monitor;
END
$roles$;

-- Drop every piece of code (never data) so that this file is the single definition.
DO $dropcode$
DECLARE
  v text;
BEGIN
  -- names are collected first: a CASCADE below may already have dropped a later object
  FOREACH v IN ARRAY coalesce((SELECT array_agg(format('%I.%I', 'telemetry', c.relname)) FROM pg_class c
                                WHERE c.relnamespace = 'telemetry'::regnamespace AND c.relkind = 'v'), '{}') LOOP
    EXECUTE format('DROP VIEW IF EXISTS %s CASCADE', v);
  END LOOP;
  FOREACH v IN ARRAY coalesce((SELECT array_agg(format('%s %s', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                                                       p.oid::regprocedure)) FROM pg_proc p
                                WHERE p.pronamespace = 'telemetry'::regnamespace), '{}') LOOP
    EXECUTE format('DROP %s CASCADE', regexp_replace(v, '^(FUNCTION|PROCEDURE) ', '\1 IF EXISTS '));
  END LOOP;
  FOREACH v IN ARRAY coalesce((SELECT array_agg(format('%I.%I', 'telemetry', t.typname)) FROM pg_type t
                                WHERE t.typnamespace = 'telemetry'::regnamespace AND t.typtype = 'c'
                                  AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c')), '{}') LOOP
    EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', v);
  END LOOP;
END
$dropcode$;

----------------------------------------------------------------------------------------------
-- Data tables (kept across re-installs)
----------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS telemetry.config (
  key         text PRIMARY KEY,
  value       text NOT NULL,
  description text
);

-- Defaults; a re-install never overwrites a value the user changed (descriptions follow this file).
INSERT INTO telemetry.config (key, value, description) VALUES
  ('schema_version',              '1',        'version of this schema''s data layout'),
  ('query_preview_chars',         '200',      'characters of query text kept per session/lock row; 0 switches previews off'),
  ('sample_top_sessions',         '25',       'at most this many non-idle sessions are stored per sample'),
  ('part_lock_timeout',           '200ms',    'lock_timeout for table sizes in snapshot(), for a lock that arrives after its pg_locks check'),
  ('cleanup_batch_rows',          '5000',     'cleanup deletes samples/snapshots in batches of this many parent rows (cleanup_in_batches() commits after each)'),
  ('cron_history_retain',         '1 day',    'cleanup() purges pg_cron run history of telemetry jobs older than this'),
  ('diagnose.lock_wait_seconds',  '1',        'lock_contention: a blocked session waited at least this long'),
  ('diagnose.backend_writes',     '1024',     'buffer_wal_pressure: client backends wrote at least this many buffers themselves'),
  ('diagnose.requested_checkpoints','1',      'checkpoint_interference: at least this many requested (forced) checkpoints'),
  ('diagnose.checkpoint_sync_ms', '10000',    'checkpoint_interference: checkpoint fsync time at least this many ms'),
  ('diagnose.autovacuum_runs',    '1',        'autovacuum_interference: autovacuum/autoanalyze runs on tracked tables'),
  ('diagnose.temp_bytes',         '33554432', 'temp_file_spills: temp bytes written in the window (32 MB)'),
  ('diagnose.replay_lag_bytes',   '16777216', 'replication_lag: replay lag of a replica in bytes (16 MB)'),
  ('diagnose.replay_lag_seconds', '10',       'replication_lag: replay lag of a replica in seconds')
ON CONFLICT (key) DO UPDATE SET description = excluded.description;   -- the value stays

CREATE TABLE IF NOT EXISTS telemetry.tracked_tables (
  relid       oid PRIMARY KEY,
  schemaname  text NOT NULL,             -- name when tracked / last seen (display after a DROP)
  relname     text NOT NULL,
  tracked_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS telemetry.snapshots (
  id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  captured_at               timestamptz NOT NULL DEFAULT now(),
  server_version_num        int,
  in_recovery               boolean,
  postmaster_start_time     timestamptz,
  track_io_timing           boolean,
  track_wal_io_timing       boolean,
  wal_lsn                   pg_lsn,
  wal_records               numeric,
  wal_fpi                   numeric,
  wal_bytes                 numeric,
  wal_buffers_full          numeric,
  wal_write                 numeric,
  wal_sync                  numeric,
  wal_write_time            double precision,
  wal_sync_time             double precision,
  wal_stats_reset           timestamptz,
  last_checkpoint_time      timestamptz,
  ckpt_timed                numeric,
  ckpt_requested            numeric,
  ckpt_done                 numeric,
  ckpt_write_time           double precision,
  ckpt_sync_time            double precision,
  ckpt_buffers_written      numeric,
  ckpt_stats_reset          timestamptz,
  bgw_buffers_clean         numeric,
  bgw_maxwritten_clean      numeric,
  bgw_buffers_alloc         numeric,
  bgw_buffers_backend       numeric,
  bgw_buffers_backend_fsync numeric,
  bgw_stats_reset           timestamptz,
  temp_files                numeric,
  temp_bytes                numeric,
  xact_commit               numeric,
  xact_rollback             numeric,
  blks_read                 numeric,
  blks_hit                  numeric,
  deadlocks                 numeric,
  db_stats_reset            timestamptz,
  slot_count                int,
  slot_max_retained_bytes   numeric,
  io_checkpointer_reads numeric, io_checkpointer_read_time double precision, io_checkpointer_writes numeric,
  io_checkpointer_write_time double precision, io_checkpointer_extends numeric, io_checkpointer_fsyncs numeric,
  io_autovacuum_reads numeric, io_autovacuum_read_time double precision, io_autovacuum_writes numeric,
  io_autovacuum_write_time double precision, io_autovacuum_extends numeric, io_autovacuum_fsyncs numeric,
  io_client_reads numeric, io_client_read_time double precision, io_client_writes numeric,
  io_client_write_time double precision, io_client_extends numeric, io_client_fsyncs numeric,
  io_client_normal_writes   numeric,
  io_bgwriter_reads numeric, io_bgwriter_read_time double precision, io_bgwriter_writes numeric,
  io_bgwriter_write_time double precision, io_bgwriter_extends numeric, io_bgwriter_fsyncs numeric,
  io_stats_reset            timestamptz,
  errors                    text[]
);
CREATE INDEX IF NOT EXISTS snapshots_captured_at_idx ON telemetry.snapshots (captured_at);

CREATE TABLE IF NOT EXISTS telemetry.snapshot_tables (
  snapshot_id        bigint NOT NULL REFERENCES telemetry.snapshots (id) ON DELETE CASCADE,
  relid              oid NOT NULL,
  schemaname         text,
  relname            text,
  partitions         int,
  total_bytes        numeric,
  size_exact         boolean,
  n_live_tup         numeric,
  n_dead_tup         numeric,
  n_tup_ins          numeric,
  n_tup_upd          numeric,
  n_tup_del          numeric,
  n_tup_hot_upd      numeric,
  seq_scan           numeric,
  idx_scan           numeric,
  vacuum_count       numeric,
  autovacuum_count   numeric,
  analyze_count      numeric,
  autoanalyze_count  numeric,
  last_vacuum        timestamptz,
  last_autovacuum    timestamptz,
  last_analyze       timestamptz,
  last_autoanalyze   timestamptz,
  error              text,
  PRIMARY KEY (snapshot_id, relid)
);
CREATE INDEX IF NOT EXISTS snapshot_tables_relid_idx ON telemetry.snapshot_tables (relid, snapshot_id);

CREATE TABLE IF NOT EXISTS telemetry.snapshot_replication (
  snapshot_id       bigint NOT NULL REFERENCES telemetry.snapshots (id) ON DELETE CASCADE,
  pid               int,
  application_name  text,
  client_addr       inet,
  state             text,
  sync_state        text,
  sent_lsn          pg_lsn,
  replay_lsn        pg_lsn,
  write_lag         interval,
  flush_lag         interval,
  replay_lag        interval,
  replay_lag_bytes  numeric
);
CREATE INDEX IF NOT EXISTS snapshot_replication_snapshot_idx ON telemetry.snapshot_replication (snapshot_id);

CREATE TABLE IF NOT EXISTS telemetry.samples (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  captured_at       timestamptz NOT NULL DEFAULT now(),
  active_sessions   int,
  idle_in_xact      int,
  blocked_sessions  int,
  total_backends    int
);
CREATE INDEX IF NOT EXISTS samples_captured_at_idx ON telemetry.samples (captured_at);

CREATE TABLE IF NOT EXISTS telemetry.sample_waits (
  sample_id        bigint NOT NULL REFERENCES telemetry.samples (id) ON DELETE CASCADE,
  backend_type     text,
  wait_event_type  text,
  wait_event       text,
  waiters          int NOT NULL
);
CREATE INDEX IF NOT EXISTS sample_waits_sample_idx ON telemetry.sample_waits (sample_id);

CREATE TABLE IF NOT EXISTS telemetry.sample_activity (
  sample_id        bigint NOT NULL REFERENCES telemetry.samples (id) ON DELETE CASCADE,
  pid              int,
  usename          text,
  application_name text,
  client_addr      inet,
  backend_type     text,
  state            text,
  wait_event_type  text,
  wait_event       text,
  backend_start    timestamptz,
  xact_start       timestamptz,
  query_start      timestamptz,
  state_change     timestamptz,
  query_id         bigint
);
CREATE INDEX IF NOT EXISTS sample_activity_sample_idx ON telemetry.sample_activity (sample_id);

CREATE TABLE IF NOT EXISTS telemetry.sample_locks (
  sample_id          bigint NOT NULL REFERENCES telemetry.samples (id) ON DELETE CASCADE,
  blocked_pid        int,
  blocked_user       text,
  blocked_application text,
  wait_started_at    timestamptz,
  blocked_duration   interval,
  blocking_pid       int,
  blocking_user      text,
  blocking_application text,
  blocking_state     text,
  blocking_xact_duration interval,
  lock_type          text,
  lock_mode          text,
  relation           text
);
CREATE INDEX IF NOT EXISTS sample_locks_sample_idx ON telemetry.sample_locks (sample_id);

-- Query text of the sessions in a sample (sample_activity, and both sides of sample_locks), apart from
-- the rows about them: only who PostgreSQL would show it to may read it (row-level security, see
-- 15-security.sql), while the rest of a sample stays readable to every telemetry_reader.
CREATE TABLE IF NOT EXISTS telemetry.sample_queries (
  sample_id        bigint NOT NULL REFERENCES telemetry.samples (id) ON DELETE CASCADE,
  pid              int NOT NULL,
  role_oid         oid,                  -- the session's role (pg_stat_activity.usesysid)
  query            text NOT NULL,
  PRIMARY KEY (sample_id, pid)
);

CREATE TABLE IF NOT EXISTS telemetry.sample_progress (
  sample_id          bigint NOT NULL REFERENCES telemetry.samples (id) ON DELETE CASCADE,
  pid                int,
  backend_type       text,
  datname            text,
  command            text,
  relid              oid,
  relation           text,
  phase              text,
  blocks_total       numeric,
  blocks_done        numeric,
  tuples_done        numeric,
  dead_items         numeric,
  max_dead_items     numeric,
  dead_tuple_bytes   numeric,
  max_dead_tuple_bytes numeric
);
CREATE INDEX IF NOT EXISTS sample_progress_sample_idx ON telemetry.sample_progress (sample_id);

CREATE TABLE IF NOT EXISTS telemetry.sample_replication (
  sample_id         bigint NOT NULL REFERENCES telemetry.samples (id) ON DELETE CASCADE,
  pid               int,
  application_name  text,
  client_addr       inet,
  state             text,
  sync_state        text,
  write_lag         interval,
  flush_lag         interval,
  replay_lag        interval,
  replay_lag_bytes  numeric
);
CREATE INDEX IF NOT EXISTS sample_replication_sample_idx ON telemetry.sample_replication (sample_id);

CREATE TABLE IF NOT EXISTS telemetry.runs (
  run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL,
  state       text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'succeeded', 'failed')),
  started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  ended_at    timestamptz,
  started_by  text DEFAULT current_user,
  pid         int DEFAULT pg_backend_pid(),
  source      text NOT NULL DEFAULT 'batch_start'   -- 'batch_start' or 'rule:<application_name pattern>'
);
CREATE INDEX IF NOT EXISTS runs_name_started_idx ON telemetry.runs (name, started_at);

-- Runs started and finished per run name, kept by a trigger on telemetry.runs. cleanup() deletes
-- old runs, so a count of telemetry.runs goes down now and then; these totals only grow, which is
-- what a Prometheus counter needs (the exporter's pg_telemetry_batch_runs_total reads them).
CREATE TABLE IF NOT EXISTS telemetry.run_totals (
  name       text PRIMARY KEY,
  started    bigint NOT NULL DEFAULT 0,
  succeeded  bigint NOT NULL DEFAULT 0,
  failed     bigint NOT NULL DEFAULT 0
);

-- application_name rules: sample() opens a run when a session whose application_name matches
-- app_pattern (LIKE) becomes active, and closes it once no such session is left.
CREATE TABLE IF NOT EXISTS telemetry.run_rules (
  app_pattern text PRIMARY KEY,
  run_name    text NOT NULL
);

----------------------------------------------------------------------------------------------
-- Batch-run fidelity: what the batch session ran with, which runs make a baseline, where each
-- sample came from, and the closing snapshot taken after the batch session flushed its statistics
----------------------------------------------------------------------------------------------

-- A run marked as not representative (a run during an outage, a one-off reload) stays in the
-- history but is never part of another run's baseline (telemetry.exclude_from_baseline()).
ALTER TABLE telemetry.runs ADD COLUMN IF NOT EXISTS baseline_excluded boolean NOT NULL DEFAULT false;
-- batch_end(): the session that ended the run, and the snapshot taken once that session left the
-- transaction (PostgreSQL flushes a session's statistics then, at most once a second otherwise).
ALTER TABLE telemetry.runs ADD COLUMN IF NOT EXISTS end_pid int;
ALTER TABLE telemetry.runs ADD COLUMN IF NOT EXISTS stats_snapshot_id bigint;   -- no FK: cleanup() and TRUNCATE of snapshots stay free
CREATE INDEX IF NOT EXISTS runs_open_idx ON telemetry.runs (started_at) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS runs_unsettled_idx ON telemetry.runs (ended_at)
  WHERE end_pid IS NOT NULL AND stats_snapshot_id IS NULL;

-- Who took a sample and how often that source samples: 'sample()' (the pg_cron job or a manual
-- call), 'batch_start'/'batch_end', 'pg_cron' (every second while a run is open, pg_cron 1.5+) or
-- 'exporter' (the exporter's sampler while a run is open). diagnose() states its coverage from it.
ALTER TABLE telemetry.samples ADD COLUMN IF NOT EXISTS source text;
ALTER TABLE telemetry.samples ADD COLUMN IF NOT EXISTS interval_s numeric;

-- The batch session's own settings, recorded by batch_start() in that session: a SET work_mem in
-- the batch is visible only there, and the evidence must describe the batch, not whoever asks.
CREATE TABLE IF NOT EXISTS telemetry.run_settings (
  run_id   bigint NOT NULL REFERENCES telemetry.runs ON DELETE CASCADE,
  name     text NOT NULL,
  setting  text,
  unit     text,
  source   text,
  PRIMARY KEY (run_id, name)
);

INSERT INTO telemetry.config (key, value, description) VALUES
  ('baseline_runs',               '5',          'a run''s baseline: at most this many previous succeeded runs of the same name'),
  ('baseline_min_runs',           '3',          'a baseline counts as "usual" only with at least this many runs'),
  ('run_sample_max_age',          '12 hours',   'runs open longer than this are not sampled every second any more (a run left open by a crashed batch)'),
  ('run_stats_settle_window',     '60 seconds', 'the closing snapshot of a run is re-taken after its session flushed its statistics, if that happens within this time'),
  ('diagnose.backend_writes_per_second', '256', 'buffer_wal_pressure, rate form: client backend buffer writes per second of the window'),
  ('diagnose.temp_bytes_per_second', '8388608', 'temp_file_spills, rate form: temp bytes per second of the window (8 MB/s)'),
  ('diagnose.checkpoint_sync_ms_per_second', '100', 'checkpoint_interference, rate form: checkpoint fsync ms per second of the window (10% of the time)')
ON CONFLICT (key) DO UPDATE SET description = excluded.description;
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

----------------------------------------------------------------------------------------------
-- Version-specific reads
----------------------------------------------------------------------------------------------

-- The per-version texts live once, in sql/src/reads/<part>.<first major>.sql, shared with the
-- exporter (which loads the same files from its classpath); sql/build.sh writes them here as
-- telemetry._read(). Both sides select the columns they need by name.
-- Generated by sql/build.sh from sql/src/reads/*.sql (shared with the exporter): edit those files.
-- The text of the read of p_part for server version p_version (server_version_num), NULL where
-- there is none (pg_stat_io before 16). Every version of a part returns the same named columns.
CREATE FUNCTION telemetry._read(p_part text, p_version int DEFAULT current_setting('server_version_num')::int)
RETURNS text LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  IF p_part = 'bgwriter' AND p_version >= 170000 THEN RETURN $read$-- Background writer and the buffers backends wrote themselves, PostgreSQL 17+: buffers_backend and
-- buffers_backend_fsync left pg_stat_bgwriter. PG16 counted them for every process but the
-- checkpointer and the background writer (client backends, autovacuum, background and parallel
-- workers, walsenders, startup), in every buffer-access context, for permanent relations only
-- (temporary relations never ask the checkpointer to sync): pg_stat_io's object 'relation' rows of
-- every other backend type, summed over contexts, are that quantity. (PG16 also counted one per
-- relation extension call; pg_stat_io counts extended blocks apart, in extends.)
-- columns: buffers_clean, maxwritten_clean, buffers_alloc, buffers_backend, buffers_backend_fsync, stats_reset
SELECT b.buffers_clean, b.maxwritten_clean, b.buffers_alloc,
       io.writes AS buffers_backend, io.fsyncs AS buffers_backend_fsync, b.stats_reset
  FROM pg_stat_bgwriter b,
       (SELECT sum(writes) AS writes, sum(fsyncs) AS fsyncs
          FROM pg_stat_io
         WHERE object = 'relation' AND backend_type NOT IN ('checkpointer', 'background writer')) io$read$; END IF;
  IF p_part = 'bgwriter' AND p_version >= 150000 THEN RETURN $read$-- Background writer and the buffers backends wrote themselves, PostgreSQL 15-16: pg_stat_bgwriter.
-- columns: buffers_clean, maxwritten_clean, buffers_alloc, buffers_backend, buffers_backend_fsync, stats_reset
SELECT b.buffers_clean, b.maxwritten_clean, b.buffers_alloc,
       b.buffers_backend, b.buffers_backend_fsync, b.stats_reset
  FROM pg_stat_bgwriter b$read$; END IF;
  IF p_part = 'checkpointer' AND p_version >= 180000 THEN RETURN $read$-- Checkpoints, PostgreSQL 18+: pg_stat_checkpointer with num_done (checkpoints completed, as
-- opposed to requested ones skipped because nothing had changed).
-- columns: timed, requested, done (18+), write_time, sync_time (ms), buffers_written,
--          stats_reset (of these counters), checkpointer_stats_reset (pg_stat_checkpointer's, 17+)
SELECT k.num_timed AS timed, k.num_requested AS requested, k.num_done AS done,
       k.write_time, k.sync_time, k.buffers_written,
       k.stats_reset, k.stats_reset AS checkpointer_stats_reset
  FROM pg_stat_checkpointer k$read$; END IF;
  IF p_part = 'checkpointer' AND p_version >= 170000 THEN RETURN $read$-- Checkpoints, PostgreSQL 17: pg_stat_checkpointer.
-- columns: timed, requested, done (18+), write_time, sync_time (ms), buffers_written,
--          stats_reset (of these counters), checkpointer_stats_reset (pg_stat_checkpointer's, 17+)
SELECT k.num_timed AS timed, k.num_requested AS requested, NULL::bigint AS done,
       k.write_time, k.sync_time, k.buffers_written,
       k.stats_reset, k.stats_reset AS checkpointer_stats_reset
  FROM pg_stat_checkpointer k$read$; END IF;
  IF p_part = 'checkpointer' AND p_version >= 150000 THEN RETURN $read$-- Checkpoints, PostgreSQL 15-16: in pg_stat_bgwriter (whose reset also resets them).
-- columns: timed, requested, done (18+), write_time, sync_time (ms), buffers_written,
--          stats_reset (of these counters), checkpointer_stats_reset (pg_stat_checkpointer's, 17+)
SELECT b.checkpoints_timed AS timed, b.checkpoints_req AS requested, NULL::bigint AS done,
       b.checkpoint_write_time AS write_time, b.checkpoint_sync_time AS sync_time,
       b.buffers_checkpoint AS buffers_written,
       b.stats_reset, NULL::timestamptz AS checkpointer_stats_reset
  FROM pg_stat_bgwriter b$read$; END IF;
  IF p_part = 'database' AND p_version >= 150000 THEN RETURN $read$-- Per-database activity, the same columns on PostgreSQL 15+: the databases of pg_database that are
-- not templates (no batch runs there); the row of the shared catalogs (datid 0, no database) is left
-- out. Server-wide totals are the sums of these rows.
-- columns: datname, numbackends, xact_commit, xact_rollback, blks_read, blks_hit, tup_returned, tup_fetched,
--          tup_inserted, tup_updated, tup_deleted, conflicts, temp_files, temp_bytes, deadlocks,
--          blk_read_time, blk_write_time (ms), stats_reset
SELECT d.datname, s.numbackends, s.xact_commit, s.xact_rollback, s.blks_read, s.blks_hit,
       s.tup_returned, s.tup_fetched, s.tup_inserted, s.tup_updated, s.tup_deleted,
       s.conflicts, s.temp_files, s.temp_bytes, s.deadlocks, s.blk_read_time, s.blk_write_time, s.stats_reset
  FROM pg_database d
  JOIN pg_stat_database s ON s.datid = d.oid
 WHERE NOT d.datistemplate$read$; END IF;
  IF p_part = 'io' AND p_version >= 180000 THEN RETURN $read$-- I/O by backend type, object and context, PostgreSQL 18+: pg_stat_io with byte columns (op_bytes
-- dropped) and object 'wal' rows.
-- columns: backend_type, object, context, reads, writes, writebacks, extends, hits, evictions, reuses, fsyncs,
--          read_time, write_time, writeback_time, extend_time, fsync_time (ms), read_bytes, write_bytes, extend_bytes, stats_reset
SELECT backend_type, object, context,
       reads, writes, writebacks, extends, hits, evictions, reuses, fsyncs,
       read_time, write_time, writeback_time, extend_time, fsync_time,
       read_bytes, write_bytes, extend_bytes,
       stats_reset
  FROM pg_stat_io$read$; END IF;
  IF p_part = 'io' AND p_version >= 160000 THEN RETURN $read$-- I/O by backend type, object and context, PostgreSQL 16-17: pg_stat_io, bytes from op_bytes.
-- columns: backend_type, object, context, reads, writes, writebacks, extends, hits, evictions, reuses, fsyncs,
--          read_time, write_time, writeback_time, extend_time, fsync_time (ms), read_bytes, write_bytes, extend_bytes, stats_reset
SELECT backend_type, object, context,
       reads, writes, writebacks, extends, hits, evictions, reuses, fsyncs,
       read_time, write_time, writeback_time, extend_time, fsync_time,
       reads * op_bytes AS read_bytes, writes * op_bytes AS write_bytes, extends * op_bytes AS extend_bytes,
       stats_reset
  FROM pg_stat_io$read$; END IF;
  IF p_part = 'replication' AND p_version >= 150000 THEN RETURN $read$-- Replicas streaming from this server and how far behind they are, the same on PostgreSQL 15+. The
-- lag in bytes is measured from the newest WAL this server has: written, on a primary; received or
-- replayed, on a standby feeding cascading replicas (where pg_current_wal_lsn() fails).
-- columns: pid, application_name, client_addr, state, sync_state, sent_lsn, write_lsn, flush_lsn, replay_lsn,
--          write_lag, flush_lag, replay_lag (intervals), sent_lag_bytes, write_lag_bytes, flush_lag_bytes, replay_lag_bytes
SELECT r.pid, r.application_name, r.client_addr, r.state, r.sync_state,
       r.sent_lsn, r.write_lsn, r.flush_lsn, r.replay_lsn, r.write_lag, r.flush_lag, r.replay_lag,
       p.newest - r.sent_lsn AS sent_lag_bytes, p.newest - r.write_lsn AS write_lag_bytes,
       p.newest - r.flush_lsn AS flush_lag_bytes, p.newest - r.replay_lsn AS replay_lag_bytes
  FROM pg_stat_replication r,
       (SELECT CASE WHEN pg_is_in_recovery() THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                    ELSE pg_current_wal_lsn() END AS newest) p$read$; END IF;
  IF p_part = 'slots' AND p_version >= 150000 THEN RETURN $read$-- Replication slots and the WAL each keeps, the same on PostgreSQL 15+, measured from the newest WAL
-- this server has (as for replicas: written on a primary, received or replayed on a standby).
-- columns: slot_name, slot_type, active, safe_wal_size, restart_lsn, retained_bytes
SELECT s.slot_name, s.slot_type, s.active, s.safe_wal_size, s.restart_lsn,
       p.newest - s.restart_lsn AS retained_bytes
  FROM pg_replication_slots s,
       (SELECT CASE WHEN pg_is_in_recovery() THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                    ELSE pg_current_wal_lsn() END AS newest) p$read$; END IF;
  IF p_part = 'vacuum_progress' AND p_version >= 170000 THEN RETURN $read$-- VACUUM in progress, PostgreSQL 17+: the dead-tuple columns became num_dead_item_ids and
-- dead_tuple_bytes/max_dead_tuple_bytes (memory, not a tuple count).
-- columns: pid, backend_type, datname, command, relid, phase, blocks_total, blocks_done, tuples_done,
--          dead_items, max_dead_items, dead_tuple_bytes, max_dead_tuple_bytes
SELECT p.pid, a.backend_type, p.datname, 'VACUUM'::text AS command, p.relid, p.phase,
       p.heap_blks_total AS blocks_total, p.heap_blks_scanned AS blocks_done, NULL::bigint AS tuples_done,
       p.num_dead_item_ids AS dead_items, NULL::bigint AS max_dead_items,
       p.dead_tuple_bytes, p.max_dead_tuple_bytes
  FROM pg_stat_progress_vacuum p LEFT JOIN pg_stat_activity a USING (pid)$read$; END IF;
  IF p_part = 'vacuum_progress' AND p_version >= 150000 THEN RETURN $read$-- VACUUM in progress, PostgreSQL 15-16: dead tuples counted (num_dead_tuples/max_dead_tuples).
-- columns: pid, backend_type, datname, command, relid, phase, blocks_total, blocks_done, tuples_done,
--          dead_items, max_dead_items, dead_tuple_bytes, max_dead_tuple_bytes
SELECT p.pid, a.backend_type, p.datname, 'VACUUM'::text AS command, p.relid, p.phase,
       p.heap_blks_total AS blocks_total, p.heap_blks_scanned AS blocks_done, NULL::bigint AS tuples_done,
       p.num_dead_tuples AS dead_items, p.max_dead_tuples AS max_dead_items,
       NULL::bigint AS dead_tuple_bytes, NULL::bigint AS max_dead_tuple_bytes
  FROM pg_stat_progress_vacuum p LEFT JOIN pg_stat_activity a USING (pid)$read$; END IF;
  IF p_part = 'wal' AND p_version >= 180000 THEN RETURN $read$-- WAL generation and WAL I/O, PostgreSQL 18+: pg_stat_wal lost wal_write/wal_sync and their times;
-- they are pg_stat_io's object 'wal' rows of context 'normal' (XLogWrite() and issue_xlog_fsync(),
-- what PG17's columns counted). Context 'init' (zero-filling new WAL segments) was never in them.
-- columns: wal_records, wal_fpi, wal_bytes, wal_buffers_full, wal_write, wal_sync, wal_write_time, wal_sync_time (ms), stats_reset
SELECT w.wal_records, w.wal_fpi, w.wal_bytes, w.wal_buffers_full,
       io.writes AS wal_write, io.fsyncs AS wal_sync, io.write_time AS wal_write_time,
       io.fsync_time AS wal_sync_time, w.stats_reset
  FROM pg_stat_wal w,
       (SELECT sum(writes) AS writes, sum(fsyncs) AS fsyncs, sum(write_time) AS write_time, sum(fsync_time) AS fsync_time
          FROM pg_stat_io
         WHERE object = 'wal' AND context = 'normal') io$read$; END IF;
  IF p_part = 'wal' AND p_version >= 150000 THEN RETURN $read$-- WAL generation and WAL I/O, PostgreSQL 15-17: all in pg_stat_wal.
-- columns: wal_records, wal_fpi, wal_bytes, wal_buffers_full, wal_write, wal_sync, wal_write_time, wal_sync_time (ms), stats_reset
SELECT w.wal_records, w.wal_fpi, w.wal_bytes, w.wal_buffers_full,
       w.wal_write, w.wal_sync, w.wal_write_time, w.wal_sync_time, w.stats_reset
  FROM pg_stat_wal w$read$; END IF;
  RETURN NULL;
END
$fn$;

-- The one place snapshot()/sample() get their version-specific statements from, as columns in the
-- order they read them INTO; they run the text with EXECUTE.
CREATE FUNCTION telemetry.version_sql(p_part text, p_version int DEFAULT current_setting('server_version_num')::int)
RETURNS text LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  CASE p_part
  WHEN 'wal' THEN
    RETURN 'SELECT r.wal_records::numeric, r.wal_fpi::numeric, r.wal_bytes, r.wal_buffers_full::numeric, '
        || 'r.wal_write::numeric, r.wal_sync::numeric, r.wal_write_time, r.wal_sync_time, r.stats_reset FROM ('
        || telemetry._read('wal', p_version) || ') r';
  WHEN 'checkpointer' THEN
    RETURN 'SELECT r.timed::numeric, r.requested::numeric, r.done::numeric, r.write_time, r.sync_time, '
        || 'r.buffers_written::numeric, r.stats_reset FROM ('
        || telemetry._read('checkpointer', p_version) || ') r';
  WHEN 'bgwriter' THEN
    RETURN 'SELECT r.buffers_clean::numeric, r.maxwritten_clean::numeric, r.buffers_alloc::numeric, '
        || 'r.buffers_backend::numeric, r.buffers_backend_fsync::numeric, r.stats_reset FROM ('
        || telemetry._read('bgwriter', p_version) || ') r';
  WHEN 'database' THEN
    RETURN 'SELECT sum(r.temp_files), sum(r.temp_bytes), sum(r.xact_commit), sum(r.xact_rollback), sum(r.blks_read), '
        || 'sum(r.blks_hit), sum(r.deadlocks), max(r.stats_reset) FROM ('
        || telemetry._read('database', p_version) || ') r';
  WHEN 'io' THEN
    IF telemetry._read('io', p_version) IS NULL THEN
      RETURN NULL;   -- pg_stat_io exists from PG16
    END IF;
    -- relation I/O (shared and temporary buffers) by the backend types the diagnosis tells apart
    RETURN (
      SELECT 'SELECT ' || string_agg(format('sum(%s) FILTER (WHERE backend_type = %L)::%s AS %I',
                                            m.col, b.bt, m.typ, 'io_' || b.short || '_' || m.col),
                                     ', ' ORDER BY b.ord, m.ord)
             || ', sum(writes) FILTER (WHERE backend_type = ''client backend'' AND context = ''normal'')::numeric'
             || ', max(stats_reset) FROM (' || telemetry._read('io', p_version) || ') io'
             || ' WHERE object IN (''relation'', ''temp relation'')'
        FROM (VALUES (1, 'checkpointer', 'checkpointer'), (2, 'autovacuum', 'autovacuum worker'),
                     (3, 'client', 'client backend'), (4, 'bgwriter', 'background writer')) AS b(ord, short, bt),
             (VALUES (1, 'reads', 'numeric'), (2, 'read_time', 'double precision'), (3, 'writes', 'numeric'),
                     (4, 'write_time', 'double precision'), (5, 'extends', 'numeric'), (6, 'fsyncs', 'numeric')) AS m(ord, col, typ));
  WHEN 'current_lsn' THEN
    -- pg_current_wal_lsn() fails on a standby
    RETURN $q$ SELECT CASE WHEN pg_is_in_recovery()
                           THEN coalesce(pg_last_wal_replay_lsn(), pg_last_wal_receive_lsn())
                           ELSE pg_current_wal_lsn() END $q$;
  WHEN 'progress' THEN
    -- only VACUUM's columns differ by version; the other commands read the same on 15-18
    RETURN format($q$
      SELECT r.pid, r.backend_type, r.datname, r.command, r.relid, r.phase, r.blocks_total::numeric,
             r.blocks_done::numeric, r.tuples_done::numeric, r.dead_items::numeric, r.max_dead_items::numeric,
             r.dead_tuple_bytes::numeric, r.max_dead_tuple_bytes::numeric
        FROM (%s) r
      UNION ALL
      SELECT p.pid, a.backend_type, p.datname, 'ANALYZE', p.relid, p.phase,
             p.sample_blks_total, p.sample_blks_scanned, NULL, NULL, NULL, NULL, NULL
        FROM pg_stat_progress_analyze p LEFT JOIN pg_stat_activity a USING (pid)
      UNION ALL
      SELECT p.pid, a.backend_type, p.datname, p.command, p.relid, p.phase,
             p.blocks_total, p.blocks_done, p.tuples_done, NULL, NULL, NULL, NULL
        FROM pg_stat_progress_create_index p LEFT JOIN pg_stat_activity a USING (pid)
      UNION ALL
      SELECT p.pid, a.backend_type, p.datname, p.command, p.relid, p.type,
             NULL, NULL, p.tuples_processed, NULL, NULL, NULL, NULL
        FROM pg_stat_progress_copy p LEFT JOIN pg_stat_activity a USING (pid)
      UNION ALL
      SELECT p.pid, a.backend_type, p.datname, p.command, p.relid, p.phase,
             p.heap_blks_total, p.heap_blks_scanned, p.heap_tuples_written, NULL, NULL, NULL, NULL
        FROM pg_stat_progress_cluster p LEFT JOIN pg_stat_activity a USING (pid) $q$,
      telemetry._read('vacuum_progress', p_version));
  WHEN 'statements' THEN
    -- pg_stat_statements(false): counters without texts; %1$I is the extension's schema (format()).
    -- Columns: userid, dbid, toplevel, queryid, calls, plans, total_exec_time, total_plan_time, rows,
    -- shared hit/read/dirtied/written, local hit/read/dirtied/written, temp read/written,
    -- blk_read_time, blk_write_time (shared + local), temp read/write time, wal records/fpi/bytes,
    -- jit_time, stats_since. PG17 split blk_*_time into shared_/local_ and added stats_since and
    -- jit_deform_time; PG18's parallel worker and wal_buffers_full counts are not read.
    RETURN format($q$
      SELECT userid, dbid, toplevel, queryid, calls, plans, total_exec_time, total_plan_time, rows,
             shared_blks_hit, shared_blks_read, shared_blks_dirtied, shared_blks_written,
             local_blks_hit, local_blks_read, local_blks_dirtied, local_blks_written,
             temp_blks_read, temp_blks_written, %s, temp_blk_read_time, temp_blk_write_time,
             wal_records, wal_fpi, wal_bytes,
             jit_generation_time + jit_inlining_time + jit_optimization_time + jit_emission_time%s AS jit_time,
             %s AS stats_since
        FROM %%1$I.pg_stat_statements(false) $q$,
      CASE WHEN p_version >= 170000
           THEN 'shared_blk_read_time + local_blk_read_time AS blk_read_time, shared_blk_write_time + local_blk_write_time AS blk_write_time'
           ELSE 'blk_read_time, blk_write_time' END,
      CASE WHEN p_version >= 170000 THEN ' + jit_deform_time' ELSE '' END,
      CASE WHEN p_version >= 170000 THEN 'stats_since' ELSE 'NULL::timestamptz' END);
  ELSE
    RAISE EXCEPTION 'unknown part %', p_part;
  END CASE;
END
$fn$;

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

----------------------------------------------------------------------------------------------
-- Collection
----------------------------------------------------------------------------------------------

-- Relations whose AccessExclusiveLock (held or awaited by another session) would make a size
-- function wait: a waiting request queues every later AccessShareLock behind it.
CREATE FUNCTION telemetry._exclusively_locked()
RETURNS TABLE (relid oid, note text) LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT l.relation, string_agg(format('AccessExclusiveLock %s by pid %s', CASE WHEN l.granted THEN 'held' ELSE 'awaited' END,
                                       l.pid), ', ' ORDER BY l.pid)
    FROM pg_locks l
   WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_backend_pid()
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   GROUP BY l.relation
$$;

-- pg_total_relation_size() or NULL when the lock is not granted within lock_timeout: one
-- subtransaction per call, so it is only used when the set-based path lost a race for a lock.
CREATE FUNCTION telemetry._try_total_size(p_relid oid)
RETURNS numeric LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  RETURN pg_total_relation_size(p_relid);
EXCEPTION WHEN lock_not_available OR query_canceled THEN
  RETURN NULL;
END
$fn$;

-- One snapshot_tables row per tracked table, all in one statement: the leaves of every tracked
-- table in one walk of pg_inherits, statistics from the lock-free pg_stat_get_* functions, and
-- sizes from pg_total_relation_size(), which takes an AccessShareLock on the table, its TOAST
-- table and their indexes. Where one of those is exclusively locked, the size is estimated from
-- pg_class.relpages instead of waiting (size_exact = false, the lock in error).
-- p_one_by_one sizes each leaf in its own subtransaction (the race fallback of snapshot()).
-- PL/pgSQL for its cached plan: a SQL function with SET is planned anew on every call.
CREATE FUNCTION telemetry._tracked_table_rows(p_snapshot_id bigint, p_one_by_one boolean)
RETURNS SETOF telemetry.snapshot_tables LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  RETURN QUERY
  WITH RECURSIVE tree(root, relid) AS (
    SELECT t.relid, t.relid FROM telemetry.tracked_tables t
    UNION ALL
    SELECT tree.root, i.inhrelid FROM tree JOIN pg_inherits i ON i.inhparent = tree.relid
  ),
  locked AS MATERIALIZED (SELECT * FROM telemetry._exclusively_locked()),
  leaf AS (
    SELECT tree.root, c.oid AS relid,
           (SELECT string_agg(DISTINCT k.note, ', ') FROM locked k
             WHERE k.relid IN (c.oid, c.reltoastrelid)
                OR k.relid IN (SELECT x.indexrelid FROM pg_index x WHERE x.indrelid IN (c.oid, c.reltoastrelid))) AS lock_note,
           (c.relpages::numeric + coalesce(tc.relpages, 0)
            + coalesce((SELECT sum(ic.relpages) FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
                         WHERE x.indrelid IN (c.oid, c.reltoastrelid)), 0)) * current_setting('block_size')::numeric AS estimate
      FROM tree
      JOIN pg_class c ON c.oid = tree.relid
      LEFT JOIN pg_class tc ON tc.oid = c.reltoastrelid
     WHERE c.relkind IN ('r', 'm', 'p')
       AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = c.oid)
  ),
  sized AS MATERIALIZED (   -- each size function runs once per leaf
    SELECT leaf.*, CASE WHEN leaf.lock_note IS NOT NULL THEN NULL
                        WHEN p_one_by_one THEN telemetry._try_total_size(leaf.relid)
                        ELSE pg_total_relation_size(leaf.relid) END AS exact
      FROM leaf
  ),
  per_table AS (
    SELECT l.root, count(*)::int AS parts, sum(coalesce(l.exact, l.estimate)) AS bytes,
           bool_and(l.exact IS NOT NULL) AS exact,
           string_agg(DISTINCT coalesce(l.lock_note, 'lock timeout (part_lock_timeout)'), ', ') FILTER (WHERE l.exact IS NULL) AS lock_note,
           sum(pg_stat_get_live_tuples(l.relid)) AS live, sum(pg_stat_get_dead_tuples(l.relid)) AS dead,
           sum(pg_stat_get_tuples_inserted(l.relid)) AS ins, sum(pg_stat_get_tuples_updated(l.relid)) AS upd,
           sum(pg_stat_get_tuples_deleted(l.relid)) AS del, sum(pg_stat_get_tuples_hot_updated(l.relid)) AS hot,
           sum(pg_stat_get_numscans(l.relid)) AS seq,
           sum((SELECT sum(pg_stat_get_numscans(x.indexrelid)) FROM pg_index x WHERE x.indrelid = l.relid)) AS idx,
           sum(pg_stat_get_vacuum_count(l.relid)) AS vac, sum(pg_stat_get_autovacuum_count(l.relid)) AS avac,
           sum(pg_stat_get_analyze_count(l.relid)) AS an, sum(pg_stat_get_autoanalyze_count(l.relid)) AS aan,
           max(pg_stat_get_last_vacuum_time(l.relid)) AS lv, max(pg_stat_get_last_autovacuum_time(l.relid)) AS lav,
           max(pg_stat_get_last_analyze_time(l.relid)) AS la, max(pg_stat_get_last_autoanalyze_time(l.relid)) AS laa
      FROM sized l
     GROUP BY l.root
  )
  SELECT p_snapshot_id, c.oid, n.nspname::text, c.relname::text, p.parts, p.bytes, p.exact,
         p.live, p.dead, p.ins, p.upd, p.del, p.hot, p.seq, p.idx, p.vac, p.avac, p.an, p.aan, p.lv, p.lav, p.la, p.laa,
         CASE WHEN NOT p.exact THEN 'size estimated from pg_class.relpages: ' || p.lock_note END
    FROM per_table p
    JOIN pg_class c ON c.oid = p.root
    JOIN pg_namespace n ON n.oid = c.relnamespace;
END
$fn$;

CREATE FUNCTION telemetry.snapshot()
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_id bigint;
  s telemetry.snapshots%ROWTYPE;
  v_errors text[] := '{}';
  v_lock_timeout text := current_setting('lock_timeout');
  v_sql text;
BEGIN
  IF pg_is_in_recovery() THEN
    RAISE NOTICE 'telemetry.snapshot(): server is in recovery (standby): telemetry tables are read-only here; '
                 'snapshots are taken on the primary and replicated';
    RETURN NULL;
  END IF;

  v_id := nextval(pg_get_serial_sequence('telemetry.snapshots', 'id'));
  s.captured_at := clock_timestamp();   -- not now(): batch_end() ends a run just before its snapshot
  s.server_version_num := current_setting('server_version_num')::int;
  s.in_recovery := false;
  s.postmaster_start_time := pg_postmaster_start_time();
  s.track_io_timing := current_setting('track_io_timing')::boolean;
  s.track_wal_io_timing := current_setting('track_wal_io_timing')::boolean;

  -- every part in its own subtransaction: one failing part keeps the rest of the snapshot
  BEGIN
    EXECUTE telemetry.version_sql('current_lsn') INTO s.wal_lsn;
    EXECUTE telemetry.version_sql('wal')
       INTO s.wal_records, s.wal_fpi, s.wal_bytes, s.wal_buffers_full, s.wal_write, s.wal_sync,
            s.wal_write_time, s.wal_sync_time, s.wal_stats_reset;
  EXCEPTION WHEN OTHERS THEN v_errors := v_errors || ('wal: ' || SQLERRM);
  END;
  BEGIN
    EXECUTE telemetry.version_sql('checkpointer')
       INTO s.ckpt_timed, s.ckpt_requested, s.ckpt_done, s.ckpt_write_time, s.ckpt_sync_time,
            s.ckpt_buffers_written, s.ckpt_stats_reset;
    s.last_checkpoint_time := (pg_control_checkpoint()).checkpoint_time;
  EXCEPTION WHEN OTHERS THEN v_errors := v_errors || ('checkpointer: ' || SQLERRM);
  END;
  BEGIN
    EXECUTE telemetry.version_sql('bgwriter')
       INTO s.bgw_buffers_clean, s.bgw_maxwritten_clean, s.bgw_buffers_alloc, s.bgw_buffers_backend,
            s.bgw_buffers_backend_fsync, s.bgw_stats_reset;
  EXCEPTION WHEN OTHERS THEN v_errors := v_errors || ('bgwriter: ' || SQLERRM);
  END;
  BEGIN
    EXECUTE telemetry.version_sql('database')
       INTO s.temp_files, s.temp_bytes, s.xact_commit, s.xact_rollback, s.blks_read, s.blks_hit,
            s.deadlocks, s.db_stats_reset;
  EXCEPTION WHEN OTHERS THEN v_errors := v_errors || ('database: ' || SQLERRM);
  END;
  BEGIN
    EXECUTE 'SELECT count(*), max(r.retained_bytes) FROM (' || telemetry._read('slots') || ') r'
       INTO s.slot_count, s.slot_max_retained_bytes;
  EXCEPTION WHEN OTHERS THEN v_errors := v_errors || ('slots: ' || SQLERRM);
  END;
  v_sql := telemetry.version_sql('io');
  IF v_sql IS NOT NULL THEN
    BEGIN
      EXECUTE v_sql INTO
        s.io_checkpointer_reads, s.io_checkpointer_read_time, s.io_checkpointer_writes,
        s.io_checkpointer_write_time, s.io_checkpointer_extends, s.io_checkpointer_fsyncs,
        s.io_autovacuum_reads, s.io_autovacuum_read_time, s.io_autovacuum_writes,
        s.io_autovacuum_write_time, s.io_autovacuum_extends, s.io_autovacuum_fsyncs,
        s.io_client_reads, s.io_client_read_time, s.io_client_writes,
        s.io_client_write_time, s.io_client_extends, s.io_client_fsyncs,
        s.io_bgwriter_reads, s.io_bgwriter_read_time, s.io_bgwriter_writes,
        s.io_bgwriter_write_time, s.io_bgwriter_extends, s.io_bgwriter_fsyncs,
        s.io_client_normal_writes, s.io_stats_reset;
    EXCEPTION WHEN OTHERS THEN v_errors := v_errors || ('io: ' || SQLERRM);
    END;
  END IF;

  s.errors := CASE WHEN cardinality(v_errors) > 0 THEN v_errors END;
  s.id := v_id;
  INSERT INTO telemetry.snapshots OVERRIDING SYSTEM VALUE SELECT (s).*;

  -- tracked tables, in one statement for all of them (see _tracked_table_rows). Sizes need a lock
  -- and a table under an AccessExclusiveLock is already sized from pg_class; lock_timeout bounds the
  -- race where such a lock arrives after that check, and only then is each table sized on its own.
  -- The lock on our own table is taken first, so that the short timeout applies to tracked tables only.
  LOCK TABLE telemetry.snapshot_tables IN ROW EXCLUSIVE MODE;
  PERFORM set_config('lock_timeout', telemetry._setting('part_lock_timeout', '200ms'), true);
  BEGIN
    INSERT INTO telemetry.snapshot_tables SELECT * FROM telemetry._tracked_table_rows(v_id, false);
  EXCEPTION WHEN lock_not_available OR query_canceled THEN
    INSERT INTO telemetry.snapshot_tables SELECT * FROM telemetry._tracked_table_rows(v_id, true);
  END;
  PERFORM set_config('lock_timeout', v_lock_timeout, true);

  BEGIN
    EXECUTE format('INSERT INTO telemetry.snapshot_replication '
                   'SELECT %s, r.pid, r.application_name, r.client_addr, r.state, r.sync_state, r.sent_lsn, r.replay_lsn, '
                   'r.write_lag, r.flush_lag, r.replay_lag, r.replay_lag_bytes FROM (%s) r', v_id, telemetry._read('replication'));
  EXCEPTION WHEN OTHERS THEN
    UPDATE telemetry.snapshots SET errors = coalesce(errors, '{}') || ('replication: ' || SQLERRM) WHERE id = v_id;
  END;
  PERFORM telemetry._run_statements_fold();   -- open runs keep their work over a reset (56-run-statements.sql)
  PERFORM telemetry._capture_statements(v_id);   -- pg_stat_statements deltas (55-statement-capture.sql)
  RETURN v_id;
END
$fn$;

-- One sample; p_source and p_interval_s say who took it and how often that source samples
-- (diagnose() states its coverage from them).
CREATE FUNCTION telemetry._sample(p_source text, p_interval_s numeric)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_id bigint;
  v_me int := pg_backend_pid();
  v_top int := telemetry._setting('sample_top_sessions', '25')::int;
  v_preview int := telemetry._setting('query_preview_chars', '200')::int;
  v_rule record;
BEGIN
  IF pg_is_in_recovery() THEN
    RAISE NOTICE 'telemetry.sample(): server is in recovery (standby): telemetry tables are read-only here; '
                 'samples are taken on the primary and replicated';
    RETURN NULL;
  END IF;
  -- pg_stat_activity is read once per transaction (cached), so all parts below see one instant
  INSERT INTO telemetry.samples (captured_at, active_sessions, idle_in_xact, blocked_sessions, total_backends, source, interval_s)
  SELECT CASE WHEN p_source = 'batch_start' THEN clock_timestamp() ELSE now() END,   -- batch_start samples after the run began
         count(*) FILTER (WHERE a.backend_type = 'client backend' AND a.state = 'active'),
         count(*) FILTER (WHERE a.state LIKE 'idle in transaction%'),
         count(*) FILTER (WHERE a.wait_event_type = 'Lock'),
         count(*), p_source, p_interval_s
    FROM pg_stat_activity a WHERE a.pid <> v_me
  RETURNING id INTO v_id;

  INSERT INTO telemetry.sample_waits (sample_id, backend_type, wait_event_type, wait_event, waiters)
  SELECT v_id, a.backend_type, coalesce(a.wait_event_type, 'CPU'), coalesce(a.wait_event, 'CPU'), count(*)
    FROM pg_stat_activity a
   WHERE a.pid <> v_me
     AND (a.state IS NULL OR a.state IN ('active', 'fastpath function call'))   -- = telemetry._is_load()
     AND a.wait_event_type IS DISTINCT FROM 'Activity'
   GROUP BY 2, 3, 4;

  INSERT INTO telemetry.sample_activity (sample_id, pid, usename, application_name, client_addr, backend_type, state,
         wait_event_type, wait_event, backend_start, xact_start, query_start, state_change, query_id)
  SELECT v_id, a.pid, a.usename, a.application_name, a.client_addr, a.backend_type, a.state,
         a.wait_event_type, a.wait_event, a.backend_start, a.xact_start, a.query_start, a.state_change,
         a.query_id
    FROM pg_stat_activity a
   WHERE a.pid <> v_me AND a.state IS NOT NULL AND a.state <> 'idle'
     AND a.backend_type IN ('client backend', 'autovacuum worker', 'background worker', 'parallel worker', 'walsender')
   ORDER BY coalesce(a.xact_start, a.query_start) NULLS LAST
   LIMIT v_top;

  -- exact blockers from pg_blocking_pids(); the wait is timed from pg_locks.waitstart
  INSERT INTO telemetry.sample_locks (sample_id, blocked_pid, blocked_user, blocked_application, wait_started_at,
         blocked_duration, blocking_pid, blocking_user, blocking_application, blocking_state, blocking_xact_duration,
         lock_type, lock_mode, relation)
  SELECT v_id, w.pid, w.usename, w.application_name,
         l.waitstart, now() - coalesce(l.waitstart, w.state_change),
         b.blocking_pid, bl.usename, bl.application_name, bl.state,
         now() - bl.xact_start, l.locktype, l.mode, l.relation::regclass::text
    FROM pg_stat_activity w
   CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(blocking_pid)
    LEFT JOIN pg_stat_activity bl ON bl.pid = b.blocking_pid
    LEFT JOIN LATERAL (SELECT lk.locktype, lk.mode, lk.relation, lk.waitstart FROM pg_locks lk
                        WHERE lk.pid = w.pid AND NOT lk.granted LIMIT 1) l ON true
   WHERE w.wait_event_type = 'Lock' AND w.pid <> v_me;

  -- their query text, apart, with its owner: row-level security shows it as pg_stat_activity would
  IF v_preview > 0 THEN
    INSERT INTO telemetry.sample_queries (sample_id, pid, role_oid, query)
    SELECT v_id, a.pid, a.usesysid, left(a.query, v_preview)
      FROM pg_stat_activity a
     WHERE a.query IS NOT NULL
       AND a.pid IN (SELECT x.pid FROM telemetry.sample_activity x WHERE x.sample_id = v_id
                     UNION SELECT x.blocked_pid FROM telemetry.sample_locks x WHERE x.sample_id = v_id
                     UNION SELECT x.blocking_pid FROM telemetry.sample_locks x WHERE x.sample_id = v_id);
  END IF;

  BEGIN
    EXECUTE format('INSERT INTO telemetry.sample_progress '
                   'SELECT %s, x.pid, x.backend_type, x.datname, x.command, x.relid, x.relid::regclass::text, '
                   'x.phase, x.blocks_total, x.blocks_done, x.tuples_done, x.dead_items, x.max_dead_items, '
                   'x.dead_tuple_bytes, x.max_dead_tuple_bytes FROM (%s) AS x(pid, backend_type, datname, command, '
                   'relid, phase, blocks_total, blocks_done, tuples_done, dead_items, max_dead_items, '
                   'dead_tuple_bytes, max_dead_tuple_bytes) WHERE x.pid <> %s',
                   v_id, telemetry.version_sql('progress'), v_me);
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'telemetry.sample(): progress part failed: %', SQLERRM;
  END;

  EXECUTE format('INSERT INTO telemetry.sample_replication '
                 'SELECT %s, r.pid, r.application_name, r.client_addr, r.state, r.sync_state, '
                 'r.write_lag, r.flush_lag, r.replay_lag, r.replay_lag_bytes FROM (%s) r', v_id, telemetry._read('replication'));

  -- batch runs recognised from application_name rules
  FOR v_rule IN SELECT rr.app_pattern, rr.run_name,
                  EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid <> v_me AND a.state IS NOT NULL
                             AND a.state <> 'idle' AND a.application_name LIKE rr.app_pattern
                             AND (rr.roles IS NULL OR a.usesysid = ANY (rr.roles::oid[]))) AS seen
             FROM telemetry.run_rules rr LOOP
    IF v_rule.seen THEN
      INSERT INTO telemetry.runs (name, source)
      SELECT v_rule.run_name, 'rule:' || v_rule.app_pattern
       WHERE NOT EXISTS (SELECT 1 FROM telemetry.runs x WHERE x.source = 'rule:' || v_rule.app_pattern AND x.state = 'running');
    ELSE
      UPDATE telemetry.runs SET state = 'succeeded', ended_at = now()
       WHERE source = 'rule:' || v_rule.app_pattern AND state = 'running';
    END IF;
  END LOOP;
  PERFORM telemetry.close_abandoned_runs();   -- runs whose session died without batch_end() (91-abandoned-runs.sql)
  PERFORM telemetry._settle_runs();            -- closing snapshots after batch_end() (91-run-fidelity.sql)
  RETURN v_id;
END
$fn$;

CREATE FUNCTION telemetry.sample()
RETURNS bigint LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $$ SELECT telemetry._sample('sample()', NULL) $$;

----------------------------------------------------------------------------------------------
-- Statement capture: pg_stat_statements deltas at every snapshot()
----------------------------------------------------------------------------------------------

-- The schema of pg_stat_statements when it is usable here, else NULL with the reason in p_why.
CREATE FUNCTION telemetry._pgss_schema(OUT schema_name text, OUT why text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  SELECT n.nspname INTO schema_name FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
   WHERE e.extname = 'pg_stat_statements';
  -- the library defines pg_stat_statements.max when loaded (shared_preload_libraries itself is
  -- readable only with pg_read_all_settings; an unloaded library's setting is a text placeholder)
  IF NOT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'pg_stat_statements.max' AND vartype = 'integer') THEN
    schema_name := NULL;
    why := 'pg_stat_statements is not loaded: add it to shared_preload_libraries, restart PostgreSQL, '
           'then CREATE EXTENSION pg_stat_statements in database ' || current_database();
  ELSIF schema_name IS NULL THEN
    why := 'the pg_stat_statements extension is not created in database ' || current_database()
           || ': CREATE EXTENSION pg_stat_statements (the library is already loaded)';
  END IF;
END
$fn$;

-- Stores the texts (cut at statement_text_bytes) of kept statements that have none yet: those kept
-- by the captures since the last one that read texts (statement_captures.texts_done) and, with
-- p_run_id, by that run (run_statements). One read of pg_stat_statements(true), which copies the
-- whole text file, and only when a text is missing. A statement no longer in pg_stat_statements
-- keeps no text. Returns the texts stored; NULL when statement_text_bytes is 0 (no texts stored).
CREATE FUNCTION telemetry._store_statement_texts(p_pgss_schema text, p_run_id bigint)
RETURNS int LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
SET work_mem = '32MB'   -- the copied texts stay in memory instead of a temporary file
AS $fn$
DECLARE
  v_bytes int := telemetry._setting('statement_text_bytes', '1536')::int;
  v_since bigint;
  v_userid oid[];
  v_dbid oid[];
  v_queryid bigint[];
  v_stored int;
BEGIN
  IF v_bytes <= 0 THEN
    RETURN NULL;
  END IF;
  SELECT c.snapshot_id INTO v_since FROM telemetry.statement_captures c WHERE c.texts_done
   ORDER BY c.captured_at DESC LIMIT 1;
  SELECT array_agg(k.userid), array_agg(k.dbid), array_agg(k.queryid) INTO v_userid, v_dbid, v_queryid
    FROM (SELECT s.userid, s.dbid, s.queryid FROM telemetry.snapshot_statements s
           WHERE s.snapshot_id > coalesce(v_since, 0) AND s.queryid IS NOT NULL
          UNION   -- distinct
          SELECT r.userid, r.dbid, r.queryid FROM telemetry.run_statements r
           WHERE r.run_id = p_run_id AND r.queryid IS NOT NULL) k
   WHERE NOT EXISTS (SELECT 1 FROM telemetry.statement_texts t
                      WHERE t.userid = k.userid AND t.dbid = k.dbid AND t.queryid = k.queryid);
  IF v_queryid IS NULL THEN
    RETURN 0;
  END IF;
  EXECUTE format($q$
    INSERT INTO telemetry.statement_texts (userid, dbid, queryid, query, query_bytes)
    SELECT DISTINCT ON (p.userid, p.dbid, p.queryid) p.userid, p.dbid, p.queryid,
           convert_from(substring(convert_to(p.query, 'UTF8') FROM 1 FOR $4), 'UTF8'), octet_length(p.query)
      FROM %I.pg_stat_statements(true) p
      JOIN unnest($1, $2, $3) AS m(userid, dbid, queryid)
        ON m.userid = p.userid AND m.dbid = p.dbid AND m.queryid = p.queryid
     ORDER BY p.userid, p.dbid, p.queryid, p.query ~* '^\s*explain\M', p.toplevel DESC   -- not an EXPLAIN of it
    ON CONFLICT DO NOTHING $q$, p_pgss_schema)
  USING v_userid, v_dbid, v_queryid, v_bytes;
  GET DIAGNOSTICS v_stored = ROW_COUNT;
  RETURN v_stored;
END
$fn$;

-- Captures pg_stat_statements for snapshot p_snapshot_id: deltas since the previous capture for
-- the top statement_top_n statements by each measure plus one "all other statements" row, and, when
-- due, the texts of kept statements not stored yet. Never negative: an entry whose counters went down or
-- whose stats_since moved (evicted and re-created, reset) counts from zero, and a reset of all of
-- pg_stat_statements makes every entry count from zero; both are recorded as incompleteness.
CREATE FUNCTION telemetry._capture_statements(p_snapshot_id bigint)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_pgss record := telemetry._pgss_schema();
  v_at timestamptz := (SELECT captured_at FROM telemetry.snapshots WHERE id = p_snapshot_id);
  v_prev telemetry.statement_captures;
  v_prev_start timestamptz;
  v_dealloc numeric;
  v_reset timestamptz;
  v_top int := telemetry._setting('statement_top_n', '10')::int;
  v_text_bytes int := telemetry._setting('statement_text_bytes', '1536')::int;
  v_all_reset boolean;
  v_restarted boolean;
  v_entries int;
  v_kept int;
  v_hidden int;
  v_recreated int;
  v_notes text[] := '{}';
  v_texts_last timestamptz;   -- the last capture that read texts
  v_texts_done boolean := false;
  v_dealloc_delta numeric;
BEGIN
  IF v_pgss.schema_name IS NULL THEN
    INSERT INTO telemetry.statement_captures (snapshot_id, captured_at, status, note)
    VALUES (p_snapshot_id, v_at, 'unavailable', v_pgss.why);
    RETURN;
  END IF;
  BEGIN
    -- one capture at a time (pg_cron's snapshot() and a batch's): each takes its deltas against the
    -- base the one before it left; readers of statement_last are not blocked
    LOCK TABLE telemetry.statement_last IN SHARE ROW EXCLUSIVE MODE;
    -- the base is the last capture's; after a capture that failed or found no extension it may be
    -- old, so this one starts afresh instead of counting the whole gap as one delta: it keeps no
    -- deltas and only brings the base up to date (rows are rewritten where their entry moved, not
    -- deleted and added again, which would leave the base with as many dead rows as live ones)
    SELECT * INTO v_prev FROM telemetry.statement_captures ORDER BY captured_at DESC, snapshot_id DESC LIMIT 1;
    IF v_prev.status IS DISTINCT FROM 'ok' AND v_prev.status IS DISTINCT FROM 'baseline' THEN
      v_prev := NULL;
    END IF;
    SELECT postmaster_start_time INTO v_prev_start FROM telemetry.snapshots WHERE id = v_prev.snapshot_id;
    EXECUTE format('SELECT dealloc, stats_reset FROM %I.pg_stat_statements_info', v_pgss.schema_name)
       INTO v_dealloc, v_reset;
    v_all_reset := v_prev.snapshot_id IS NOT NULL AND v_prev.stats_reset IS DISTINCT FROM v_reset;
    v_restarted := v_prev.snapshot_id IS NOT NULL AND v_prev_start IS DISTINCT FROM pg_postmaster_start_time();

    -- One statement: read every entry, one pass over entries and base for what moved (its deltas)
    -- and what is gone, store the new base, and the kept deltas of this capture. The top N per
    -- measure is chosen over the moved entries with ORDER BY .. LIMIT (a bounded heap of N keys per
    -- measure, ties broken by the key so the choice is deterministic); only the kept rows and one
    -- sum are written. Zero deltas are stored as NULL (the null bitmap costs nothing, a zero 8).
    EXECUTE format($q$
      WITH cur AS MATERIALIZED (%s),
      d AS MATERIALIZED (
        SELECT coalesce(c.userid, l.userid) AS userid, coalesce(c.dbid, l.dbid) AS dbid,
               coalesce(c.toplevel, l.toplevel) AS toplevel, coalesce(c.queryid, l.queryid) AS queryid,
               c.userid IS NULL AS gone, l.queryid IS NULL AS new,
               c.userid IS NOT NULL AND f.fresh AND l.queryid IS NOT NULL AS recreated,
               l.ctid AS base_ctid,   -- the base row the new counters replace, and the new counters:
               c.calls AS now_calls, c.plans AS now_plans, c.total_exec_time AS now_total_exec_time,
               c.total_plan_time AS now_total_plan_time, c.rows AS now_rows,
               c.shared_blks_hit AS now_shared_blks_hit, c.shared_blks_read AS now_shared_blks_read,
               c.shared_blks_dirtied AS now_shared_blks_dirtied,
               c.shared_blks_written AS now_shared_blks_written, c.local_blks_hit AS now_local_blks_hit,
               c.local_blks_read AS now_local_blks_read, c.local_blks_dirtied AS now_local_blks_dirtied,
               c.local_blks_written AS now_local_blks_written, c.temp_blks_read AS now_temp_blks_read,
               c.temp_blks_written AS now_temp_blks_written, c.blk_read_time AS now_blk_read_time,
               c.blk_write_time AS now_blk_write_time, c.temp_blk_read_time AS now_temp_blk_read_time,
               c.temp_blk_write_time AS now_temp_blk_write_time, c.wal_records AS now_wal_records,
               c.wal_fpi AS now_wal_fpi, c.wal_bytes AS now_wal_bytes, c.jit_time AS now_jit_time,
               c.stats_since AS now_stats_since,
               c.calls - CASE WHEN f.fresh THEN 0 ELSE l.calls END AS calls,
               c.plans - CASE WHEN f.fresh THEN 0 ELSE l.plans END AS plans,
               c.total_exec_time - CASE WHEN f.fresh THEN 0 ELSE l.total_exec_time END AS total_exec_time,
               c.total_plan_time - CASE WHEN f.fresh THEN 0 ELSE l.total_plan_time END AS total_plan_time,
               c.rows - CASE WHEN f.fresh THEN 0 ELSE l.rows END AS rows,
               c.shared_blks_hit - CASE WHEN f.fresh THEN 0 ELSE l.shared_blks_hit END AS shared_blks_hit,
               c.shared_blks_read - CASE WHEN f.fresh THEN 0 ELSE l.shared_blks_read END AS shared_blks_read,
               c.shared_blks_dirtied - CASE WHEN f.fresh THEN 0 ELSE l.shared_blks_dirtied END AS shared_blks_dirtied,
               c.shared_blks_written - CASE WHEN f.fresh THEN 0 ELSE l.shared_blks_written END AS shared_blks_written,
               c.local_blks_hit - CASE WHEN f.fresh THEN 0 ELSE l.local_blks_hit END AS local_blks_hit,
               c.local_blks_read - CASE WHEN f.fresh THEN 0 ELSE l.local_blks_read END AS local_blks_read,
               c.local_blks_dirtied - CASE WHEN f.fresh THEN 0 ELSE l.local_blks_dirtied END AS local_blks_dirtied,
               c.local_blks_written - CASE WHEN f.fresh THEN 0 ELSE l.local_blks_written END AS local_blks_written,
               c.temp_blks_read - CASE WHEN f.fresh THEN 0 ELSE l.temp_blks_read END AS temp_blks_read,
               c.temp_blks_written - CASE WHEN f.fresh THEN 0 ELSE l.temp_blks_written END AS temp_blks_written,
               c.blk_read_time - CASE WHEN f.fresh THEN 0 ELSE l.blk_read_time END AS blk_read_time,
               c.blk_write_time - CASE WHEN f.fresh THEN 0 ELSE l.blk_write_time END AS blk_write_time,
               c.temp_blk_read_time - CASE WHEN f.fresh THEN 0 ELSE l.temp_blk_read_time END AS temp_blk_read_time,
               c.temp_blk_write_time - CASE WHEN f.fresh THEN 0 ELSE l.temp_blk_write_time END AS temp_blk_write_time,
               c.wal_records - CASE WHEN f.fresh THEN 0 ELSE l.wal_records END AS wal_records,
               c.wal_fpi - CASE WHEN f.fresh THEN 0 ELSE l.wal_fpi END AS wal_fpi,
               c.wal_bytes - CASE WHEN f.fresh THEN 0 ELSE l.wal_bytes END AS wal_bytes,
               c.jit_time - CASE WHEN f.fresh THEN 0 ELSE l.jit_time END AS jit_time
          FROM cur c
          FULL JOIN telemetry.statement_last l
            ON l.userid = c.userid AND l.dbid = c.dbid AND l.toplevel = c.toplevel AND l.queryid = c.queryid
         CROSS JOIN LATERAL (SELECT l.queryid IS NULL OR $3 OR c.calls < l.calls OR c.plans < l.plans
                                    OR c.total_exec_time < l.total_exec_time OR c.rows < l.rows
                                    OR c.shared_blks_hit < l.shared_blks_hit OR c.shared_blks_read < l.shared_blks_read
                                    OR c.temp_blks_written < l.temp_blks_written OR c.wal_bytes < l.wal_bytes
                                    OR c.stats_since IS DISTINCT FROM l.stats_since AS fresh) f
         WHERE c.userid IS NULL   -- gone from pg_stat_statements
            OR c.queryid IS NOT NULL AND (f.fresh OR c.calls <> l.calls OR c.plans <> l.plans)   -- moved
      ),
      moved AS (   -- the new base: moved entries are rewritten through their row's ctid (HOT updates:
                   -- see statement_last; one pass over the join above, not a second join with the
                   -- entries), new ones added, gone ones deleted; captures are serialized, so no
                   -- other one adds the same entry
        UPDATE telemetry.statement_last l
           SET calls = d.now_calls, plans = d.now_plans, total_exec_time = d.now_total_exec_time,
               total_plan_time = d.now_total_plan_time, rows = d.now_rows,
               shared_blks_hit = d.now_shared_blks_hit, shared_blks_read = d.now_shared_blks_read,
               shared_blks_dirtied = d.now_shared_blks_dirtied,
               shared_blks_written = d.now_shared_blks_written, local_blks_hit = d.now_local_blks_hit,
               local_blks_read = d.now_local_blks_read, local_blks_dirtied = d.now_local_blks_dirtied,
               local_blks_written = d.now_local_blks_written, temp_blks_read = d.now_temp_blks_read,
               temp_blks_written = d.now_temp_blks_written, blk_read_time = d.now_blk_read_time,
               blk_write_time = d.now_blk_write_time, temp_blk_read_time = d.now_temp_blk_read_time,
               temp_blk_write_time = d.now_temp_blk_write_time, wal_records = d.now_wal_records,
               wal_fpi = d.now_wal_fpi, wal_bytes = d.now_wal_bytes, jit_time = d.now_jit_time,
               stats_since = d.now_stats_since, snapshot_id = $1
          FROM d
         WHERE l.ctid = d.base_ctid AND NOT d.gone AND NOT d.new
      ),
      added AS (
        INSERT INTO telemetry.statement_last
        SELECT userid, dbid, toplevel, queryid, now_calls, now_plans, now_total_exec_time, now_total_plan_time,
               now_rows, now_shared_blks_hit, now_shared_blks_read, now_shared_blks_dirtied,
               now_shared_blks_written, now_local_blks_hit, now_local_blks_read, now_local_blks_dirtied,
               now_local_blks_written, now_temp_blks_read, now_temp_blks_written, now_blk_read_time,
               now_blk_write_time, now_temp_blk_read_time, now_temp_blk_write_time, now_wal_records,
               now_wal_fpi, now_wal_bytes, now_jit_time, now_stats_since, $1
          FROM d WHERE new
      ),
      gone AS (
        DELETE FROM telemetry.statement_last l USING d
         WHERE d.gone AND l.userid = d.userid AND l.dbid = d.dbid AND l.toplevel = d.toplevel AND l.queryid = d.queryid
      ),
      top AS (   -- the first capture only records the base
        (SELECT userid, dbid, toplevel, queryid FROM d WHERE $2 IS NOT NULL AND NOT gone AND (calls > 0 OR plans > 0)
          ORDER BY total_exec_time + total_plan_time DESC, userid, dbid, toplevel, queryid LIMIT $4)
        UNION
        (SELECT userid, dbid, toplevel, queryid FROM d WHERE $2 IS NOT NULL AND NOT gone AND (calls > 0 OR plans > 0)
          ORDER BY calls DESC, userid, dbid, toplevel, queryid LIMIT $4)
        UNION
        (SELECT userid, dbid, toplevel, queryid FROM d WHERE $2 IS NOT NULL AND NOT gone AND shared_blks_read > 0
          ORDER BY shared_blks_read DESC, userid, dbid, toplevel, queryid LIMIT $4)
        UNION
        (SELECT userid, dbid, toplevel, queryid FROM d WHERE $2 IS NOT NULL AND NOT gone AND temp_blks_written > 0
          ORDER BY temp_blks_written DESC, userid, dbid, toplevel, queryid LIMIT $4)
        UNION
        (SELECT userid, dbid, toplevel, queryid FROM d WHERE $2 IS NOT NULL AND NOT gone AND wal_bytes > 0
          ORDER BY wal_bytes DESC, userid, dbid, toplevel, queryid LIMIT $4)
      ),
      kept AS (
        INSERT INTO telemetry.snapshot_statements
        SELECT $1, userid, dbid, toplevel, queryid,
               nullif(calls, 0), nullif(plans, 0), nullif(total_exec_time, 0), nullif(total_plan_time, 0),
               nullif(rows, 0), nullif(shared_blks_hit, 0), nullif(shared_blks_read, 0),
               nullif(shared_blks_dirtied, 0), nullif(shared_blks_written, 0), nullif(local_blks_hit, 0),
               nullif(local_blks_read, 0), nullif(local_blks_dirtied, 0), nullif(local_blks_written, 0),
               nullif(temp_blks_read, 0), nullif(temp_blks_written, 0), nullif(blk_read_time, 0),
               nullif(blk_write_time, 0), nullif(temp_blk_read_time, 0), nullif(temp_blk_write_time, 0),
               nullif(wal_records, 0), nullif(wal_fpi, 0), nullif(wal_bytes, 0), nullif(jit_time, 0)
          FROM d
         WHERE EXISTS (SELECT 1 FROM top t WHERE t.userid = d.userid AND t.dbid = d.dbid
                          AND t.toplevel = d.toplevel AND t.queryid = d.queryid)
        RETURNING 1
      ),
      other AS (
        INSERT INTO telemetry.snapshot_statements
        SELECT $1, NULL, NULL, NULL, NULL,
               nullif(sum(calls), 0), nullif(sum(plans), 0), nullif(sum(total_exec_time), 0),
               nullif(sum(total_plan_time), 0), nullif(sum(rows), 0), nullif(sum(shared_blks_hit), 0),
               nullif(sum(shared_blks_read), 0), nullif(sum(shared_blks_dirtied), 0),
               nullif(sum(shared_blks_written), 0), nullif(sum(local_blks_hit), 0),
               nullif(sum(local_blks_read), 0), nullif(sum(local_blks_dirtied), 0),
               nullif(sum(local_blks_written), 0), nullif(sum(temp_blks_read), 0),
               nullif(sum(temp_blks_written), 0), nullif(sum(blk_read_time), 0),
               nullif(sum(blk_write_time), 0), nullif(sum(temp_blk_read_time), 0),
               nullif(sum(temp_blk_write_time), 0), nullif(sum(wal_records), 0), nullif(sum(wal_fpi), 0),
               nullif(sum(wal_bytes), 0), nullif(sum(jit_time), 0)
          FROM d WHERE $2 IS NOT NULL AND NOT gone AND (calls > 0 OR plans > 0)
           AND NOT EXISTS (SELECT 1 FROM top t WHERE t.userid = d.userid AND t.dbid = d.dbid
                              AND t.toplevel = d.toplevel AND t.queryid = d.queryid)
        HAVING count(*) > 0
      )
      SELECT (SELECT count(*) FROM cur)::int, (SELECT count(*) FROM kept)::int,
             (SELECT count(*) FROM cur WHERE queryid IS NULL)::int,
             (SELECT count(*) FROM d WHERE recreated AND NOT $3 AND $2 IS NOT NULL)::int $q$,
      format(telemetry.version_sql('statements'), v_pgss.schema_name))
    INTO v_entries, v_kept, v_hidden, v_recreated
    USING p_snapshot_id, v_prev.snapshot_id, v_all_reset, v_top;

    -- texts of kept statements, once each, at most every statement_text_interval: missing texts can
    -- wait (an entry keeps its text while it stays in pg_stat_statements), and one read of the whole
    -- text file serves every statement kept since the last one. Not while a batch run is open: a
    -- reset or an eviction in the run would cost its statements their texts, and its report is what
    -- a DBA reads (batch_end() reads the texts of the run's statements at once too).
    IF v_text_bytes > 0 THEN
      v_texts_last := (SELECT max(c.captured_at) FROM telemetry.statement_captures c WHERE c.texts_done);
      BEGIN
        v_texts_done := v_texts_last IS NULL
                        OR EXISTS (SELECT 1 FROM telemetry.runs r WHERE r.state = 'running')
                        OR v_at >= v_texts_last + telemetry._setting('statement_text_interval', '15 minutes')::interval;
      EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_parameter_value THEN
        v_texts_done := true;
        v_notes := v_notes || format('statement_text_interval %L in telemetry.config is not an interval: texts are read at every capture',
                                     telemetry._setting('statement_text_interval', NULL));
      END;
      IF v_texts_done THEN
        PERFORM telemetry._store_statement_texts(v_pgss.schema_name, NULL);
      END IF;
    END IF;

    IF v_prev.snapshot_id IS NULL THEN
      v_notes := v_notes || 'first capture: counters recorded as the base, statement deltas start with the next snapshot'::text;
    END IF;
    -- a clean shutdown saves pg_stat_statements (counters and stats_reset) and statement_last (an
    -- unlogged table survives it): the deltas stay exact, nothing to note. A crash, an immediate
    -- shutdown or pg_stat_statements.save = off start it empty with a new stats_reset, and empty
    -- statement_last (crash recovery truncates unlogged tables): every entry counts from zero.
    IF v_all_reset AND v_restarted THEN
      v_notes := v_notes || format('the server restarted since the previous capture (%s) and pg_stat_statements started empty '
                                   '(a crash or immediate shutdown, or pg_stat_statements.save = off): statement work between '
                                   'the previous capture and the restart is missing', v_prev.captured_at);
    ELSIF v_all_reset THEN
      v_notes := v_notes || format('pg_stat_statements was reset at %s: work between the previous capture (%s) and the reset is missing',
                                   v_reset, v_prev.captured_at);
    END IF;
    v_dealloc_delta := CASE WHEN v_prev.snapshot_id IS NULL THEN NULL
                            WHEN v_all_reset OR v_dealloc < v_prev.dealloc THEN v_dealloc
                            ELSE v_dealloc - v_prev.dealloc END;
    IF v_dealloc_delta > 0 THEN
      v_notes := v_notes || format('%s statement entries were evicted (pg_stat_statements.max = %s, %s entries now): their work since '
                                   'the previous capture is missing; raise pg_stat_statements.max (needs a restart) or snapshot more often',
                                   v_dealloc_delta, current_setting('pg_stat_statements.max', true), v_entries);
    END IF;
    IF v_recreated > 0 THEN
      v_notes := v_notes || format('%s statement entries restarted their counters (evicted and re-created, or reset one by one): '
                                   'their work before that is missing', v_recreated);
    END IF;
    IF v_hidden > 0 THEN
      v_notes := v_notes || format('%s entries have no visible queryid (the schema owner %s is not a member of pg_read_all_stats): '
                                   'their work is missing (without a key there is no delta); GRANT pg_read_all_stats TO %I',
                                   v_hidden, current_user, current_user);
    END IF;
    INSERT INTO telemetry.statement_captures (snapshot_id, captured_at, status, entries, entries_max, kept, hidden,
                                              dealloc, dealloc_delta, recreated, stats_reset, reset_in_window, restarted,
                                              texts_done, note)
    VALUES (p_snapshot_id, v_at, CASE WHEN v_prev.snapshot_id IS NULL THEN 'baseline' ELSE 'ok' END, v_entries,
            current_setting('pg_stat_statements.max', true)::int, v_kept, v_hidden, v_dealloc, v_dealloc_delta,
            v_recreated, v_reset, v_all_reset, v_restarted, v_texts_done, nullif(array_to_string(v_notes, '; '), ''));
  EXCEPTION WHEN OTHERS THEN
    INSERT INTO telemetry.statement_captures (snapshot_id, captured_at, status, note)
    VALUES (p_snapshot_id, v_at, 'failed', 'statement capture failed: ' || SQLERRM);
  END;
END
$fn$;

-- With the library preloaded, the extension is created here as pg_cron is: statement evidence
-- then needs nothing more than the install.
DO $pgss$
BEGIN
  IF current_setting('shared_preload_libraries') ~ 'pg_stat_statements'
     AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') THEN
    BEGIN
      CREATE EXTENSION pg_stat_statements;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE 'could not create extension pg_stat_statements: % (statement evidence stays off until it exists)', SQLERRM;
    END;
  END IF;
END
$pgss$;

-- Stored texts and plans are read under the one rule for stored SQL text (telemetry._may_read_text,
-- 15-security.sql); the owner (snapshot(), _store_plan()) is not subject to it.
ALTER TABLE telemetry.statement_texts ENABLE ROW LEVEL SECURITY;
ALTER TABLE telemetry.statement_plans ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS statement_texts_visible ON telemetry.statement_texts;
CREATE POLICY statement_texts_visible ON telemetry.statement_texts FOR SELECT USING (telemetry._may_read_text(userid));
DROP POLICY IF EXISTS statement_plans_visible ON telemetry.statement_plans;
CREATE POLICY statement_plans_visible ON telemetry.statement_plans FOR SELECT USING (telemetry._may_read_text(userid));

-- Retention: texts of statements no kept delta, run total or stored plan refers to any more
-- (cleanup() deletes old snapshots and runs, and their statement rows with them).
CREATE FUNCTION telemetry._cleanup_statement_texts()
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_n bigint;
BEGIN
  DELETE FROM telemetry.statement_texts t
   WHERE NOT EXISTS (SELECT 1 FROM telemetry.snapshot_statements s
                      WHERE s.queryid = t.queryid AND s.userid = t.userid AND s.dbid = t.dbid)
     AND NOT EXISTS (SELECT 1 FROM telemetry.run_statements r
                      WHERE r.queryid = t.queryid AND r.userid = t.userid AND r.dbid = t.dbid)
     AND NOT EXISTS (SELECT 1 FROM telemetry.statement_plans p
                      WHERE p.queryid = t.queryid AND p.userid = t.userid AND p.dbid = t.dbid);
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN jsonb_build_object('statement_texts', v_n);
END
$fn$;
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
----------------------------------------------------------------------------------------------
-- Deltas between two snapshots: the one definition of the delta arithmetic
----------------------------------------------------------------------------------------------

-- All ordered pairs of snapshots; only ever read with both ids fixed (compare) or joined to
-- consecutive pairs (deltas), so the planner uses the primary key for each side.
CREATE VIEW telemetry._pair_deltas AS
SELECT a.id AS start_snapshot_id, b.id AS end_snapshot_id,
       a.captured_at AS start_snapshot_at, b.captured_at AS end_snapshot_at,
       b.captured_at - a.captured_at AS covered,
       (a.postmaster_start_time IS DISTINCT FROM b.postmaster_start_time) AS server_restarted,
       (r.wal OR r.ckpt OR r.bgw OR r.db OR r.io) AS stats_reset_in_window,
       array_remove(ARRAY[CASE WHEN r.wal THEN 'wal' END, CASE WHEN r.ckpt THEN 'checkpointer' END,
                          CASE WHEN r.bgw THEN 'bgwriter' END, CASE WHEN r.db THEN 'database' END,
                          CASE WHEN r.io THEN 'io' END], NULL) AS reset_groups,
       (b.last_checkpoint_time > a.last_checkpoint_time
        OR coalesce(telemetry._d(a.ckpt_done, b.ckpt_done, r.ckpt),
                    telemetry._d(a.ckpt_buffers_written, b.ckpt_buffers_written, r.ckpt)) > 0) AS checkpoint_occurred,
       telemetry._d(a.ckpt_timed, b.ckpt_timed, r.ckpt) AS ckpt_timed_delta,
       telemetry._d(a.ckpt_requested, b.ckpt_requested, r.ckpt) AS ckpt_requested_delta,
       telemetry._d(a.ckpt_done, b.ckpt_done, r.ckpt) AS ckpt_done_delta,
       telemetry._d(a.ckpt_write_time, b.ckpt_write_time, r.ckpt) AS ckpt_write_time_ms,
       telemetry._d(a.ckpt_sync_time, b.ckpt_sync_time, r.ckpt) AS ckpt_sync_time_ms,
       telemetry._d(a.ckpt_buffers_written, b.ckpt_buffers_written, r.ckpt) AS ckpt_buffers_delta,
       telemetry._d(a.wal_records, b.wal_records, r.wal) AS wal_records_delta,
       telemetry._d(a.wal_fpi, b.wal_fpi, r.wal) AS wal_fpi_delta,
       telemetry._d(a.wal_bytes, b.wal_bytes, r.wal) AS wal_bytes_delta,
       pg_size_pretty(telemetry._d(a.wal_bytes, b.wal_bytes, r.wal)) AS wal_bytes_pretty,
       telemetry._d(a.wal_buffers_full, b.wal_buffers_full, r.wal) AS wal_buffers_full_delta,
       telemetry._d(a.wal_write, b.wal_write, r.wal) AS wal_write_delta,
       telemetry._d(a.wal_sync, b.wal_sync, r.wal) AS wal_sync_delta,
       telemetry._d(a.wal_write_time, b.wal_write_time, r.wal) AS wal_write_time_ms,
       telemetry._d(a.wal_sync_time, b.wal_sync_time, r.wal) AS wal_sync_time_ms,
       telemetry._d(a.bgw_buffers_clean, b.bgw_buffers_clean, r.bgw) AS bgw_buffers_clean_delta,
       telemetry._d(a.bgw_maxwritten_clean, b.bgw_maxwritten_clean, r.bgw) AS bgw_maxwritten_clean_delta,
       telemetry._d(a.bgw_buffers_alloc, b.bgw_buffers_alloc, r.bgw) AS bgw_buffers_alloc_delta,
       telemetry._d(a.bgw_buffers_backend, b.bgw_buffers_backend, r.bgw OR r.io) AS bgw_buffers_backend_delta,
       telemetry._d(a.bgw_buffers_backend_fsync, b.bgw_buffers_backend_fsync, r.bgw OR r.io) AS bgw_buffers_backend_fsync_delta,
       telemetry._d(a.temp_files, b.temp_files, r.db) AS temp_files_delta,
       telemetry._d(a.temp_bytes, b.temp_bytes, r.db) AS temp_bytes_delta,
       pg_size_pretty(telemetry._d(a.temp_bytes, b.temp_bytes, r.db)) AS temp_bytes_pretty,
       telemetry._d(a.xact_commit, b.xact_commit, r.db) AS xact_commit_delta,
       telemetry._d(a.xact_rollback, b.xact_rollback, r.db) AS xact_rollback_delta,
       telemetry._d(a.blks_read, b.blks_read, r.db) AS blks_read_delta,
       telemetry._d(a.blks_hit, b.blks_hit, r.db) AS blks_hit_delta,
       telemetry._d(a.deadlocks, b.deadlocks, r.db) AS deadlocks_delta,
       b.slot_count, b.slot_max_retained_bytes,
       (SELECT max(x.replay_lag_bytes) FROM telemetry.snapshot_replication x WHERE x.snapshot_id = b.id) AS max_replay_lag_bytes,
       telemetry._d(a.io_checkpointer_reads, b.io_checkpointer_reads, r.io) AS io_checkpointer_reads,
       telemetry._d(a.io_checkpointer_read_time, b.io_checkpointer_read_time, r.io) AS io_checkpointer_read_time,
       telemetry._d(a.io_checkpointer_writes, b.io_checkpointer_writes, r.io) AS io_checkpointer_writes,
       telemetry._d(a.io_checkpointer_write_time, b.io_checkpointer_write_time, r.io) AS io_checkpointer_write_time,
       telemetry._d(a.io_checkpointer_extends, b.io_checkpointer_extends, r.io) AS io_checkpointer_extends,
       telemetry._d(a.io_checkpointer_fsyncs, b.io_checkpointer_fsyncs, r.io) AS io_checkpointer_fsyncs,
       telemetry._d(a.io_autovacuum_reads, b.io_autovacuum_reads, r.io) AS io_autovacuum_reads,
       telemetry._d(a.io_autovacuum_read_time, b.io_autovacuum_read_time, r.io) AS io_autovacuum_read_time,
       telemetry._d(a.io_autovacuum_writes, b.io_autovacuum_writes, r.io) AS io_autovacuum_writes,
       telemetry._d(a.io_autovacuum_write_time, b.io_autovacuum_write_time, r.io) AS io_autovacuum_write_time,
       telemetry._d(a.io_autovacuum_extends, b.io_autovacuum_extends, r.io) AS io_autovacuum_extends,
       telemetry._d(a.io_autovacuum_fsyncs, b.io_autovacuum_fsyncs, r.io) AS io_autovacuum_fsyncs,
       telemetry._d(a.io_client_reads, b.io_client_reads, r.io) AS io_client_reads,
       telemetry._d(a.io_client_read_time, b.io_client_read_time, r.io) AS io_client_read_time,
       telemetry._d(a.io_client_writes, b.io_client_writes, r.io) AS io_client_writes,
       telemetry._d(a.io_client_write_time, b.io_client_write_time, r.io) AS io_client_write_time,
       telemetry._d(a.io_client_extends, b.io_client_extends, r.io) AS io_client_extends,
       telemetry._d(a.io_client_fsyncs, b.io_client_fsyncs, r.io) AS io_client_fsyncs,
       telemetry._d(a.io_client_normal_writes, b.io_client_normal_writes, r.io) AS io_client_normal_writes,
       telemetry._d(a.io_bgwriter_reads, b.io_bgwriter_reads, r.io) AS io_bgwriter_reads,
       telemetry._d(a.io_bgwriter_read_time, b.io_bgwriter_read_time, r.io) AS io_bgwriter_read_time,
       telemetry._d(a.io_bgwriter_writes, b.io_bgwriter_writes, r.io) AS io_bgwriter_writes,
       telemetry._d(a.io_bgwriter_write_time, b.io_bgwriter_write_time, r.io) AS io_bgwriter_write_time,
       telemetry._d(a.io_bgwriter_extends, b.io_bgwriter_extends, r.io) AS io_bgwriter_extends,
       telemetry._d(a.io_bgwriter_fsyncs, b.io_bgwriter_fsyncs, r.io) AS io_bgwriter_fsyncs,
       b.track_io_timing, b.track_wal_io_timing,
       nullif(array_to_string(a.errors || b.errors, '; '), '') AS snapshot_errors,
       NULL::text AS coverage_note
  FROM telemetry.snapshots a
 CROSS JOIN telemetry.snapshots b
 CROSS JOIN LATERAL (SELECT
       coalesce(a.wal_stats_reset IS DISTINCT FROM b.wal_stats_reset OR b.wal_records < a.wal_records OR b.wal_bytes < a.wal_bytes, false) AS wal,
       coalesce(a.ckpt_stats_reset IS DISTINCT FROM b.ckpt_stats_reset OR b.ckpt_timed < a.ckpt_timed
          OR b.ckpt_requested < a.ckpt_requested OR b.ckpt_buffers_written < a.ckpt_buffers_written, false) AS ckpt,
       coalesce(a.bgw_stats_reset IS DISTINCT FROM b.bgw_stats_reset OR b.bgw_buffers_alloc < a.bgw_buffers_alloc
          OR b.bgw_buffers_clean < a.bgw_buffers_clean, false) AS bgw,
       coalesce(a.db_stats_reset IS DISTINCT FROM b.db_stats_reset OR b.xact_commit < a.xact_commit
          OR b.temp_bytes < a.temp_bytes, false) AS db,
       coalesce(a.io_stats_reset IS DISTINCT FROM b.io_stats_reset OR b.io_client_writes < a.io_client_writes
          OR b.io_client_reads < a.io_client_reads OR b.io_checkpointer_writes < a.io_checkpointer_writes, false) AS io
  ) r;

CREATE VIEW telemetry.deltas AS
SELECT d.*
  FROM (SELECT s.id, lag(s.id) OVER (ORDER BY s.captured_at, s.id) AS prev_id FROM telemetry.snapshots s) p
  JOIN telemetry._pair_deltas d ON d.start_snapshot_id = p.prev_id AND d.end_snapshot_id = p.id;

CREATE VIEW telemetry._table_pair_deltas AS
SELECT a.snapshot_id AS start_snapshot_id, b.snapshot_id AS end_snapshot_id, b.relid,
       coalesce(b.schemaname, a.schemaname) AS schemaname, coalesce(b.relname, a.relname) AS relname,
       b.partitions,
       a.total_bytes AS start_size, b.total_bytes AS end_size,
       b.total_bytes - a.total_bytes AS size_delta,
       pg_size_pretty(b.total_bytes - a.total_bytes) AS size_delta_pretty,
       (a.size_exact AND b.size_exact) AS size_exact,
       b.n_live_tup - a.n_live_tup AS n_live_tup_delta,
       b.n_dead_tup - a.n_dead_tup AS n_dead_tup_delta,
       b.n_live_tup AS end_live_tup, b.n_dead_tup AS end_dead_tup,
       telemetry._d(a.n_tup_ins, b.n_tup_ins, r.reset) AS n_tup_ins_delta,
       telemetry._d(a.n_tup_upd, b.n_tup_upd, r.reset) AS n_tup_upd_delta,
       telemetry._d(a.n_tup_del, b.n_tup_del, r.reset) AS n_tup_del_delta,
       telemetry._d(a.n_tup_hot_upd, b.n_tup_hot_upd, r.reset) AS n_tup_hot_upd_delta,
       telemetry._d(a.seq_scan, b.seq_scan, r.reset) AS seq_scan_delta,
       telemetry._d(a.idx_scan, b.idx_scan, r.reset) AS idx_scan_delta,
       round(b.n_dead_tup / nullif(b.n_live_tup + b.n_dead_tup, 0), 4) AS dead_tuple_ratio,
       telemetry._d(a.vacuum_count, b.vacuum_count, r.reset) AS vacuum_count_delta,
       telemetry._d(a.autovacuum_count, b.autovacuum_count, r.reset) AS autovacuum_count_delta,
       telemetry._d(a.analyze_count, b.analyze_count, r.reset) AS analyze_count_delta,
       telemetry._d(a.autoanalyze_count, b.autoanalyze_count, r.reset) AS autoanalyze_count_delta,
       coalesce(telemetry._d(a.autovacuum_count, b.autovacuum_count, r.reset) > 0
        OR b.last_autovacuum > a.last_autovacuum OR (a.last_autovacuum IS NULL AND b.last_autovacuum IS NOT NULL), false) AS autovacuum_ran,
       coalesce(telemetry._d(a.autoanalyze_count, b.autoanalyze_count, r.reset) > 0
        OR b.last_autoanalyze > a.last_autoanalyze OR (a.last_autoanalyze IS NULL AND b.last_autoanalyze IS NOT NULL), false) AS autoanalyze_ran,
       b.last_autovacuum, b.last_autoanalyze,
       r.reset AS stats_reset_in_window,
       nullif(concat_ws('; ', a.error, b.error), '') AS errors,
       NULL::timestamptz AS start_snapshot_at, NULL::timestamptz AS end_snapshot_at,
       NULL::text AS coverage_note
  FROM telemetry.snapshot_tables a
  JOIN telemetry.snapshot_tables b ON b.relid = a.relid
 CROSS JOIN LATERAL (SELECT coalesce(b.n_tup_ins < a.n_tup_ins OR b.n_tup_upd < a.n_tup_upd OR b.n_tup_del < a.n_tup_del
                             OR b.vacuum_count < a.vacuum_count OR b.autovacuum_count < a.autovacuum_count
                             OR b.seq_scan < a.seq_scan, false) AS reset) r;

CREATE VIEW telemetry.table_deltas AS
SELECT d.start_snapshot_id, d.end_snapshot_id, s1.captured_at AS start_snapshot_at, s2.captured_at AS end_snapshot_at,
       d.relid, d.schemaname, d.relname, d.partitions, d.start_size, d.end_size, d.size_delta, d.size_delta_pretty,
       d.size_exact, d.n_live_tup_delta, d.n_dead_tup_delta, d.end_live_tup, d.end_dead_tup, d.n_tup_ins_delta,
       d.n_tup_upd_delta, d.n_tup_del_delta, d.n_tup_hot_upd_delta, d.seq_scan_delta, d.idx_scan_delta,
       d.dead_tuple_ratio, d.vacuum_count_delta, d.autovacuum_count_delta, d.analyze_count_delta,
       d.autoanalyze_count_delta, d.autovacuum_ran, d.autoanalyze_ran, d.last_autovacuum, d.last_autoanalyze,
       d.stats_reset_in_window, d.errors
  FROM (SELECT t.snapshot_id, t.relid,
               lag(t.snapshot_id) OVER (PARTITION BY t.relid ORDER BY t.snapshot_id) AS prev_id
          FROM telemetry.snapshot_tables t) p
  JOIN telemetry._table_pair_deltas d
    ON d.start_snapshot_id = p.prev_id AND d.end_snapshot_id = p.snapshot_id AND d.relid = p.relid
  JOIN telemetry.snapshots s1 ON s1.id = d.start_snapshot_id
  JOIN telemetry.snapshots s2 ON s2.id = d.end_snapshot_id;

----------------------------------------------------------------------------------------------
-- Windows: which snapshots/samples cover [start_time, end_time]; never silently empty
----------------------------------------------------------------------------------------------

CREATE FUNCTION telemetry._check_window(start_time timestamptz, end_time timestamptz)
RETURNS void LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  IF start_time IS NULL OR end_time IS NULL THEN
    RAISE EXCEPTION 'telemetry: window start and end must both be given';
  END IF;
  IF start_time >= end_time THEN
    RAISE EXCEPTION 'telemetry: window start (%) must be before its end (%)', start_time, end_time;
  END IF;
  IF start_time > now() THEN
    RAISE EXCEPTION 'telemetry: window starts in the future (%)', start_time;
  END IF;
END
$fn$;

-- The snapshot at or before start_time and the one at or after end_time. When end_time is past
-- the newest snapshot, a fresh snapshot is taken (if allowed) or the note says what is missing.
CREATE FUNCTION telemetry._bracket(start_time timestamptz, end_time timestamptz, take_fresh boolean DEFAULT true,
                                   OUT s1 bigint, OUT s2 bigint, OUT note text)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_oldest timestamptz;
  v_newest timestamptz;
  v_notes text[] := '{}';
BEGIN
  PERFORM telemetry._check_window(start_time, end_time);
  SELECT min(captured_at), max(captured_at) INTO v_oldest, v_newest FROM telemetry.snapshots;
  IF v_oldest IS NULL THEN
    RAISE EXCEPTION 'telemetry: no snapshots yet: schedule telemetry.snapshot() (pg_cron job telemetry_snapshot) or call it before and after the batch';
  END IF;
  IF end_time < v_oldest THEN
    RAISE EXCEPTION 'telemetry: window % .. % is outside retention: the oldest snapshot is from %', start_time, end_time, v_oldest;
  END IF;
  SELECT id INTO s1 FROM telemetry.snapshots WHERE captured_at <= start_time ORDER BY captured_at DESC, id DESC LIMIT 1;
  IF s1 IS NULL THEN
    SELECT id INTO s1 FROM telemetry.snapshots ORDER BY captured_at, id LIMIT 1;
    v_notes := v_notes || format('no snapshot at or before the start: data from the oldest snapshot (%s), %s of the window not covered',
                                 v_oldest, v_oldest - start_time);
  END IF;
  SELECT id INTO s2 FROM telemetry.snapshots WHERE captured_at >= end_time ORDER BY captured_at, id LIMIT 1;
  IF s2 IS NULL THEN
    IF take_fresh AND NOT pg_is_in_recovery() AND has_function_privilege('telemetry.snapshot()', 'EXECUTE') THEN
      s2 := telemetry.snapshot();
      v_notes := v_notes || format('the window reaches past the newest snapshot (%s): took a fresh snapshot at %s', v_newest, now());
      IF end_time > now() THEN
        v_notes := v_notes || format('the end (%s) is in the future: covered until %s', end_time, now());
      END IF;
    ELSE
      SELECT id INTO s2 FROM telemetry.snapshots ORDER BY captured_at DESC, id DESC LIMIT 1;
      v_notes := v_notes || format('no snapshot at or after the end: covered only until the newest snapshot (%s), %s of the window missing%s',
                                   v_newest, end_time - v_newest,
                                   CASE WHEN pg_is_in_recovery() THEN ' (standby: snapshots come from the primary)' ELSE '' END);
    END IF;
  END IF;
  IF s1 = s2 THEN
    RAISE EXCEPTION 'telemetry: only one snapshot (%) lies in the window % .. %; a comparison needs two (call telemetry.snapshot() before and after the batch)',
      (SELECT captured_at FROM telemetry.snapshots WHERE id = s1), start_time, end_time;
  END IF;
  note := nullif(array_to_string(v_notes, '; '), '');
END
$fn$;

CREATE FUNCTION telemetry.compare(start_time timestamptz, end_time timestamptz)
RETURNS SETOF telemetry._pair_deltas LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  b record;
  d telemetry._pair_deltas;
BEGIN
  b := telemetry._bracket(start_time, end_time);
  SELECT * INTO d FROM telemetry._pair_deltas WHERE start_snapshot_id = b.s1 AND end_snapshot_id = b.s2;
  IF d.stats_reset_in_window THEN
    b.note := concat_ws('; ', b.note, format('statistics were reset inside the window (%s): those deltas count only the work since the reset',
                                             array_to_string(d.reset_groups, ', ')));
  END IF;
  IF NOT d.track_io_timing THEN
    b.note := concat_ws('; ', b.note, 'track_io_timing is off: I/O times are not measured (zero does not mean fast)');
  END IF;
  d.coverage_note := b.note;
  IF b.note IS NOT NULL THEN
    RAISE NOTICE 'telemetry.compare: %', b.note;
  END IF;
  RETURN NEXT d;
END
$fn$;

CREATE FUNCTION telemetry._tracked_relid(p_table text)
RETURNS oid LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_parts text[] := parse_ident(p_table);
  v_schema text := CASE WHEN cardinality(v_parts) > 1 THEN v_parts[cardinality(v_parts) - 1] END;
  v_name text := v_parts[cardinality(v_parts)];
  v_ids oid[];
BEGIN
  SELECT array_agg(t.relid) INTO v_ids
    FROM telemetry.tracked_tables t
    LEFT JOIN pg_class c ON c.oid = t.relid
    LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE coalesce(c.relname, t.relname) = v_name
     AND (v_schema IS NULL OR coalesce(n.nspname, t.schemaname) = v_schema);
  IF v_ids IS NULL THEN
    RAISE EXCEPTION 'telemetry: table % is not tracked (SELECT telemetry.track_table(...) first)', p_table;
  ELSIF cardinality(v_ids) > 1 THEN
    RAISE EXCEPTION 'telemetry: % names % tracked tables: qualify it with its schema', p_table, cardinality(v_ids);
  END IF;
  RETURN v_ids[1];
END
$fn$;

CREATE FUNCTION telemetry.table_compare(table_name text, start_time timestamptz, end_time timestamptz)
RETURNS SETOF telemetry._table_pair_deltas LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_relid oid := telemetry._tracked_relid(table_name);
  b record;
  d telemetry._table_pair_deltas;
BEGIN
  b := telemetry._bracket(start_time, end_time);
  SELECT * INTO d FROM telemetry._table_pair_deltas
   WHERE start_snapshot_id = b.s1 AND end_snapshot_id = b.s2 AND relid = v_relid;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'telemetry: % has no statistics in both snapshots % and % (was it tracked before the window began?)',
      table_name, (SELECT captured_at FROM telemetry.snapshots WHERE id = b.s1),
      (SELECT captured_at FROM telemetry.snapshots WHERE id = b.s2);
  END IF;
  d.start_snapshot_at := (SELECT captured_at FROM telemetry.snapshots WHERE id = b.s1);
  d.end_snapshot_at := (SELECT captured_at FROM telemetry.snapshots WHERE id = b.s2);
  IF d.stats_reset_in_window THEN
    b.note := concat_ws('; ', b.note, 'table statistics were reset inside the window: deltas count only the work since the reset');
  END IF;
  d.coverage_note := b.note;
  IF b.note IS NOT NULL THEN
    RAISE NOTICE 'telemetry.table_compare: %', b.note;
  END IF;
  RETURN NEXT d;
END
$fn$;

-- Samples in the window; raises when the window holds none and says why.
CREATE FUNCTION telemetry._sample_window(start_time timestamptz, end_time timestamptz)
RETURNS bigint LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_oldest timestamptz;
  v_newest timestamptz;
  v_n bigint;
BEGIN
  PERFORM telemetry._check_window(start_time, end_time);
  SELECT count(*) INTO v_n FROM telemetry.samples WHERE captured_at BETWEEN start_time AND end_time;
  IF v_n > 0 THEN
    RETURN v_n;
  END IF;
  SELECT min(captured_at), max(captured_at) INTO v_oldest, v_newest FROM telemetry.samples;
  IF v_oldest IS NULL THEN
    RAISE EXCEPTION 'telemetry: no samples yet: schedule telemetry.sample() (pg_cron job telemetry_sample) or call it during the batch';
  ELSIF end_time < v_oldest THEN
    RAISE EXCEPTION 'telemetry: window % .. % is outside retention: the oldest sample is from %', start_time, end_time, v_oldest;
  ELSIF start_time > v_newest THEN
    RAISE EXCEPTION 'telemetry: no samples since % (window % .. %): is the telemetry_sample job running?', v_newest, start_time, end_time;
  ELSE
    RAISE EXCEPTION 'telemetry: no samples between % and % (sampling gap)', start_time, end_time;
  END IF;
END
$fn$;

CREATE FUNCTION telemetry.wait_summary(start_time timestamptz, end_time timestamptz)
RETURNS TABLE (backend_type text, wait_event_type text, wait_event text, sample_count bigint,
               total_waiters bigint, avg_waiters numeric, max_waiters int, pct_of_samples numeric)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  v_n bigint := telemetry._sample_window(start_time, end_time);
BEGIN
  RETURN QUERY
  SELECT w.backend_type, w.wait_event_type, w.wait_event, count(DISTINCT w.sample_id),
         sum(w.waiters)::bigint, round(sum(w.waiters)::numeric / v_n, 3), max(w.waiters),
         round(100.0 * count(DISTINCT w.sample_id) / v_n, 1)
    FROM telemetry.samples s JOIN telemetry.sample_waits w ON w.sample_id = s.id
   WHERE s.captured_at BETWEEN start_time AND end_time
   GROUP BY 1, 2, 3
   ORDER BY 5 DESC, 4 DESC, 1, 2, 3;
  IF NOT FOUND THEN
    RAISE NOTICE 'telemetry.wait_summary: % samples in the window, none saw an active session (no load)', v_n;
  END IF;
END
$fn$;

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

----------------------------------------------------------------------------------------------
-- Retention: deletes in batches of config.cleanup_batch_rows parent rows (samples or snapshots,
-- each with its child rows). The daily job CALLs cleanup_in_batches(), which commits after every
-- batch: no transaction holds back vacuum for long, and autovacuum can make the deleted space
-- reusable while the deletion goes on, so the tables stay near one retention's worth of rows.
-- Time partitions (DROP instead of DELETE) would leave no dead rows at all, but need partition
-- maintenance, the time column in every child key, and a data migration for existing installs;
-- at a few hundred thousand rows a day, committed batches are the simpler bound.
----------------------------------------------------------------------------------------------

-- One batch: up to p_batch samples older than p_cutoff with their child rows or, when no such
-- sample is left, up to p_batch such snapshots with theirs. Returns rows deleted per table;
-- an empty object when nothing older than the cutoff is left.
CREATE FUNCTION telemetry._cleanup_batch(p_cutoff timestamptz, p_batch int)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_ids bigint[];
  v_n bigint;
  v_counts jsonb := '{}';
  v_child text;
BEGIN
  IF p_batch IS NULL OR p_batch < 1 THEN
    RAISE EXCEPTION 'telemetry: the cleanup batch size must be a positive number of rows, not %', p_batch;
  END IF;
  SELECT array_agg(id) INTO v_ids
    FROM (SELECT id FROM telemetry.samples WHERE captured_at < p_cutoff ORDER BY captured_at, id LIMIT p_batch) x;
  IF v_ids IS NOT NULL THEN
    FOREACH v_child IN ARRAY ARRAY['sample_waits', 'sample_activity', 'sample_locks', 'sample_queries', 'sample_progress', 'sample_replication'] LOOP
      EXECUTE format('DELETE FROM telemetry.%I WHERE sample_id = ANY ($1)', v_child) USING v_ids;
      GET DIAGNOSTICS v_n = ROW_COUNT;
      v_counts := v_counts || jsonb_build_object(v_child, v_n);
    END LOOP;
    DELETE FROM telemetry.samples WHERE id = ANY (v_ids);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_counts || jsonb_build_object('samples', v_n);
  END IF;
  SELECT array_agg(id) INTO v_ids
    FROM (SELECT id FROM telemetry.snapshots WHERE captured_at < p_cutoff ORDER BY captured_at, id LIMIT p_batch) x;
  IF v_ids IS NOT NULL THEN
    FOREACH v_child IN ARRAY ARRAY['snapshot_tables', 'snapshot_replication'] LOOP
      EXECUTE format('DELETE FROM telemetry.%I WHERE snapshot_id = ANY ($1)', v_child) USING v_ids;
      GET DIAGNOSTICS v_n = ROW_COUNT;
      v_counts := v_counts || jsonb_build_object(v_child, v_n);
    END LOOP;
    DELETE FROM telemetry.snapshots WHERE id = ANY (v_ids);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_counts || jsonb_build_object('snapshots', v_n);
  END IF;
  RETURN '{}';
END
$fn$;

-- After the batches: finished runs older than the cutoff, and pg_cron's run history of the
-- telemetry jobs (a row per job run: 2880 a day for a 30 s job).
CREATE FUNCTION telemetry._cleanup_rest(p_cutoff timestamptz)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_n bigint;
  v_counts jsonb;
BEGIN
  DELETE FROM telemetry.runs WHERE coalesce(ended_at, started_at) < p_cutoff AND state <> 'running';
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_counts := jsonb_build_object('runs', v_n);
  -- a name whose last run is gone loses its totals (and its series); a later run starts them at 1 again
  DELETE FROM telemetry.run_totals t WHERE NOT EXISTS (SELECT 1 FROM telemetry.runs r WHERE r.name = t.name);
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_counts := v_counts || jsonb_build_object('run_totals', v_n);
  v_counts := v_counts || telemetry._cleanup_statement_texts();   -- 55-statement-capture.sql
  v_counts := v_counts || telemetry._cleanup_run_statement_bases(p_cutoff);   -- 56-run-statements.sql
  IF to_regclass('cron.job_run_details') IS NOT NULL THEN
    BEGIN
      EXECUTE $q$DELETE FROM cron.job_run_details
                  WHERE jobid IN (SELECT jobid FROM cron.job WHERE jobname LIKE 'telemetry\_%')
                    AND coalesce(end_time, start_time) < now() - $1::interval$q$
        USING telemetry._setting('cron_history_retain', '1 day');
      GET DIAGNOSTICS v_n = ROW_COUNT;
      v_counts := v_counts || jsonb_build_object('cron.job_run_details', v_n);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'telemetry cleanup: no privilege to purge cron.job_run_details';
    END;
  END IF;
  RETURN v_counts;
END
$fn$;

-- Sums two objects of row counts per table.
CREATE FUNCTION telemetry._add_counts(a jsonb, b jsonb)
RETURNS jsonb LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce(jsonb_object_agg(k, coalesce((a ->> k)::bigint, 0) + coalesce((b ->> k)::bigint, 0)), '{}')
        FROM (SELECT jsonb_object_keys(a) UNION SELECT jsonb_object_keys(b)) AS keys(k) $$;

-- The retention API in one transaction (a function cannot commit); the pg_cron job uses
-- cleanup_in_batches(), which commits between batches.
CREATE FUNCTION telemetry.cleanup(retain interval DEFAULT '7 days')
RETURNS TABLE (table_name text, rows_deleted bigint) LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  v_cutoff timestamptz := now() - retain;
  v_batch int := telemetry._setting('cleanup_batch_rows', '5000')::int;
  v_counts jsonb := '{}';
  v_step jsonb;
BEGIN
  IF retain IS NULL OR retain < interval '0' THEN
    RAISE EXCEPTION 'telemetry.cleanup: retain must be a non-negative interval';
  END IF;
  LOOP
    v_step := telemetry._cleanup_batch(v_cutoff, v_batch);
    EXIT WHEN v_step = '{}';
    v_counts := telemetry._add_counts(v_counts, v_step);
  END LOOP;
  v_counts := v_counts || telemetry._cleanup_rest(v_cutoff);
  RETURN QUERY SELECT k, coalesce((v_counts ->> k)::bigint, 0)
    FROM unnest(ARRAY['samples', 'sample_waits', 'sample_activity', 'sample_locks', 'sample_queries', 'sample_progress',
                      'sample_replication', 'snapshots', 'snapshot_tables', 'snapshot_replication', 'runs',
                      'run_totals', 'cron.job_run_details']) AS k
   WHERE k <> 'cron.job_run_details' OR v_counts ? k;
END
$fn$;

-- What the daily pg_cron job runs: CALL telemetry.cleanup_in_batches(). It commits after every
-- batch, so it must be CALLed outside a transaction block. A procedure that commits may have
-- neither SET search_path nor SECURITY DEFINER; this one runs with its caller's rights and only
-- calls schema-qualified functions that pin their search_path.
CREATE PROCEDURE telemetry.cleanup_in_batches(retain interval DEFAULT '7 days', batch_size int DEFAULT NULL)
LANGUAGE plpgsql
AS $pr$
DECLARE
  v_cutoff timestamptz := pg_catalog.now() - retain;
  v_batch int := coalesce(batch_size, telemetry._setting('cleanup_batch_rows', '5000')::int);
  v_counts jsonb := '{}';
  v_step jsonb;
  v_batches int := 0;
BEGIN
  IF retain IS NULL OR retain < interval '0' THEN
    RAISE EXCEPTION 'telemetry.cleanup_in_batches: retain must be a non-negative interval';
  END IF;
  LOOP
    v_step := telemetry._cleanup_batch(v_cutoff, v_batch);
    EXIT WHEN v_step = '{}';
    v_counts := telemetry._add_counts(v_counts, v_step);
    v_batches := v_batches + 1;
    COMMIT;
  END LOOP;
  v_counts := v_counts || telemetry._cleanup_rest(v_cutoff);
  COMMIT;
  RAISE NOTICE 'telemetry.cleanup_in_batches: % batches of up to % rows committed; rows deleted: %', v_batches, v_batch, v_counts;
END
$pr$;

----------------------------------------------------------------------------------------------
-- Health of the collection jobs
----------------------------------------------------------------------------------------------

-- pg_cron's run history of the jobs this schema scheduled, for monitoring accounts. pg_cron does
-- not open its schema to pg_monitor, and row-level security shows each user only the jobs they
-- own, so a monitoring role cannot read it directly; this SECURITY DEFINER function answers for
-- the telemetry_* jobs of this database owned by the schema's owner, and for nothing else (no
-- commands, no messages). Empty without pg_cron in this database (or before pg_cron 1.3).
CREATE FUNCTION telemetry.cron_job_health()
RETURNS TABLE (jobname text, schedule text, active boolean, last_status text, last_start timestamptz,
               last_end timestamptz, failed_last_hour bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  IF to_regclass('cron.job') IS NULL OR to_regclass('cron.job_run_details') IS NULL THEN
    RETURN;
  END IF;
  -- dynamic: the function must exist (and compile) where pg_cron is not installed
  RETURN QUERY EXECUTE $q$
    SELECT j.jobname::text, j.schedule::text, j.active, last.status::text, last.start_time, last.end_time,
           (SELECT count(*) FROM cron.job_run_details d
             WHERE d.jobid = j.jobid AND d.status = 'failed'
               AND coalesce(d.end_time, d.start_time) > now() - interval '1 hour')
      FROM cron.job j
      LEFT JOIN LATERAL (SELECT d.status, d.start_time, d.end_time FROM cron.job_run_details d
                          WHERE d.jobid = j.jobid AND d.status IN ('succeeded', 'failed')
                          ORDER BY d.start_time DESC NULLS LAST, d.runid DESC LIMIT 1) last ON true
     WHERE j.jobname LIKE 'telemetry\_%'
       AND j.database = current_database()
       AND j.username = (SELECT pg_get_userbyid(n.nspowner) FROM pg_namespace n WHERE n.nspname = 'telemetry')
     ORDER BY 1 $q$;
END
$fn$;

----------------------------------------------------------------------------------------------
-- Baselines: the ONE definition of "usual" for a run (batch_runs, the exporter's usual duration,
-- compare_to_baseline, diagnose and the report all read it)
----------------------------------------------------------------------------------------------

-- The previous succeeded runs of the same name that started before the run, most recent first, at
-- most config baseline_runs, leaving out runs marked with exclude_from_baseline(). Never the run
-- itself: a slow run must not raise its own yardstick.
CREATE FUNCTION telemetry.baseline_runs(p_run_id bigint)
RETURNS TABLE (run_id bigint, started_at timestamptz, ended_at timestamptz, duration_s numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT b.run_id, b.started_at, b.ended_at, round(extract(epoch FROM b.ended_at - b.started_at), 3)
    FROM telemetry.runs r
    JOIN telemetry.runs b ON b.name = r.name AND b.started_at < r.started_at AND b.run_id <> r.run_id
   WHERE r.run_id = p_run_id AND b.state = 'succeeded' AND b.ended_at IS NOT NULL AND NOT b.baseline_excluded
   ORDER BY b.started_at DESC, b.run_id DESC
   LIMIT telemetry._setting('baseline_runs', '5')::int
$$;

-- Of the given runs, the one a single-run comparison (statements and plans: the report's statements
-- section and diagnose()'s statement_regression) is made against: the run whose duration is closest
-- to their median, the most recent on a tie, so that one odd run in the baseline is not the yardstick.
CREATE FUNCTION telemetry._typical_run(p_runs bigint[])
RETURNS bigint LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  WITH d AS (SELECT r.run_id, round(extract(epoch FROM coalesce(r.ended_at, now()) - r.started_at), 3) AS s
               FROM telemetry.runs r WHERE r.run_id = ANY (p_runs))
  SELECT d.run_id FROM d
   ORDER BY abs(d.s - (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x.s) FROM d x)::numeric), d.run_id DESC
   LIMIT 1
$$;

-- The usual duration of a run in seconds: the mean of its baseline runs, NULL while there are fewer
-- than config baseline_min_runs of them (two runs are not a habit).
CREATE FUNCTION telemetry.usual_duration(p_run_id bigint, OUT usual_s numeric, OUT baseline_count int)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT CASE WHEN count(*) >= telemetry._setting('baseline_min_runs', '3')::int THEN round(avg(b.duration_s), 3) END,
         count(*)::int
    FROM telemetry.baseline_runs(p_run_id) b
$$;

CREATE FUNCTION telemetry.exclude_from_baseline(run_id bigint, excluded boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_variable
BEGIN
  UPDATE telemetry.runs r SET baseline_excluded = coalesce(excluded, true) WHERE r.run_id = run_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'telemetry.exclude_from_baseline: run % does not exist (see telemetry.batch_runs)', run_id;
  END IF;
END
$fn$;
----------------------------------------------------------------------------------------------
-- Batch runs
----------------------------------------------------------------------------------------------

-- session_bound: the run belongs to the calling session, and is closed as 'abandoned' if that
-- session ends without batch_end() (91-abandoned-runs.sql); false when batch_end() will come from
-- another session.
CREATE FUNCTION telemetry.batch_start(run_name text, session_bound boolean DEFAULT true)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_id bigint;
  v_job text;
  v_snapshot bigint;
BEGIN
  IF telemetry._name_problem(run_name) IS NOT NULL THEN
    RAISE EXCEPTION 'telemetry.batch_start: %', telemetry._name_problem(run_name);
  END IF;
  -- exact boundaries: a snapshot and a sample at the start of the run
  v_snapshot := telemetry.snapshot();
  INSERT INTO telemetry.runs (name, started_by, backend_start)
  VALUES (run_name, session_user,
          CASE WHEN session_bound THEN (SELECT a.backend_start FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()) END)
  RETURNING run_id INTO v_id;
  PERFORM telemetry._run_statements_start(v_id, v_snapshot);   -- the base of its statement totals (56-run-statements.sql)
  PERFORM telemetry._sample('batch_start', NULL);   -- after the run began: inside its window
  PERFORM telemetry._record_run_settings(v_id);   -- this session's settings: the batch's (91-run-fidelity.sql)
  PERFORM pg_advisory_xact_lock(hashtext('telemetry.run_sampling'));
  v_job := telemetry._run_sampling_job(true);     -- a sample every second while the run is open, where pg_cron can
  IF v_job <> 'scheduled' THEN
    RAISE DEBUG 'telemetry.batch_start: no per-second pg_cron sampling (%)', v_job;
  END IF;
  RETURN v_id;
END
$fn$;

CREATE FUNCTION telemetry.batch_end(run_id bigint, state text DEFAULT 'succeeded')
RETURNS interval LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  v_duration interval;
  v_snapshot bigint;
BEGIN
  IF state NOT IN ('succeeded', 'failed') THEN
    RAISE EXCEPTION 'telemetry.batch_end: state must be ''succeeded'' or ''failed'', not %', state;
  END IF;
  -- only the login role that started the run, or an administrator (telemetry._is_admin), may end it
  IF NOT telemetry._is_admin() AND EXISTS (SELECT 1 FROM telemetry.runs r WHERE r.run_id = batch_end.run_id
                                              AND r.started_by IS DISTINCT FROM session_user::text) THEN
    RAISE EXCEPTION 'telemetry.batch_end: run % was started by another role; only that role or a member of telemetry_admin may end it', run_id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- this session's statistics are flushed when it leaves this transaction; _settle_runs() then
  -- takes the run's closing snapshot again (91-run-fidelity.sql)
  PERFORM pg_stat_force_next_flush();
  UPDATE telemetry.runs r SET state = batch_end.state, ended_at = clock_timestamp(), end_pid = pg_backend_pid()
   WHERE r.run_id = batch_end.run_id AND r.state = 'running'
  RETURNING r.ended_at - r.started_at INTO v_duration;
  IF NOT FOUND AND EXISTS (SELECT 1 FROM telemetry.runs r WHERE r.run_id = batch_end.run_id AND r.state = 'abandoned') THEN
    RAISE EXCEPTION 'telemetry.batch_end: run % was closed as abandoned when the session that started it ended; '
                    'call batch_start(name, session_bound => false) when batch_end() comes from another session', run_id;
  ELSIF NOT FOUND THEN
    RAISE EXCEPTION 'telemetry.batch_end: run % does not exist or has already ended', run_id;
  END IF;
  PERFORM telemetry._sample('batch_end', NULL);
  v_snapshot := telemetry.snapshot();
  PERFORM telemetry._run_statements_end(run_id, v_snapshot);   -- its statement totals (56-run-statements.sql)
  RETURN v_duration;
END
$fn$;

CREATE VIEW telemetry.batch_runs AS
SELECT r.run_id, r.name, r.state, r.started_at, r.ended_at,
       coalesce(r.ended_at, now()) - r.started_at AS duration,
       make_interval(secs => u.usual_s::double precision) AS avg_succeeded_duration,   -- the run's baseline: telemetry.usual_duration()
       round(extract(epoch FROM coalesce(r.ended_at, now()) - r.started_at) / nullif(u.usual_s, 0), 2) AS duration_vs_avg,
       r.started_by, r.pid, r.source, u.baseline_count AS baseline_runs, r.baseline_excluded
  FROM telemetry.runs r
 CROSS JOIN LATERAL telemetry.usual_duration(r.run_id) u;

-- Keeps telemetry.run_totals: a run counts as started when inserted and as succeeded/failed when
-- its state leaves 'running' (or when it is inserted already finished). Every path that writes runs
-- (batch_start/batch_end, sample()'s application_name rules, a DBA's own INSERT) goes through here.
CREATE FUNCTION telemetry._count_run()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  IF TG_OP = 'INSERT' OR (OLD.state = 'running' AND NEW.state <> 'running') THEN
    INSERT INTO telemetry.run_totals AS t (name, started, succeeded, failed, abandoned)
    VALUES (NEW.name, CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE 0 END,
            (NEW.state = 'succeeded')::int, (NEW.state = 'failed')::int, (NEW.state = 'abandoned')::int)
    ON CONFLICT (name) DO UPDATE SET started = t.started + excluded.started,
                                     succeeded = t.succeeded + excluded.succeeded,
                                     failed = t.failed + excluded.failed,
                                     abandoned = t.abandoned + excluded.abandoned;
  END IF;
  RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS runs_count ON telemetry.runs;
CREATE TRIGGER runs_count AFTER INSERT OR UPDATE OF state ON telemetry.runs
  FOR EACH ROW EXECUTE FUNCTION telemetry._count_run();

-- First install of the totals over existing history (an upgrade, or a restored dump): start from
-- the runs kept so far. Later installs find the totals filled and leave them alone.
INSERT INTO telemetry.run_totals (name, started, succeeded, failed)
SELECT r.name, count(*), count(*) FILTER (WHERE r.state = 'succeeded'), count(*) FILTER (WHERE r.state = 'failed')
  FROM telemetry.runs r
 WHERE NOT EXISTS (SELECT 1 FROM telemetry.run_totals)
 GROUP BY r.name;

CREATE FUNCTION telemetry._run_window(p_run_id bigint, OUT start_time timestamptz, OUT end_time timestamptz)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  SELECT r.started_at, coalesce(r.ended_at, now()) INTO start_time, end_time FROM telemetry.runs r WHERE r.run_id = p_run_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'telemetry: run % does not exist (see telemetry.batch_runs)', p_run_id;
  END IF;
  end_time := telemetry._run_closing(p_run_id, end_time);   -- 91-run-fidelity.sql
END
$fn$;

-- Every numeric compare() metric of two windows side by side, the biggest relative change first.
CREATE FUNCTION telemetry.compare_windows(baseline_start timestamptz, baseline_end timestamptz,
                                          slow_start timestamptz, slow_end timestamptz)
RETURNS TABLE (metric text, baseline numeric, slow numeric, ratio numeric, change numeric)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  a jsonb;
  b jsonb;
BEGIN
  a := (SELECT to_jsonb(c) FROM telemetry.compare(baseline_start, baseline_end) c);
  b := (SELECT to_jsonb(c) FROM telemetry.compare(slow_start, slow_end) c);
  a := a || jsonb_build_object('window_seconds', extract(epoch FROM baseline_end - baseline_start));
  b := b || jsonb_build_object('window_seconds', extract(epoch FROM slow_end - slow_start));
  RETURN QUERY
  SELECT k.key, (a ->> k.key)::numeric, (b ->> k.key)::numeric,
         round((b ->> k.key)::numeric / nullif((a ->> k.key)::numeric, 0), 2),
         (b ->> k.key)::numeric - (a ->> k.key)::numeric
    FROM jsonb_each(b) k
   WHERE jsonb_typeof(k.value) = 'number' AND coalesce(jsonb_typeof(a -> k.key), 'null') IN ('number', 'null')
     AND k.key NOT IN ('start_snapshot_id', 'end_snapshot_id', 'slot_count')
   ORDER BY abs((b ->> k.key)::numeric - coalesce((a ->> k.key)::numeric, 0))
              / greatest(abs(coalesce((a ->> k.key)::numeric, 0)), 1) DESC,
            k.key;
END
$fn$;

CREATE FUNCTION telemetry.compare_runs(baseline_run bigint, slow_run bigint)
RETURNS TABLE (metric text, baseline numeric, slow numeric, ratio numeric, change numeric)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  a record := telemetry._run_window(baseline_run);
  b record := telemetry._run_window(slow_run);
BEGIN
  RETURN QUERY SELECT * FROM telemetry.compare_windows(a.start_time, a.end_time, b.start_time, b.end_time);
END
$fn$;

----------------------------------------------------------------------------------------------
-- Abandoned runs: a run whose session has gone without batch_end()
----------------------------------------------------------------------------------------------
-- A batch that crashes, is killed or loses its connection never calls batch_end(): its run would
-- stay 'running' forever, so "is the batch running?" (alerts, dashboards, the usual duration)
-- would be wrong from then on. batch_start() records the session that started the run (pid and
-- backend_start: a pid alone can be reused by a later session); once no session with both is
-- left, the run is abandoned. sample() closes such runs (state 'abandoned', ended_at = when it
-- found out); readers that cannot wait for the next sample() (the exporter) ask
-- run_session_gone() directly, so both use this one definition.
--
-- Runs without a recorded backend_start are never judged: runs started with
-- batch_start(name, session_bound => false) (batch_start and batch_end from different sessions,
-- as orchestrators that open one connection per task do), runs opened by sample()'s
-- application_name rules (closed by those rules), and runs from before this column existed.

ALTER TABLE telemetry.runs ADD COLUMN IF NOT EXISTS backend_start timestamptz;
DO $abandoned_state$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'telemetry.runs'::regclass AND conname = 'runs_state_check'
                    AND pg_get_constraintdef(oid) LIKE '%abandoned%') THEN
    ALTER TABLE telemetry.runs DROP CONSTRAINT IF EXISTS runs_state_check;
    ALTER TABLE telemetry.runs ADD CONSTRAINT runs_state_check
      CHECK (state IN ('running', 'succeeded', 'failed', 'abandoned'));
  END IF;
END
$abandoned_state$;
ALTER TABLE telemetry.run_totals ADD COLUMN IF NOT EXISTS abandoned bigint NOT NULL DEFAULT 0;
-- open runs are few among many finished ones: sample() and every scrape look them up by this
CREATE INDEX IF NOT EXISTS runs_running_idx ON telemetry.runs (run_id) WHERE state = 'running';

-- True when the run is open, was started by a session batch_start() recorded, and that session is
-- gone. On a standby the sessions are the standby's own, not the primary's: never true there. A
-- session whose backend_start this role may not see (no pg_read_all_stats) counts as still there.
CREATE FUNCTION telemetry.run_session_gone(p_run_id bigint)
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT coalesce(bool_and(r.state = 'running' AND r.backend_start IS NOT NULL AND NOT pg_is_in_recovery()
                           AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                            WHERE a.pid = r.pid
                                              AND (a.backend_start IS NULL OR a.backend_start = r.backend_start))), false)
    FROM telemetry.runs r
   WHERE r.run_id = p_run_id
$$;

-- Closes every abandoned run; returns how many. Called by sample() (so every 30 s under pg_cron).
CREATE FUNCTION telemetry.close_abandoned_runs()
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_closed integer;
BEGIN
  IF pg_is_in_recovery() THEN
    RETURN 0;
  END IF;
  UPDATE telemetry.runs r SET state = 'abandoned', ended_at = clock_timestamp()
   WHERE r.state = 'running' AND r.backend_start IS NOT NULL AND telemetry.run_session_gone(r.run_id);
  GET DIAGNOSTICS v_closed = ROW_COUNT;
  RETURN v_closed;
END
$fn$;
----------------------------------------------------------------------------------------------
-- Batch-run fidelity: per-second samples while a run is open, the closing snapshot after the
-- batch session's statistics flush, the batch session's settings, and the coverage of samples
----------------------------------------------------------------------------------------------

-- The closing snapshot of runs ended by batch_end(): PostgreSQL keeps a session's statistics (WAL,
-- blocks, temp files, tuples) in the session and flushes them at most once a second, when it goes
-- idle. batch_end() forces the next flush (pg_stat_force_next_flush()), but that happens only after
-- its own transaction: its snapshot can miss the last second of the batch's work, all of it for a
-- run of a few ms. Once the ending session has left that transaction its statistics are in shared
-- memory, and the next sample()/sample_open_runs()/diagnose(run) takes one snapshot that closes
-- every such run (within config run_stats_settle_window; later ones stay as batch_end left them).
CREATE FUNCTION telemetry._settle_runs()
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_window interval := telemetry._setting('run_stats_settle_window', '60 seconds')::interval;
  v_runs bigint[];
  v_snapshot bigint;
BEGIN
  SELECT array_agg(r.run_id) INTO v_runs
    FROM telemetry.runs r
   WHERE r.end_pid IS NOT NULL AND r.stats_snapshot_id IS NULL AND r.ended_at > now() - v_window
     AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                      WHERE a.pid = r.end_pid AND a.xact_start IS NOT NULL AND a.xact_start <= r.ended_at);
  IF v_runs IS NULL OR pg_is_in_recovery() THEN
    RETURN NULL;
  END IF;
  v_snapshot := telemetry.snapshot();
  UPDATE telemetry.runs r SET stats_snapshot_id = v_snapshot WHERE r.run_id = ANY (v_runs);
  RETURN v_snapshot;
END
$fn$;

-- A sample while any run is open (or a closing snapshot is due): called every second by the
-- pg_cron job telemetry_run_sample (pg_cron 1.5+, scheduled by batch_start) and by the exporter's
-- sampler when its role is a telemetry_writer. Returns the sample's id, or NULL when nothing is
-- open or another source sampled less than half an interval ago (both may run at once).
CREATE FUNCTION telemetry.sample_open_runs(p_source text, p_interval_s numeric)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_max_age interval := telemetry._setting('run_sample_max_age', '12 hours')::interval;
BEGIN
  IF p_source IS NULL OR p_interval_s IS NULL OR p_interval_s <= 0 THEN
    RAISE EXCEPTION 'telemetry.sample_open_runs: a source and a positive interval in seconds are required';
  END IF;
  IF pg_is_in_recovery() THEN
    RETURN NULL;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('telemetry.run_sampling'));   -- against batch_start scheduling the job
  IF NOT EXISTS (SELECT 1 FROM telemetry.runs r WHERE r.state = 'running' AND r.started_at > now() - v_max_age) THEN
    IF p_source = 'pg_cron' AND NOT EXISTS (SELECT 1 FROM telemetry.runs r WHERE r.end_pid IS NOT NULL AND r.stats_snapshot_id IS NULL
                                              AND r.ended_at > now() - telemetry._setting('run_stats_settle_window', '60 seconds')::interval) THEN
      PERFORM telemetry._run_sampling_job(false);   -- nothing open, nothing to settle: the per-second job stops itself
    END IF;
    PERFORM telemetry._settle_runs();
    RETURN NULL;
  END IF;
  IF EXISTS (SELECT 1 FROM telemetry.samples s WHERE s.captured_at > now() - make_interval(secs => (p_interval_s / 2)::double precision)) THEN
    PERFORM telemetry._settle_runs();
    RETURN NULL;
  END IF;
  RETURN telemetry._sample(p_source, p_interval_s);   -- settles runs too
END
$fn$;

-- Schedules (p_on) or removes the pg_cron job that samples every second while runs are open.
-- Second schedules need pg_cron 1.5+; the version string does not tell, so the schedule is tried.
-- Returns what happened, for batch_start's notice.
CREATE FUNCTION telemetry._run_sampling_job(p_on boolean)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
    RETURN 'no pg_cron in this database';
  END IF;
  IF NOT p_on THEN
    EXECUTE $q$SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'telemetry_run_sample'$q$;
    RETURN 'unscheduled';
  END IF;
  IF EXISTS (SELECT 1 FROM cron.job WHERE jobname = 'telemetry_run_sample') THEN
    RETURN 'scheduled';
  END IF;
  BEGIN
    EXECUTE $q$SELECT cron.schedule('telemetry_run_sample', '1 seconds', 'SELECT telemetry.sample_open_runs(''pg_cron'', 1)')$q$;
    RETURN 'scheduled';
  EXCEPTION WHEN OTHERS THEN
    RETURN 'this pg_cron has no second schedules (pg_cron 1.5+ has): ' || SQLERRM;
  END;
END
$fn$;

-- The batch session's settings, recorded by batch_start() in that session: every setting not at
-- its built-in default, and always the ones the evidence of diagnose() names.
CREATE FUNCTION telemetry._record_run_settings(p_run_id bigint)
RETURNS void LANGUAGE sql
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  INSERT INTO telemetry.run_settings (run_id, name, setting, unit, source)
  SELECT p_run_id, s.name, s.setting, s.unit, s.source
    FROM pg_settings s
   WHERE s.source NOT IN ('default', 'override')
      OR s.name IN ('work_mem', 'maintenance_work_mem', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout',
                    'random_page_cost', 'jit', 'effective_cache_size', 'temp_buffers', 'hash_mem_multiplier',
                    'max_parallel_workers_per_gather', 'synchronous_commit', 'track_io_timing',
                    'track_wal_io_timing', 'temp_file_limit')
  ON CONFLICT (run_id, name) DO NOTHING
$$;

-- A setting as users write it: 65536 with unit kB is '64 MB', 300 with unit s is '300s'.
CREATE FUNCTION telemetry._setting_display(p_setting text, p_unit text)
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN p_setting !~ '^-?[0-9]+$' OR p_unit IS NULL THEN p_setting
              WHEN p_setting::numeric < 0 THEN p_setting
              WHEN p_unit IN ('B', 'kB', 'MB', '8kB', '16MB')
                THEN pg_size_pretty(p_setting::numeric * CASE p_unit WHEN 'B' THEN 1 WHEN 'kB' THEN 1024 WHEN 'MB' THEN 1048576
                                                                     WHEN '8kB' THEN 8192 ELSE 16777216 END)
              ELSE p_setting || p_unit END
$$;

-- The server's own value of a setting (postgresql.conf, ALTER SYSTEM, else built in), as the server
-- sees it, not the calling session's: pg_file_settings needs the schema owner's rights.
CREATE FUNCTION telemetry._server_setting(p_name text)
RETURNS text LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_file text;
  v_unit text;
  v_boot text;
BEGIN
  IF p_name NOT IN ('work_mem', 'maintenance_work_mem', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout',
                    'random_page_cost', 'jit', 'effective_cache_size', 'temp_buffers', 'hash_mem_multiplier',
                    'max_parallel_workers_per_gather', 'synchronous_commit', 'synchronous_standby_names',
                    'track_io_timing', 'track_wal_io_timing', 'temp_file_limit') THEN
    RAISE EXCEPTION 'telemetry._server_setting: % is not a setting the evidence names', p_name;   -- file values may hold secrets
  END IF;
  SELECT s.unit, s.boot_val INTO v_unit, v_boot FROM pg_settings s WHERE s.name = p_name;
  BEGIN
    SELECT f.setting INTO v_file FROM pg_file_settings f
     WHERE f.name = p_name AND f.applied ORDER BY f.seqno DESC LIMIT 1;
  EXCEPTION WHEN insufficient_privilege THEN
    v_file := NULL;
  END;
  IF v_file IS NOT NULL THEN
    RETURN CASE WHEN v_file ~ '^[0-9]+$' THEN telemetry._setting_display(v_file, v_unit) ELSE v_file END
           || ' (server default, configuration file)';
  END IF;
  RETURN telemetry._setting_display(v_boot, v_unit) || ' (server default, built in)';
END
$fn$;

-- A setting for the evidence of a window: the batch session's value when the window is a run whose
-- settings batch_start() recorded, else the server default (a session may have used another).
CREATE FUNCTION telemetry._window_setting(p_run_id bigint, p_name text)
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT coalesce((SELECT telemetry._setting_display(rs.setting, rs.unit) || ' (batch session)'
                     FROM telemetry.run_settings rs WHERE rs.run_id = p_run_id AND rs.name = p_name),
                  telemetry._server_setting(p_name))
$$;

-- What the samples of a window can and cannot show: how many, from which sources at which
-- intervals, and the longest stretch of the window without a sample (a wait shorter than that
-- may have happened unseen between two samples).
CREATE FUNCTION telemetry.sample_coverage(start_time timestamptz, end_time timestamptz)
RETURNS TABLE (samples bigint, sources text, longest_gap_s numeric, note text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  WITH s AS (
    SELECT captured_at, source, interval_s FROM telemetry.samples
     WHERE captured_at BETWEEN start_time AND end_time
  ), edges AS (
    SELECT start_time AS t UNION ALL SELECT captured_at FROM s UNION ALL SELECT end_time
  ), gaps AS (
    SELECT extract(epoch FROM lead(t) OVER (ORDER BY t) - t) AS gap FROM edges
  ), src AS (
    SELECT string_agg(format('%s from %s%s', n, coalesce(source, 'sample()'),
                             CASE WHEN interval_s IS NOT NULL THEN format(' every %s s', trim_scale(interval_s)) ELSE '' END), ', '
                      ORDER BY n DESC) AS sources
      FROM (SELECT source, interval_s, count(*) AS n FROM s GROUP BY 1, 2) x
  )
  SELECT (SELECT count(*) FROM s), src.sources, round(max(g.gap), 1),
         format('%s samples (%s); longest stretch without a sample %s s: waits shorter than that may be missing',
                (SELECT count(*) FROM s), coalesce(src.sources, 'none'), round(max(g.gap), 1))
    FROM gaps g, src
   GROUP BY src.sources
$$;

-- The end of a run's window for its evidence: the snapshot taken after the batch session flushed
-- its statistics when there is one (taken now if it is due and the caller may collect), else the
-- end batch_end() recorded, with a notice that the run's own last second of work may be missing.
CREATE FUNCTION telemetry._run_closing(p_run_id bigint, p_end timestamptz)
RETURNS timestamptz LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  r record;
BEGIN
  SELECT x.end_pid, x.stats_snapshot_id, x.ended_at INTO r FROM telemetry.runs x WHERE x.run_id = p_run_id;
  IF r.end_pid IS NULL THEN
    RETURN p_end;   -- open, or not ended by batch_end()
  END IF;
  IF r.stats_snapshot_id IS NULL AND has_function_privilege('telemetry._settle_runs()', 'EXECUTE') THEN
    PERFORM telemetry._settle_runs();
    SELECT x.stats_snapshot_id INTO r.stats_snapshot_id FROM telemetry.runs x WHERE x.run_id = p_run_id;
  END IF;
  IF r.stats_snapshot_id IS NULL THEN
    RAISE NOTICE 'telemetry: run % ended at % and no snapshot was taken after its session flushed its statistics: '
                 'WAL, block, temp and table numbers may miss up to the last second of the run''s own work '
                 '(PostgreSQL flushes a session''s statistics at most once a second; all of it for a run of a few ms)',
      p_run_id, r.ended_at;
    RETURN p_end;
  END IF;
  RETURN greatest(p_end, (SELECT s.captured_at FROM telemetry.snapshots s WHERE s.id = r.stats_snapshot_id));
END
$fn$;
----------------------------------------------------------------------------------------------
-- diagnose(): one row per finding, the six patterns, ranked by score (= multiple of its threshold)
----------------------------------------------------------------------------------------------

CREATE TYPE telemetry._finding AS (pattern text, score numeric, evidence text, recommendation text);

-- p_run_id: the run the window belongs to (its batch session's settings), NULL for a plain window;
-- p_baseline_run: the run its statements are compared with (statement_regression), NULL for none.
CREATE FUNCTION telemetry._diagnose(start_time timestamptz, end_time timestamptz, p_run_id bigint, p_baseline_run bigint)
RETURNS TABLE (rank int, pattern text, severity text, score numeric, evidence text, recommendation text)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  v_coverage record;
  v_rate_s numeric := greatest(extract(epoch FROM end_time - start_time), 1);   -- rate forms: per second, windows under 1 s as 1 s
  c telemetry._pair_deltas;
  v_findings telemetry._finding[] := '{}';
  v_missing text[] := '{}';
  v_have_compare boolean := false;
  v_samples bigint := 0;
  v_val numeric;
  v_score numeric;
  r record;
BEGIN
  PERFORM telemetry._check_window(start_time, end_time);
  BEGIN
    SELECT * INTO c FROM telemetry.compare(start_time, end_time);
    v_have_compare := true;
  EXCEPTION WHEN OTHERS THEN
    v_missing := v_missing || ('snapshots: ' || SQLERRM);
  END;
  BEGIN
    v_samples := telemetry._sample_window(start_time, end_time);
  EXCEPTION WHEN OTHERS THEN
    v_missing := v_missing || ('samples: ' || SQLERRM);
  END;
  IF NOT v_have_compare AND v_samples = 0 THEN
    RAISE EXCEPTION 'telemetry.diagnose: no telemetry for % .. %: %', start_time, end_time, array_to_string(v_missing, '; ');
  END IF;
  IF cardinality(v_missing) > 0 THEN
    RAISE NOTICE 'telemetry.diagnose: partial evidence: %', array_to_string(v_missing, '; ');
  END IF;
  SELECT * INTO v_coverage FROM telemetry.sample_coverage(start_time, end_time);
  RAISE NOTICE 'telemetry.diagnose: coverage: %', v_coverage.note;

  -- 1. lock contention: the longest wait of a blocked session (from pg_locks.waitstart)
  IF v_samples > 0 THEN
    SELECT extract(epoch FROM l.blocked_duration) AS wait_s, l.blocked_pid, l.lock_type, l.lock_mode, l.relation,
           l.blocking_pid, l.blocking_state, qb.query AS blocking_query,
           (SELECT count(DISTINCT s2.id) FROM telemetry.samples s2 JOIN telemetry.sample_locks l2 ON l2.sample_id = s2.id
             WHERE s2.captured_at BETWEEN start_time AND end_time) AS blocked_samples
      INTO r
      FROM telemetry.samples s JOIN telemetry.sample_locks l ON l.sample_id = s.id
      LEFT JOIN telemetry.sample_queries qb ON qb.sample_id = l.sample_id AND qb.pid = l.blocking_pid   -- row-level security
     WHERE s.captured_at BETWEEN start_time AND end_time
     ORDER BY l.blocked_duration DESC NULLS LAST LIMIT 1;
    IF FOUND THEN
      v_score := r.wait_s / telemetry._setting('diagnose.lock_wait_seconds', '1')::numeric;
      IF v_score >= 1 THEN
        v_findings := v_findings || ROW('lock_contention', v_score,
          format('blocked sessions in %s of %s samples; longest wait %s s: pid %s waiting for %s (%s) on %s, blocked by pid %s (%s): %s; coverage: %s',
                 r.blocked_samples, v_samples, round(r.wait_s, 1), r.blocked_pid, r.lock_mode, r.lock_type,
                 coalesce(r.relation, '-'), r.blocking_pid, coalesce(r.blocking_state, '?'), coalesce(r.blocking_query, '(no query text: previews off, or not yours to see without pg_read_all_stats)'),
                 v_coverage.note),
          'Find the blocker in telemetry.locks_between(start, end): shorten its transaction, keep DDL/TRUNCATE and long transactions out of the batch window, and set lock_timeout in the batch so it fails fast instead of queueing.')::telemetry._finding;
      END IF;
    END IF;
  END IF;

  IF v_have_compare THEN
    -- 2. buffer / WAL pressure: client backends writing dirty buffers themselves
    v_val := coalesce(c.io_client_normal_writes, c.bgw_buffers_backend_delta);
    v_score := greatest(v_val / telemetry._setting('diagnose.backend_writes', '1024')::numeric,
                        v_val / v_rate_s / telemetry._setting('diagnose.backend_writes_per_second', '256')::numeric);
    IF v_score >= 1 THEN
      v_findings := v_findings || ROW('buffer_wal_pressure', v_score,
        format('client backends wrote %s buffers (%s, %s buffers/s over %s s) themselves; checkpointer wrote %s, bgwriter %s (maxwritten_clean %s); backend fsyncs %s; WAL %s, wal_buffers_full %s',
               v_val, pg_size_pretty(v_val * current_setting('block_size')::numeric), round(v_val / v_rate_s, 1), round(v_rate_s, 1), c.ckpt_buffers_delta,
               c.bgw_buffers_clean_delta, c.bgw_maxwritten_clean_delta, coalesce(c.io_client_fsyncs, c.bgw_buffers_backend_fsync_delta),
               c.wal_bytes_pretty, c.wal_buffers_full_delta),
        'Backends are evicting dirty pages on their own: raise shared_buffers, let the background writer do more (bgwriter_lru_maxpages, bgwriter_delay), reduce concurrent writers; if wal_buffers_full grows, raise wal_buffers.')::telemetry._finding;
    END IF;

    -- 3. checkpoint interference: forced checkpoints or slow checkpoint fsyncs
    v_score := greatest(c.ckpt_requested_delta / telemetry._setting('diagnose.requested_checkpoints', '1')::numeric,
                        c.ckpt_sync_time_ms / telemetry._setting('diagnose.checkpoint_sync_ms', '10000')::numeric,
                        c.ckpt_sync_time_ms / v_rate_s / telemetry._setting('diagnose.checkpoint_sync_ms_per_second', '100')::numeric);
    IF v_score >= 1 THEN
      v_findings := v_findings || ROW('checkpoint_interference', v_score,
        format('%s requested (forced) and %s timed checkpoints; checkpoint write %s ms, sync %s ms, %s buffers written; WAL %s in the window (max_wal_size %s)',
               c.ckpt_requested_delta, c.ckpt_timed_delta, c.ckpt_write_time_ms, c.ckpt_sync_time_ms,
               c.ckpt_buffers_delta, c.wal_bytes_pretty, telemetry._window_setting(p_run_id, 'max_wal_size')),
        'Forced checkpoints mean the batch wrote more WAL than max_wal_size between checkpoints: raise max_wal_size (and checkpoint_timeout), or run the batch away from other write-heavy work.')::telemetry._finding;
    END IF;

    -- 5. temp file spills
    v_score := greatest(c.temp_bytes_delta / telemetry._setting('diagnose.temp_bytes', '33554432')::numeric,
                        c.temp_bytes_delta / v_rate_s / telemetry._setting('diagnose.temp_bytes_per_second', '8388608')::numeric);
    IF v_score >= 1 THEN
      v_findings := v_findings || ROW('temp_file_spills', v_score,
        format('%s temp files, %s written to disk by sorts/hashes (%s/s over %s s); work_mem %s, hash_mem_multiplier %s',
               c.temp_files_delta, c.temp_bytes_pretty, pg_size_pretty(round(c.temp_bytes_delta / v_rate_s)), round(v_rate_s, 1),
               telemetry._window_setting(p_run_id, 'work_mem'), telemetry._window_setting(p_run_id, 'hash_mem_multiplier')),
        'Sorts and hashes spill to disk: raise work_mem for the batch session (SET work_mem = ''256MB''), or avoid the large sort (index, smaller batches); EXPLAIN (ANALYZE, BUFFERS) shows "external merge" / hash batches.')::telemetry._finding;
    END IF;

    -- 4. autovacuum on tracked tables during the window
    SELECT sum(coalesce(d.autovacuum_count_delta, 0) + coalesce(d.autoanalyze_count_delta, 0)) AS runs,
           string_agg(format('%s.%s (autovacuum %s, autoanalyze %s, dead tuples %s)', d.schemaname, d.relname,
                             d.autovacuum_count_delta, d.autoanalyze_count_delta, d.end_dead_tup), ', ')
             FILTER (WHERE d.autovacuum_count_delta > 0 OR d.autoanalyze_count_delta > 0) AS tables
      INTO r
      FROM telemetry._table_pair_deltas d
     WHERE d.start_snapshot_id = c.start_snapshot_id AND d.end_snapshot_id = c.end_snapshot_id;
    v_val := coalesce(r.runs, 0);
    v_score := v_val / telemetry._setting('diagnose.autovacuum_runs', '1')::numeric;
    IF v_score >= 1 THEN
      v_findings := v_findings || ROW('autovacuum_interference', v_score,
        format('%s autovacuum/autoanalyze runs on tracked tables: %s; autovacuum I/O: %s reads, %s writes',
               v_val, r.tables, coalesce(c.io_autovacuum_reads::text, 'n/a'), coalesce(c.io_autovacuum_writes::text, 'n/a')),
        'Autovacuum worked on the batch''s tables during the batch: disable it on them for the load (ALTER TABLE ... SET (autovacuum_enabled = false)) and VACUUM ANALYZE afterwards, or schedule the batch away from it; a higher autovacuum_vacuum_cost_delay makes it gentler.')::telemetry._finding;
    END IF;
  END IF;

  -- 6. replication lag, from samples and snapshots in the window
  SELECT max(x.bytes) AS bytes, max(x.lag) AS lag,
         (array_agg(x.app ORDER BY x.bytes DESC NULLS LAST))[1] AS app
    INTO r
    FROM (SELECT rp.replay_lag_bytes AS bytes, rp.replay_lag AS lag, rp.application_name AS app
            FROM telemetry.samples s JOIN telemetry.sample_replication rp ON rp.sample_id = s.id
           WHERE s.captured_at BETWEEN start_time AND end_time
          UNION ALL
          SELECT rp.replay_lag_bytes, rp.replay_lag, rp.application_name
            FROM telemetry.snapshots s JOIN telemetry.snapshot_replication rp ON rp.snapshot_id = s.id
           WHERE s.captured_at BETWEEN start_time AND end_time) x;
  v_score := greatest(r.bytes / telemetry._setting('diagnose.replay_lag_bytes', '16777216')::numeric,
                      extract(epoch FROM r.lag) / telemetry._setting('diagnose.replay_lag_seconds', '10')::numeric);
  IF v_score >= 1 THEN
    v_findings := v_findings || ROW('replication_lag', v_score,
      format('replica %s was up to %s behind in replay (replay_lag up to %s); synchronous_commit %s, synchronous_standby_names ''%s''',
             r.app, pg_size_pretty(r.bytes), coalesce(r.lag::text, 'n/a'), telemetry._window_setting(p_run_id, 'synchronous_commit'),
             current_setting('synchronous_standby_names')),
      'A replica fell behind: check its disk, CPU and network (and whether replay was paused or conflicted); with synchronous replication the batch waits for it, so consider SET LOCAL synchronous_commit = local for the batch or fix the replica first.')::telemetry._finding;
  END IF;

  v_findings := telemetry._statement_evidence(v_findings, start_time, end_time, p_run_id, p_baseline_run);   -- 93-statement-compare.sql

  IF cardinality(v_findings) = 0 THEN
    RAISE NOTICE 'telemetry.diagnose: no findings for % .. % (% samples%; %)', start_time, end_time, v_samples,
      CASE WHEN v_have_compare THEN format(', snapshots %s .. %s', c.start_snapshot_at, c.end_snapshot_at) ELSE ', no snapshots' END,
      v_coverage.note;
  END IF;
  RETURN QUERY
  SELECT (row_number() OVER (ORDER BY f.score DESC, f.pattern))::int, f.pattern,
         CASE WHEN f.score >= 10 THEN 'high' WHEN f.score >= 3 THEN 'medium' ELSE 'low' END,
         round(f.score, 2), f.evidence, f.recommendation
    FROM unnest(v_findings) f
   ORDER BY f.score DESC, f.pattern;
END
$fn$;

CREATE FUNCTION telemetry.diagnose(start_time timestamptz, end_time timestamptz)
RETURNS TABLE (rank int, pattern text, severity text, score numeric, evidence text, recommendation text)
LANGUAGE sql
SET search_path = pg_catalog, telemetry, pg_temp
AS $$ SELECT * FROM telemetry._diagnose(start_time, end_time, NULL, NULL) $$;

CREATE FUNCTION telemetry.diagnose(run_id bigint)
RETURNS TABLE (rank int, pattern text, severity text, score numeric, evidence text, recommendation text)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  w record := telemetry._run_window(run_id);
  v_findings jsonb;
  -- the run's baseline (95-report.sql), as run_report(run_id) has it
  v_base bigint[] := telemetry._report_baseline(run_id, NULL);
BEGIN
  v_findings := (SELECT jsonb_agg(to_jsonb(d)) FROM telemetry._diagnose(w.start_time, w.end_time, run_id, telemetry._typical_run(v_base)) d);
  IF v_findings IS NULL THEN
    RETURN;
  END IF;
  -- each finding against that baseline: "temp written 1.2 GB, usually 3 MB (median of 5 runs)"
  RETURN QUERY
  SELECT f.rank, f.pattern, f.severity, f.score, f.evidence, f.recommendation
    FROM telemetry._findings_with_baseline(v_findings,
           (SELECT jsonb_agg(to_jsonb(c)) FROM telemetry.compare_to_baseline(run_id, v_base) c),
           (SELECT r.name FROM telemetry.runs r WHERE r.run_id = diagnose.run_id), cardinality(v_base)) f;
END
$fn$;

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
----------------------------------------------------------------------------------------------
-- A run against its baseline: compare_to_baseline(), the baseline wording of diagnose(run_id),
-- and run_report(), the one JSON document every report (HTML, Markdown) renders. Numbers are
-- computed here, once; renderers only format. See docs/report.md for the format.
----------------------------------------------------------------------------------------------

-- The metrics a run is compared on: unit, the diagnostic pattern each serves, and how a DBA says it.
-- Volumes are also given per second of run time: a run that took longer did not necessarily do more.
CREATE FUNCTION telemetry._report_metrics()
RETURNS TABLE (metric text, unit text, pattern text, label text, ord int)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ VALUES
  ('duration_s',            's',         NULL,                      'duration',                               1),
  ('db_time_s',             's',         NULL,                      'database time (active sessions x time)', 2),
  ('aas',                   'sessions',  NULL,                      'average active sessions',                3),
  ('wait_lock_s',           's',         'lock_contention',         'time waiting for locks',                 10),
  ('max_lock_wait_s',       's',         'lock_contention',         'longest lock wait',                      11),
  ('wait_lwlock_s',         's',         'buffer_wal_pressure',     'time in LWLock waits',                   12),
  ('wait_io_s',             's',         NULL,                      'time in I/O waits',                      13),
  ('wait_cpu_s',            's',         NULL,                      'time on CPU (no wait event)',            14),
  ('wait_ipc_s',            's',         NULL,                      'time in IPC waits',                      15),
  ('wait_client_s',         's',         NULL,                      'time in Client waits',                   16),
  ('wait_bufferpin_s',      's',         NULL,                      'time in BufferPin waits',                17),
  ('wait_timeout_s',        's',         NULL,                      'time in Timeout waits',                  18),
  ('wait_extension_s',      's',         NULL,                      'time in Extension waits',                19),
  ('temp_bytes',            'bytes',     'temp_file_spills',        'temp written',                           20),
  ('temp_bytes_per_s',      'bytes/s',   'temp_file_spills',        'temp written per second',                21),
  ('temp_files',            'count',     'temp_file_spills',        'temp files',                             22),
  ('wal_bytes',             'bytes',     'buffer_wal_pressure',     'WAL written',                            30),
  ('wal_bytes_per_s',       'bytes/s',   'buffer_wal_pressure',     'WAL written per second',                 31),
  ('backend_buffer_writes', 'buffers',   'buffer_wal_pressure',     'buffers written by backends themselves', 32),
  ('wal_buffers_full',      'count',     'buffer_wal_pressure',     'WAL buffers full',                       33),
  ('checkpoints_requested', 'count',     'checkpoint_interference', 'requested checkpoints',                  40),
  ('checkpoints_timed',     'count',     'checkpoint_interference', 'timed checkpoints',                      41),
  ('checkpoint_write_ms',   'ms',        'checkpoint_interference', 'checkpoint write time',                  42),
  ('checkpoint_sync_ms',    'ms',        'checkpoint_interference', 'checkpoint sync time',                   43),
  ('autovacuum_runs',       'count',     'autovacuum_interference', 'autovacuum runs on tracked tables',      50),
  ('max_replay_lag_bytes',  'bytes',     'replication_lag',         'replay lag',                             60),
  ('blocks_read',           'blocks',    NULL,                      'blocks read',                            70),
  ('blocks_read_per_s',     'blocks/s',  NULL,                      'blocks read per second',                 71),
  ('blocks_hit',            'blocks',    NULL,                      'blocks found in shared buffers',         72),
  ('xact_commit',           'count',     NULL,                      'commits (whole database)',               80),
  ('deadlocks',             'count',     'lock_contention',         'deadlocks',                              81)
$$;

-- A value in its unit as a DBA writes it: 1.2 GB, 45.0 s, 3 min.
CREATE FUNCTION telemetry._fmt(v numeric, unit text)
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE
    WHEN v IS NULL THEN 'n/a'
    WHEN unit = 'bytes' THEN pg_size_pretty(round(v))
    WHEN unit = 'bytes/s' THEN pg_size_pretty(round(v)) || '/s'
    WHEN unit = 's' AND abs(v) >= 3600 THEN round(v / 3600, 1) || ' h'
    WHEN unit = 's' AND abs(v) >= 120 THEN round(v / 60, 1) || ' min'
    WHEN unit = 's' THEN round(v, 1) || ' s'
    WHEN unit = 'ms' THEN round(v) || ' ms'
    WHEN v = trunc(v) THEN trunc(v)::text || CASE WHEN unit IN ('count', 'sessions') THEN '' ELSE ' ' || unit END
    ELSE round(v, 2)::text || CASE WHEN unit IN ('count', 'sessions') THEN '' ELSE ' ' || unit END
  END $$;

-- A pg_settings value with its unit, as postgresql.conf would say it (work_mem 4096 kB -> 4MB).
CREATE FUNCTION telemetry._setting_pretty(p_setting text, p_unit text)
RETURNS text LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_bytes numeric;
BEGIN
  IF p_setting IS NULL THEN
    RETURN NULL;
  END IF;
  IF p_unit IN ('B', 'kB', 'MB', 'GB', '8kB', '16MB') AND p_setting ~ '^-?[0-9]+$' AND p_setting::numeric >= 0 THEN
    v_bytes := p_setting::numeric * CASE p_unit WHEN 'B' THEN 1 WHEN 'kB' THEN 1024 WHEN '8kB' THEN 8192
                                                WHEN 'MB' THEN 1048576 WHEN '16MB' THEN 16777216 ELSE 1073741824 END;
    RETURN CASE WHEN v_bytes >= 1073741824 AND v_bytes % 1073741824 = 0 THEN (v_bytes / 1073741824)::bigint || 'GB'
                WHEN v_bytes >= 1048576 AND v_bytes % 1048576 = 0 THEN (v_bytes / 1048576)::bigint || 'MB'
                WHEN v_bytes >= 1024 AND v_bytes % 1024 = 0 THEN (v_bytes / 1024)::bigint || 'kB'
                ELSE v_bytes::bigint || 'B' END;
  END IF;
  IF p_unit IN ('ms', 's', 'min') AND p_setting ~ '^-?[0-9]+$' THEN
    RETURN p_setting || p_unit;
  END IF;
  RETURN p_setting;
END
$fn$;

-- Everything measured about one run, once: its window, its snapshot pair (compare()), its samples
-- (average active sessions by wait class, lock waits, gaps) and its tracked tables. The report
-- and compare_to_baseline() read only this; a part that is missing is named in "notes".
CREATE FUNCTION telemetry._run_evidence(p_run_id bigint)
RETURNS jsonb LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
SET client_min_messages = warning
AS $fn$
DECLARE
  r telemetry.runs;
  v_end timestamptz;
  v_dur numeric;
  c telemetry._pair_deltas;
  v_have_compare boolean := false;
  v_notes text[] := '{}';
  v_m jsonb := '{}';
  v_s record;
  v_tables jsonb := '[]';
BEGIN
  SELECT * INTO r FROM telemetry.runs WHERE run_id = p_run_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'telemetry: run % does not exist (see telemetry.batch_runs)', p_run_id;
  END IF;
  v_end := coalesce(r.ended_at, now());
  v_dur := round(extract(epoch FROM v_end - r.started_at), 3);
  v_m := jsonb_build_object('duration_s', v_dur);

  IF v_dur > 0 THEN
    BEGIN
      SELECT * INTO c FROM telemetry.compare(r.started_at, v_end);
      v_have_compare := true;
    EXCEPTION WHEN OTHERS THEN
      v_notes := v_notes || ('snapshots: ' || SQLERRM);
    END;
  END IF;
  IF v_have_compare THEN
    v_m := v_m || jsonb_strip_nulls(jsonb_build_object(
      'temp_bytes', c.temp_bytes_delta, 'temp_files', c.temp_files_delta,
      'temp_bytes_per_s', round(c.temp_bytes_delta / v_dur, 1),
      'wal_bytes', c.wal_bytes_delta, 'wal_bytes_per_s', round(c.wal_bytes_delta / v_dur, 1),
      'wal_buffers_full', c.wal_buffers_full_delta,
      'backend_buffer_writes', coalesce(c.io_client_normal_writes, c.bgw_buffers_backend_delta),
      'checkpoints_requested', c.ckpt_requested_delta, 'checkpoints_timed', c.ckpt_timed_delta,
      'checkpoint_write_ms', c.ckpt_write_time_ms, 'checkpoint_sync_ms', c.ckpt_sync_time_ms,
      'blocks_read', c.blks_read_delta, 'blocks_read_per_s', round(c.blks_read_delta / v_dur, 1),
      'blocks_hit', c.blks_hit_delta, 'xact_commit', c.xact_commit_delta, 'deadlocks', c.deadlocks_delta,
      'max_replay_lag_bytes', c.max_replay_lag_bytes));
    v_m := v_m || jsonb_build_object('autovacuum_runs',
      (SELECT coalesce(sum(coalesce(d.autovacuum_count_delta, 0) + coalesce(d.autoanalyze_count_delta, 0)), 0)
         FROM telemetry._table_pair_deltas d
        WHERE d.start_snapshot_id = c.start_snapshot_id AND d.end_snapshot_id = c.end_snapshot_id));
    SELECT coalesce(jsonb_agg(jsonb_build_object(
             'relid', d.relid, 'table', format('%I.%I', d.schemaname, d.relname),
             'rows_inserted', d.n_tup_ins_delta, 'rows_updated', d.n_tup_upd_delta, 'rows_deleted', d.n_tup_del_delta,
             'rows_written', coalesce(d.n_tup_ins_delta, 0) + coalesce(d.n_tup_upd_delta, 0) + coalesce(d.n_tup_del_delta, 0),
             'seq_scans', d.seq_scan_delta, 'idx_scans', d.idx_scan_delta, 'size_delta_bytes', d.size_delta,
             'end_size_bytes', d.end_size, 'dead_tuple_ratio', d.dead_tuple_ratio,
             'autovacuum_ran', d.autovacuum_ran, 'autoanalyze_ran', d.autoanalyze_ran) ORDER BY d.schemaname, d.relname), '[]')
      INTO v_tables
      FROM telemetry._table_pair_deltas d
     WHERE d.start_snapshot_id = c.start_snapshot_id AND d.end_snapshot_id = c.end_snapshot_id;
  END IF;

  -- samples: AAS by wait class (database time = AAS x duration), the longest lock wait, gaps
  SELECT count(*) AS n,
         max(g.gap) AS max_gap_s,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY g.gap) AS median_interval_s,
         min(g.captured_at) AS first_at, max(g.captured_at) AS last_at, min(g.id) AS first_id, max(g.id) AS last_id
    INTO v_s
    FROM (SELECT s.id, s.captured_at, extract(epoch FROM s.captured_at - lag(s.captured_at) OVER (ORDER BY s.captured_at)) AS gap
            FROM telemetry.samples s WHERE s.captured_at BETWEEN r.started_at AND v_end) g;
  IF v_s.n > 0 THEN
    -- one pass over the run's samples; their ids bound the waits read (an index range, not the whole history)
    v_m := v_m || (
      WITH w AS (SELECT x.wait_event_type AS class, sum(x.waiters) AS waiters
                   FROM telemetry.samples s JOIN telemetry.sample_waits x ON x.sample_id = s.id
                  WHERE s.captured_at BETWEEN r.started_at AND v_end
                    AND x.sample_id BETWEEN v_s.first_id AND v_s.last_id
                  GROUP BY 1)
      SELECT jsonb_object_agg(k.metric, round(coalesce(w.waiters, 0)::numeric / v_s.n * v_dur, 3))
             || jsonb_build_object('db_time_s', round(coalesce((SELECT sum(waiters) FROM w), 0)::numeric / v_s.n * v_dur, 3),
                                   'aas', round(coalesce((SELECT sum(waiters) FROM w), 0)::numeric / v_s.n, 3))
        FROM (VALUES ('wait_lock_s', 'Lock'), ('wait_lwlock_s', 'LWLock'), ('wait_io_s', 'IO'), ('wait_cpu_s', 'CPU'),
                     ('wait_ipc_s', 'IPC'), ('wait_client_s', 'Client'), ('wait_bufferpin_s', 'BufferPin'),
                     ('wait_timeout_s', 'Timeout'), ('wait_extension_s', 'Extension')) k(metric, class)
        LEFT JOIN w ON w.class = k.class);
    v_m := v_m || jsonb_build_object('max_lock_wait_s',
      (SELECT coalesce(round(max(extract(epoch FROM l.blocked_duration)), 3), 0)
         FROM telemetry.samples s JOIN telemetry.sample_locks l ON l.sample_id = s.id
        WHERE s.captured_at BETWEEN r.started_at AND v_end));
  ELSE
    v_notes := v_notes || 'samples: none during the run (is the telemetry_sample job running?)'::text;
  END IF;

  RETURN jsonb_build_object(
    'run_id', r.run_id, 'name', r.name, 'state', r.state, 'started_at', r.started_at, 'ended_at', r.ended_at,
    'duration_s', v_dur, 'duration_text', telemetry._fmt(v_dur, 's'), 'started_by', r.started_by, 'source', r.source,
    'metrics', v_m, 'tables', v_tables,
    'snapshots', CASE WHEN v_have_compare THEN jsonb_build_object(
        'start_id', c.start_snapshot_id, 'end_id', c.end_snapshot_id, 'start_at', c.start_snapshot_at,
        'end_at', c.end_snapshot_at, 'stats_reset', c.stats_reset_in_window, 'reset_groups', to_jsonb(c.reset_groups),
        'server_restarted', c.server_restarted, 'track_io_timing', c.track_io_timing,
        'coverage_note', c.coverage_note, 'errors', c.snapshot_errors) END,
    'samples', jsonb_build_object('count', v_s.n, 'max_gap_s', round(v_s.max_gap_s, 1),
        'median_interval_s', round(v_s.median_interval_s::numeric, 1),
        'first_after_start_s', round(extract(epoch FROM v_s.first_at - r.started_at), 1),
        'last_before_end_s', round(extract(epoch FROM v_end - v_s.last_at), 1)),
    'notes', to_jsonb(v_notes));
END
$fn$;

-- The baseline a report uses: the runs given, or telemetry.baseline_runs(run_id). Runs given by
-- hand must exist; they need not have the same name (a DBA may compare against another batch).
CREATE FUNCTION telemetry._report_baseline(p_run_id bigint, p_baseline bigint[])
RETURNS bigint[] LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_missing bigint;
BEGIN
  IF p_baseline IS NULL THEN
    RETURN ARRAY(SELECT b.run_id FROM telemetry.baseline_runs(p_run_id) b);
  END IF;
  SELECT x INTO v_missing FROM unnest(p_baseline) x WHERE NOT EXISTS (SELECT 1 FROM telemetry.runs r WHERE r.run_id = x) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'telemetry: baseline run % does not exist (see telemetry.batch_runs)', v_missing;
  END IF;
  IF p_run_id = ANY (p_baseline) THEN
    RAISE EXCEPTION 'telemetry: run % cannot be its own baseline', p_run_id;
  END IF;
  RETURN ARRAY(SELECT DISTINCT x FROM unnest(p_baseline) x ORDER BY x DESC);
END
$fn$;

-- Per metric: the run's value against its baseline runs' median, quartiles and range. "outside"
-- means beyond anything the baseline has seen (above its max or below its min), and is only said
-- once the baseline is usual (at least baseline_min_runs runs).
CREATE FUNCTION telemetry._compare_evidence(p_run jsonb, p_baseline jsonb)
RETURNS TABLE (metric text, label text, unit text, pattern text, run_value numeric, baseline_median numeric,
               baseline_p25 numeric, baseline_p75 numeric, baseline_min numeric, baseline_max numeric,
               baseline_runs int, ratio numeric, outside boolean, run_text text, baseline_text text, baseline_range_text text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  WITH b AS (SELECT (k.value)::numeric AS v, k.key
               FROM jsonb_array_elements(p_baseline) e, jsonb_each_text(e -> 'metrics') k),
       agg AS (SELECT b.key, count(*)::int AS n,
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY b.v) AS med,
                      percentile_cont(0.25) WITHIN GROUP (ORDER BY b.v) AS p25,
                      percentile_cont(0.75) WITHIN GROUP (ORDER BY b.v) AS p75,
                      min(b.v) AS lo, max(b.v) AS hi
                 FROM b GROUP BY b.key),
       m AS (SELECT d.metric, d.label, d.unit, d.pattern, d.ord, (p_run -> 'metrics' ->> d.metric)::numeric AS v
               FROM telemetry._report_metrics() d)
  SELECT m.metric, m.label, m.unit, m.pattern, m.v, round(a.med::numeric, 3), round(a.p25::numeric, 3),
         round(a.p75::numeric, 3), a.lo, a.hi, coalesce(a.n, 0),
         round(m.v / nullif(a.med::numeric, 0), 2),
         CASE WHEN m.v IS NULL OR coalesce(a.n, 0) < telemetry._setting('baseline_min_runs', '3')::int THEN NULL
              ELSE m.v > a.hi OR m.v < a.lo END,
         telemetry._fmt(m.v, m.unit), telemetry._fmt(round(a.med::numeric, 3), m.unit),
         CASE WHEN a.n > 0 THEN telemetry._fmt(a.lo, m.unit) || ' - ' || telemetry._fmt(a.hi, m.unit) END
    FROM m LEFT JOIN agg a ON a.key = m.metric
   WHERE m.v IS NOT NULL OR a.n IS NOT NULL
   ORDER BY m.ord
$$;

CREATE FUNCTION telemetry.compare_to_baseline(run_id bigint, baseline bigint[] DEFAULT NULL)
RETURNS TABLE (metric text, label text, unit text, pattern text, run_value numeric, baseline_median numeric,
               baseline_p25 numeric, baseline_p75 numeric, baseline_min numeric, baseline_max numeric,
               baseline_runs int, ratio numeric, outside boolean, run_text text, baseline_text text, baseline_range_text text)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  v_base bigint[] := telemetry._report_baseline(run_id, baseline);
BEGIN
  RETURN QUERY SELECT * FROM telemetry._compare_evidence(
    telemetry._run_evidence(run_id),
    coalesce((SELECT jsonb_agg(telemetry._run_evidence(x)) FROM unnest(v_base) x), '[]'));
END
$fn$;

-- The baseline sentence of each diagnostic pattern: "temp written 1.2 GB, usually 3 MB (median of
-- 5 runs)", from compare rows as JSON; without a usual baseline, says so.
CREATE FUNCTION telemetry._baseline_notes(p_cmp jsonb, p_run_name text, p_baseline_runs int)
RETURNS TABLE (pattern text, note text, outside boolean, ratio numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT p.pattern,
         CASE WHEN p_baseline_runs < telemetry._setting('baseline_min_runs', '3')::int
              THEN format('no usual baseline yet: %s earlier successful run(s) of %s (%s needed)',
                          p_baseline_runs, p_run_name, telemetry._setting('baseline_min_runs', '3'))
              WHEN c IS NULL THEN NULL
              ELSE format('%s %s, usually %s (median of %s runs%s)', c ->> 'label',
                          telemetry._fmt((c ->> 'run_value')::numeric, c ->> 'unit'),
                          telemetry._fmt((c ->> 'baseline_median')::numeric, c ->> 'unit'), c ->> 'baseline_runs',
                          CASE WHEN (c ->> 'outside')::boolean AND (c ->> 'run_value')::numeric > (c ->> 'baseline_max')::numeric
                               THEN ', at most ' || telemetry._fmt((c ->> 'baseline_max')::numeric, c ->> 'unit') || ' before'
                               ELSE '' END) END,
         (c ->> 'outside')::boolean, (c ->> 'ratio')::numeric
    FROM (VALUES ('lock_contention', 'wait_lock_s'), ('buffer_wal_pressure', 'backend_buffer_writes'),
                 ('checkpoint_interference', 'checkpoints_requested'), ('autovacuum_interference', 'autovacuum_runs'),
                 ('temp_file_spills', 'temp_bytes'), ('replication_lag', 'max_replay_lag_bytes')) p(pattern, metric)
    LEFT JOIN LATERAL (SELECT e AS c FROM jsonb_array_elements(p_cmp) e WHERE e ->> 'metric' = p.metric) x ON true
$$;

-- diagnose(run_id)'s findings with their baseline sentence appended (diagnose(start, end) knows
-- no baseline); findings given as JSON rows of diagnose().
CREATE FUNCTION telemetry._findings_with_baseline(p_findings jsonb, p_cmp jsonb, p_run_name text, p_baseline_runs int)
RETURNS TABLE (rank int, pattern text, severity text, score numeric, evidence text, recommendation text,
               usual text, outside_baseline boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  SELECT (f ->> 'rank')::int, f ->> 'pattern', f ->> 'severity', (f ->> 'score')::numeric,
         f ->> 'evidence' || coalesce('; ' || n.note, ''), f ->> 'recommendation', n.note, n.outside
    FROM jsonb_array_elements(p_findings) f
    LEFT JOIN telemetry._baseline_notes(p_cmp, p_run_name, p_baseline_runs) n ON n.pattern = f ->> 'pattern'
   ORDER BY (f ->> 'rank')::int
$$;

-- AAS by wait class per time bucket from the start of each run: the run's own series and the
-- baseline's (mean over the baseline runs that had samples in the bucket), for one chart.
CREATE FUNCTION telemetry._waits_over_time(p_run_id bigint, p_baseline bigint[])
RETURNS jsonb LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_max numeric;
  v_bucket int;
  v_buckets int;
BEGIN
  SELECT max(extract(epoch FROM coalesce(r.ended_at, now()) - r.started_at)) INTO v_max
    FROM telemetry.runs r WHERE r.run_id = p_run_id OR r.run_id = ANY (p_baseline);
  -- at most ~240 points per series, whatever the sampling interval: the chart's width, and the report's size
  v_bucket := greatest(1, ceil(coalesce(v_max, 1) / 240.0))::int;
  v_buckets := greatest(1, ceil(coalesce(v_max, 1) / v_bucket))::int;
  RETURN (
    WITH runs AS (SELECT r.run_id, r.run_id = p_run_id AS is_run, r.started_at, coalesce(r.ended_at, now()) AS ended_at
                    FROM telemetry.runs r WHERE r.run_id = p_run_id OR r.run_id = ANY (p_baseline)),
         smp AS (SELECT r.run_id, r.is_run, s.id,
                        least(floor(extract(epoch FROM s.captured_at - r.started_at) / v_bucket)::int, v_buckets - 1) AS bucket
                   FROM runs r JOIN telemetry.samples s ON s.captured_at BETWEEN r.started_at AND r.ended_at),
         n AS (SELECT smp.run_id, smp.is_run, smp.bucket, count(*) AS samples FROM smp GROUP BY 1, 2, 3),
         -- sample ids grow with time: each run's id range bounds the waits read (an index range, not the whole history)
         ids AS (SELECT smp.run_id, min(smp.id) AS first_id, max(smp.id) AS last_id FROM smp GROUP BY 1),
         w AS (SELECT ids.run_id, x.bucket, x.class, x.waiters
                 FROM ids JOIN runs r ON r.run_id = ids.run_id
                CROSS JOIN LATERAL (
                      SELECT least(floor(extract(epoch FROM s.captured_at - r.started_at) / v_bucket)::int, v_buckets - 1) AS bucket,
                             sw.wait_event_type AS class, sum(sw.waiters) AS waiters
                        FROM telemetry.sample_waits sw JOIN telemetry.samples s ON s.id = sw.sample_id
                       WHERE sw.sample_id BETWEEN ids.first_id AND ids.last_id AND s.id BETWEEN ids.first_id AND ids.last_id
                         AND s.captured_at BETWEEN r.started_at AND r.ended_at
                       GROUP BY 1, 2) x),
         classes AS (SELECT DISTINCT w.class FROM w),
         aas AS (SELECT n.run_id, n.is_run, n.bucket, c.class, coalesce(w.waiters, 0)::numeric / n.samples AS aas
                   FROM n CROSS JOIN classes c
                   LEFT JOIN w ON w.run_id = n.run_id AND w.bucket = n.bucket AND w.class = c.class),
         per AS (SELECT a.is_run, a.bucket, a.class, avg(a.aas) AS aas FROM aas a GROUP BY 1, 2, 3),
         series AS (SELECT c.class, t.is_run,
                           jsonb_agg(round(p.aas, 3) ORDER BY b.bucket) AS points
                      FROM classes c CROSS JOIN (VALUES (true), (false)) t(is_run)
                     CROSS JOIN generate_series(0, v_buckets - 1) b(bucket)
                      LEFT JOIN per p ON p.is_run = t.is_run AND p.bucket = b.bucket AND p.class = c.class
                     GROUP BY 1, 2)
    SELECT jsonb_build_object(
             'bucket_s', v_bucket,
             't', (SELECT jsonb_agg(b * v_bucket ORDER BY b) FROM generate_series(0, v_buckets - 1) b),
             'classes', coalesce((SELECT jsonb_agg(c.class ORDER BY c.class) FROM classes c), '[]'),
             'run', coalesce((SELECT jsonb_object_agg(s.class, s.points) FROM series s WHERE s.is_run), '{}'),
             'baseline', coalesce((SELECT jsonb_object_agg(s.class, s.points) FROM series s WHERE NOT s.is_run
                                     AND cardinality(p_baseline) > 0), '{}'),
             'baseline_runs', cardinality(p_baseline)));
END
$fn$;

-- Checkpoints, WAL, temp and I/O per snapshot interval from the run's first snapshot to its last,
-- as rates (intervals differ in length), offset from the start of the run.
CREATE FUNCTION telemetry._activity_over_time(p_run jsonb)
RETURNS jsonb LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  WITH snaps AS (SELECT s.id, s.captured_at, lag(s.id) OVER (ORDER BY s.captured_at, s.id) AS prev_id
                   FROM telemetry.snapshots s
                  WHERE s.captured_at BETWEEN (p_run -> 'snapshots' ->> 'start_at')::timestamptz
                                          AND (p_run -> 'snapshots' ->> 'end_at')::timestamptz),
       d AS (SELECT round(extract(epoch FROM s.captured_at - (p_run ->> 'started_at')::timestamptz), 1) AS t,
                    greatest(extract(epoch FROM d.covered), 0.001) AS secs, d.*
               FROM snaps s JOIN telemetry._pair_deltas d ON d.start_snapshot_id = s.prev_id AND d.end_snapshot_id = s.id)
  SELECT jsonb_build_object(
    'source', 'snapshots',
    't', coalesce(jsonb_agg(d.t ORDER BY d.t), '[]'),
    'wal_bytes_per_s', coalesce(jsonb_agg(round(d.wal_bytes_delta / d.secs, 1) ORDER BY d.t), '[]'),
    'temp_bytes_per_s', coalesce(jsonb_agg(round(d.temp_bytes_delta / d.secs, 1) ORDER BY d.t), '[]'),
    'blocks_read_per_s', coalesce(jsonb_agg(round(d.blks_read_delta / d.secs, 1) ORDER BY d.t), '[]'),
    'backend_buffer_writes_per_s', coalesce(jsonb_agg(round(coalesce(d.io_client_normal_writes, d.bgw_buffers_backend_delta) / d.secs, 1) ORDER BY d.t), '[]'),
    'checkpoints_requested', coalesce(jsonb_agg(d.ckpt_requested_delta ORDER BY d.t), '[]'),
    'checkpoints_timed', coalesce(jsonb_agg(d.ckpt_timed_delta ORDER BY d.t), '[]'))
    FROM d
   WHERE p_run -> 'snapshots' IS NOT NULL AND jsonb_typeof(p_run -> 'snapshots') = 'object'
$$;

-- Settings whose value in the run differs from the value most baseline runs had (run_settings).
CREATE FUNCTION telemetry._settings_changed(p_run_id bigint, p_baseline bigint[])
RETURNS jsonb LANGUAGE sql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $$
  WITH base AS (SELECT s.name, s.setting, s.unit, count(*) AS runs,
                       row_number() OVER (PARTITION BY s.name ORDER BY count(*) DESC, s.setting) AS rn
                  FROM telemetry.run_settings s WHERE s.run_id = ANY (p_baseline) GROUP BY s.name, s.setting, s.unit),
       usual AS (SELECT * FROM base WHERE rn = 1),
       run AS (SELECT s.name, s.setting, s.unit, s.source FROM telemetry.run_settings s WHERE s.run_id = p_run_id),
       nbase AS (SELECT count(DISTINCT s.run_id) AS n FROM telemetry.run_settings s WHERE s.run_id = ANY (p_baseline))
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'name', coalesce(r.name, u.name),
           'baseline', telemetry._setting_pretty(u.setting, u.unit),
           'run', telemetry._setting_pretty(r.setting, r.unit),
           'run_source', r.source,
           'baseline_runs_with_value', u.runs, 'baseline_runs', nbase.n)
           ORDER BY coalesce(r.name, u.name)), '[]')
    FROM run r FULL JOIN usual u ON u.name = r.name
   CROSS JOIN nbase
   WHERE nbase.n > 0 AND r.setting IS DISTINCT FROM u.setting
$$;

-- run_report(): everything a report of one run shows, as one versioned JSON document
-- (format_version; docs/report.md describes every key). baseline NULL = telemetry.baseline_runs(run_id).
CREATE FUNCTION telemetry.run_report(run_id bigint, baseline bigint[] DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
SET client_min_messages = warning
AS $fn$
#variable_conflict use_variable
DECLARE
  v_run jsonb := telemetry._run_evidence(run_id);
  v_base_ids bigint[] := telemetry._report_baseline(run_id, baseline);
  v_base jsonb;
  v_cmp jsonb;
  v_findings jsonb := '[]';
  v_findings_error text;
  v_min int := telemetry._setting('baseline_min_runs', '3')::int;
  v_n int := cardinality(v_base_ids);
  v_warn jsonb := '[]';
  v_settings jsonb;
  v_statements jsonb;
  v_plan_changes jsonb;
  v_typical bigint;
  v_verdict jsonb;
  v_dur record;
  w text;
  b jsonb;
BEGIN
  -- the one run of the baseline statements are compared with, in the statements section and in
  -- diagnose()'s statement_regression alike: the typical run of the runs given, or of baseline_runs()
  v_typical := telemetry._typical_run(v_base_ids);
  v_base := coalesce((SELECT jsonb_agg(telemetry._run_evidence(x) ORDER BY x DESC) FROM unnest(v_base_ids) x), '[]');
  v_cmp := coalesce((SELECT jsonb_agg(to_jsonb(c)) FROM telemetry._compare_evidence(v_run, v_base) c), '[]');

  BEGIN
    -- as diagnose(run_id) finds them (its window, and the run's id, which statement_regression needs),
    -- against this report's baseline, with the baseline wording added below from its own comparison
    v_findings := coalesce((SELECT jsonb_agg(to_jsonb(d) ORDER BY d.rank)
                              FROM telemetry._run_window(run_id) w
                             CROSS JOIN LATERAL telemetry._diagnose(w.start_time, w.end_time, run_id, v_typical) d), '[]');
    v_findings := coalesce((SELECT jsonb_agg(to_jsonb(f) ORDER BY f.rank)
                              FROM telemetry._findings_with_baseline(v_findings, v_cmp, v_run ->> 'name', v_n) f), '[]');
  EXCEPTION WHEN OTHERS THEN
    v_findings_error := SQLERRM;
  END;

  -- warnings: what makes the numbers below less than the whole truth
  IF v_run ->> 'state' = 'running' THEN
    v_warn := v_warn || jsonb_build_object('code', 'run_running', 'message',
      format('run %s is still running: this report covers it until %s', run_id, now()));
  ELSIF v_run ->> 'state' = 'abandoned' THEN
    v_warn := v_warn || jsonb_build_object('code', 'run_abandoned', 'message',
      format('run %s was abandoned (its session ended without batch_end()): its work may be incomplete', run_id));
  ELSIF v_run ->> 'state' = 'failed' THEN
    v_warn := v_warn || jsonb_build_object('code', 'run_failed', 'message',
      format('run %s failed: its work may be incomplete, so lower numbers than usual are not good news', run_id));
  END IF;
  IF v_n = 0 THEN
    v_warn := v_warn || jsonb_build_object('code', 'no_baseline', 'message',
      format('no baseline: no earlier successful run of %s that is not excluded; the report shows this run alone', v_run ->> 'name'));
  ELSIF v_n < v_min THEN
    v_warn := v_warn || jsonb_build_object('code', 'baseline_too_small', 'message',
      format('the baseline has %s run(s), fewer than baseline_min_runs (%s): nothing is called outside the usual', v_n, v_min));
  END IF;
  FOR b IN SELECT jsonb_build_object('run', v_run) UNION ALL SELECT jsonb_build_object('run', e) FROM jsonb_array_elements(v_base) e LOOP
    FOR w IN SELECT jsonb_array_elements_text(b -> 'run' -> 'notes') LOOP
      v_warn := v_warn || jsonb_build_object('code', 'missing_data', 'run_id', b -> 'run' -> 'run_id',
                                             'message', format('run %s: %s', b -> 'run' ->> 'run_id', w));
    END LOOP;
    IF (b -> 'run' -> 'snapshots' ->> 'stats_reset')::boolean THEN
      v_warn := v_warn || jsonb_build_object('code', 'stats_reset', 'run_id', b -> 'run' -> 'run_id', 'message',
        format('run %s: statistics were reset during the run (%s): its counters cover only the time since the reset',
               b -> 'run' ->> 'run_id', (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(b -> 'run' -> 'snapshots' -> 'reset_groups') x)));
    END IF;
    IF (b -> 'run' -> 'snapshots' ->> 'server_restarted')::boolean THEN
      v_warn := v_warn || jsonb_build_object('code', 'server_restarted', 'run_id', b -> 'run' -> 'run_id', 'message',
        format('run %s: the server restarted during the run', b -> 'run' ->> 'run_id'));
    END IF;
    IF b -> 'run' -> 'snapshots' ->> 'errors' IS NOT NULL THEN
      v_warn := v_warn || jsonb_build_object('code', 'snapshot_errors', 'run_id', b -> 'run' -> 'run_id', 'message',
        format('run %s: snapshot errors: %s', b -> 'run' ->> 'run_id', b -> 'run' -> 'snapshots' ->> 'errors'));
    END IF;
    -- a gap of more than 3 sampling intervals (and more than 10 s) means the sampler missed part of the run
    IF (b -> 'run' -> 'samples' ->> 'count')::int > 2
       AND (b -> 'run' -> 'samples' ->> 'max_gap_s')::numeric
           > greatest(10, 3 * (b -> 'run' -> 'samples' ->> 'median_interval_s')::numeric) THEN
      v_warn := v_warn || jsonb_build_object('code', 'missing_samples', 'run_id', b -> 'run' -> 'run_id', 'message',
        format('run %s: no sample for %s s at one point (samples are usually %s s apart): waits in that gap are not seen',
               b -> 'run' ->> 'run_id', b -> 'run' -> 'samples' ->> 'max_gap_s', b -> 'run' -> 'samples' ->> 'median_interval_s'));
    END IF;
  END LOOP;
  IF (v_run -> 'snapshots' ->> 'track_io_timing')::boolean IS FALSE THEN
    v_warn := v_warn || jsonb_build_object('code', 'track_io_timing_off', 'message',
      'track_io_timing is off: I/O times are not measured (zero does not mean fast)');
  END IF;
  IF v_findings_error IS NOT NULL THEN
    v_warn := v_warn || jsonb_build_object('code', 'diagnose_failed', 'message', 'diagnose: ' || v_findings_error);
  END IF;
  v_warn := v_warn || coalesce((SELECT jsonb_agg(jsonb_build_object('code', 'cron_job_failing', 'message',
      format('collection job %s: %s', h.jobname,
             CASE WHEN NOT h.active THEN 'inactive'
                  ELSE format('last run %s, %s failed runs in the last hour', h.last_status, h.failed_last_hour) END)))
    FROM telemetry.cron_job_health() h
   WHERE NOT h.active OR h.last_status = 'failed' OR h.failed_last_hour > 0), '[]');

  -- statements and plans: read from the statement functions when this schema has them
  IF to_regprocedure('telemetry.statement_compare_runs(bigint,bigint)') IS NULL THEN
    v_statements := jsonb_build_object('status', 'unavailable', 'reason',
      'this telemetry schema has no statement capture (telemetry.statement_compare_runs is missing): install a version with statement evidence');
  ELSIF v_typical IS NULL THEN
    v_statements := jsonb_build_object('status', 'unavailable', 'reason', 'no baseline run to compare statements with');
  ELSE
    BEGIN
      -- from one comparison: the statements that took the most extra time (statement_compare_runs()
      -- ranks them), at most 20, and every plan change wherever it ranks (a plan that changed is what
      -- a DBA looks for, and a statement with little extra time can still have one)
      EXECUTE 'SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.rank) FILTER (WHERE x.rank <= 20), ''[]''),
                      coalesce(jsonb_agg(jsonb_build_object(''rank'', x.rank, ''queryid'', x.queryid, ''verdict'', x.verdict,
                                                            ''baseline_plan'', x.baseline_plan, ''slow_plan'', x.slow_plan,
                                                            ''query'', x.query) ORDER BY x.rank)
                                 FILTER (WHERE x.verdict = ''plan changed''), ''[]'')
                 FROM telemetry.statement_compare_runs($1, $2) x'
        INTO v_statements, v_plan_changes USING v_typical, run_id;
      v_statements := jsonb_build_object('status', 'ok', 'baseline_run_id', v_typical, 'rows', v_statements);
      v_plan_changes := jsonb_build_object('status', 'ok', 'baseline_run_id', v_typical, 'rows', v_plan_changes);
    EXCEPTION WHEN OTHERS THEN
      v_statements := jsonb_build_object('status', 'unavailable', 'reason', 'statement_compare_runs: ' || SQLERRM);
    END;
  END IF;
  IF v_statements ->> 'status' <> 'ok' THEN
    v_plan_changes := jsonb_build_object('status', 'unavailable', 'reason', v_statements ->> 'reason');
    v_warn := v_warn || jsonb_build_object('code', 'statements_unavailable', 'message', 'statements: ' || (v_statements ->> 'reason'));
  ELSE
    -- statement data of either side that misses work (a reset, eviction, a restart) is named, not only raised as a WARNING
    v_warn := v_warn || coalesce((
      SELECT jsonb_agg(jsonb_build_object('code', 'statements_incomplete', 'run_id', r.id, 'message', format('run %s: %s', r.id, c.note))
                       ORDER BY r.ord)
        FROM unnest(ARRAY[run_id, v_typical]) WITH ORDINALITY AS r(id, ord)
        CROSS JOIN LATERAL telemetry._run_window(r.id) w
        CROSS JOIN LATERAL telemetry._bracket(w.start_time, w.end_time, false) k
        CROSS JOIN LATERAL telemetry._statement_coverage(k.s1, k.s2) c
       WHERE c.available AND NOT c.complete), '[]');
  END IF;

  v_settings := telemetry._settings_changed(run_id, v_base_ids);

  -- the verdict: findings ranked, those beyond anything the baseline has seen first, in one sentence
  -- each; settings that changed and bear on a finding are named with it
  SELECT (x ->> 'run_value')::numeric AS run_s, (x ->> 'baseline_median')::numeric AS med, (x ->> 'baseline_runs')::int AS n
    INTO v_dur FROM jsonb_array_elements(v_cmp) x WHERE x ->> 'metric' = 'duration_s';
  v_verdict := jsonb_build_object(
    'summary', CASE WHEN v_dur.n >= v_min
                    THEN format('Run %s of %s took %s, %s its usual %s (median of %s runs).', run_id, v_run ->> 'name',
                                telemetry._fmt(v_dur.run_s, 's'),
                                CASE WHEN v_dur.med > 0 THEN round(v_dur.run_s / v_dur.med, 1) || 'x' ELSE 'against' END,
                                telemetry._fmt(v_dur.med, 's'), v_dur.n)
                    ELSE format('Run %s of %s took %s; there is no usual baseline to compare it with (%s earlier successful runs, %s needed).',
                                run_id, v_run ->> 'name', telemetry._fmt(v_dur.run_s, 's'), coalesce(v_dur.n, 0), v_min) END,
    'causes', coalesce((
      SELECT jsonb_agg(jsonb_build_object(
               'rank', c.rank, 'pattern', c.pattern, 'severity', c.severity, 'outside_baseline', c.outside,
               'headline', c.headline, 'usual', c.usual, 'evidence', c.evidence, 'settings', c.settings,
               'recommendation', c.recommendation)
               ORDER BY c.rank)
        FROM (SELECT row_number() OVER (ORDER BY coalesce((f ->> 'outside_baseline')::boolean, false) DESC,
                                                 (f ->> 'score')::numeric DESC, f ->> 'pattern') AS rank,
                     f ->> 'pattern' AS pattern, f ->> 'severity' AS severity, (f ->> 'outside_baseline')::boolean AS outside,
                     f ->> 'recommendation' AS recommendation, f ->> 'usual' AS usual,
                     -- without a usual value the headline is the evidence: not said twice
                     CASE WHEN f ->> 'usual' IS NOT NULL THEN left(f ->> 'evidence', length(f ->> 'evidence') - length('; ' || (f ->> 'usual'))) END AS evidence,
                     (SELECT string_agg(format('%s %s → %s', s ->> 'name', coalesce(s ->> 'baseline', '(not set)'),
                                               coalesce(s ->> 'run', '(not set)')), '; ')
                        FROM jsonb_array_elements(v_settings) s
                       WHERE s ->> 'name' = ANY (CASE f ->> 'pattern'
                               WHEN 'temp_file_spills' THEN ARRAY['work_mem', 'hash_mem_multiplier', 'temp_file_limit', 'temp_buffers']
                               WHEN 'checkpoint_interference' THEN ARRAY['max_wal_size', 'checkpoint_timeout', 'checkpoint_completion_target']
                               WHEN 'buffer_wal_pressure' THEN ARRAY['shared_buffers', 'wal_buffers', 'bgwriter_lru_maxpages', 'bgwriter_delay', 'synchronous_commit']
                               WHEN 'lock_contention' THEN ARRAY['lock_timeout', 'deadlock_timeout']
                               WHEN 'autovacuum_interference' THEN ARRAY['autovacuum_vacuum_cost_delay', 'autovacuum_vacuum_cost_limit', 'autovacuum']
                               WHEN 'replication_lag' THEN ARRAY['synchronous_commit', 'synchronous_standby_names']
                               ELSE ARRAY[]::text[] END)) AS settings,
                     format('%s: %s', CASE f ->> 'pattern'
                               WHEN 'lock_contention' THEN 'Lock contention'
                               WHEN 'temp_file_spills' THEN 'Temp-file spills'
                               WHEN 'checkpoint_interference' THEN 'Checkpoint interference'
                               WHEN 'buffer_wal_pressure' THEN 'Buffer/WAL pressure'
                               WHEN 'autovacuum_interference' THEN 'Autovacuum interference'
                               WHEN 'replication_lag' THEN 'Replication lag'
                               WHEN 'statement_regression' THEN 'Statement regression'
                               ELSE f ->> 'pattern' END,
                            coalesce(f ->> 'usual', f ->> 'evidence')) AS headline
                FROM jsonb_array_elements(v_findings) f) c), '[]'),
    'also_outside_baseline', coalesce((
      SELECT jsonb_agg(format('%s %s, usually %s', x ->> 'label', telemetry._fmt((x ->> 'run_value')::numeric, x ->> 'unit'),
                              telemetry._fmt((x ->> 'baseline_median')::numeric, x ->> 'unit')) ORDER BY (x ->> 'ratio')::numeric DESC NULLS LAST)
        FROM jsonb_array_elements(v_cmp) x
       WHERE (x ->> 'outside')::boolean AND x ->> 'metric' <> 'duration_s'
         -- causes, not volume of work: the batch's waits and the patterns' own measures, clearly beyond the usual
         AND (x ->> 'pattern' IS NOT NULL OR x ->> 'metric' LIKE 'wait\_%')
         AND (x ->> 'unit') IN ('s', 'bytes', 'count', 'buffers', 'ms')
         AND coalesce((x ->> 'ratio')::numeric >= 1.5, (x ->> 'run_value')::numeric > 0)
         -- a wait class matters when it took a tenth of the run or more (one sample is not a trend)
         AND (x ->> 'metric' NOT LIKE 'wait\_%' OR (x ->> 'run_value')::numeric >= 0.1 * v_dur.run_s)
         AND coalesce(x ->> 'pattern', '') NOT IN (SELECT f ->> 'pattern' FROM jsonb_array_elements(v_findings) f)), '[]'));

  SELECT jsonb_build_object(
           'median_s', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY (e ->> 'duration_s')::numeric)::numeric, 3),
           'min_s', min((e ->> 'duration_s')::numeric), 'max_s', max((e ->> 'duration_s')::numeric),
           'median_text', telemetry._fmt(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY (e ->> 'duration_s')::numeric)::numeric, 3), 's'))
    INTO b FROM jsonb_array_elements(v_base) e;

  RETURN jsonb_build_object(
    'format_version', 1,
    'generated_at', now(),
    'server', jsonb_build_object('version', current_setting('server_version'), 'database', current_database()),
    'run', v_run - 'notes' - 'metrics' - 'tables',
    'baseline', jsonb_build_object(
       'mode', CASE WHEN baseline IS NULL THEN 'auto' ELSE 'explicit' END,
       'min_runs', v_min, 'usual', v_n >= v_min,
       'runs', coalesce((SELECT jsonb_agg(jsonb_build_object('run_id', e -> 'run_id', 'name', e -> 'name', 'state', e -> 'state',
                                                            'started_at', e -> 'started_at', 'ended_at', e -> 'ended_at',
                                                            'duration_s', e -> 'duration_s', 'duration_text', e -> 'duration_text'))
                           FROM jsonb_array_elements(v_base) e), '[]'),
       'duration', b),
    'verdict', v_verdict,
    'findings', v_findings,
    'metrics', v_cmp,
    'statements', v_statements,
    'plan_changes', v_plan_changes,
    'waits_over_time', telemetry._waits_over_time(run_id, v_base_ids),
    'activity_over_time', coalesce(telemetry._activity_over_time(v_run), jsonb_build_object('source', 'snapshots', 't', '[]')),
    'tables', (SELECT coalesce(jsonb_agg(t || jsonb_build_object(
                 'baseline_rows_written_median', (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY (bt ->> 'rows_written')::numeric)
                                                    FROM jsonb_array_elements(v_base) e, jsonb_array_elements(e -> 'tables') bt
                                                   WHERE bt ->> 'relid' = t ->> 'relid'),
                 'baseline_seq_scans_median', (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY (bt ->> 'seq_scans')::numeric)
                                                 FROM jsonb_array_elements(v_base) e, jsonb_array_elements(e -> 'tables') bt
                                                WHERE bt ->> 'relid' = t ->> 'relid'))), '[]')
                 FROM jsonb_array_elements(v_run -> 'tables') t),
    'settings_changed', v_settings,
    'warnings', v_warn);
END
$fn$;
----------------------------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC; telemetry_reader reads, telemetry_writer also collects
----------------------------------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA telemetry FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA telemetry FROM PUBLIC;
REVOKE ALL ON ALL ROUTINES IN SCHEMA telemetry FROM PUBLIC;   -- functions and procedures
GRANT USAGE ON SCHEMA telemetry TO telemetry_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA telemetry TO telemetry_reader;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA telemetry TO telemetry_reader;
REVOKE EXECUTE ON FUNCTION telemetry.snapshot(), telemetry.sample(), telemetry.cleanup(interval),
  telemetry._cleanup_batch(timestamptz, int), telemetry._cleanup_rest(timestamptz), telemetry.batch_start(text, boolean), telemetry.batch_end(bigint, text), telemetry.track_table(text, text),
  telemetry.untrack_table(text, text), telemetry.close_abandoned_runs(),
  telemetry.exclude_from_baseline(bigint, boolean) FROM telemetry_reader;
GRANT EXECUTE ON FUNCTION telemetry.snapshot(), telemetry.sample(), telemetry.batch_start(text, boolean),
  telemetry.batch_end(bigint, text) TO telemetry_writer;
-- plans are stored by writers only (capture_plans() itself plans as the statement's role)
REVOKE EXECUTE ON FUNCTION telemetry._store_plan(bigint, oid, oid, bigint, text, text, jsonb),
  telemetry._cleanup_statement_texts() FROM telemetry_reader;
GRANT EXECUTE ON FUNCTION telemetry._store_plan(bigint, oid, oid, bigint, text, text, jsonb) TO telemetry_writer;
-- batch-run fidelity (91-run-fidelity.sql, 89-baseline.sql)
REVOKE EXECUTE ON FUNCTION telemetry._sample(text, numeric), telemetry.sample_open_runs(text, numeric),
  telemetry._settle_runs(), telemetry._run_sampling_job(boolean), telemetry._record_run_settings(bigint),
  telemetry.exclude_from_baseline(bigint, boolean) FROM telemetry_reader;
GRANT EXECUTE ON FUNCTION telemetry.sample_open_runs(text, numeric), telemetry._settle_runs(),
  telemetry.exclude_from_baseline(bigint, boolean) TO telemetry_writer;

COMMIT;

----------------------------------------------------------------------------------------------
-- Collection schedule (pg_cron when it is there; otherwise how to collect by hand)
----------------------------------------------------------------------------------------------

SET client_min_messages = notice;
DO $cron$
DECLARE
  v_cron_db text := current_setting('cron.database_name', true);
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron')
     AND current_setting('shared_preload_libraries') ~ 'pg_cron'
     AND coalesce(v_cron_db, 'postgres') = current_database() THEN
    BEGIN
      CREATE EXTENSION pg_cron;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE 'could not create extension pg_cron: %', SQLERRM;
    END;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
    RAISE NOTICE E'telemetry installed WITHOUT automatic collection: pg_cron is not available in database %.%\n'
      'Collect by hand or from any scheduler (cron, systemd timer, your batch runner):\n'
      '  psql -d % -c "SELECT telemetry.snapshot()"          -- every 5 minutes, and before/after each batch\n'
      '  psql -d % -c "SELECT telemetry.sample()"            -- every 30 seconds while batches run\n'
      '  psql -d % -c "SELECT * FROM telemetry.cleanup()"    -- daily (keeps 7 days)\n'
      '  psql -d % -c "SELECT * FROM telemetry.capture_pending_plans()"  -- every minute, with pg_stat_statements: plans of runs that ended\n'
      'or wrap a batch in telemetry.batch_start(''name'') / telemetry.batch_end(run_id), which snapshot and sample at both ends.',
      current_database(),
      CASE WHEN v_cron_db IS NOT NULL AND v_cron_db <> current_database()
           THEN format(' (pg_cron runs in database %s: schedule these calls there with cron.schedule_in_database)', v_cron_db)
           ELSE '' END,
      current_database(), current_database(), current_database(), current_database();
    RETURN;
  END IF;

  PERFORM cron.schedule('telemetry_snapshot', '*/5 * * * *', 'SELECT telemetry.snapshot()');
  -- second-granularity schedules need pg_cron 1.5+; extversion does not tell, so try it
  BEGIN
    PERFORM cron.schedule('telemetry_sample', '30 seconds', 'SELECT telemetry.sample()');
  EXCEPTION WHEN OTHERS THEN
    PERFORM cron.schedule('telemetry_sample', '* * * * *', 'SELECT telemetry.sample()');
    RAISE NOTICE 'this pg_cron does not accept a ''30 seconds'' schedule (pg_cron 1.5+ does): telemetry_sample runs every minute instead (%)', SQLERRM;
  END;
  PERFORM cron.schedule('telemetry_cleanup', '17 3 * * *', 'CALL telemetry.cleanup_in_batches()');
  -- plans of runs that just ended (capture_pending_plans: as each statement's role)
  PERFORM cron.schedule('telemetry_plans', '* * * * *', 'SELECT count(*) FROM telemetry.capture_pending_plans()');
  RAISE NOTICE 'telemetry: pg_cron jobs scheduled: %',
    (SELECT string_agg(format('%s (%s)', jobname, schedule), ', ' ORDER BY jobname) FROM cron.job WHERE jobname LIKE 'telemetry\_%');
END
$cron$;
