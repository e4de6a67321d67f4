package io.pgbatchtelemetry.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.it.ExporterTestSupport;
import io.pgbatchtelemetry.exporter.it.TelemetryTestDb;
import io.pgbatchtelemetry.harness.PostgresCluster;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.jsoup.Jsoup;
import org.jsoup.nodes.Document;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a DBA gets when the report cannot say everything: an unknown run, no schema, bad options
 * (one line, exit 2, no stack trace, nothing written), and a run still running, a failed run, a
 * run without baseline and a schema without statement data (a report that says so).
 */
class ReportErrorsTest {

    @TempDir
    Path dir;

    @Test
    void problemsTheUserCanFixAreOneLineAndExitTwo() throws Exception {
        RecordedRuns scenario = SlowRunScenario.on(BatchRunReportTest.newest());
        PostgresCluster cluster = scenario.cluster();
        TelemetryTestDb.createDatabase(cluster, "report_no_schema");
        Map<String, String> env = scenario.monitorEnvironment();
        Map<String, String> noSchema = Map.of("DATA_SOURCE_NAME", env.get("DATA_SOURCE_NAME").replace(SlowRunScenario.DATABASE, "report_no_schema"));
        Path out = dir.resolve("never.html");
        record Case(Map<String, String> env, List<String> args, String says) {}
        List<Case> cases = List.of(
                new Case(env, List.of("--run", "987654", "--out", out.toString()), "run 987654 does not exist"),
                new Case(env, List.of("--run", "latest", "--name", "no_such_batch"), "no run named 'no_such_batch'"),
                new Case(env, List.of("--run", Long.toString(scenario.slowRun()), "--baseline", "987654"), "baseline run 987654 does not exist"),
                new Case(noSchema, List.of("--run", "1"), "has no telemetry schema"),
                new Case(env, List.of("--run", "abc"), "expected a run id"),
                new Case(env, List.of("--run", "latest"), "needs --name"),
                new Case(env, List.of(), "--run: required"),
                new Case(env, List.of("--run", "1", "--format", "pdf"), "expected html or md"),
                new Case(env, List.of("--run", "1", "--out", dir.resolve("no/such/dir/r.html").toString()), "does not exist"),
                new Case(Map.of(), List.of("--run", "1"), "DATA_SOURCE_NAME"));
        for (Case c : cases) {
            ReportRun run = ReportRun.of(c.env(), c.args().toArray(String[]::new));
            assertEquals(2, run.exit(), c + " -> " + run.stderr());
            assertEquals(1, run.stderr().strip().lines().count(), "one line: " + run.stderr());
            assertTrue(run.stderr().startsWith("pg-batch-exporter report: ") && run.stderr().contains(c.says()), c + " -> " + run.stderr());
            assertEquals("", run.stdout());
        }
        assertFalse(Files.exists(out), "nothing written for a report that could not be made");

        // and as a process, through Main's dispatch: no stack trace, no password
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "io.pgbatchtelemetry.exporter.Main", "report", "--run", "987654"));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().keySet().removeIf(k -> k.startsWith("DATA_SOURCE") || k.startsWith("PG_EXPORTER"));
        builder.environment().putAll(env);
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(60, TimeUnit.SECONDS));
        assertEquals(2, process.exitValue(), output);
        assertEquals("pg-batch-exporter report: run 987654 does not exist (SELECT * FROM telemetry.batch_runs lists the runs)", output.strip());
        assertFalse(output.contains(ExporterTestSupport.MONITOR_PASSWORD));
    }

    @Test
    void runningFailedAndFirstRunsGetAReportThatSaysSo() throws Exception {
        RecordedRuns scenario = SlowRunScenario.on(BatchRunReportTest.newest());
        PostgresCluster cluster = scenario.cluster();
        long first;
        long failed;
        long running;
        try (Connection c = cluster.connect(SlowRunScenario.DATABASE); Statement s = c.createStatement()) {
            first = RecordedRuns.longValue(s, "SELECT telemetry.batch_start('first_of_its_name')");
            s.execute("SELECT pg_sleep(0.3), telemetry.sample()");
            s.execute("SELECT telemetry.batch_end(" + first + ")");
            failed = RecordedRuns.longValue(s, "SELECT telemetry.batch_start('failing_batch')");
            s.execute("SELECT pg_sleep(0.3), telemetry.sample()");
            s.execute("SELECT telemetry.batch_end(" + failed + ", 'failed')");
            running = RecordedRuns.longValue(s, "SELECT telemetry.batch_start('still_going')");
            s.execute("SELECT pg_sleep(0.3), telemetry.sample()");
        }
        try {
            Document firstRun = html(scenario, first);
            assertTrue(firstRun.selectFirst("#warnings li[data-code=no_baseline]") != null, firstRun.select("#warnings").text());
            assertTrue(firstRun.selectFirst("#verdict .summary").text().contains("no usual baseline"), firstRun.select("#verdict").text());

            Document failedRun = html(scenario, failed);
            assertTrue(failedRun.selectFirst("#warnings li[data-code=run_failed]") != null, failedRun.select("#warnings").text());
            assertEquals("failed", failedRun.selectFirst(".state").text());

            Document runningRun = html(scenario, running);
            assertTrue(runningRun.selectFirst("#warnings li[data-code=run_running]") != null, runningRun.select("#warnings").text());
            assertEquals("running", runningRun.selectFirst(".state").text());

            // this schema has no statement capture: the sections are there and say why they are empty
            for (Document doc : List.of(firstRun, failedRun, runningRun)) {
                assertTrue(doc.selectFirst("#statements .unavailable").text().startsWith("Unavailable: "), doc.select("#statements").text());
                assertTrue(doc.selectFirst("#plans .unavailable") != null, doc.select("#plans").text());
            }
        } finally {
            try (Connection c = cluster.connect(SlowRunScenario.DATABASE); Statement s = c.createStatement()) {
                s.execute("SELECT telemetry.batch_end(" + running + ")");
            }
        }
    }

    private Document html(RecordedRuns scenario, long runId) throws Exception {
        Path file = dir.resolve("run-" + runId + ".html");
        ReportRun run = ReportRun.of(scenario.monitorEnvironment(), "--run", Long.toString(runId), "--out", file.toString());
        assertEquals(0, run.exit(), run.stderr());
        return Jsoup.parse(Files.readString(file));
    }
}
