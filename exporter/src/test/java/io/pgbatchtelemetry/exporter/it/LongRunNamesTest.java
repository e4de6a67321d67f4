package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One writer must not be able to crash every exporter: ten runs named with 150 KB each (what made
 * a scrape exhaust the launcher's heap, and every restart die again on its first scrape).
 *
 * <p>The schema refuses such names from telemetry_writer (batch_start) and writers can't INSERT
 * around it; the runs are then written the only way left, as the schema owner with the bound
 * dropped (rows from before the bound existed), and the exporter, in a JVM with the launcher's heap
 * flags, must keep answering 200 with a bounded exposition, shortened label values that stay ten
 * distinct series, and a self-metric saying what it cut.
 */
class LongRunNamesTest {

    private static final String DB = "telemetry_longnames";
    private static final int RUNS = 10;
    private static final int NAME_CHARS = 150 * 1024;

    @TempDir
    Path dir;

    @Test
    void hugeRunNamesNeitherCrashNorBloatTheExporter() throws Exception {
        PostgresCluster cluster = SharedClusters.get(SharedClusters.versions().get(0));
        ExporterTestSupport.createMonitoringRole(cluster);
        TelemetryTestDb.install(cluster, DB);
        TelemetryTestDb.exec(cluster, DB, "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'long_writer') THEN "
                + "CREATE ROLE long_writer LOGIN PASSWORD 'pw' IN ROLE telemetry_writer; END IF; END $$");
        String longName = "x".repeat(NAME_CHARS);
        try (Connection writer = cluster.connect("long_writer", "pw", DB);
             PreparedStatement start = writer.prepareStatement("SELECT telemetry.batch_start(?)")) {
            start.setString(1, longName);
            SQLException refused = org.junit.jupiter.api.Assertions.assertThrows(SQLException.class, start::executeQuery);
            assertTrue(refused.getMessage().contains("at most 200 characters"), refused.getMessage());
        }
        TelemetryTestDb.exec(cluster, DB, "ALTER TABLE telemetry.runs DROP CONSTRAINT IF EXISTS runs_name_length",
                "ALTER TABLE telemetry.run_totals DROP CONSTRAINT IF EXISTS run_totals_name_length");
        try (Connection owner = cluster.connect(DB);
             PreparedStatement insert = owner.prepareStatement("INSERT INTO telemetry.runs (name, state, started_at, ended_at) "
                     + "VALUES (?, 'succeeded', now() - interval '1 minute', now())")) {
            for (int i = 0; i < RUNS; i++) {
                insert.setString(1, longName + i); // the same 150 KB beginning: only the hash tells them apart
                insert.executeUpdate();
            }
        }

        try (ExporterProcess process = ExporterProcess.start(Map.of("DATA_SOURCE_NAME", "postgresql://" + ExporterTestSupport.MONITOR_USER
                        + ":" + ExporterTestSupport.MONITOR_PASSWORD + "@" + cluster.host() + ":" + cluster.port() + "/" + DB + "?sslmode=disable"),
                List.of("--web.listen-address=127.0.0.1:0"), dir.resolve("exporter.log"), ExporterProcess.launcherHeapFlags())) {
            int port = process.awaitPort();
            for (int scrape = 0; scrape < 5; scrape++) {
                ExporterTestSupport.Response response = ExporterTestSupport.get(port, "/metrics", null);
                assertEquals(200, response.status(), "scrape " + scrape);
                int bytes = response.body().getBytes(StandardCharsets.UTF_8).length;
                assertTrue(bytes < 512 * 1024, "the exposition stays bounded: " + bytes + " bytes");
                Exposition metrics = new Exposition(response.body());
                Set<String> batches = new HashSet<>();
                String prefix = "pg_telemetry_batch_running{batch=\"";
                for (String series : metrics.series().keySet()) {
                    if (series.startsWith(prefix + "xxx")) {
                        String batch = series.substring(prefix.length(), series.length() - 2);
                        assertEquals(256, batch.length(), "bounded label value");
                        assertTrue(batch.matches("x{240}\\.\\.\\.~[0-9a-f]{12}"), batch.substring(230));
                        batches.add(batch);
                    }
                }
                assertEquals(RUNS, batches.size(), "ten names stay ten series");
                assertTrue(metrics.value("pg_exporter_label_values_truncated", "family", "pg_telemetry_batch_running") >= RUNS,
                        "the cut is counted");
                assertEquals("", ExporterTestSupport.promtoolCheck(response.body()));
            }
            assertTrue(process.process().isAlive(), "the exporter is still running:\n" + process.output());
        } finally {
            TelemetryTestDb.exec(cluster, DB, "TRUNCATE telemetry.runs, telemetry.run_totals CASCADE");
        }
    }
}
