-- Checkpoints, PostgreSQL 18+: pg_stat_checkpointer with num_done (checkpoints completed, as
-- opposed to requested ones skipped because nothing had changed).
-- columns: timed, requested, done (18+), write_time, sync_time (ms), buffers_written,
--          stats_reset (of these counters), checkpointer_stats_reset (pg_stat_checkpointer's, 17+)
SELECT k.num_timed AS timed, k.num_requested AS requested, k.num_done AS done,
       k.write_time, k.sync_time, k.buffers_written,
       k.stats_reset, k.stats_reset AS checkpointer_stats_reset
  FROM pg_stat_checkpointer k
