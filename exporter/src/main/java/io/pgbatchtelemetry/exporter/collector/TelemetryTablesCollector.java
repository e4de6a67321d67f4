package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.StatementResults;
import io.pgbatchtelemetry.exporter.db.VersionedSql;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.SQLException;
import java.util.List;

/**
 * Live statistics of the tables the DBA tracks in {@code telemetry.tracked_tables}: size, live and
 * dead tuples, rows written, vacuum and analyze counts, the last autovacuum, and whether an
 * autovacuum worker is on the table right now. Read at scrape time from {@code pg_stat_all_tables},
 * {@code pg_class} and {@code pg_stat_progress_vacuum} by OID, not from the schema's snapshots (which
 * are minutes apart): the autovacuum-interference alert needs to see a vacuum while it runs.
 *
 * <p>Tracking is by OID, as in the schema: a renamed table keeps its series under its new name, a
 * dropped one disappears. A partitioned table is tracked as the sum of its leaf partitions, found
 * through {@code pg_inherits} (which takes no lock, unlike {@code pg_partition_tree}); its counters
 * go down when a partition is detached or dropped, which {@code rate()} reads as a reset.
 *
 * <p>Sizes need {@code pg_total_relation_size}, which takes an AccessShareLock: behind a batch's
 * TRUNCATE or ALTER (AccessExclusiveLock, granted or queued) it would wait and fail the scrape at
 * {@code lock_timeout}. So the size is left absent while such a lock is on the table or any of its
 * partitions; the statistics need no lock and stay. {@code vacuum_in_progress} counts autovacuum
 * workers only: a batch's own VACUUM is the batch working, not interference.
 *
 * <p>Labels {@code schemaname}, {@code relname} are bounded by what the DBA tracks, and capped at
 * {@value #MAX_TABLES} tables (the longest-tracked first, so the set is stable as tables are added);
 * {@code pg_telemetry_tracked_tables} tells how many are tracked. Versions: the columns read are the
 * same on PostgreSQL 15–18. Without the schema the collector exports nothing and succeeds.
 */
public final class TelemetryTablesCollector implements Collector {

    /** Tables exported at most. */
    static final int MAX_TABLES = 200;

    private static final String[] TABLE = {"schemaname", "relname"};

    static final MetricFamily TRACKED = MetricFamily.gauge("pg_telemetry_tracked_tables",
            "Tables in telemetry.tracked_tables that exist; at most " + MAX_TABLES + " of them are exported.");
    static final MetricFamily SIZE = MetricFamily.gauge("pg_telemetry_tracked_table_size_bytes",
            "Disk space of the tracked table with indexes and TOAST, summed over partitions (pg_total_relation_size); "
                    + "absent while an AccessExclusiveLock is held or awaited on it.", TABLE);
    static final MetricFamily LIVE_TUPLES = MetricFamily.gauge("pg_telemetry_tracked_table_live_tuples",
            "Estimated live rows (pg_stat_all_tables.n_live_tup).", TABLE);
    static final MetricFamily DEAD_TUPLES = MetricFamily.gauge("pg_telemetry_tracked_table_dead_tuples",
            "Estimated dead rows (pg_stat_all_tables.n_dead_tup).", TABLE);
    static final MetricFamily INSERTED = MetricFamily.counter("pg_telemetry_tracked_table_inserted_tuples_total",
            "Rows inserted (pg_stat_all_tables.n_tup_ins).", TABLE);
    static final MetricFamily UPDATED = MetricFamily.counter("pg_telemetry_tracked_table_updated_tuples_total",
            "Rows updated, HOT updates included (pg_stat_all_tables.n_tup_upd).", TABLE);
    static final MetricFamily DELETED = MetricFamily.counter("pg_telemetry_tracked_table_deleted_tuples_total",
            "Rows deleted (pg_stat_all_tables.n_tup_del).", TABLE);
    static final MetricFamily VACUUMS = MetricFamily.counter("pg_telemetry_tracked_table_vacuum_total",
            "Manual VACUUMs of the table (pg_stat_all_tables.vacuum_count).", TABLE);
    static final MetricFamily AUTOVACUUMS = MetricFamily.counter("pg_telemetry_tracked_table_autovacuum_total",
            "Autovacuums of the table (pg_stat_all_tables.autovacuum_count).", TABLE);
    static final MetricFamily ANALYZES = MetricFamily.counter("pg_telemetry_tracked_table_analyze_total",
            "Manual ANALYZEs of the table (pg_stat_all_tables.analyze_count).", TABLE);
    static final MetricFamily AUTOANALYZES = MetricFamily.counter("pg_telemetry_tracked_table_autoanalyze_total",
            "Autoanalyzes of the table (pg_stat_all_tables.autoanalyze_count).", TABLE);
    static final MetricFamily LAST_AUTOVACUUM = MetricFamily.gauge("pg_telemetry_tracked_table_last_autovacuum_timestamp_seconds",
            "When an autovacuum last finished on the table (latest over partitions; Unix time); absent if never.", TABLE);
    static final MetricFamily AUTOVACUUM_RUNNING = MetricFamily.gauge("pg_telemetry_tracked_table_vacuum_in_progress",
            "1 while an autovacuum worker vacuums the table (pg_stat_progress_vacuum), else 0; a manual VACUUM does not count.",
            TABLE);

    private static final VersionedSql TABLES = VersionedSql.of(15, """
            WITH RECURSIVE tracked AS (
              SELECT t.relid, n.nspname AS schemaname, c.relname
                FROM telemetry.tracked_tables t
                JOIN pg_class c ON c.oid = t.relid
                JOIN pg_namespace n ON n.oid = c.relnamespace
               ORDER BY t.tracked_at, t.relid
               LIMIT %d
            ), tree(tracked, relid) AS (
              SELECT relid, relid FROM tracked
              UNION ALL
              SELECT tree.tracked, i.inhrelid FROM tree JOIN pg_inherits i ON i.inhparent = tree.relid
            ), this_database AS (
              SELECT oid FROM pg_database WHERE datname = current_database()
            ), exclusive_locks AS (
              SELECT DISTINCT l.relation FROM pg_locks l
               WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
                 AND l.database = (SELECT oid FROM this_database)
            ), autovacuums AS (
              SELECT DISTINCT p.relid FROM pg_stat_progress_vacuum p
                JOIN pg_stat_activity a ON a.pid = p.pid
               WHERE a.backend_type = 'autovacuum worker' AND p.datid = (SELECT oid FROM this_database)
            ), leaves AS (
              SELECT tree.tracked, tree.relid,
                     tree.relid IN (SELECT relation FROM exclusive_locks) AS locked
                FROM tree
               WHERE NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = tree.relid)
            )
            SELECT tr.schemaname, tr.relname,
                   CASE WHEN bool_or(l.locked) THEN NULL
                        ELSE sum(CASE WHEN NOT l.locked THEN pg_total_relation_size(l.relid) END) END AS size_bytes,
                   sum(s.n_live_tup) AS live, sum(s.n_dead_tup) AS dead,
                   sum(s.n_tup_ins) AS ins, sum(s.n_tup_upd) AS upd, sum(s.n_tup_del) AS del,
                   sum(s.vacuum_count) AS vacuums, sum(s.autovacuum_count) AS autovacuums,
                   sum(s.analyze_count) AS analyzes, sum(s.autoanalyze_count) AS autoanalyzes,
                   extract(epoch FROM max(s.last_autovacuum)) AS last_autovacuum,
                   bool_or(l.relid IN (SELECT relid FROM autovacuums)) AS autovacuum_running
              FROM tracked tr
              JOIN leaves l ON l.tracked = tr.relid
              LEFT JOIN pg_stat_all_tables s ON s.relid = l.relid
             GROUP BY tr.relid, tr.schemaname, tr.relname
             ORDER BY tr.schemaname, tr.relname""".formatted(MAX_TABLES));

    private static final VersionedSql COUNT = VersionedSql.of("""
            SELECT count(*) AS tracked FROM telemetry.tracked_tables t JOIN pg_class c ON c.oid = t.relid""");

    @Override
    public String name() {
        return "telemetry_tables";
    }

    @Override
    public List<MetricFamily> families() {
        return List.of(TRACKED, SIZE, LIVE_TUPLES, DEAD_TUPLES, INSERTED, UPDATED, DELETED, VACUUMS, AUTOVACUUMS,
                ANALYZES, AUTOANALYZES, LAST_AUTOVACUUM, AUTOVACUUM_RUNNING);
    }

    @Override
    public List<VersionedSql> statements(PgServer server) {
        return server.telemetry().readable() ? List.of(COUNT, TABLES) : List.of();
    }

    @Override
    public void collect(StatementResults results, MetricSink sink) throws SQLException {
        if (!results.server().telemetry().toCollect()) {
            return;
        }
        results.one(COUNT, row -> sink.add(TRACKED, row.number("tracked")));
        results.rows(TABLES, row -> {
            String[] table = {row.text("schemaname"), row.text("relname")};
            sink.add(SIZE, row.number("size_bytes"), table);
            sink.add(LIVE_TUPLES, row.number("live"), table);
            sink.add(DEAD_TUPLES, row.number("dead"), table);
            sink.add(INSERTED, row.number("ins"), table);
            sink.add(UPDATED, row.number("upd"), table);
            sink.add(DELETED, row.number("del"), table);
            sink.add(VACUUMS, row.number("vacuums"), table);
            sink.add(AUTOVACUUMS, row.number("autovacuums"), table);
            sink.add(ANALYZES, row.number("analyzes"), table);
            sink.add(AUTOANALYZES, row.number("autoanalyzes"), table);
            sink.add(LAST_AUTOVACUUM, row.number("last_autovacuum"), table);
            sink.add(AUTOVACUUM_RUNNING, row.boolAsNumber("autovacuum_running"), table);
        });
    }
}
