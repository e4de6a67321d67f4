package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.collect;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.serverOf;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.collectUntil;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.dropTablesOnSharedClusters;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.execute;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.flushStats;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.queryDouble;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class IoCollectorTest {

    private static final double BLOCK = 8192;

    private final IoCollector collector = new IoCollector();

    @AfterAll
    static void dropTestTables() throws SQLException {
        dropTablesOnSharedClusters("io_collector_test");
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void clientBackendReadsHitsAndExtendsMoveAfterAWorkload(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect()) {
            if (major < 16) {
                assertFalse(collector.supports(serverOf(connection)), "pg_stat_io does not exist before 16");
                return;
            }
            assertTrue(collector.supports(serverOf(connection)));
            execute(connection, "DROP TABLE IF EXISTS io_collector_test");
            MetricSink before = collect(connection, collector);

            // CREATE TABLE AS extends the relation; most of its pages leave shared buffers through the
            // bulk-write ring, so scanning it afterwards reads them back (and hits the ones still there)
            execute(connection, "CREATE TABLE io_collector_test AS "
                    + "SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 250000) g",
                    "SELECT count(*) FROM io_collector_test");
            double tableBytes = queryDouble(connection, "SELECT pg_relation_size('io_collector_test')");
            flushStats(connection);

            MetricSink after = collectUntil(connection, collector,
                    sink -> clientRelation(sink, IoCollector.EXTEND_BYTES)
                            >= clientRelation(before, IoCollector.EXTEND_BYTES) + tableBytes,
                    "the client backend's extends of the new table (" + tableBytes + " bytes)");

            double reads = clientRelation(after, IoCollector.READS) - clientRelation(before, IoCollector.READS);
            double readBytes = clientRelation(after, IoCollector.READ_BYTES)
                    - clientRelation(before, IoCollector.READ_BYTES);
            assertTrue(reads > 0, "scanning the evicted pages reads them back");
            assertTrue(clientRelation(after, IoCollector.HITS) > clientRelation(before, IoCollector.HITS));
            assertTrue(clientRelation(after, IoCollector.EXTENDS) > clientRelation(before, IoCollector.EXTENDS));
            if (major >= 18) {
                // 18 can read several blocks in one operation: bytes come from read_bytes, not ops x block
                assertTrue(readBytes >= reads * BLOCK, readBytes + " bytes read in " + reads + " reads");
            } else {
                assertEquals(reads * BLOCK, readBytes);
            }
            assertNotNull(value(after, IoCollector.STATS_RESET));
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void bytesAreOpsTimesBlockSizeBefore18AndNullCellsStayAbsent(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect()) {
            if (major < 16) {
                assertFalse(collector.supports(serverOf(connection)), "pg_stat_io does not exist before 16");
                return;
            }
            MetricSink sink = collect(connection, collector);
            assertEquals(queryDouble(connection, "SELECT count(*) FROM pg_stat_io WHERE reads IS NOT NULL"),
                    (double) sink.samples().get(IoCollector.READS).size(), "one reads series per non-NULL cell");
            // the checkpointer only writes: its reads cell is NULL and must not become a fake 0
            assertNull(value(sink, IoCollector.READS, "checkpointer", "relation", "normal"));
            assertNotNull(value(sink, IoCollector.WRITES, "checkpointer", "relation", "normal"));
            if (major < 18) {
                assertBytesAreOpsTimesBlock(sink, IoCollector.READS, IoCollector.READ_BYTES);
                assertBytesAreOpsTimesBlock(sink, IoCollector.WRITES, IoCollector.WRITE_BYTES);
                assertBytesAreOpsTimesBlock(sink, IoCollector.EXTENDS, IoCollector.EXTEND_BYTES);
            } else {
                assertNotNull(value(sink, IoCollector.WRITES, "client backend", "wal", "normal"),
                        "18 reports WAL I/O in pg_stat_io");
            }
        }
    }

    private static void assertBytesAreOpsTimesBlock(MetricSink sink, MetricFamily ops, MetricFamily bytes) {
        List<MetricSink.Sample> opSamples = sink.samples().get(ops);
        assertEquals(opSamples.size(), sink.samples().get(bytes).size(), bytes.name() + " per " + ops.name());
        for (MetricSink.Sample sample : opSamples) {
            String[] labels = sample.labelValues().toArray(String[]::new);
            assertEquals(sample.value() * BLOCK, value(sink, bytes, labels), bytes.name() + " " + sample.labelValues());
        }
    }

    /** Sum over every context of the client backends' shared-buffer relation I/O. */
    private static double clientRelation(MetricSink sink, MetricFamily family) {
        return sink.samples().getOrDefault(family, List.of()).stream()
                .filter(s -> s.labelValues().get(0).equals("client backend") && s.labelValues().get(1).equals("relation"))
                .mapToDouble(MetricSink.Sample::value)
                .sum();
    }
}
