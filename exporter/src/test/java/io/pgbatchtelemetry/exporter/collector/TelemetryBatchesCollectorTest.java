package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.collect;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.it.ExporterTestSupport;
import io.pgbatchtelemetry.exporter.it.TelemetryTestDb;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Batch runs as the monitoring role (pg_monitor only) sees them through the telemetry schema: runs
 * marked with batch_start()/batch_end() open and close, durations equal the view's, the usual
 * duration is the schema's telemetry.usual_duration() of the latest run (the runs before it, never
 * itself, from three on) and equals the batch_runs view's, run counters survive cleanup(), and the
 * label set is capped; a run whose session died without batch_end() is abandoned at once, counted
 * without a dip when sample() closes it. Each test starts from an empty run history of its own database.
 */
class TelemetryBatchesCollectorTest {

    private static final String DB = "pgbt_tele_batches";

    private final TelemetryBatchesCollector collector = new TelemetryBatchesCollector();

    private static PostgresCluster prepared(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        TelemetryTestDb.install(cluster, DB);
        ExporterTestSupport.createMonitoringRole(cluster);
        TelemetryTestDb.exec(cluster, DB, "TRUNCATE telemetry.runs, telemetry.run_totals CASCADE");
        return cluster;
    }

    private static Connection monitor(PostgresCluster cluster) throws Exception {
        return cluster.connect(ExporterTestSupport.MONITOR_USER, ExporterTestSupport.MONITOR_PASSWORD, DB);
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void aRunIsOpenUntilBatchEndAndItsDurationIsTheViews(int major) throws Exception {
        PostgresCluster cluster = prepared(major);
        String batch = "nightly_orders";
        try (Connection monitor = monitor(cluster)) {
            // batch_start() and batch_end() from separate connections: the run is not bound to a session
            long run = TelemetryTestDb.number(cluster, DB, "SELECT telemetry.batch_start('" + batch + "', session_bound => false)").longValue();
            String openDuration = "SELECT extract(epoch FROM duration) FROM telemetry.batch_runs WHERE run_id = " + run;
            double before = TelemetryTestDb.number(cluster, DB, openDuration);
            MetricSink open = collect(monitor, collector);
            double after = TelemetryTestDb.number(cluster, DB, openDuration);

            assertEquals(1.0, value(open, TelemetryBatchesCollector.RUNNING, batch));
            double current = value(open, TelemetryBatchesCollector.CURRENT_RUN_SECONDS, batch);
            assertTrue(before <= current && current <= after,
                    "the open run's age (" + current + ") lies between the view's durations read before (" + before + ") and after (" + after + ")");
            assertNull(value(open, TelemetryBatchesCollector.LAST_DURATION_SECONDS, batch), "no finished run yet");
            assertNull(value(open, TelemetryBatchesCollector.USUAL_DURATION_SECONDS, batch), "no succeeded run yet");
            assertNull(value(open, TelemetryBatchesCollector.LAST_SUCCEEDED, batch));
            assertEquals(1.0, value(open, TelemetryBatchesCollector.RUNS, batch));
            assertEquals(0.0, value(open, TelemetryBatchesCollector.RUNS_FINISHED, batch, "succeeded"));

            TelemetryTestDb.exec(cluster, DB, "SELECT telemetry.batch_end(" + run + ")");
            double duration = TelemetryTestDb.number(cluster, DB, openDuration);
            MetricSink ended = collect(monitor, collector);
            assertEquals(0.0, value(ended, TelemetryBatchesCollector.RUNNING, batch));
            assertNull(value(ended, TelemetryBatchesCollector.CURRENT_RUN_SECONDS, batch), "absent while no run is open");
            assertEquals(duration, value(ended, TelemetryBatchesCollector.LAST_DURATION_SECONDS, batch), 1e-6);
            assertNull(value(ended, TelemetryBatchesCollector.USUAL_DURATION_SECONDS, batch),
                    "one run is not a habit: no usual duration before baseline_min_runs runs");
            assertEquals(1.0, value(ended, TelemetryBatchesCollector.LAST_SUCCEEDED, batch));
            assertEquals(1.0, value(ended, TelemetryBatchesCollector.RUNS_FINISHED, batch, "succeeded"));

            long failedRun = TelemetryTestDb.number(cluster, DB, "SELECT telemetry.batch_start('" + batch + "', session_bound => false)").longValue();
            TelemetryTestDb.exec(cluster, DB, "SELECT telemetry.batch_end(" + failedRun + ", 'failed')");
            double failedDuration = TelemetryTestDb.number(cluster, DB,
                    "SELECT extract(epoch FROM duration) FROM telemetry.batch_runs WHERE run_id = " + failedRun);
            MetricSink failed = collect(monitor, collector);
            assertEquals(0.0, value(failed, TelemetryBatchesCollector.LAST_SUCCEEDED, batch));
            assertEquals(failedDuration, value(failed, TelemetryBatchesCollector.LAST_DURATION_SECONDS, batch), 1e-6);
            assertNull(value(failed, TelemetryBatchesCollector.USUAL_DURATION_SECONDS, batch), "still one succeeded run before it");
            assertEquals(2.0, value(failed, TelemetryBatchesCollector.RUNS, batch));
            assertEquals(1.0, value(failed, TelemetryBatchesCollector.RUNS_FINISHED, batch, "failed"));
            assertEquals(1.0, value(failed, TelemetryBatchesCollector.BATCHES));
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void aRunWhoseSessionDiedIsAbandonedAtOnceAndItsCountSurvivesTheClosing(int major) throws Exception {
        PostgresCluster cluster = prepared(major);
        String batch = "crashing_load";
        try (Connection monitor = monitor(cluster)) {
            long run;
            try (Connection batchSession = cluster.connect(DB);
                 java.sql.Statement s = batchSession.createStatement()) {
                java.sql.ResultSet started = s.executeQuery("SELECT telemetry.batch_start('" + batch + "')");
                started.next();
                run = started.getLong(1);
                MetricSink open = collect(monitor, collector);
                assertEquals(1.0, value(open, TelemetryBatchesCollector.RUNNING, batch), "its session works on");
                assertEquals(0.0, value(open, TelemetryBatchesCollector.RUNS_FINISHED, batch, "abandoned"));
            } // the batch dies without batch_end()
            assertTrue(TelemetryTestDb.awaitSessionGone(cluster, DB, run), "the session's exit is seen");
            MetricSink gone = collect(monitor, collector);
            assertEquals(0.0, value(gone, TelemetryBatchesCollector.RUNNING, batch), "abandoned is not running");
            assertNull(value(gone, TelemetryBatchesCollector.CURRENT_RUN_SECONDS, batch));
            assertEquals(0.0, value(gone, TelemetryBatchesCollector.LAST_SUCCEEDED, batch));
            assertEquals(1.0, value(gone, TelemetryBatchesCollector.RUNS_FINISHED, batch, "abandoned"),
                    "counted before sample() closes it");

            TelemetryTestDb.exec(cluster, DB, "SELECT telemetry.sample()");
            assertEquals(1.0, TelemetryTestDb.number(cluster, DB,
                    "SELECT count(*) FROM telemetry.runs WHERE state = 'abandoned' AND name = '" + batch + "'"));
            MetricSink closed = collect(monitor, collector);
            assertEquals(1.0, value(closed, TelemetryBatchesCollector.RUNS_FINISHED, batch, "abandoned"),
                    "run_totals takes the run over: the counter neither dips nor counts it twice");
            assertNotNull(value(closed, TelemetryBatchesCollector.LAST_DURATION_SECONDS, batch), "closed: it has an end");
        }
    }

    /**
     * History written directly (as batch runs a week apart would leave it): twelve succeeded runs,
     * the two oldest very long, then a short failed run; three more runs three weeks old.
     */
    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void theUsualDurationIsTheSchemasBaselineOfTheLatestRunAndCountsSurviveCleanup(int major) throws Exception {
        PostgresCluster cluster = prepared(major);
        String batch = "invoice_run";
        int[] seconds = {1000, 900, 60, 70, 80, 90, 100, 110, 120, 130, 140, 5000};
        StringBuilder runs = new StringBuilder("INSERT INTO telemetry.runs (name, state, started_at, ended_at) VALUES ");
        for (int i = 0; i < seconds.length; i++) {
            // run i ends (12 - i) hours ago
            runs.append("('").append(batch).append("', 'succeeded', now() - interval '").append(12 - i).append(" hours' - interval '")
                    .append(seconds[i]).append(" seconds', now() - interval '").append(12 - i).append(" hours'), ");
        }
        runs.append("('").append(batch).append("', 'failed', now() - interval '31 minutes', now() - interval '30 minutes')");
        for (int i = 0; i < 3; i++) {
            runs.append(", ('").append(batch).append("', 'succeeded', now() - interval '").append(21 + i).append(" days', now() - interval '")
                    .append(21 + i).append(" days' + interval '1 minute')");
        }
        TelemetryTestDb.exec(cluster, DB, runs.toString());

        try (Connection monitor = monitor(cluster)) {
            MetricSink sink = collect(monitor, collector);
            // the latest run is the failed one; its baseline: the five succeeded runs before it, 110..140 and 5000
            assertEquals(1100.0, value(sink, TelemetryBatchesCollector.USUAL_DURATION_SECONDS, batch), 1e-9);
            assertEquals(TelemetryTestDb.number(cluster, DB, "SELECT extract(epoch FROM avg_succeeded_duration) FROM telemetry.batch_runs "
                    + "WHERE name = '" + batch + "' ORDER BY started_at DESC LIMIT 1"),
                    value(sink, TelemetryBatchesCollector.USUAL_DURATION_SECONDS, batch), 1e-9, "the exporter and the batch_runs view agree");
            TelemetryTestDb.exec(cluster, DB, "SELECT telemetry.exclude_from_baseline(run_id) FROM telemetry.runs "
                    + "WHERE name = '" + batch + "' AND ended_at - started_at = interval '5000 s'");
            // without the 5000 s run: 100..140
            assertEquals(120.0, value(collect(monitor, collector), TelemetryBatchesCollector.USUAL_DURATION_SECONDS, batch), 1e-9);
            assertEquals(60.0, value(sink, TelemetryBatchesCollector.LAST_DURATION_SECONDS, batch), 1e-9);
            assertEquals(0.0, value(sink, TelemetryBatchesCollector.LAST_SUCCEEDED, batch));
            assertEquals(16.0, value(sink, TelemetryBatchesCollector.RUNS, batch));
            assertEquals(15.0, value(sink, TelemetryBatchesCollector.RUNS_FINISHED, batch, "succeeded"));
            assertEquals(1.0, value(sink, TelemetryBatchesCollector.RUNS_FINISHED, batch, "failed"));

            TelemetryTestDb.exec(cluster, DB, "SELECT * FROM telemetry.cleanup('7 days')");
            assertEquals(13.0, TelemetryTestDb.number(cluster, DB, "SELECT count(*) FROM telemetry.batch_runs"), "cleanup() deleted the old runs");
            MetricSink afterCleanup = collect(monitor, collector);
            assertEquals(16.0, value(afterCleanup, TelemetryBatchesCollector.RUNS, batch), "a counter never goes down");
            assertEquals(15.0, value(afterCleanup, TelemetryBatchesCollector.RUNS_FINISHED, batch, "succeeded"));
            assertEquals(120.0, value(afterCleanup, TelemetryBatchesCollector.USUAL_DURATION_SECONDS, batch), 1e-9);
        }
    }

    /** Five runs of 10 s, then a sixth open for 100 s: the usual is the five, so the sixth is 10× it. */
    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void aSlowSixthRunIsJudgedAgainstTheRunsBeforeIt(int major) throws Exception {
        PostgresCluster cluster = prepared(major);
        String batch = "sixth_run";
        TelemetryTestDb.exec(cluster, DB, "INSERT INTO telemetry.runs (name, state, started_at, ended_at) SELECT '" + batch
                + "', 'succeeded', now() - g * interval '1 hour', now() - g * interval '1 hour' + interval '10 s' FROM generate_series(1, 5) g",
                "INSERT INTO telemetry.runs (name, state, started_at) VALUES ('" + batch + "', 'running', now() - interval '100 s')");
        try (Connection monitor = monitor(cluster)) {
            MetricSink sink = collect(monitor, collector);
            double usual = value(sink, TelemetryBatchesCollector.USUAL_DURATION_SECONDS, batch);
            assertEquals(10.0, usual, 1e-9, "the five runs before the open one");
            assertTrue(value(sink, TelemetryBatchesCollector.CURRENT_RUN_SECONDS, batch) / usual >= 10.0);
            assertEquals(TelemetryTestDb.number(cluster, DB, "SELECT extract(epoch FROM avg_succeeded_duration) FROM telemetry.batch_runs "
                    + "WHERE name = '" + batch + "' AND state = 'running'"), usual, 1e-9, "the exporter and the batch_runs view agree");
            assertTrue(TelemetryTestDb.number(cluster, DB, "SELECT duration_vs_avg FROM telemetry.batch_runs WHERE name = '" + batch
                    + "' AND state = 'running'") >= 10.0);
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void onlyTheMostRecentlyActiveBatchesAreExported(int major) throws Exception {
        PostgresCluster cluster = prepared(major);
        int batches = TelemetryBatchesCollector.MAX_BATCHES + 5;
        // batch_i last ran i hours ago; the one with the oldest activity has an open run, and open runs come first
        TelemetryTestDb.exec(cluster, DB, "INSERT INTO telemetry.runs (name, state, started_at, ended_at) "
                + "SELECT format('batch_%s', i), 'succeeded', now() - make_interval(hours => i, mins => 5), now() - make_interval(hours => i) "
                + "FROM generate_series(1, " + batches + ") i",
                "INSERT INTO telemetry.runs (name, state, started_at) VALUES ('batch_" + batches + "', 'running', now() - interval '1 day')");
        try (Connection monitor = monitor(cluster)) {
            MetricSink sink = collect(monitor, collector);
            Set<String> exported = sink.samples().get(TelemetryBatchesCollector.RUNNING).stream()
                    .map(s -> s.labelValues().get(0)).collect(Collectors.toCollection(TreeSet::new));
            Set<String> expected = new TreeSet<>();
            for (int i = 1; i < TelemetryBatchesCollector.MAX_BATCHES; i++) {
                expected.add("batch_" + i);
            }
            expected.add("batch_" + batches);
            assertEquals(expected, exported, "the open run's batch and the 49 most recently active");
            assertEquals((double) batches, value(sink, TelemetryBatchesCollector.BATCHES), "how many exist");
            assertEquals(List.of(new MetricSink.Sample(List.of(), batches)), sink.samples().get(TelemetryBatchesCollector.BATCHES),
                    "one series, not one per batch");
            assertNotNull(value(sink, TelemetryBatchesCollector.CURRENT_RUN_SECONDS, "batch_" + batches));
        }
    }
}
