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

