package io.pgbatchtelemetry.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.config.SettingsLoader;
import io.pgbatchtelemetry.harness.PostgresCluster;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo's SQL half on a cluster configured as the demo's own (PostgreSQL 17, pg_stat_statements
 * preloaded): the schema installs from the copy in the demo jar, the workload's rounds are telemetry runs
 * with their plans captured, the slow round's diagnose() names its lock wait (seen through the exporter's
 * per-second samples, as the demo runs it) and the per-customer UPDATE whose index was dropped (plan
 * changed, both plans), as does the statement comparison the demo prints; its report is written by the
 * report subcommand as HTML and Markdown against the baseline runs before it, with that statement in its
 * statements and plan-changes sections, and the psql and report commands the demo prints work exactly as
 * printed.
 */
class DemoSqlHalfTest {

    private static final Path PSQL_DIR = Path.of("/usr/lib/postgresql/15/bin");
    private static final String ROLE = "pgbt_demo_monitor";
    private static final String PASSWORD = "demo-Test-6";

    @TempDir
    Path dir;

    @Test
    void theSlowRoundIsDiagnosedAndThePrintedPsqlCommandWorks() throws Exception {
        try (PostgresCluster cluster = Demo.cluster("demo-sql").build()) {
            cluster.start();
            try (Connection c = cluster.connect(); Statement s = c.createStatement()) {
                s.execute("CREATE ROLE " + ROLE + " LOGIN PASSWORD '" + PASSWORD + "' IN ROLE pg_monitor");
                DemoSchema.install(c, ROLE);
            }
            Map<String, String> env = Map.of("DATA_SOURCE_NAME", "postgresql://" + ROLE + "@" + cluster.host() + ":" + cluster.port()
                    + "/postgres", "DATA_SOURCE_PASS", PASSWORD);
            long slow;
            int baselineRounds;
            List<String> narrated = new CopyOnWriteArrayList<>();
            try (Connection c = cluster.connect()) {
                baselineRounds = DemoSchema.baselineMinRuns(c);
            }
            try (Exporter exporter = Exporter.start(new SettingsLoader().load(null, env, Map.of("web.listen-address", "127.0.0.1:0")))) {
                BatchWorkload workload = new BatchWorkload(() -> connect(cluster), baselineRounds, run -> { }, narrated::add);
                workload.createTable();
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
            assertTrue(lock.matches(".*waiting: queryid -?\\d+ \\(\\d+ samples\\) UPDATE demo_orders SET note = .*")
                    && lock.matches(".*blocking: queryid -?\\d+ \\(\\d+ samples\\) SELECT id, amount FROM demo_orders .*"),
                    "the statements that waited and the one that blocked: " + lock);
            assertEquals(List.of("simulating: someone dropped index demo_orders_customer_idx (the batch's per-customer UPDATE used it)"
                    + " before round " + (baselineRounds + 1), "index demo_orders_customer_idx is back (round " + (baselineRounds + 1)
                    + " ran without it)"), narrated, "the demo says what it does behind the batch's back");
            assertEquals("1", value(cluster, "SELECT count(*) FROM pg_indexes WHERE indexname = 'demo_orders_customer_idx'"), "and puts it back");
            Settle settle = new Settle(value(cluster, "SELECT queryid FROM pg_stat_statements WHERE query = '"
                    + SETTLE_TEXT.replace("'", "''") + "' AND toplevel"));
            assertTrue(settle.queryid() != null, "pg_stat_statements has the per-customer UPDATE: " + SETTLE_TEXT);
            String regression = diagnosis.stream().filter(l -> l.contains("statement_regression") && l.contains("queryid " + settle.queryid()))
                    .findFirst().orElseThrow(() -> new AssertionError("diagnose() names the per-customer UPDATE: " + diagnosis));
            assertTrue(regression.contains("plan changed: queryid " + settle.queryid()), regression);
            settle.assertBothPlans(regression);

            DemoPsql printedPsql = DemoPsql.write(cluster, Files.createDirectories(dir.resolve("printed")));
            String printed = Demo.slowRunText(cluster, printedPsql, slow);
            assertTrue(printed.contains("lock_contention"), "the printed diagnosis still names the lock wait:\n" + printed);
            String typical = value(cluster, "SELECT telemetry.run_report(" + slow + ") #>> '{statements,baseline_run_id}'");
            assertTrue(printed.contains("Its statements against baseline run " + typical + " (the report's)"), printed);
            List<String> block = printedStatement(printed, settle.queryid());
            assertTrue(block.get(0).matches("\\s*\\d\\. plan changed, [0-9.]+ % of the extra time: queryid " + settle.queryid() + " "
                    + java.util.regex.Pattern.quote(SETTLE_TEXT)), "printed: " + block);
            assertTrue(block.get(1).matches("\\s*calls " + BatchWorkload.CUSTOMERS_SETTLED + " -> " + BatchWorkload.CUSTOMERS_SETTLED
                    + ", mean [0-9.]+ -> [0-9.]+ ms"), "printed: " + block);
            assertTrue(block.get(2).contains("plan in baseline run " + typical + ": "), "printed: " + block);
            settle.assertBothPlans(block.get(2) + " | " + block.get(3));
            assertTrue(block.get(2).contains("demo_orders_customer_idx") && block.get(3).contains("Seq Scan on demo_orders")
                    && !block.get(3).contains("demo_orders_customer_idx"), "baseline plan then slow plan: " + block);
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
        String queryid = value(cluster, "SELECT queryid FROM pg_stat_statements WHERE query = '" + SETTLE_TEXT.replace("'", "''") + "' AND toplevel");
        Settle settle = new Settle(queryid);
        String statements = markdownRow(markdown, "Top statements", queryid);
        assertTrue(statements.contains("| plan changed |") && statements.contains(SETTLE_TEXT), statements);
        // the plans are under Plan changes, one row per statement whose plan changed
        String planChange = markdownRow(markdown, "Plan changes", queryid);
        assertTrue(planChange.contains(SETTLE_TEXT), planChange);
        settle.assertBothPlans(planChange);
        assertTrue(markdownSection(markdown, "Findings (telemetry.diagnose)").contains("lock\\_contention"), "the report still names the lock wait");
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

    /** The demo's per-customer UPDATE as pg_stat_statements normalises it: JDBC's parameter is $1, the constants are numbered after it. */
    private static final String SETTLE_TEXT = "UPDATE demo_orders SET amount = round(amount * $2, $3) WHERE customer = $1";

    /** The statement whose index the slow round lost, and what its two plans must show. */
    private record Settle(String queryid) {
        void assertBothPlans(String text) {
            assertTrue(text.contains("using demo_orders_customer_idx"), "the baseline plan used the index: " + text);
            assertTrue(text.contains("Seq Scan on demo_orders"), "the slow plan reads the whole table: " + text);
        }
    }

    /** The printed lines of one statement of the comparison: its headline, calls/mean, and both plans. */
    private static List<String> printedStatement(String printed, String queryid) {
        List<String> lines = printed.lines().toList();
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).contains("of the extra time: queryid " + queryid + " ")) {
                assertTrue(i + 3 < lines.size(), printed);
                return lines.subList(i, i + 4);
            }
        }
        throw new AssertionError("the printed statements name queryid " + queryid + ":\n" + printed);
    }

    /** A "## title" section of the Markdown report, up to the next section. */
    private static String markdownSection(String markdown, String title) {
        int start = markdown.indexOf("\n## " + title + "\n");
        assertTrue(start >= 0, "the report has a section " + title + ":\n" + markdown);
        int end = markdown.indexOf("\n## ", start + 1);
        return markdown.substring(start, end < 0 ? markdown.length() : end);
    }

    /** The table row of a Markdown section that names the queryid, with the report's escaping undone. */
    private static String markdownRow(String markdown, String title, String queryid) {
        String section = markdownSection(markdown, title);
        return section.lines().filter(l -> l.startsWith("|") && l.contains("| " + queryid + " |")).findFirst()
                .map(l -> l.replaceAll("\\\\(.)", "$1").replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&"))
                .orElseThrow(() -> new AssertionError("section " + title + " has a row for queryid " + queryid + ":\n" + section));
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
