-- VACUUM in progress, PostgreSQL 17+: the dead-tuple columns became num_dead_item_ids and
-- dead_tuple_bytes/max_dead_tuple_bytes (memory, not a tuple count).
-- columns: pid, backend_type, datname, command, relid, phase, blocks_total, blocks_done, tuples_done,
--          dead_items, max_dead_items, dead_tuple_bytes, max_dead_tuple_bytes
SELECT p.pid, a.backend_type, p.datname, 'VACUUM'::text AS command, p.relid, p.phase,
       p.heap_blks_total AS blocks_total, p.heap_blks_scanned AS blocks_done, NULL::bigint AS tuples_done,
       p.num_dead_item_ids AS dead_items, NULL::bigint AS max_dead_items,
       p.dead_tuple_bytes, p.max_dead_tuple_bytes
  FROM pg_stat_progress_vacuum p LEFT JOIN pg_stat_activity a USING (pid)
