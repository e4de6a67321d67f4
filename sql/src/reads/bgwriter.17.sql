-- Background writer and the buffers backends wrote themselves, PostgreSQL 17+: buffers_backend and
-- buffers_backend_fsync left pg_stat_bgwriter. PG16 counted them for every process but the
-- checkpointer and the background writer (client backends, autovacuum, background and parallel
-- workers, walsenders, startup), in every buffer-access context, for permanent relations only
-- (temporary relations never ask the checkpointer to sync): pg_stat_io's object 'relation' rows of
-- every other backend type, summed over contexts, are that quantity. (PG16 also counted one per
-- relation extension call; pg_stat_io counts extended blocks apart, in extends.)
-- columns: buffers_clean, maxwritten_clean, buffers_alloc, buffers_backend, buffers_backend_fsync, stats_reset
SELECT b.buffers_clean, b.maxwritten_clean, b.buffers_alloc,
       io.writes AS buffers_backend, io.fsyncs AS buffers_backend_fsync, b.stats_reset
  FROM pg_stat_bgwriter b,
       (SELECT sum(writes) AS writes, sum(fsyncs) AS fsyncs
          FROM pg_stat_io
         WHERE object = 'relation' AND backend_type NOT IN ('checkpointer', 'background writer')) io
