-- WAL generation and WAL I/O, PostgreSQL 15-17: all in pg_stat_wal.
-- columns: wal_records, wal_fpi, wal_bytes, wal_buffers_full, wal_write, wal_sync, wal_write_time, wal_sync_time (ms), stats_reset
SELECT w.wal_records, w.wal_fpi, w.wal_bytes, w.wal_buffers_full,
       w.wal_write, w.wal_sync, w.wal_write_time, w.wal_sync_time, w.stats_reset
  FROM pg_stat_wal w
