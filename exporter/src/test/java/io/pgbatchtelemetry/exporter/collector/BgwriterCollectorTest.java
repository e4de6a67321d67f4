package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.collect;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.collectUntil;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.dropTablesOnSharedClusters;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.execute;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.flushStats;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.queryDouble;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.SQLException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class BgwriterCollectorTest {

    /** A bulk write (CTAS, COPY) cycles through a 16 MB ring of shared buffers. */
    private static final double BULK_WRITE_RING_PAGES = 16 * 1024 * 1024 / 8192.0;

    private final BgwriterCollector collector = new BgwriterCollector();

    @AfterAll
    static void dropTestTables() throws SQLException {
        dropTablesOnSharedClusters("bgwriter_collector_test");
    }

    /**
     * Makes a client backend write shared buffers itself on the shared cluster: CREATE TABLE AS
     * writes through the bulk-write ring, and once the ring wraps the backend must write each dirty
     * ring buffer before reusing it. A table of about 34 MB (twice the ring) therefore forces
     * roughly 18 MB of backend writes without shrinking shared_buffers or a dedicated cluster.
     */
    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void bulkWriteLargerThanItsRingIsCountedAsBackendWrites(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect()) {
            execute(connection, "DROP TABLE IF EXISTS bgwriter_collector_test");
            MetricSink before = collect(connection, collector);

            execute(connection, "CREATE TABLE bgwriter_collector_test AS "
                    + "SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 250000) g");
            double tablePages = queryDouble(connection, "SELECT pg_relation_size('bgwriter_collector_test') / 8192");
            if (major >= 17) {
                flushStats(connection); // each backend reports its own pg_stat_io writes
            } else {
                // the checkpointer counts buffers_backend as it absorbs the backends' sync requests and
                // reports it after a cycle; CHECKPOINT runs that cycle now. Not on 17+: there the
                // checkpoint's own writes would hide a query that wrongly counted the checkpointer.
                execute(connection, "CHECKPOINT");
            }

            double backendBefore = value(before, BgwriterCollector.BUFFERS_BACKEND);
            double allocBefore = value(before, BgwriterCollector.BUFFERS_ALLOC);
            // every page past the ring is written by the backend; ask for half of them, leaving room for
            // the background writer or checkpointer getting to a ring buffer first
            double expectedWrites = (tablePages - BULK_WRITE_RING_PAGES) / 2;
            assertTrue(expectedWrites > 500, "the table must be well beyond the ring, has " + tablePages + " pages");
            MetricSink after = collectUntil(connection, collector,
                    sink -> value(sink, BgwriterCollector.BUFFERS_BACKEND) >= backendBefore + expectedWrites
                            && value(sink, BgwriterCollector.BUFFERS_ALLOC) >= allocBefore + BULK_WRITE_RING_PAGES / 2,
                    "at least " + expectedWrites + " backend writes, and filling the ring allocating buffers");

            assertTrue(value(after, BgwriterCollector.BUFFERS_BACKEND_FSYNC)
                    >= value(before, BgwriterCollector.BUFFERS_BACKEND_FSYNC));
            assertTrue(value(after, BgwriterCollector.BUFFERS_CLEAN) >= value(before, BgwriterCollector.BUFFERS_CLEAN));
            assertTrue(value(after, BgwriterCollector.MAXWRITTEN_CLEAN)
                    >= value(before, BgwriterCollector.MAXWRITTEN_CLEAN));
            Double reset = value(after, BgwriterCollector.STATS_RESET);
            assertNotNull(reset, "pg_stat_bgwriter.stats_reset is set from initdb on");
            assertEquals(queryDouble(connection, "SELECT extract(epoch FROM stats_reset) FROM pg_stat_bgwriter"), reset);
        }
    }
}
