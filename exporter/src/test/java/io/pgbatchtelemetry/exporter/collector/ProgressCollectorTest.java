package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.collect;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.Statement;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Catches an index build mid-flight without timing: CREATE INDEX CONCURRENTLY waits in phase
 * "waiting for writers before build" for as long as another transaction that wrote to the table
 * stays open, so the test decides when it ends.
 */
class ProgressCollectorTest {

    private static final String WAITING_FOR_WRITERS = "waiting for writers before build";

    private final ProgressCollector collector = new ProgressCollector();

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void countsAnIndexBuildByPhaseWhileItRuns(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        cluster.execute("DROP TABLE IF EXISTS progress_target");
        cluster.execute("CREATE TABLE progress_target AS SELECT g AS id FROM generate_series(1, 1000) g");
        try (Connection exporter = cluster.connect(); Connection writer = cluster.connect()) {
            assertTrue(createIndexSeries(collect(exporter, collector)).isEmpty(), "no index build before");

            writer.setAutoCommit(false);
            try (Statement statement = writer.createStatement()) {
                statement.execute("INSERT INTO progress_target VALUES (0)");
            }
            try (BackgroundSql build = new BackgroundSql(cluster.connect(),
                    "CREATE INDEX CONCURRENTLY progress_target_id ON progress_target (id)")) {
                // it passes "initializing" first, then stays in the waiting phase
                MetricSink running = Eventually.await("the index build waiting in pg_stat_progress_create_index",
                        () -> collect(exporter, collector),
                        sink -> value(sink, ProgressCollector.OPERATIONS, "create_index", WAITING_FOR_WRITERS) != null);

                assertEquals(List.of(new MetricSink.Sample(List.of("create_index", WAITING_FOR_WRITERS), 1.0)),
                        createIndexSeries(running), "one build, counted once, in its real phase");

                writer.commit();
                build.awaitFinished();
            }
            assertTrue(createIndexSeries(collect(exporter, collector)).isEmpty(), "nothing left after the build");
        } finally {
            cluster.execute("DROP TABLE IF EXISTS progress_target");
        }
    }

    private static List<MetricSink.Sample> createIndexSeries(MetricSink sink) {
        return sink.samples().getOrDefault(ProgressCollector.OPERATIONS, List.of()).stream()
                .filter(sample -> sample.labelValues().get(0).equals("create_index"))
                .toList();
    }
}
