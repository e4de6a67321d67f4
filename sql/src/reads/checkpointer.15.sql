-- Checkpoints, PostgreSQL 15-16: in pg_stat_bgwriter (whose reset also resets them).
-- columns: timed, requested, done (18+), write_time, sync_time (ms), buffers_written,
--          stats_reset (of these counters), checkpointer_stats_reset (pg_stat_checkpointer's, 17+)
SELECT b.checkpoints_timed AS timed, b.checkpoints_req AS requested, NULL::bigint AS done,
       b.checkpoint_write_time AS write_time, b.checkpoint_sync_time AS sync_time,
       b.buffers_checkpoint AS buffers_written,
       b.stats_reset, NULL::timestamptz AS checkpointer_stats_reset
  FROM pg_stat_bgwriter b
