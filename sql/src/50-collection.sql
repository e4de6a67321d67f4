----------------------------------------------------------------------------------------------
-- Collection
----------------------------------------------------------------------------------------------

-- Relations whose AccessExclusiveLock (held or awaited by another session) would make a size
-- function wait: a waiting request queues every later AccessShareLock behind it.
CREATE FUNCTION telemetry._exclusively_locked()
RETURNS TABLE (relid oid, note text) LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT l.relation, string_agg(format('AccessExclusiveLock %s by pid %s', CASE WHEN l.granted THEN 'held' ELSE 'awaited' END,
                                       l.pid), ', ' ORDER BY l.pid)
    FROM pg_locks l
   WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_backend_pid()
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   GROUP BY l.relation
$$;

-- pg_total_relation_size() or NULL when the lock is not granted within lock_timeout: one
-- subtransaction per call, so it is only used when the set-based path lost a race for a lock.
CREATE FUNCTION telemetry._try_total_size(p_relid oid)
RETURNS numeric LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  RETURN pg_total_relation_size(p_relid);
EXCEPTION WHEN lock_not_available OR query_canceled THEN
  RETURN NULL;
END
$fn$;

-- One snapshot_tables row per tracked table, all in one statement: the leaves of every tracked
-- table in one walk of pg_inherits, statistics from the lock-free pg_stat_get_* functions, and
-- sizes from pg_total_relation_size(), which takes an AccessShareLock on the table, its TOAST
-- table and their indexes. Where one of those is exclusively locked, the size is estimated from
-- pg_class.relpages instead of waiting (size_exact = false, the lock in error).
-- p_one_by_one sizes each leaf in its own subtransaction (the race fallback of snapshot()).
-- PL/pgSQL for its cached plan: a SQL function with SET is planned anew on every call.
CREATE FUNCTION telemetry._tracked_table_rows(p_snapshot_id bigint, p_one_by_one boolean)
RETURNS SETOF telemetry.snapshot_tables LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  RETURN QUERY
  WITH RECURSIVE tree(root, relid) AS (
    SELECT t.relid, t.relid FROM telemetry.tracked_tables t
    UNION ALL
    SELECT tree.root, i.inhrelid FROM tree JOIN pg_inherits i ON i.inhparent = tree.relid
  ),
  locked AS MATERIALIZED (SELECT * FROM telemetry._exclusively_locked()),
  leaf AS (
    SELECT tree.root, c.oid AS relid,
           (SELECT string_agg(DISTINCT k.note, ', ') FROM locked k
             WHERE k.relid IN (c.oid, c.reltoastrelid)
                OR k.relid IN (SELECT x.indexrelid FROM pg_index x WHERE x.indrelid IN (c.oid, c.reltoastrelid))) AS lock_note,
           (c.relpages::numeric + coalesce(tc.relpages, 0)
            + coalesce((SELECT sum(ic.relpages) FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
                         WHERE x.indrelid IN (c.oid, c.reltoastrelid)), 0)) * current_setting('block_size')::numeric AS estimate
      FROM tree
      JOIN pg_class c ON c.oid = tree.relid
      LEFT JOIN pg_class tc ON tc.oid = c.reltoastrelid
     WHERE c.relkind IN ('r', 'm', 'p')
       AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = c.oid)
  ),
  sized AS MATERIALIZED (   -- each size function runs once per leaf
    SELECT leaf.*, CASE WHEN leaf.lock_note IS NOT NULL THEN NULL
                        WHEN p_one_by_one THEN telemetry._try_total_size(leaf.relid)
                        ELSE pg_total_relation_size(leaf.relid) END AS exact
      FROM leaf
  ),
  per_table AS (
    SELECT l.root, count(*)::int AS parts, sum(coalesce(l.exact, l.estimate)) AS bytes,
           bool_and(l.exact IS NOT NULL) AS exact,
           string_agg(DISTINCT coalesce(l.lock_note, 'lock timeout (part_lock_timeout)'), ', ') FILTER (WHERE l.exact IS NULL) AS lock_note,
           sum(pg_stat_get_live_tuples(l.relid)) AS live, sum(pg_stat_get_dead_tuples(l.relid)) AS dead,
           sum(pg_stat_get_tuples_inserted(l.relid)) AS ins, sum(pg_stat_get_tuples_updated(l.relid)) AS upd,
           sum(pg_stat_get_tuples_deleted(l.relid)) AS del, sum(pg_stat_get_tuples_hot_updated(l.relid)) AS hot,
           sum(pg_stat_get_numscans(l.relid)) AS seq,
           sum((SELECT sum(pg_stat_get_numscans(x.indexrelid)) FROM pg_index x WHERE x.indrelid = l.relid)) AS idx,
           sum(pg_stat_get_vacuum_count(l.relid)) AS vac, sum(pg_stat_get_autovacuum_count(l.relid)) AS avac,
           sum(pg_stat_get_analyze_count(l.relid)) AS an, sum(pg_stat_get_autoanalyze_count(l.relid)) AS aan,
           max(pg_stat_get_last_vacuum_time(l.relid)) AS lv, max(pg_stat_get_last_autovacuum_time(l.relid)) AS lav,
           max(pg_stat_get_last_analyze_time(l.relid)) AS la, max(pg_stat_get_last_autoanalyze_time(l.relid)) AS laa
      FROM sized l
     GROUP BY l.root
  )
  SELECT p_snapshot_id, c.oid, n.nspname::text, c.relname::text, p.parts, p.bytes, p.exact,
         p.live, p.dead, p.ins, p.upd, p.del, p.hot, p.seq, p.idx, p.vac, p.avac, p.an, p.aan, p.lv, p.lav, p.la, p.laa,
         CASE WHEN NOT p.exact THEN 'size estimated from pg_class.relpages: ' || p.lock_note END
    FROM per_table p
    JOIN pg_class c ON c.oid = p.root
    JOIN pg_namespace n ON n.oid = c.relnamespace;
END
$fn$;

CREATE FUNCTION telemetry.snapshot()
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_id bigint;
  s telemetry.snapshots%ROWTYPE;
  v_errors text[] := '{}';
  v_lock_timeout text := current_setting('lock_timeout');
  v_sql text;
BEGIN
  IF pg_is_in_recovery() THEN
    RAISE NOTICE 'telemetry.snapshot(): server is in recovery (standby): telemetry tables are read-only here; '
                 'snapshots are taken on the primary and replicated';
    RETURN NULL;
  END IF;

  v_id := nextval(pg_get_serial_sequence('telemetry.snapshots', 'id'));
  s.captured_at := clock_timestamp();   -- not now(): batch_end() ends a run just before its snapshot
  s.server_version_num := current_setting('server_version_num')::int;
  s.in_recovery := false;
  s.postmaster_start_time := pg_postmaster_start_time();
  s.track_io_timing := current_setting('track_io_timing')::boolean;
  s.track_wal_io_timing := current_setting('track_wal_io_timing')::boolean;

  -- every part in its own subtransaction: one failing part keeps the rest of the snapshot
  BEGIN
    EXECUTE telemetry.version_sql('current_lsn') INTO s.wal_lsn;
    EXECUTE telemetry.version_sql('wal')
       INTO s.wal_records, s.wal_fpi, s.wal_bytes, s.wal_buffers_full, s.wal_write, s.wal_sync,
            s.wal_write_time, s.wal_sync_time, s.wal_stats_reset;
  EXCEPTION WHEN OTHERS THEN v_errors := v_errors || ('wal: ' || SQLERRM);
  END;
  BEGIN
    EXECUTE telemetry.version_sql('checkpointer')
       INTO s.ckpt_timed, s.ckpt_requested, s.ckpt_done, s.ckpt_write_time, s.ckpt_sync_time,
            s.ckpt_buffers_written, s.ckpt_stats_reset;
    s.last_checkpoint_time := (pg_control_checkpoint()).checkpoint_time;
  EXCEPTION WHEN OTHERS THEN v_errors := v_errors || ('checkpointer: ' || SQLERRM);
  END;
  BEGIN
    EXECUTE telemetry.version_sql('bgwriter')
       INTO s.bgw_buffers_clean, s.bgw_maxwritten_clean, s.bgw_buffers_alloc, s.bgw_buffers_backend,
            s.bgw_buffers_backend_fsync, s.bgw_stats_reset;
  EXCEPTION WHEN OTHERS THEN v_errors := v_errors || ('bgwriter: ' || SQLERRM);
  END;
  BEGIN
    EXECUTE telemetry.version_sql('database')
       INTO s.temp_files, s.temp_bytes, s.xact_commit, s.xact_rollback, s.blks_read, s.blks_hit,
            s.deadlocks, s.db_stats_reset;
  EXCEPTION WHEN OTHERS THEN v_errors := v_errors || ('database: ' || SQLERRM);
  END;
  BEGIN
    EXECUTE 'SELECT count(*), max(r.retained_bytes) FROM (' || telemetry._read('slots') || ') r'
       INTO s.slot_count, s.slot_max_retained_bytes;
  EXCEPTION WHEN OTHERS THEN v_errors := v_errors || ('slots: ' || SQLERRM);
  END;
  v_sql := telemetry.version_sql('io');
  IF v_sql IS NOT NULL THEN
    BEGIN
      EXECUTE v_sql INTO
        s.io_checkpointer_reads, s.io_checkpointer_read_time, s.io_checkpointer_writes,
        s.io_checkpointer_write_time, s.io_checkpointer_extends, s.io_checkpointer_fsyncs,
        s.io_autovacuum_reads, s.io_autovacuum_read_time, s.io_autovacuum_writes,
        s.io_autovacuum_write_time, s.io_autovacuum_extends, s.io_autovacuum_fsyncs,
        s.io_client_reads, s.io_client_read_time, s.io_client_writes,
        s.io_client_write_time, s.io_client_extends, s.io_client_fsyncs,
        s.io_bgwriter_reads, s.io_bgwriter_read_time, s.io_bgwriter_writes,
        s.io_bgwriter_write_time, s.io_bgwriter_extends, s.io_bgwriter_fsyncs,
        s.io_client_normal_writes, s.io_stats_reset;
    EXCEPTION WHEN OTHERS THEN v_errors := v_errors || ('io: ' || SQLERRM);
    END;
  END IF;

  s.errors := CASE WHEN cardinality(v_errors) > 0 THEN v_errors END;
  s.id := v_id;
  INSERT INTO telemetry.snapshots OVERRIDING SYSTEM VALUE SELECT (s).*;

  -- tracked tables, in one statement for all of them (see _tracked_table_rows). Sizes need a lock
  -- and a table under an AccessExclusiveLock is already sized from pg_class; lock_timeout bounds the
  -- race where such a lock arrives after that check, and only then is each table sized on its own.
  -- The lock on our own table is taken first, so that the short timeout applies to tracked tables only.
  LOCK TABLE telemetry.snapshot_tables IN ROW EXCLUSIVE MODE;
  PERFORM set_config('lock_timeout', telemetry._setting('part_lock_timeout', '200ms'), true);
  BEGIN
    INSERT INTO telemetry.snapshot_tables SELECT * FROM telemetry._tracked_table_rows(v_id, false);
  EXCEPTION WHEN lock_not_available OR query_canceled THEN
    INSERT INTO telemetry.snapshot_tables SELECT * FROM telemetry._tracked_table_rows(v_id, true);
  END;
  PERFORM set_config('lock_timeout', v_lock_timeout, true);

  BEGIN
    EXECUTE format('INSERT INTO telemetry.snapshot_replication '
                   'SELECT %s, r.pid, r.application_name, r.client_addr, r.state, r.sync_state, r.sent_lsn, r.replay_lsn, '
                   'r.write_lag, r.flush_lag, r.replay_lag, r.replay_lag_bytes FROM (%s) r', v_id, telemetry._read('replication'));
  EXCEPTION WHEN OTHERS THEN
    UPDATE telemetry.snapshots SET errors = coalesce(errors, '{}') || ('replication: ' || SQLERRM) WHERE id = v_id;
  END;
  PERFORM telemetry._run_statements_fold();   -- open runs keep their work over a reset (56-run-statements.sql)
  PERFORM telemetry._capture_statements(v_id);   -- pg_stat_statements deltas (55-statement-capture.sql)
  RETURN v_id;
END
$fn$;

-- One sample; p_source and p_interval_s say who took it and how often that source samples
-- (diagnose() states its coverage from them).
CREATE FUNCTION telemetry._sample(p_source text, p_interval_s numeric)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_id bigint;
  v_me int := pg_backend_pid();
  v_top int := telemetry._setting('sample_top_sessions', '25')::int;
  v_preview int := telemetry._setting('query_preview_chars', '200')::int;
  v_rule record;
BEGIN
  IF pg_is_in_recovery() THEN
    RAISE NOTICE 'telemetry.sample(): server is in recovery (standby): telemetry tables are read-only here; '
                 'samples are taken on the primary and replicated';
    RETURN NULL;
  END IF;
  -- pg_stat_activity is read once per transaction (cached), so all parts below see one instant
  INSERT INTO telemetry.samples (captured_at, active_sessions, idle_in_xact, blocked_sessions, total_backends, source, interval_s)
  SELECT CASE WHEN p_source = 'batch_start' THEN clock_timestamp() ELSE now() END,   -- batch_start samples after the run began
         count(*) FILTER (WHERE a.backend_type = 'client backend' AND a.state = 'active'),
         count(*) FILTER (WHERE a.state LIKE 'idle in transaction%'),
         count(*) FILTER (WHERE a.wait_event_type = 'Lock'),
         count(*), p_source, p_interval_s
    FROM pg_stat_activity a WHERE a.pid <> v_me
  RETURNING id INTO v_id;

  INSERT INTO telemetry.sample_waits (sample_id, backend_type, wait_event_type, wait_event, waiters)
  SELECT v_id, a.backend_type, coalesce(a.wait_event_type, 'CPU'), coalesce(a.wait_event, 'CPU'), count(*)
    FROM pg_stat_activity a
   WHERE a.pid <> v_me
     AND (a.state IS NULL OR a.state IN ('active', 'fastpath function call'))   -- = telemetry._is_load()
     AND a.wait_event_type IS DISTINCT FROM 'Activity'
   GROUP BY 2, 3, 4;

  INSERT INTO telemetry.sample_activity (sample_id, pid, usename, application_name, client_addr, backend_type, state,
         wait_event_type, wait_event, backend_start, xact_start, query_start, state_change, query_id)
  SELECT v_id, a.pid, a.usename, a.application_name, a.client_addr, a.backend_type, a.state,
         a.wait_event_type, a.wait_event, a.backend_start, a.xact_start, a.query_start, a.state_change,
         a.query_id
    FROM pg_stat_activity a
   WHERE a.pid <> v_me AND a.state IS NOT NULL AND a.state <> 'idle'
     AND a.backend_type IN ('client backend', 'autovacuum worker', 'background worker', 'parallel worker', 'walsender')
   ORDER BY coalesce(a.xact_start, a.query_start) NULLS LAST
   LIMIT v_top;

  -- exact blockers from pg_blocking_pids(); the wait is timed from pg_locks.waitstart
  INSERT INTO telemetry.sample_locks (sample_id, blocked_pid, blocked_user, blocked_application, wait_started_at,
         blocked_duration, blocking_pid, blocking_user, blocking_application, blocking_state, blocking_xact_duration,
         lock_type, lock_mode, relation)
  SELECT v_id, w.pid, w.usename, w.application_name,
         l.waitstart, now() - coalesce(l.waitstart, w.state_change),
         b.blocking_pid, bl.usename, bl.application_name, bl.state,
         now() - bl.xact_start, l.locktype, l.mode, l.relation::regclass::text
    FROM pg_stat_activity w
   CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(blocking_pid)
    LEFT JOIN pg_stat_activity bl ON bl.pid = b.blocking_pid
    LEFT JOIN LATERAL (SELECT lk.locktype, lk.mode, lk.relation, lk.waitstart FROM pg_locks lk
                        WHERE lk.pid = w.pid AND NOT lk.granted LIMIT 1) l ON true
   WHERE w.wait_event_type = 'Lock' AND w.pid <> v_me;

  -- their query text, apart, with its owner: row-level security shows it as pg_stat_activity would
  IF v_preview > 0 THEN
    INSERT INTO telemetry.sample_queries (sample_id, pid, role_oid, query)
    SELECT v_id, a.pid, a.usesysid, left(a.query, v_preview)
      FROM pg_stat_activity a
     WHERE a.query IS NOT NULL
       AND a.pid IN (SELECT x.pid FROM telemetry.sample_activity x WHERE x.sample_id = v_id
                     UNION SELECT x.blocked_pid FROM telemetry.sample_locks x WHERE x.sample_id = v_id
                     UNION SELECT x.blocking_pid FROM telemetry.sample_locks x WHERE x.sample_id = v_id);
  END IF;

  BEGIN
    EXECUTE format('INSERT INTO telemetry.sample_progress '
                   'SELECT %s, x.pid, x.backend_type, x.datname, x.command, x.relid, x.relid::regclass::text, '
                   'x.phase, x.blocks_total, x.blocks_done, x.tuples_done, x.dead_items, x.max_dead_items, '
                   'x.dead_tuple_bytes, x.max_dead_tuple_bytes FROM (%s) AS x(pid, backend_type, datname, command, '
                   'relid, phase, blocks_total, blocks_done, tuples_done, dead_items, max_dead_items, '
                   'dead_tuple_bytes, max_dead_tuple_bytes) WHERE x.pid <> %s',
                   v_id, telemetry.version_sql('progress'), v_me);
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'telemetry.sample(): progress part failed: %', SQLERRM;
  END;

  EXECUTE format('INSERT INTO telemetry.sample_replication '
                 'SELECT %s, r.pid, r.application_name, r.client_addr, r.state, r.sync_state, '
                 'r.write_lag, r.flush_lag, r.replay_lag, r.replay_lag_bytes FROM (%s) r', v_id, telemetry._read('replication'));

  -- batch runs recognised from application_name rules
  FOR v_rule IN SELECT rr.app_pattern, rr.run_name,
                  EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid <> v_me AND a.state IS NOT NULL
                             AND a.state <> 'idle' AND a.application_name LIKE rr.app_pattern
                             AND (rr.roles IS NULL OR a.usesysid = ANY (rr.roles::oid[]))) AS seen
             FROM telemetry.run_rules rr LOOP
    IF v_rule.seen THEN
      INSERT INTO telemetry.runs (name, source)
      SELECT v_rule.run_name, 'rule:' || v_rule.app_pattern
       WHERE NOT EXISTS (SELECT 1 FROM telemetry.runs x WHERE x.source = 'rule:' || v_rule.app_pattern AND x.state = 'running');
    ELSE
      UPDATE telemetry.runs SET state = 'succeeded', ended_at = now()
       WHERE source = 'rule:' || v_rule.app_pattern AND state = 'running';
    END IF;
  END LOOP;
  PERFORM telemetry.close_abandoned_runs();   -- runs whose session died without batch_end() (91-abandoned-runs.sql)
  PERFORM telemetry._settle_runs();            -- closing snapshots after batch_end() (91-run-fidelity.sql)
  RETURN v_id;
END
$fn$;

CREATE FUNCTION telemetry.sample()
RETURNS bigint LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, telemetry, pg_temp
AS $$ SELECT telemetry._sample('sample()', NULL) $$;

