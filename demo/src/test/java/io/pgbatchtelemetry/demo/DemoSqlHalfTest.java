package io.pgbatchtelemetry.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.config.SettingsLoader;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo's SQL half on a cluster of its own (newest configured version): the schema installs from
 * the copy in the demo jar, the workload's rounds are telemetry runs, the slow round's diagnose()
 * names its lock wait (seen through the exporter's per-second samples, as the demo runs it), its report
 * is written by the report subcommand as HTML and Markdown against the baseline runs before it, and the
 * psql and report commands the demo prints work exactly as printed.
 */
class DemoSqlHalfTest {

    private static final Path PSQL_DIR = Path.of("/usr/lib/postgresql/15/bin");
    private static final String ROLE = "pgbt_demo_monitor";
    private static final String PASSWORD = "demo-Test-6";

    @TempDir
    Path dir;

    @Test
    void theSlowRoundIsDiagnosedAndThePrintedPsqlCommandWorks() throws Exception {
        int version = Collections.max(SharedClusters.versions());
        try (PostgresCluster cluster = PostgresCluster.builder(version).name("demo-sql").build()) {
            cluster.start();
            try (Connection c = cluster.connect(); Statement s = c.createStatement()) {
                s.execute("CREATE ROLE " + ROLE + " LOGIN PASSWORD '" + PASSWORD + "' IN ROLE pg_monitor");
                DemoSchema.install(c, ROLE);
                s.execute("CREATE TABLE demo_orders (id bigserial PRIMARY KEY, customer int, amount numeric, note text)");
            }
            Map<String, String> env = Map.of("DATA_SOURCE_NAME", "postgresql://" + ROLE + "@" + cluster.host() + ":" + cluster.port()
                    + "/postgres", "DATA_SOURCE_PASS", PASSWORD);
            long slow;
            int baselineRounds;
            try (Connection c = cluster.connect()) {
                baselineRounds = DemoSchema.baselineMinRuns(c);
            }
            try (Exporter exporter = Exporter.start(new SettingsLoader().load(null, env, Map.of("web.listen-address", "127.0.0.1:0")))) {
                BatchWorkload workload = new BatchWorkload(() -> connect(cluster), baselineRounds, run -> { });
                for (int round = 1; round < workload.slowRound(); round++) {
                    workload.runOnce(round, Duration.ofMillis(200));
                }
                slow = workload.runOnce(workload.slowRound(), Duration.ofSeconds(6));
            }
            List<String> diagnosis;
            try (Connection c = cluster.connect()) {
                diagnosis = DemoSchema.diagnose(c, slow);
            }
            String lock = diagnosis.stream().filter(l -> l.contains("lock_contention")).findFirst()
                    .orElseThrow(() -> new AssertionError("the slow round's lock wait is found: " + diagnosis));
            assertTrue(lock.matches(".*longest wait [5-9]\\.[0-9] s.*"), lock);
            assertEquals("1", value(cluster, "SELECT count(*) FROM telemetry.batch_runs WHERE run_id = " + slow
                    + " AND name = 'demo-batch' AND state = 'succeeded' AND duration_vs_avg > 1.5"), "slower than its usual");
            assertEquals("64kB", value(cluster, "SELECT setting || unit FROM telemetry.run_settings WHERE run_id = " + slow
                    + " AND name = 'work_mem'"), "the batch's own work_mem, set before batch_start");

            DemoPsql psql = DemoPsql.write(cluster, dir);
            theReportNamesTheSlowRunAndItsBaseline(cluster, psql, slow, baselineRounds);

            Assumptions.assumeTrue(Files.isExecutable(PSQL_DIR.resolve("psql")),
                    "SKIPPED LOUDLY: no psql at " + PSQL_DIR + " to run the printed command with (Debian package postgresql-client-15)");
            String command = psql.command("SELECT pattern FROM telemetry.diagnose(" + slow + ")");
            ProcessBuilder builder = new ProcessBuilder("bash", "-c", command).redirectErrorStream(true);
            builder.environment().put("PATH", PSQL_DIR + ":" + System.getenv("PATH"));
            builder.environment().remove("PGPASSWORD");
            Process process = builder.start();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(process.waitFor(60, TimeUnit.SECONDS));
            assertEquals(0, process.exitValue(), command + "\n" + output);
            assertTrue(output.contains("lock_contention"), output);
        }
    }

    private void theReportNamesTheSlowRunAndItsBaseline(PostgresCluster cluster, DemoPsql psql, long slow, int baselineRounds)
            throws Exception {
        List<String> baseline = Arrays.asList(value(cluster, "SELECT string_agg(run_id::text, ',' ORDER BY started_at DESC) FROM telemetry.baseline_runs("
                + slow + ")").split(","));
        assertEquals(baselineRounds, baseline.size(), "the rounds before the slow one are its usual baseline: " + baseline);
        Path reports = Files.createDirectories(dir.resolve("reports"));
        DemoReport.Written written = new DemoReport(reports, psql).write(slow);

        String html = Files.readString(written.html());
        assertTrue(html.matches("(?s).*<tr class=\"this-run\" data-run-id=\"" + slow + "\">.*"), "the HTML names the slow run " + slow);
        for (String run : baseline) {
            assertTrue(html.matches("(?s).*<tr class=\"baseline-run\" data-run-id=\"" + run + "\">.*"), "the HTML names baseline run " + run);
        }
        String markdown = Files.readString(written.markdown());
        assertTrue(markdown.contains(Long.toString(slow)) && !markdown.contains("<html"), markdown);
        String said = String.join("\n", written.messages());
        assertTrue(said.contains(written.html().toString()) && said.contains(written.markdown().toString()), said);
        assertTrue(said.contains("baseline runs [" + String.join(", ", baseline) + "]"), "the baseline runs are printed: " + said);

        // the command as printed, from another directory, without the test's environment's database settings
        Files.delete(written.html());
        ProcessBuilder builder = new ProcessBuilder("bash", "-c", written.command()).directory(dir.toFile()).redirectErrorStream(true);
        builder.environment().keySet().removeIf(k -> k.startsWith("PG") || k.startsWith("DATA_SOURCE"));
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, process.exitValue(), written.command() + "\n" + output);
        assertTrue(Files.readString(written.html()).contains("data-run-id=\"" + slow + "\""), written.command() + "\n" + output);
    }

    private static Connection connect(PostgresCluster cluster) {
        try {
            return cluster.connect();
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String value(PostgresCluster cluster, String sql) throws SQLException {
        return cluster.queryValue(sql);
    }
}
