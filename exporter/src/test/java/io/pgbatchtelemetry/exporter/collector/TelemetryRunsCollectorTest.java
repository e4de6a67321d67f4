package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.collect;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.it.ExporterTestSupport;
import io.pgbatchtelemetry.exporter.it.TelemetryTestDb;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.PostgresCluster;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Recent runs and their usual runs as the monitoring role (pg_monitor only) sees them: one series per run with its
 * window and outcome, the open run at 1, the baseline exactly the run ids {@code telemetry.baseline_runs()} returns
 * (and none while there are fewer than baseline_min_runs), and at most ten runs per batch; a run whose session has gone
 * is not running at the next scrape, before sample() closes it. Each test starts from an empty run history of its own
 * database.
 */
class TelemetryRunsCollectorTest {

    private static final String DB = "pgbt_tele_runs";

    private final TelemetryRunsCollector collector = new TelemetryRunsCollector();

    private static PostgresCluster prepared(int major) throws Exception {
        PostgresCluster cluster = io.pgbatchtelemetry.harness.SharedClusters.get(major);
        TelemetryTestDb.install(cluster, DB);
        TelemetryTestDb.ensureBaselineRuns(cluster, DB);
        ExporterTestSupport.createMonitoringRole(cluster);
        TelemetryTestDb.exec(cluster, DB, "TRUNCATE telemetry.runs, telemetry.run_totals CASCADE");
        return cluster;
    }

    private static Connection monitor(PostgresCluster cluster) throws Exception {
        return cluster.connect(ExporterTestSupport.MONITOR_USER, ExporterTestSupport.MONITOR_PASSWORD, DB);
    }

    /** Inserts a run of {@code batch} that started {@code hoursAgo} hours ago and lasted a minute (open when state is running). */
    private static long run(PostgresCluster cluster, String batch, String state, int hoursAgo) throws Exception {
        String ended = "running".equals(state) ? "NULL" : "now() - make_interval(hours => " + hoursAgo + ") + interval '1 minute'";
        return TelemetryTestDb.number(cluster, DB, "INSERT INTO telemetry.runs (name, state, started_at, ended_at) VALUES ('"
                + batch + "', '" + state + "', now() - make_interval(hours => " + hoursAgo + "), " + ended + ") RETURNING run_id").longValue();
    }

    private static Set<String> baselineOf(PostgresCluster cluster, long run) throws Exception {
        Set<String> ids = new TreeSet<>();
        try (Connection c = cluster.connect(DB); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT run_id FROM telemetry.baseline_runs(" + run + ")")) {
            while (rs.next()) {
                ids.add(rs.getString(1));
            }
        }
        return ids;
    }

    private static Set<String> exportedBaseline(MetricSink sink, long run) {
        return sink.samples().getOrDefault(TelemetryRunsCollector.BASELINE, List.of()).stream()
                .filter(s -> s.labelValues().get(1).equals(Long.toString(run)))
                .map(s -> s.labelValues().get(2)).collect(Collectors.toCollection(TreeSet::new));
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void eachRecentRunHasItsWindowOutcomeAndTheSchemasUsualRuns(int major) throws Exception {
        PostgresCluster cluster = prepared(major);
        String batch = "nightly.load (eu)";   // regex characters: the board must match it exactly
        long first = run(cluster, batch, "succeeded", 30);
        long second = run(cluster, batch, "succeeded", 26);
        long failed = run(cluster, batch, "failed", 22);
        long third = run(cluster, batch, "succeeded", 18);
        long fourth = run(cluster, batch, "succeeded", 14);
        long open = run(cluster, batch, "running", 1);
        String young = "young";   // two succeeded runs only: fewer than baseline_min_runs
        run(cluster, young, "succeeded", 6);
        run(cluster, young, "succeeded", 4);
        long youngOpen = run(cluster, young, "running", 2);

        try (Connection monitor = monitor(cluster)) {
            MetricSink sink = collect(monitor, collector);
            assertEquals(1.0, value(sink, TelemetryRunsCollector.RUNNING, batch, Long.toString(open)));
            assertEquals(0.0, value(sink, TelemetryRunsCollector.RUNNING, batch, Long.toString(first)));
            assertNull(value(sink, TelemetryRunsCollector.ENDED, batch, Long.toString(open)), "absent while open");
            assertNull(value(sink, TelemetryRunsCollector.SUCCEEDED, batch, Long.toString(open)), "absent while open");
            assertEquals(0.0, value(sink, TelemetryRunsCollector.SUCCEEDED, batch, Long.toString(failed)));
            assertEquals(1.0, value(sink, TelemetryRunsCollector.SUCCEEDED, batch, Long.toString(third)));
            assertEquals(TelemetryTestDb.number(cluster, DB, "SELECT extract(epoch FROM started_at) FROM telemetry.runs WHERE run_id = " + third),
                    value(sink, TelemetryRunsCollector.STARTED, batch, Long.toString(third)), 1e-6);
            assertEquals(TelemetryTestDb.number(cluster, DB, "SELECT extract(epoch FROM ended_at) FROM telemetry.runs WHERE run_id = " + third),
                    value(sink, TelemetryRunsCollector.ENDED, batch, Long.toString(third)), 1e-6);

            Set<String> usual = baselineOf(cluster, open);
            assertEquals(Set.of(first, second, third, fourth).stream().map(String::valueOf).collect(Collectors.toCollection(TreeSet::new)), usual,
                    "the schema's usual runs of the open run: the four previous succeeded ones");
            assertEquals(usual, exportedBaseline(sink, open), "exported exactly as telemetry.baseline_runs() returns them");
            assertEquals(baselineOf(cluster, fourth), exportedBaseline(sink, fourth),
                    "the newest finished run keeps its usual runs (three previous succeeded ones count as usual)");
            assertEquals(3, exportedBaseline(sink, fourth).size());
            assertEquals(2, baselineOf(cluster, youngOpen).size());
            assertEquals(Set.of(), exportedBaseline(sink, youngOpen),
                    "two previous succeeded runs are fewer than baseline_min_runs (3): no usual runs yet, not a baseline of two");
            for (long older : new long[] {first, second, failed, third}) {
                assertEquals(Set.of(), exportedBaseline(sink, older),
                        "run " + older + ": baselines only for open runs and the newest finished one (their series covered its own window)");
            }
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void onlyTheLastTenRunsOfABatchAreExported(int major) throws Exception {
        PostgresCluster cluster = prepared(major);
        Set<String> expected = new TreeSet<>();
        for (int hoursAgo = 15; hoursAgo >= 1; hoursAgo--) {
            long id = run(cluster, "hourly", "succeeded", hoursAgo);
            if (hoursAgo <= TelemetryRunsCollector.RECENT_RUNS) {
                expected.add(Long.toString(id));
            }
        }
        try (Connection monitor = monitor(cluster)) {
            MetricSink sink = collect(monitor, collector);
            Set<String> exported = sink.samples().get(TelemetryRunsCollector.RUNNING).stream()
                    .map(s -> s.labelValues().get(1)).collect(Collectors.toCollection(TreeSet::new));
            assertEquals(expected, exported);
            for (String run : exported) {
                assertTrue(exportedBaseline(sink, Long.parseLong(run)).size() <= 5, "at most baseline_runs (5) usual runs");
            }
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void aRunWhoseSessionClosedIsNotRunningAtOnce(int major) throws Exception {
        PostgresCluster cluster = prepared(major);
        String batch = "crashing_load";
        try (Connection monitor = monitor(cluster)) {
            long run;
            try (Connection batchSession = cluster.connect(DB); Statement s = batchSession.createStatement();
                 ResultSet rs = s.executeQuery("SELECT telemetry.batch_start('" + batch + "')")) {
                rs.next();
                run = rs.getLong(1);
                MetricSink open = collect(monitor, collector);
                assertEquals(1.0, value(open, TelemetryRunsCollector.RUNNING, batch, Long.toString(run)), "its session works on");
                assertNull(value(open, TelemetryRunsCollector.SUCCEEDED, batch, Long.toString(run)));
            } // the batch dies without batch_end()
            assertTrue(TelemetryTestDb.awaitSessionGone(cluster, DB, run), "the session's exit is seen");
            assertEquals(1.0, TelemetryTestDb.number(cluster, DB, "SELECT count(*) FROM telemetry.runs WHERE state = 'running' AND run_id = "
                    + run), "nothing has closed the run yet");
            MetricSink gone = collect(monitor, collector);
            assertEquals(0.0, value(gone, TelemetryRunsCollector.RUNNING, batch, Long.toString(run)), "abandoned is not running");
            assertEquals(0.0, value(gone, TelemetryRunsCollector.SUCCEEDED, batch, Long.toString(run)), "abandoned did not succeed");
            assertNull(value(gone, TelemetryRunsCollector.ENDED, batch, Long.toString(run)), "no end until sample() closes it");
        }
    }
}
