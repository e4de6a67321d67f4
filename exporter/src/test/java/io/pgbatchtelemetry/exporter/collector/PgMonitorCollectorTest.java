package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.collect;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.serverOf;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.execute;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The exporter runs as a role with pg_monitor and nothing else: the functions these collectors
 * call (pg_control_checkpoint, pg_ls_tmpdir, pg_database_size) and the settings they read must
 * all be open to it, or a scrape would fail where the superuser-run tests pass.
 */
class PgMonitorCollectorTest {

    private static final String ROLE = "collector_pg_monitor_test";
    private static final String PASSWORD = "collector-pg-monitor-test";

    @AfterAll
    static void dropTestRole() throws SQLException {
        for (int major : SharedClusters.versions()) {
            SharedClusters.get(major).execute("DROP ROLE IF EXISTS " + ROLE);
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void collectorsReadEverythingAsPgMonitor(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        try (Connection admin = cluster.connect()) {
            execute(admin, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + ROLE + "') THEN "
                    + "CREATE ROLE " + ROLE + " LOGIN PASSWORD '" + PASSWORD + "' IN ROLE pg_monitor; END IF; END $$");
        }
        try (Connection monitor = cluster.connect(ROLE, PASSWORD, "postgres")) {
            MetricSink checkpoints = collect(monitor, new CheckpointCollector());
            assertNotNull(value(checkpoints, CheckpointCollector.LAST_CHECKPOINT_AGE), "pg_control_checkpoint()");
            assertNotNull(value(checkpoints, CheckpointCollector.REQUESTED));

            MetricSink bgwriter = collect(monitor, new BgwriterCollector());
            assertNotNull(value(bgwriter, BgwriterCollector.BUFFERS_BACKEND));

            IoCollector io = new IoCollector();
            if (io.supports(serverOf(monitor))) {
                assertTrue(collect(monitor, io).samples().get(IoCollector.READS).size() > 0, "pg_stat_io rows");
            }

            MetricSink database = collect(monitor, new DatabaseCollector(Duration.ZERO));
            assertNotNull(value(database, DatabaseCollector.TEMP_FILES_IN_USE), "pg_ls_tmpdir()");
            assertNotNull(value(database, DatabaseCollector.SIZE, "postgres"), "pg_database_size()");

            MetricSink settings = collect(monitor, new SettingsCollector());
            for (String name : SettingsCollector.trackedNames()) {
                assertNotNull(value(settings, SettingsCollector.familyOf(name)), name + " is visible to pg_monitor");
            }
        }
    }
}
