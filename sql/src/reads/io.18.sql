-- I/O by backend type, object and context, PostgreSQL 18+: pg_stat_io with byte columns (op_bytes
-- dropped) and object 'wal' rows.
-- columns: backend_type, object, context, reads, writes, writebacks, extends, hits, evictions, reuses, fsyncs,
--          read_time, write_time, writeback_time, extend_time, fsync_time (ms), read_bytes, write_bytes, extend_bytes, stats_reset
SELECT backend_type, object, context,
       reads, writes, writebacks, extends, hits, evictions, reuses, fsyncs,
       read_time, write_time, writeback_time, extend_time, fsync_time,
       read_bytes, write_bytes, extend_bytes,
       stats_reset
  FROM pg_stat_io
