-- WAL generation and WAL I/O, PostgreSQL 18+: pg_stat_wal lost wal_write/wal_sync and their times;
-- they are pg_stat_io's object 'wal' rows of context 'normal' (XLogWrite() and issue_xlog_fsync(),
-- what PG17's columns counted). Context 'init' (zero-filling new WAL segments) was never in them.
-- columns: wal_records, wal_fpi, wal_bytes, wal_buffers_full, wal_write, wal_sync, wal_write_time, wal_sync_time (ms), stats_reset
SELECT w.wal_records, w.wal_fpi, w.wal_bytes, w.wal_buffers_full,
       io.writes AS wal_write, io.fsyncs AS wal_sync, io.write_time AS wal_write_time,
       io.fsync_time AS wal_sync_time, w.stats_reset
  FROM pg_stat_wal w,
       (SELECT sum(writes) AS writes, sum(fsyncs) AS fsyncs, sum(write_time) AS write_time, sum(fsync_time) AS fsync_time
          FROM pg_stat_io
         WHERE object = 'wal' AND context = 'normal') io
