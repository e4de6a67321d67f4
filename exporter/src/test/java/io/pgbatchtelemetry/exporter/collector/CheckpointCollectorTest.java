package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.collect;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.collectUntil;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.dropTablesOnSharedClusters;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.execute;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.queryDouble;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.SQLException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class CheckpointCollectorTest {

    private final CheckpointCollector collector = new CheckpointCollector();

    @AfterAll
    static void dropTestTables() throws SQLException {
        dropTablesOnSharedClusters("checkpoint_collector_test");
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void forcedCheckpointIsCountedAsRequestedAndWritesTheDirtiedBuffers(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect()) {
            // INSERT (not CTAS) dirties the pages through shared buffers without a bulk-write ring, so the
            // backend writes none of them itself: the checkpoint has to. They were just used, so the
            // background writer (which skips recently used buffers) leaves them alone too.
            execute(connection, "DROP TABLE IF EXISTS checkpoint_collector_test",
                    "CREATE TABLE checkpoint_collector_test (id int, pad text)");
            MetricSink before = collect(connection, collector);
            execute(connection, "INSERT INTO checkpoint_collector_test "
                    + "SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g");
            double dirtiedPages = queryDouble(connection,
                    "SELECT pg_relation_size('checkpoint_collector_test') / 8192");
            double requestedAt = queryDouble(connection, "SELECT extract(epoch FROM now())");

            execute(connection, "CHECKPOINT");

            double requestedBefore = value(before, CheckpointCollector.REQUESTED);
            double writtenBefore = value(before, CheckpointCollector.BUFFERS_WRITTEN);
            MetricSink after = collectUntil(connection, collector,
                    sink -> value(sink, CheckpointCollector.REQUESTED) >= requestedBefore + 1
                            && value(sink, CheckpointCollector.BUFFERS_WRITTEN) >= writtenBefore + dirtiedPages,
                    "the CHECKPOINT as requested, with its " + dirtiedPages + " dirtied pages written");
            double collectedBy = queryDouble(connection, "SELECT extract(epoch FROM now())");

            // checkpoint_time has whole-second resolution, hence the 1 s of slack on the upper bound
            double age = value(after, CheckpointCollector.LAST_CHECKPOINT_AGE);
            assertTrue(age >= 0 && age <= collectedBy - requestedAt + 1,
                    "last checkpoint age " + age + " s must be within the " + (collectedBy - requestedAt)
                            + " s since CHECKPOINT was requested");
            assertTrue(value(after, CheckpointCollector.TIMED) >= value(before, CheckpointCollector.TIMED));
            assertTrue(value(after, CheckpointCollector.WRITE_TIME) >= 0);
            assertTrue(value(after, CheckpointCollector.SYNC_TIME) >= 0);
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void numDoneAndCheckpointerResetTimeExistOnlyWhereTheirColumnsDo(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect()) {
            MetricSink sink = collect(connection, collector);
            if (major >= 18) {
                Double done = value(sink, CheckpointCollector.DONE);
                assertNotNull(done, "num_done exists on 18");
                assertTrue(done <= value(sink, CheckpointCollector.TIMED) + value(sink, CheckpointCollector.REQUESTED),
                        "completed checkpoints can't outnumber started ones");
            } else {
                assertNull(value(sink, CheckpointCollector.DONE), "no num_done before 18");
            }
            if (major >= 17) {
                assertEquals(queryDouble(connection, "SELECT extract(epoch FROM stats_reset) FROM pg_stat_checkpointer"),
                        value(sink, CheckpointCollector.STATS_RESET));
            } else {
                assertNull(value(sink, CheckpointCollector.STATS_RESET), "no pg_stat_checkpointer before 17");
            }
        }
    }
}
