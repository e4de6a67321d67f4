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
