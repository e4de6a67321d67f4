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

