-- Maintenance commands in progress, PostgreSQL 15-16: vacuum counts dead tuples (num/max_dead_tuples).
-- columns: pid, backend_type, datname, command, relid, phase, blocks_total, blocks_done, tuples_done,
--          dead_items, max_dead_items, dead_tuple_bytes, max_dead_tuple_bytes
SELECT p.pid, a.backend_type, p.datname, 'VACUUM'::text AS command, p.relid, p.phase,
       p.heap_blks_total AS blocks_total, p.heap_blks_scanned AS blocks_done, NULL::bigint AS tuples_done,
       p.num_dead_tuples AS dead_items, p.max_dead_tuples AS max_dead_items, NULL::bigint AS dead_tuple_bytes, NULL::bigint AS max_dead_tuple_bytes
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
  FROM pg_stat_progress_cluster p LEFT JOIN pg_stat_activity a USING (pid)
