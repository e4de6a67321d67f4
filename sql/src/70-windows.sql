----------------------------------------------------------------------------------------------
-- Windows: which snapshots/samples cover [start_time, end_time]; never silently empty
----------------------------------------------------------------------------------------------

CREATE FUNCTION telemetry._check_window(start_time timestamptz, end_time timestamptz)
RETURNS void LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
BEGIN
  IF start_time IS NULL OR end_time IS NULL THEN
    RAISE EXCEPTION 'telemetry: window start and end must both be given';
  END IF;
  IF start_time >= end_time THEN
    RAISE EXCEPTION 'telemetry: window start (%) must be before its end (%)', start_time, end_time;
  END IF;
  IF start_time > now() THEN
    RAISE EXCEPTION 'telemetry: window starts in the future (%)', start_time;
  END IF;
END
$fn$;

-- The snapshot at or before start_time and the one at or after end_time. When end_time is past
-- the newest snapshot, a fresh snapshot is taken (if allowed) or the note says what is missing.
CREATE FUNCTION telemetry._bracket(start_time timestamptz, end_time timestamptz, take_fresh boolean DEFAULT true,
                                   OUT s1 bigint, OUT s2 bigint, OUT note text)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_oldest timestamptz;
  v_newest timestamptz;
  v_notes text[] := '{}';
BEGIN
  PERFORM telemetry._check_window(start_time, end_time);
  SELECT min(captured_at), max(captured_at) INTO v_oldest, v_newest FROM telemetry.snapshots;
  IF v_oldest IS NULL THEN
    RAISE EXCEPTION 'telemetry: no snapshots yet: schedule telemetry.snapshot() (pg_cron job telemetry_snapshot) or call it before and after the batch';
  END IF;
  IF end_time < v_oldest THEN
    RAISE EXCEPTION 'telemetry: window % .. % is outside retention: the oldest snapshot is from %', start_time, end_time, v_oldest;
  END IF;
  SELECT id INTO s1 FROM telemetry.snapshots WHERE captured_at <= start_time ORDER BY captured_at DESC, id DESC LIMIT 1;
  IF s1 IS NULL THEN
    SELECT id INTO s1 FROM telemetry.snapshots ORDER BY captured_at, id LIMIT 1;
    v_notes := v_notes || format('no snapshot at or before the start: data from the oldest snapshot (%s), %s of the window not covered',
                                 v_oldest, v_oldest - start_time);
  END IF;
  SELECT id INTO s2 FROM telemetry.snapshots WHERE captured_at >= end_time ORDER BY captured_at, id LIMIT 1;
  IF s2 IS NULL THEN
    IF take_fresh AND NOT pg_is_in_recovery() AND has_function_privilege('telemetry.snapshot()', 'EXECUTE') THEN
      s2 := telemetry.snapshot();
      v_notes := v_notes || format('the window reaches past the newest snapshot (%s): took a fresh snapshot at %s', v_newest, now());
      IF end_time > now() THEN
        v_notes := v_notes || format('the end (%s) is in the future: covered until %s', end_time, now());
      END IF;
    ELSE
      SELECT id INTO s2 FROM telemetry.snapshots ORDER BY captured_at DESC, id DESC LIMIT 1;
      v_notes := v_notes || format('no snapshot at or after the end: covered only until the newest snapshot (%s), %s of the window missing%s',
                                   v_newest, end_time - v_newest,
                                   CASE WHEN pg_is_in_recovery() THEN ' (standby: snapshots come from the primary)' ELSE '' END);
    END IF;
  END IF;
  IF s1 = s2 THEN
    RAISE EXCEPTION 'telemetry: only one snapshot (%) lies in the window % .. %; a comparison needs two (call telemetry.snapshot() before and after the batch)',
      (SELECT captured_at FROM telemetry.snapshots WHERE id = s1), start_time, end_time;
  END IF;
  note := nullif(array_to_string(v_notes, '; '), '');
END
$fn$;

CREATE FUNCTION telemetry.compare(start_time timestamptz, end_time timestamptz)
RETURNS SETOF telemetry._pair_deltas LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  b record;
  d telemetry._pair_deltas;
BEGIN
  b := telemetry._bracket(start_time, end_time);
  SELECT * INTO d FROM telemetry._pair_deltas WHERE start_snapshot_id = b.s1 AND end_snapshot_id = b.s2;
  IF d.stats_reset_in_window THEN
    b.note := concat_ws('; ', b.note, format('statistics were reset inside the window (%s): those deltas count only the work since the reset',
                                             array_to_string(d.reset_groups, ', ')));
  END IF;
  IF NOT d.track_io_timing THEN
    b.note := concat_ws('; ', b.note, 'track_io_timing is off: I/O times are not measured (zero does not mean fast)');
  END IF;
  d.coverage_note := b.note;
  IF b.note IS NOT NULL THEN
    RAISE NOTICE 'telemetry.compare: %', b.note;
  END IF;
  RETURN NEXT d;
END
$fn$;

CREATE FUNCTION telemetry._tracked_relid(p_table text)
RETURNS oid LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_parts text[] := parse_ident(p_table);
  v_schema text := CASE WHEN cardinality(v_parts) > 1 THEN v_parts[cardinality(v_parts) - 1] END;
  v_name text := v_parts[cardinality(v_parts)];
  v_ids oid[];
BEGIN
  SELECT array_agg(t.relid) INTO v_ids
    FROM telemetry.tracked_tables t
    LEFT JOIN pg_class c ON c.oid = t.relid
    LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE coalesce(c.relname, t.relname) = v_name
     AND (v_schema IS NULL OR coalesce(n.nspname, t.schemaname) = v_schema);
  IF v_ids IS NULL THEN
    RAISE EXCEPTION 'telemetry: table % is not tracked (SELECT telemetry.track_table(...) first)', p_table;
  ELSIF cardinality(v_ids) > 1 THEN
    RAISE EXCEPTION 'telemetry: % names % tracked tables: qualify it with its schema', p_table, cardinality(v_ids);
  END IF;
  RETURN v_ids[1];
END
$fn$;

CREATE FUNCTION telemetry.table_compare(table_name text, start_time timestamptz, end_time timestamptz)
RETURNS SETOF telemetry._table_pair_deltas LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_relid oid := telemetry._tracked_relid(table_name);
  b record;
  d telemetry._table_pair_deltas;
BEGIN
  b := telemetry._bracket(start_time, end_time);
  SELECT * INTO d FROM telemetry._table_pair_deltas
   WHERE start_snapshot_id = b.s1 AND end_snapshot_id = b.s2 AND relid = v_relid;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'telemetry: % has no statistics in both snapshots % and % (was it tracked before the window began?)',
      table_name, (SELECT captured_at FROM telemetry.snapshots WHERE id = b.s1),
      (SELECT captured_at FROM telemetry.snapshots WHERE id = b.s2);
  END IF;
  d.start_snapshot_at := (SELECT captured_at FROM telemetry.snapshots WHERE id = b.s1);
  d.end_snapshot_at := (SELECT captured_at FROM telemetry.snapshots WHERE id = b.s2);
  IF d.stats_reset_in_window THEN
    b.note := concat_ws('; ', b.note, 'table statistics were reset inside the window: deltas count only the work since the reset');
  END IF;
  d.coverage_note := b.note;
  IF b.note IS NOT NULL THEN
    RAISE NOTICE 'telemetry.table_compare: %', b.note;
  END IF;
  RETURN NEXT d;
END
$fn$;

-- Samples in the window; raises when the window holds none and says why.
CREATE FUNCTION telemetry._sample_window(start_time timestamptz, end_time timestamptz)
RETURNS bigint LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
DECLARE
  v_oldest timestamptz;
  v_newest timestamptz;
  v_n bigint;
BEGIN
  PERFORM telemetry._check_window(start_time, end_time);
  SELECT count(*) INTO v_n FROM telemetry.samples WHERE captured_at BETWEEN start_time AND end_time;
  IF v_n > 0 THEN
    RETURN v_n;
  END IF;
  SELECT min(captured_at), max(captured_at) INTO v_oldest, v_newest FROM telemetry.samples;
  IF v_oldest IS NULL THEN
    RAISE EXCEPTION 'telemetry: no samples yet: schedule telemetry.sample() (pg_cron job telemetry_sample) or call it during the batch';
  ELSIF end_time < v_oldest THEN
    RAISE EXCEPTION 'telemetry: window % .. % is outside retention: the oldest sample is from %', start_time, end_time, v_oldest;
  ELSIF start_time > v_newest THEN
    RAISE EXCEPTION 'telemetry: no samples since % (window % .. %): is the telemetry_sample job running?', v_newest, start_time, end_time;
  ELSE
    RAISE EXCEPTION 'telemetry: no samples between % and % (sampling gap)', start_time, end_time;
  END IF;
END
$fn$;

CREATE FUNCTION telemetry.wait_summary(start_time timestamptz, end_time timestamptz)
RETURNS TABLE (backend_type text, wait_event_type text, wait_event text, sample_count bigint,
               total_waiters bigint, avg_waiters numeric, max_waiters int, pct_of_samples numeric)
LANGUAGE plpgsql
SET search_path = pg_catalog, telemetry, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  v_n bigint := telemetry._sample_window(start_time, end_time);
BEGIN
  RETURN QUERY
  SELECT w.backend_type, w.wait_event_type, w.wait_event, count(DISTINCT w.sample_id),
         sum(w.waiters)::bigint, round(sum(w.waiters)::numeric / v_n, 3), max(w.waiters),
         round(100.0 * count(DISTINCT w.sample_id) / v_n, 1)
    FROM telemetry.samples s JOIN telemetry.sample_waits w ON w.sample_id = s.id
   WHERE s.captured_at BETWEEN start_time AND end_time
   GROUP BY 1, 2, 3
   ORDER BY 5 DESC, 4 DESC, 1, 2, 3;
  IF NOT FOUND THEN
    RAISE NOTICE 'telemetry.wait_summary: % samples in the window, none saw an active session (no load)', v_n;
  END IF;
END
$fn$;

