----------------------------------------------------------------------------------------------
-- Version-specific reads
----------------------------------------------------------------------------------------------

-- The one place that knows which PostgreSQL version names what. Every part returns the same
-- columns on every version; snapshot()/sample() run the text with EXECUTE.
CREATE FUNCTION telemetry.version_sql(p_part text, p_version int DEFAULT current_setting('server_version_num')::int)
RETURNS text LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  CASE p_part
  WHEN 'wal' THEN
    -- PG18 removed wal_write/wal_sync/wal_write_time/wal_sync_time: WAL I/O is in pg_stat_io (object 'wal')
    IF p_version >= 180000 THEN
      RETURN $q$
        SELECT w.wal_records::numeric, w.wal_fpi::numeric, w.wal_bytes, w.wal_buffers_full::numeric,
               io.writes, io.fsyncs, io.write_time, io.fsync_time, w.stats_reset
          FROM pg_stat_wal w,
               (SELECT sum(writes)::numeric AS writes, sum(fsyncs)::numeric AS fsyncs,
                       sum(write_time) AS write_time, sum(fsync_time) AS fsync_time
                  FROM pg_stat_io WHERE object = 'wal' AND context = 'normal') io $q$;
    ELSE
      RETURN $q$
        SELECT wal_records::numeric, wal_fpi::numeric, wal_bytes, wal_buffers_full::numeric,
               wal_write::numeric, wal_sync::numeric, wal_write_time, wal_sync_time, stats_reset
          FROM pg_stat_wal $q$;
    END IF;
  WHEN 'checkpointer' THEN
    -- columns: timed, requested, done, write_time, sync_time, buffers_written, stats_reset
    IF p_version >= 180000 THEN
      RETURN $q$ SELECT num_timed::numeric, num_requested::numeric, num_done::numeric, write_time, sync_time,
                        buffers_written::numeric, stats_reset FROM pg_stat_checkpointer $q$;
    ELSIF p_version >= 170000 THEN
      RETURN $q$ SELECT num_timed::numeric, num_requested::numeric, NULL::numeric, write_time, sync_time,
                        buffers_written::numeric, stats_reset FROM pg_stat_checkpointer $q$;
    ELSE
      RETURN $q$ SELECT checkpoints_timed::numeric, checkpoints_req::numeric, NULL::numeric,
                        checkpoint_write_time, checkpoint_sync_time, buffers_checkpoint::numeric, stats_reset
                   FROM pg_stat_bgwriter $q$;
    END IF;
  WHEN 'bgwriter' THEN
    -- columns: buffers_clean, maxwritten_clean, buffers_alloc, buffers_backend, buffers_backend_fsync, stats_reset
    -- PG17 moved backend writes to pg_stat_io (client backends, relation I/O)
    IF p_version >= 170000 THEN
      RETURN $q$ SELECT b.buffers_clean::numeric, b.maxwritten_clean::numeric, b.buffers_alloc::numeric,
                        io.writes, io.fsyncs, b.stats_reset
                   FROM pg_stat_bgwriter b,
                        (SELECT sum(writes)::numeric AS writes, sum(fsyncs)::numeric AS fsyncs FROM pg_stat_io
                          WHERE backend_type = 'client backend' AND object IN ('relation', 'temp relation')) io $q$;
    ELSE
      RETURN $q$ SELECT buffers_clean::numeric, maxwritten_clean::numeric, buffers_alloc::numeric,
                        buffers_backend::numeric, buffers_backend_fsync::numeric, stats_reset
                   FROM pg_stat_bgwriter $q$;
    END IF;
  WHEN 'io' THEN
    IF p_version < 160000 THEN
      RETURN NULL;   -- pg_stat_io exists from PG16
    END IF;
    RETURN (
      SELECT 'SELECT ' || string_agg(format('sum(%s) FILTER (WHERE backend_type = %L)::%s AS %I',
                                            m.col, b.bt, m.typ, 'io_' || b.short || '_' || m.col),
                                     ', ' ORDER BY b.ord, m.ord)
             || ', sum(writes) FILTER (WHERE backend_type = ''client backend'' AND context = ''normal'')::numeric'
             || ', max(stats_reset) FROM pg_stat_io WHERE object IN (''relation'', ''temp relation'')'
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
    -- PG17 renamed the vacuum dead-tuple columns (max_dead_tuples/num_dead_tuples ->
    -- max_dead_tuple_bytes/dead_tuple_bytes/num_dead_item_ids)
    RETURN format($q$
      SELECT p.pid, a.backend_type, p.datname, 'VACUUM'::text, p.relid, p.phase,
             p.heap_blks_total::numeric, p.heap_blks_scanned::numeric, NULL::numeric, %s
        FROM pg_stat_progress_vacuum p LEFT JOIN pg_stat_activity a USING (pid)
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
      CASE WHEN p_version >= 170000
           THEN 'p.num_dead_item_ids::numeric, NULL::numeric, p.dead_tuple_bytes::numeric, p.max_dead_tuple_bytes::numeric'
           ELSE 'p.num_dead_tuples::numeric, p.max_dead_tuples::numeric, NULL::numeric, NULL::numeric' END);
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

