package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import io.pgbatchtelemetry.exporter.config.SettingsLoader;
import io.pgbatchtelemetry.exporter.sampler.WaitEventSampler;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * An 11 s lock wait inside a batch run that started a few seconds after the schema's last scheduled
 * sample is in the schema's own evidence: the exporter's sampler, whose role is a telemetry_writer,
 * writes a sample every second while the run is open. On PostgreSQL 15 in database postgres of a
 * cluster of its own that preloads Debian's pg_cron 1.4, which runs the schema's jobs and has no
 * second schedules (so batch_start() can't schedule per-second sampling there; the shared cluster's
 * postgres database stays without the schema); on 16-18 without pg_cron at all.
 */
class RunSamplingTest {

    private static final String ROLE = "pgbt_run_writer";
    private static final String PASSWORD = "run-Writer-15";

    private static String database(int major) {
        return major == 15 ? "postgres" : "pgbt_run_sampling";   // PG15: where pg_cron runs
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void anElevenSecondLockWaitInsideARunIsFoundByDiagnose(int major) throws Exception {
        if (major != 15) {
            lockWaitInsideARun(SharedClusters.get(major), major);
            return;
        }
        try (PostgresCluster cluster = PostgresCluster.builder(15).name("run-sampling-cron").preloadPgCron(true)
                .setting("cron.use_background_workers", "on").build()) {
            cluster.start();
            lockWaitInsideARun(cluster, major);
        }
    }

    private static void lockWaitInsideARun(PostgresCluster cluster, int major) throws Exception {
        String db = database(major);
        TelemetryTestDb.install(cluster, db);
        TelemetryTestDb.exec(cluster, db,
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + ROLE + "') THEN "
                        + "CREATE ROLE " + ROLE + " LOGIN PASSWORD '" + PASSWORD + "' IN ROLE pg_monitor, telemetry_writer; END IF; END $$",
                "UPDATE telemetry.runs SET state = 'failed', ended_at = now() WHERE state = 'running'",
                "DROP TABLE IF EXISTS run_sampling_orders", "CREATE TABLE run_sampling_orders (id int)");
        boolean cron = TelemetryTestDb.number(cluster, db, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'") > 0;
        assertEquals(major == 15, cron, "pg_cron 1.4 is in PG15's postgres database, nowhere else");

        Map<String, String> env = Map.of("DATA_SOURCE_NAME", "postgresql://" + ROLE + ":" + PASSWORD + "@" + cluster.host() + ":"
                + cluster.port() + "/" + db + "?sslmode=disable");
        ExporterSettings settings = new SettingsLoader().load(null, env, Map.of("web.listen-address", "127.0.0.1:0"));
        long run;
        try (WaitEventSampler sampler = new WaitEventSampler(settings);
             Connection blocker = cluster.connect(db); Connection batch = cluster.connect(db)) {
            sampler.start();
            TelemetryTestDb.exec(cluster, db, "SELECT telemetry.sample()");   // the scheduled sample the run starts after
            Thread.sleep(3000);
            try (Statement s = batch.createStatement(); ResultSet rs = s.executeQuery("SELECT telemetry.batch_start('nightly_orders')")) {
                rs.next();
                run = rs.getLong(1);
            }
            if (cron) {
                assertEquals(0.0, TelemetryTestDb.number(cluster, db, "SELECT count(*) FROM cron.job WHERE jobname = 'telemetry_run_sample'"),
                        "pg_cron 1.4 refuses a '1 seconds' schedule: no per-second job");
            }
            blocker.setAutoCommit(false);
            try (Statement s = blocker.createStatement()) {
                s.execute("LOCK TABLE run_sampling_orders IN ACCESS EXCLUSIVE MODE");
            }
            CompletableFuture<Void> blocked = CompletableFuture.runAsync(() -> {
                try (Statement s = batch.createStatement()) {
                    s.execute("INSERT INTO run_sampling_orders VALUES (1)");
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            Thread.sleep(11_000);
            blocker.commit();
            blocked.join();
            try (Statement s = batch.createStatement()) {
                s.execute("SELECT telemetry.batch_end(" + run + ")");
            }
            Thread.sleep(3000);   // the sampler keeps running
        }

        List<String> findings = new ArrayList<>();
        try (Connection c = cluster.connect(db); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT pattern || ': ' || evidence FROM telemetry.diagnose(" + run + ")")) {
            while (rs.next()) {
                findings.add(rs.getString(1));
            }
        }
        String lock = findings.stream().filter(f -> f.startsWith("lock_contention")).findFirst()
                .orElseThrow(() -> new AssertionError("the lock wait is found: " + findings));
        Matcher wait = Pattern.compile("longest wait ([0-9.]+) s").matcher(lock);
        assertTrue(wait.find(), lock);
        assertTrue(Double.parseDouble(wait.group(1)) >= 9.0, "the wait is seen near its full length: " + lock);
        assertTrue(lock.contains("run_sampling_orders"), lock);
        assertTrue(lock.matches(".*coverage: \\d+ samples \\(\\d+ from exporter every 1 s.*"), "coverage stated: " + lock);
        double exporterSamples = TelemetryTestDb.number(cluster, db, "SELECT count(*) FROM telemetry.samples s, telemetry.runs r "
                + "WHERE r.run_id = " + run + " AND s.source = 'exporter' AND s.captured_at BETWEEN r.started_at AND r.ended_at");
        assertTrue(exporterSamples >= 8, "about one sample a second from the exporter: " + exporterSamples);
        assertEquals(0.0, TelemetryTestDb.number(cluster, db, "SELECT count(*) FROM telemetry.samples s WHERE s.source = 'exporter' "
                + "AND s.captured_at > (SELECT ended_at FROM telemetry.runs WHERE run_id = " + run + ")"),
                "no samples once the run is closed");
        assertTrue(TelemetryTestDb.number(cluster, db, "SELECT count(*) FROM telemetry.runs WHERE run_id = " + run
                + " AND stats_snapshot_id IS NOT NULL") == 1, "the sampler's next tick took the closing snapshot after the batch's stats flush");
    }
}
