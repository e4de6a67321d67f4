package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.StatementResults;
import io.pgbatchtelemetry.exporter.db.VersionedSql;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.SQLException;
import java.util.List;

/**
 * Maintenance and bulk operations in progress, by operation and phase, from the six
 * {@code pg_stat_progress_*} views (vacuum, analyze, create_index, cluster, copy, basebackup).
 *
 * <p>Serves the autovacuum-interference pattern (a vacuum or analyze, often autovacuum's, running
 * on the batch's tables during the window) and shows what else competes for I/O: an index build,
 * a VACUUM FULL/CLUSTER, a COPY, a base backup. Only counts: the per-operation block and tuple
 * counters differ between versions and operations and belong in the SQL diagnosis.
 *
 * <p>Versions: the {@code phase} columns (and {@code pg_stat_progress_copy.command}) are the
 * same on PostgreSQL 15–18; PostgreSQL 17 renamed the dead-tuple columns of
 * {@code pg_stat_progress_vacuum}, which this collector does not read. COPY has no phases, so its
 * phase label is the command ({@code COPY FROM} / {@code COPY TO}), which says whether data comes
 * in or goes out. Phase names are fixed strings from PostgreSQL, so labels stay bounded. When
 * nothing runs, there are no series (a count of 0 would need an invented phase label).
 */
public final class ProgressCollector implements Collector {

    static final MetricFamily OPERATIONS = MetricFamily.gauge("pg_progress_operations",
            "Operations in progress by operation and phase (pg_stat_progress_*); COPY's phase is its command.",
            "operation", "phase");

    private static final VersionedSql COUNTS = VersionedSql.of(15, """
            SELECT operation, phase, count(*) AS operations
              FROM (SELECT 'vacuum' AS operation, phase FROM pg_stat_progress_vacuum
                    UNION ALL SELECT 'analyze', phase FROM pg_stat_progress_analyze
                    UNION ALL SELECT 'create_index', phase FROM pg_stat_progress_create_index
                    UNION ALL SELECT 'cluster', phase FROM pg_stat_progress_cluster
                    UNION ALL SELECT 'copy', command FROM pg_stat_progress_copy
                    UNION ALL SELECT 'basebackup', phase FROM pg_stat_progress_basebackup) running
             GROUP BY 1, 2
             ORDER BY 1, 2""");

    @Override
    public String name() {
        return "progress";
    }

    @Override
    public List<MetricFamily> families() {
        return List.of(OPERATIONS);
    }

    @Override
    public List<VersionedSql> statements(PgServer server) {
        return List.of(COUNTS);
    }

    @Override
    public void collect(StatementResults results, MetricSink sink) throws SQLException {
        results.rows(COUNTS, row ->
                sink.add(OPERATIONS, row.number("operations"), row.text("operation"), row.text("phase")));
    }
}
