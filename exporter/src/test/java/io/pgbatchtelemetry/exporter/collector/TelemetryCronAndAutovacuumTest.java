package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.collect;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.pgbatchtelemetry.exporter.it.ExporterTestSupport;
import io.pgbatchtelemetry.exporter.it.TelemetryTestDb;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * What needs a server of its own: pg_cron (preloaded, the Debian PostgreSQL 15 only here) running the
 * telemetry jobs in database postgres, and autovacuum_naptime = 1 s so an autovacuum of a tracked
 * table starts within seconds and can be watched while it runs.
 *
 * <p>pg_cron's history is written by the test (a failed cleanup run, a succeeded snapshot run) with
 * the real jobs deactivated, so no run at a minute boundary can change the answer; that pg_cron
 * really runs the jobs and records their runs is proven by the sql module's PgCronTest.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TelemetryCronAndAutovacuumTest {

    private PostgresCluster cluster;

    @BeforeAll
    void startServer() throws Exception {
        Assumptions.assumeTrue(SharedClusters.versions().contains(15), "SKIPPED LOUDLY: pg_cron exists only for the Debian "
                + "PostgreSQL 15 here, and PGBT_PG_VERSIONS=" + SharedClusters.versions() + " leaves it out");
        cluster = PostgresCluster.builder(15).name("telemetry-cron-av").preloadPgCron(true)
                // jobs that do run must not fail on the harness's password-only TCP access
                .setting("cron.use_background_workers", "on")
                .setting("autovacuum_naptime", "1s")
                .build();
        cluster.start();
        TelemetryTestDb.install(cluster, "postgres");
        ExporterTestSupport.createMonitoringRole(cluster);
    }

    @AfterAll
    void stopServer() {
        if (cluster != null) {
            cluster.close();
        }
    }

    private Connection monitor() throws SQLException {
        return cluster.connect(ExporterTestSupport.MONITOR_USER, ExporterTestSupport.MONITOR_PASSWORD, "postgres");
    }

    @Test
    void cronJobHealthReachesTheMonitoringRoleThroughTheSchema() throws Exception {
        TelemetryTestDb.exec(cluster, "postgres",
                "UPDATE cron.job SET active = false WHERE jobname LIKE 'telemetry\\_%'",
                "DELETE FROM cron.job_run_details",
                recordedRun("telemetry_cleanup", "failed", "2 minutes"),
                recordedRun("telemetry_snapshot", "failed", "50 minutes"),
                recordedRun("telemetry_snapshot", "succeeded", "1 minute"));
        TelemetryHealthCollector health = new TelemetryHealthCollector();
        try (Connection monitor = monitor()) {
            try (Statement s = monitor.createStatement()) {
                s.executeQuery("SELECT count(*) FROM cron.job_run_details");
                fail("pg_monitor alone may not read pg_cron's history; the schema's function is what makes this work");
            } catch (SQLException e) {
                assertEquals("42501", e.getSQLState(), e.getMessage());
            }

            MetricSink sink = collect(monitor, health);
            for (String job : List.of("telemetry_cleanup", "telemetry_sample", "telemetry_snapshot")) {
                assertEquals(0.0, value(sink, TelemetryHealthCollector.CRON_JOB_ACTIVE, job), job + " was deactivated");
            }
            assertEquals(1.0, value(sink, TelemetryHealthCollector.CRON_JOB_LAST_RUN_FAILED, "telemetry_cleanup"));
            assertEquals(1.0, value(sink, TelemetryHealthCollector.CRON_JOB_FAILED_RUNS, "telemetry_cleanup"));
            assertEquals(0.0, value(sink, TelemetryHealthCollector.CRON_JOB_LAST_RUN_FAILED, "telemetry_snapshot"),
                    "the last run succeeded, after an earlier failure");
            assertEquals(1.0, value(sink, TelemetryHealthCollector.CRON_JOB_FAILED_RUNS, "telemetry_snapshot"));
            assertEquals(null, value(sink, TelemetryHealthCollector.CRON_JOB_LAST_RUN_FAILED, "telemetry_sample"),
                    "never ran: absent");

            // without the right to call the function, the job metrics go and the rest stays
            TelemetryTestDb.exec(cluster, "postgres", "REVOKE EXECUTE ON FUNCTION telemetry.cron_job_health() FROM telemetry_reader");
            try {
                MetricSink revoked = collect(monitor, health);
                assertEquals(1.0, value(revoked, TelemetryHealthCollector.INSTALLED));
                assertTrue(revoked.samples().getOrDefault(TelemetryHealthCollector.CRON_JOB_ACTIVE, List.of()).isEmpty(),
                        "job metrics absent: " + revoked.samples());
                TelemetryTestDb.exec(cluster, "postgres", "SELECT telemetry.snapshot()");
                assertNotNull(value(collect(monitor, health), TelemetryHealthCollector.SNAPSHOT_AGE),
                        "the connection is still usable after the refused call");
            } finally {
                TelemetryTestDb.exec(cluster, "postgres", "GRANT EXECUTE ON FUNCTION telemetry.cron_job_health() TO telemetry_reader");
            }
        }
    }

    private static String recordedRun(String job, String status, String endedAgo) {
        return "INSERT INTO cron.job_run_details (jobid, job_pid, database, username, command, status, return_message, start_time, end_time) "
                + "SELECT jobid, 0, database, username, command, '" + status + "', 'recorded by the test', "
                + "now() - interval '" + endedAgo + "' - interval '1 second', now() - interval '" + endedAgo + "' "
                + "FROM cron.job WHERE jobname = '" + job + "'";
    }

    @Test
    void anAutovacuumOfATrackedTableIsSeenWhileItRunsAndCountedAfter() throws Exception {
        TelemetryTestDb.exec(cluster, "postgres",
                "DROP TABLE IF EXISTS tt_autovacuumed",
                // slow (20 ms per page and cost unit), and only once the test enables it
                "CREATE TABLE tt_autovacuumed (id int) WITH (autovacuum_enabled = false, autovacuum_vacuum_threshold = 0, "
                        + "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_cost_delay = 20, autovacuum_vacuum_cost_limit = 1)",
                "INSERT INTO tt_autovacuumed SELECT generate_series(1, 5000)",
                "DELETE FROM tt_autovacuumed",
                "SELECT telemetry.track_table('tt_autovacuumed')");
        TelemetryTablesCollector tables = new TelemetryTablesCollector();
        try (Connection monitor = monitor()) {
            MetricSink before = collect(monitor, tables);
            assertEquals(0.0, value(before, TelemetryTablesCollector.AUTOVACUUMS, "public", "tt_autovacuumed"));
            assertEquals(0.0, value(before, TelemetryTablesCollector.AUTOVACUUM_RUNNING, "public", "tt_autovacuumed"));

            double enabledAt = TelemetryTestDb.number(cluster, "postgres", "SELECT extract(epoch FROM now())");
            TelemetryTestDb.exec(cluster, "postgres", "ALTER TABLE tt_autovacuumed SET (autovacuum_enabled = true)");
            Eventually.await("an autovacuum worker on tt_autovacuumed", () -> collect(monitor, tables),
                    sink -> Double.valueOf(1.0).equals(value(sink, TelemetryTablesCollector.AUTOVACUUM_RUNNING, "public", "tt_autovacuumed")));
            MetricSink after = Eventually.await("the autovacuum finished and counted", () -> collect(monitor, tables),
                    sink -> Double.valueOf(1.0).equals(value(sink, TelemetryTablesCollector.AUTOVACUUMS, "public", "tt_autovacuumed")));
            assertEquals(0.0, value(after, TelemetryTablesCollector.AUTOVACUUM_RUNNING, "public", "tt_autovacuumed"));
            double last = value(after, TelemetryTablesCollector.LAST_AUTOVACUUM, "public", "tt_autovacuumed");
            double now = TelemetryTestDb.number(cluster, "postgres", "SELECT extract(epoch FROM now())");
            assertTrue(enabledAt <= last && last <= now, "last autovacuum " + last + " between " + enabledAt + " and " + now);
            assertEquals(0.0, value(after, TelemetryTablesCollector.VACUUMS, "public", "tt_autovacuumed"), "no manual VACUUM");
        }
    }
}
