-- I/O by backend type, object and context, PostgreSQL 16-17: pg_stat_io, bytes from op_bytes.
-- columns: backend_type, object, context, reads, writes, writebacks, extends, hits, evictions, reuses, fsyncs,
--          read_time, write_time, writeback_time, extend_time, fsync_time (ms), read_bytes, write_bytes, extend_bytes, stats_reset
SELECT backend_type, object, context,
       reads, writes, writebacks, extends, hits, evictions, reuses, fsyncs,
       read_time, write_time, writeback_time, extend_time, fsync_time,
       reads * op_bytes AS read_bytes, writes * op_bytes AS write_bytes, extends * op_bytes AS extend_bytes,
       stats_reset
  FROM pg_stat_io
