package io.pgbatchtelemetry.e2e;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.config.SettingsLoader;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.scenario.SlowBatchScenario;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;

/**
 * The telemetry side of the end-to-end stacks, set up as a DBA would: a monitoring role in pg_monitor, sql/install.sql
 * run with psql, pg-batch-exporter with the slow-batch scenario's batch rules (the batch's sampler rule and its
 * telemetry runs share one name, {@link SlowBatchScenario#BATCH}), and the batch marking its runs.
 */
final class E2eTelemetry {

    static final String MONITOR_USER = "pgbt_e2e_monitor";
    static final String MONITOR_PASSWORD = "e2e-Monitor-7";
    private static final String PSQL = "/usr/lib/postgresql/15/bin/psql";

    private E2eTelemetry() {}

    static void createMonitoringRole(PostgresCluster cluster) throws SQLException {
        try (Connection c = cluster.connect(); Statement s = c.createStatement()) {
            s.execute("CREATE ROLE " + MONITOR_USER + " LOGIN PASSWORD '" + MONITOR_PASSWORD + "' IN ROLE pg_monitor");
        }
    }

    /** sql/install.sql with psql as the superuser (pg_monitor, and so the monitoring role, may read it), and baseline_runs(). */
    static void install(PostgresCluster cluster, Path work) throws SQLException, IOException {
        Command install = Command.run(work, Duration.ofSeconds(120), Map.of("PGPASSWORD", cluster.superuserPassword()),
                PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cluster.host(), "-p", Integer.toString(cluster.port()),
                "-U", cluster.superuser(), "-d", "postgres", "-f", Repo.path("sql/install.sql").toString());
        assertTrue(install.succeeded(), install.report());
        try (Connection c = cluster.connect()) {
            BaselineRunsFixture.ensure(c);
        }
    }

    /** The exporter on a free loopback port, sampling every 100 ms, with the scenario's batch and blocker rules. */
    static Exporter startExporter(PostgresCluster cluster, Path work) throws IOException {
        Path config = work.resolve("exporter-" + cluster.port() + ".conf");
        Files.writeString(config, """
                pg-batch-exporter {
                  # 10 samples a second: short WAL and extension waits of the scenario get sampled too
                  sampler { interval = 100ms }
                  batches = [
                    { name = "%s", application-name = "^%s$" },
                    { name = "%s", application-name = "^%s$" }
                  ]
                }
                """.formatted(SlowBatchScenario.BATCH, SlowBatchScenario.BATCH, SlowBatchScenario.BLOCKER, SlowBatchScenario.BLOCKER));
        return Exporter.start(new SettingsLoader().load(config,
                Map.of("DATA_SOURCE_NAME", "postgresql://" + MONITOR_USER + ":" + MONITOR_PASSWORD + "@" + cluster.host()
                        + ":" + cluster.port() + "/postgres?sslmode=disable"),
                Map.of("web.listen-address", "127.0.0.1:0")));
    }

    /**
     * Marks the start of a run of the scenario's batch; returns its run id. batch_end() comes from another connection,
     * so the run is not bound to this one (which ends at once: a bound run would be abandoned).
     */
    static long batchStart(PostgresCluster cluster) throws SQLException {
        try (Connection c = cluster.connect(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT telemetry.batch_start('" + SlowBatchScenario.BATCH + "', session_bound => false)")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static void batchEnd(PostgresCluster cluster, long run) throws SQLException {
        batchEnd(cluster, run, "succeeded");
    }

    /** Ends the run as succeeded or failed. */
    static void batchEnd(PostgresCluster cluster, long run, String state) throws SQLException {
        try (Connection c = cluster.connect(); Statement s = c.createStatement()) {
            s.execute("SELECT telemetry.batch_end(" + run + ", '" + state + "')");
        }
    }
}
