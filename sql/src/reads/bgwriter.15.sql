-- Background writer and the buffers backends wrote themselves, PostgreSQL 15-16: pg_stat_bgwriter.
-- columns: buffers_clean, maxwritten_clean, buffers_alloc, buffers_backend, buffers_backend_fsync, stats_reset
SELECT b.buffers_clean, b.maxwritten_clean, b.buffers_alloc,
       b.buffers_backend, b.buffers_backend_fsync, b.stats_reset
  FROM pg_stat_bgwriter b
