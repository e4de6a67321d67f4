package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.SharedReads;
import io.pgbatchtelemetry.exporter.db.StatementResults;
import io.pgbatchtelemetry.exporter.db.VersionedSql;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.SQLException;
import java.util.List;

/**
 * Background writer activity from {@code pg_stat_bgwriter}, and the buffers that backends had to
 * write (and sync) themselves.
 *
 * <p>Serves the buffer/WAL pressure pattern: when the background writer can't keep clean buffers
 * ahead of demand ({@code maxwritten_clean} grows), backends evict dirty buffers and write them
 * in the foreground, which is time a batch statement waits.
 *
 * <p>Versions: on PostgreSQL 15 and 16 {@code pg_stat_bgwriter.buffers_backend} and
 * {@code buffers_backend_fsync} count those foreground writes. PostgreSQL 17 removed both columns;
 * the same numbers are now {@code sum(writes)} and {@code sum(fsyncs)} of {@code pg_stat_io} over
 * {@code object = 'relation'} (shared buffers; temp relations live in backend-local buffers and
 * never counted) and every {@code backend_type} except {@code checkpointer} and
 * {@code background writer}, summed over contexts: PG16 counted every write of a permanent
 * relation's block by any process but those two (client backends, autovacuum, background and
 * parallel workers, walsenders, startup) when it handed the checkpointer the file to sync. The read
 * is shared with the telemetry schema ({@code sql/src/reads/bgwriter.*.sql}, see
 * {@link SharedReads}; docs/metrics.md says why this definition). The metric names do not change. On 17+
 * {@code pg_stat_reset_shared('io')} also resets the backend counters without moving
 * {@code pg_stat_bgwriter.stats_reset}; Prometheus treats the drop as a counter reset either way.
 *
 * <p>On 15/16 {@code buffers_backend} is reported by the checkpointer when it absorbs backends'
 * sync requests, so it can trail the writes by up to a checkpoint cycle; on 17+ each backend
 * reports its own writes when it goes idle.
 */
public final class BgwriterCollector implements Collector {

    static final MetricFamily BUFFERS_CLEAN = MetricFamily.counter("pg_stat_bgwriter_buffers_clean_total",
            "Buffers written by the background writer (pg_stat_bgwriter.buffers_clean).");
    static final MetricFamily MAXWRITTEN_CLEAN = MetricFamily.counter("pg_stat_bgwriter_maxwritten_clean_total",
            "Times the background writer stopped a round because it wrote bgwriter_lru_maxpages buffers "
                    + "(pg_stat_bgwriter.maxwritten_clean).");
    static final MetricFamily BUFFERS_ALLOC = MetricFamily.counter("pg_stat_bgwriter_buffers_alloc_total",
            "Buffers allocated (pg_stat_bgwriter.buffers_alloc).");
    static final MetricFamily BUFFERS_BACKEND = MetricFamily.counter("pg_stat_bgwriter_buffers_backend_total",
            "Shared buffers written by backends themselves (pg_stat_bgwriter.buffers_backend on 15/16; "
                    + "pg_stat_io writes of object 'relation' outside checkpointer and background writer on 17+).");
    static final MetricFamily BUFFERS_BACKEND_FSYNC = MetricFamily.counter(
            "pg_stat_bgwriter_buffers_backend_fsync_total",
            "Times a backend had to fsync itself because the checkpointer's request queue was full "
                    + "(pg_stat_bgwriter.buffers_backend_fsync on 15/16; pg_stat_io fsyncs on 17+).");
    static final MetricFamily STATS_RESET = MetricFamily.gauge("pg_stat_bgwriter_stats_reset_timestamp_seconds",
            "When pg_stat_bgwriter was last reset (Unix time).");

    private static final VersionedSql STATS = SharedReads.load("bgwriter");

    @Override
    public String name() {
        return "bgwriter";
    }

    @Override
    public List<MetricFamily> families() {
        return List.of(BUFFERS_CLEAN, MAXWRITTEN_CLEAN, BUFFERS_ALLOC, BUFFERS_BACKEND, BUFFERS_BACKEND_FSYNC,
                STATS_RESET);
    }

    @Override
    public List<VersionedSql> statements(PgServer server) {
        return List.of(STATS);
    }

    @Override
    public void collect(StatementResults results, MetricSink sink) throws SQLException {
        results.one(STATS, row -> {
            sink.add(BUFFERS_CLEAN, row.number("buffers_clean"));
            sink.add(MAXWRITTEN_CLEAN, row.number("maxwritten_clean"));
            sink.add(BUFFERS_ALLOC, row.number("buffers_alloc"));
            sink.add(BUFFERS_BACKEND, row.number("buffers_backend"));
            sink.add(BUFFERS_BACKEND_FSYNC, row.number("buffers_backend_fsync"));
            sink.add(STATS_RESET, row.epochSeconds("stats_reset"));
        });
    }
}
