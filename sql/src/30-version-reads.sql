----------------------------------------------------------------------------------------------
-- Version-specific reads
----------------------------------------------------------------------------------------------

-- The per-version texts live once, in sql/src/reads/<part>.<first major>.sql, shared with the
-- exporter (which loads the same files from its classpath); sql/build.sh writes them here as
-- telemetry._read(). Both sides select the columns they need by name.
-- @reads

-- The one place snapshot()/sample() get their version-specific statements from, as columns in the
-- order they read them INTO; they run the text with EXECUTE.
CREATE FUNCTION telemetry.version_sql(p_part text, p_version int DEFAULT current_setting('server_version_num')::int)
RETURNS text LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  CASE p_part
  WHEN 'wal' THEN
    RETURN 'SELECT r.wal_records::numeric, r.wal_fpi::numeric, r.wal_bytes, r.wal_buffers_full::numeric, '
        || 'r.wal_write::numeric, r.wal_sync::numeric, r.wal_write_time, r.wal_sync_time, r.stats_reset FROM ('
        || telemetry._read('wal', p_version) || ') r';
  WHEN 'checkpointer' THEN
    RETURN 'SELECT r.timed::numeric, r.requested::numeric, r.done::numeric, r.write_time, r.sync_time, '
        || 'r.buffers_written::numeric, r.stats_reset FROM ('
        || telemetry._read('checkpointer', p_version) || ') r';
  WHEN 'bgwriter' THEN
    RETURN 'SELECT r.buffers_clean::numeric, r.maxwritten_clean::numeric, r.buffers_alloc::numeric, '
        || 'r.buffers_backend::numeric, r.buffers_backend_fsync::numeric, r.stats_reset FROM ('
        || telemetry._read('bgwriter', p_version) || ') r';
  WHEN 'database' THEN
    RETURN 'SELECT sum(r.temp_files), sum(r.temp_bytes), sum(r.xact_commit), sum(r.xact_rollback), sum(r.blks_read), '
        || 'sum(r.blks_hit), sum(r.deadlocks), max(r.stats_reset) FROM ('
        || telemetry._read('database', p_version) || ') r';
  WHEN 'io' THEN
    IF telemetry._read('io', p_version) IS NULL THEN
      RETURN NULL;   -- pg_stat_io exists from PG16
    END IF;
    -- relation I/O (shared and temporary buffers) by the backend types the diagnosis tells apart
    RETURN (
      SELECT 'SELECT ' || string_agg(format('sum(%s) FILTER (WHERE backend_type = %L)::%s AS %I',
                                            m.col, b.bt, m.typ, 'io_' || b.short || '_' || m.col),
                                     ', ' ORDER BY b.ord, m.ord)
             || ', sum(writes) FILTER (WHERE backend_type = ''client backend'' AND context = ''normal'')::numeric'
             || ', max(stats_reset) FROM (' || telemetry._read('io', p_version) || ') io'
             || ' WHERE object IN (''relation'', ''temp relation'')'
        FROM (VALUES (1, 'checkpointer', 'checkpointer'), (2, 'autovacuum', 'autovacuum worker'),
                     (3, 'client', 'client backend'), (4, 'bgwriter', 'background writer')) AS b(ord, short, bt),
             (VALUES (1, 'reads', 'numeric'), (2, 'read_time', 'double precision'), (3, 'writes', 'numeric'),
                     (4, 'write_time', 'double precision'), (5, 'extends', 'numeric'), (6, 'fsyncs', 'numeric')) AS m(ord, col, typ));
  WHEN 'current_lsn' THEN
    -- pg_current_wal_lsn() fails on a standby
    RETURN $q$ SELECT CASE WHEN pg_is_in_recovery()
                           THEN coalesce(pg_last_wal_replay_lsn(), pg_last_wal_receive_lsn())
                           ELSE pg_current_wal_lsn() END $q$;
  WHEN 'progress' THEN
    -- only VACUUM's columns differ by version; the other commands read the same on 15-18
    RETURN format($q$
      SELECT r.pid, r.backend_type, r.datname, r.command, r.relid, r.phase, r.blocks_total::numeric,
             r.blocks_done::numeric, r.tuples_done::numeric, r.dead_items::numeric, r.max_dead_items::numeric,
             r.dead_tuple_bytes::numeric, r.max_dead_tuple_bytes::numeric
        FROM (%s) r
      UNION ALL
      SELECT p.pid, a.backend_type, p.datname, 'ANALYZE', p.relid, p.phase,
             p.sample_blks_total, p.sample_blks_scanned, NULL, NULL, NULL, NULL, NULL
        FROM pg_stat_progress_analyze p LEFT JOIN pg_stat_activity a USING (pid)
      UNION ALL
      SELECT p.pid, a.backend_type, p.datname, p.command, p.relid, p.phase,
             p.blocks_total, p.blocks_done, p.tuples_done, NULL, NULL, NULL, NULL
        FROM pg_stat_progress_create_index p LEFT JOIN pg_stat_activity a USING (pid)
      UNION ALL
      SELECT p.pid, a.backend_type, p.datname, p.command, p.relid, p.type,
             NULL, NULL, p.tuples_processed, NULL, NULL, NULL, NULL
        FROM pg_stat_progress_copy p LEFT JOIN pg_stat_activity a USING (pid)
      UNION ALL
      SELECT p.pid, a.backend_type, p.datname, p.command, p.relid, p.phase,
             p.heap_blks_total, p.heap_blks_scanned, p.heap_tuples_written, NULL, NULL, NULL, NULL
        FROM pg_stat_progress_cluster p LEFT JOIN pg_stat_activity a USING (pid) $q$,
      telemetry._read('vacuum_progress', p_version));
  WHEN 'statements' THEN
    -- pg_stat_statements(false): counters without texts; %1$I is the extension's schema (format()).
    -- Columns: userid, dbid, toplevel, queryid, calls, plans, total_exec_time, total_plan_time, rows,
    -- shared hit/read/dirtied/written, local hit/read/dirtied/written, temp read/written,
    -- blk_read_time, blk_write_time (shared + local), temp read/write time, wal records/fpi/bytes,
    -- jit_time, stats_since. PG17 split blk_*_time into shared_/local_ and added stats_since and
    -- jit_deform_time; PG18's parallel worker and wal_buffers_full counts are not read.
    RETURN format($q$
      SELECT userid, dbid, toplevel, queryid, calls, plans, total_exec_time, total_plan_time, rows,
             shared_blks_hit, shared_blks_read, shared_blks_dirtied, shared_blks_written,
             local_blks_hit, local_blks_read, local_blks_dirtied, local_blks_written,
             temp_blks_read, temp_blks_written, %s, temp_blk_read_time, temp_blk_write_time,
             wal_records, wal_fpi, wal_bytes,
             jit_generation_time + jit_inlining_time + jit_optimization_time + jit_emission_time%s AS jit_time,
             %s AS stats_since
        FROM %%1$I.pg_stat_statements(false) $q$,
      CASE WHEN p_version >= 170000
           THEN 'shared_blk_read_time + local_blk_read_time AS blk_read_time, shared_blk_write_time + local_blk_write_time AS blk_write_time'
           ELSE 'blk_read_time, blk_write_time' END,
      CASE WHEN p_version >= 170000 THEN ' + jit_deform_time' ELSE '' END,
      CASE WHEN p_version >= 170000 THEN 'stats_since' ELSE 'NULL::timestamptz' END);
  ELSE
    RAISE EXCEPTION 'unknown part %', p_part;
  END CASE;
END
$fn$;

