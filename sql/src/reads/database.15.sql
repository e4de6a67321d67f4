-- Per-database activity, the same columns on PostgreSQL 15+: the databases of pg_database that are
-- not templates (no batch runs there); the row of the shared catalogs (datid 0, no database) is left
-- out. Server-wide totals are the sums of these rows.
-- columns: datname, numbackends, xact_commit, xact_rollback, blks_read, blks_hit, tup_returned, tup_fetched,
--          tup_inserted, tup_updated, tup_deleted, conflicts, temp_files, temp_bytes, deadlocks,
--          blk_read_time, blk_write_time (ms), stats_reset
SELECT d.datname, s.numbackends, s.xact_commit, s.xact_rollback, s.blks_read, s.blks_hit,
       s.tup_returned, s.tup_fetched, s.tup_inserted, s.tup_updated, s.tup_deleted,
       s.conflicts, s.temp_files, s.temp_bytes, s.deadlocks, s.blk_read_time, s.blk_write_time, s.stats_reset
  FROM pg_database d
  JOIN pg_stat_database s ON s.datid = d.oid
 WHERE NOT d.datistemplate
