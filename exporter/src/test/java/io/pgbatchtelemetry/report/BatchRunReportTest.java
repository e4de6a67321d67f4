package io.pgbatchtelemetry.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.jsoup.Jsoup;
import org.jsoup.nodes.Document;
import org.jsoup.nodes.Element;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Five normal runs and one slow run (temp spill from a work_mem lowered in the batch's session, and
 * a lock wait) on each PostgreSQL version: telemetry.run_report() names both causes and the
 * work_mem change, and the HTML and Markdown reports show exactly its numbers, escaped.
 */
class BatchRunReportTest {

    /** Decimals read exactly as SQL wrote them, as RunReport reads them. */
    static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .setNodeFactory(com.fasterxml.jackson.databind.node.JsonNodeFactory.withExactBigDecimals(true));

    @TempDir
    Path dir;

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void verdictNamesTheSpillAndTheLockWaitAndTheReportsShowRunReportsNumbers(int version) throws Exception {
        RecordedRuns scenario = SlowRunScenario.on(version);
        JsonNode report = runReport(scenario, scenario.slowRun());

        assertEquals(1, report.path("format_version").asInt());
        List<Long> baseline = new ArrayList<>();
        report.path("baseline").path("runs").forEach(r -> baseline.add(r.path("run_id").asLong()));
        assertEquals(scenario.normalRuns().stream().sorted((a, b) -> Long.compare(b, a)).toList(), baseline,
                "the automatic baseline is the five normal runs, most recent first");
        assertTrue(report.path("baseline").path("usual").asBoolean());

        List<String> causes = new ArrayList<>();
        report.path("verdict").path("causes").forEach(c -> causes.add(c.path("pattern").asText()));
        assertTrue(causes.contains("temp_file_spills") && causes.contains("lock_contention"), "verdict: " + report.path("verdict"));
        JsonNode temp = cause(report, "temp_file_spills");
        assertTrue(temp.path("outside_baseline").asBoolean(), temp.toString());
        assertTrue(temp.path("headline").asText().contains("usually"), temp.toString());
        assertTrue(temp.path("settings").asText().contains("work_mem 200MB → 64kB"), temp.toString());
        assertTrue(cause(report, "lock_contention").path("outside_baseline").asBoolean(), report.path("verdict").toString());
        assertTrue(cause(report, "lock_contention").path("evidence").asText().contains("blocked by pid"), "who blocked the batch");

        JsonNode workMem = null;
        for (JsonNode s : report.path("settings_changed")) {
            if (s.path("name").asText().equals("work_mem")) {
                workMem = s;
            }
        }
        assertNotNull(workMem, "work_mem under settings changed: " + report.path("settings_changed"));
        assertEquals("200MB", workMem.path("baseline").asText());
        assertEquals("64kB", workMem.path("run").asText());
        assertEquals("session", workMem.path("run_source").asText());

        // compare_to_baseline() is the same comparison; diagnose(run_id) says what is usual
        try (Connection c = scenario.cluster().connect(SlowRunScenario.DATABASE); Statement s = c.createStatement()) {
            List<String> fromFunction = new ArrayList<>();
            try (ResultSet rs = s.executeQuery("SELECT metric, run_value, baseline_median, outside FROM telemetry.compare_to_baseline("
                    + scenario.slowRun() + ")")) {
                while (rs.next()) {
                    fromFunction.add(rs.getString(1) + "=" + plain(rs.getBigDecimal(2)) + "/" + plain(rs.getBigDecimal(3)) + "/" + rs.getString(4));
                }
            }
            List<String> fromReport = new ArrayList<>();
            report.path("metrics").forEach(m -> fromReport.add(m.path("metric").asText() + "=" + (m.path("run_value").isNull() ? null : plain(m.path("run_value").decimalValue()))
                    + "/" + (m.path("baseline_median").isNull() ? null : plain(m.path("baseline_median").decimalValue())) + "/"
                    + (m.path("outside").isNull() ? null : m.path("outside").asBoolean() ? "t" : "f")));
            assertEquals(fromReport, fromFunction);
            try (ResultSet rs = s.executeQuery("SELECT evidence FROM telemetry.diagnose(" + scenario.slowRun() + "::bigint) WHERE pattern = 'temp_file_spills'")) {
                assertTrue(rs.next(), "diagnose(run_id) finds the spill");
                assertTrue(rs.getString(1).matches(".*temp written [0-9.]+ [kMG]B, usually 0 bytes \\(median of 5 runs.*"), rs.getString(1));
            }
        }

        // HTML: the same numbers, the same verdict, the markup in the blocker's query shown as text
        Path html = dir.resolve("report.html");
        ReportRun run = ReportRun.of(scenario.monitorEnvironment(), "--run", Long.toString(scenario.slowRun()), "--out", html.toString());
        assertEquals(0, run.exit(), run.stderr());
        assertTrue(run.stderr().contains(html.toAbsolutePath().toString()) && run.stderr().contains(baseline.toString()), run.stderr());
        Document doc = Jsoup.parse(Files.readString(html));
        assertEquals(report.path("verdict").path("summary").asText(), doc.selectFirst("#verdict .summary").text());
        List<String> headlines = doc.select("#verdict li.cause .headline").eachText();
        List<String> expectedHeadlines = new ArrayList<>();
        report.path("verdict").path("causes").forEach(c -> expectedHeadlines.add(c.path("headline").asText()));
        assertEquals(expectedHeadlines, headlines);
        for (JsonNode metric : report.path("metrics")) {
            Element row = doc.selectFirst("#metrics tr[data-metric=" + metric.path("metric").asText() + "]");
            assertNotNull(row, "metric row " + metric.path("metric"));
            assertEquals(metric.path("run_value").isNull() ? "" : metric.path("run_value").asText(), row.attr("data-value"), metric.toString());
            assertEquals(metric.path("run_text").asText(), row.selectFirst("td.run").text(), metric.toString());
        }
        Element setting = doc.selectFirst("#settings tr[data-setting=work_mem]");
        assertNotNull(setting);
        assertEquals(List.of("work_mem", "200MB", "64kB", "session", "5 of 5"), setting.select("td").eachText());
        assertEquals(baseline.size() + 1, doc.select("#duration tbody tr").size());
        assertEquals(3, doc.select("script").size(), "only the report's own scripts: data, uPlot, charts");
        assertTrue(doc.select("#findings").text().contains(SlowRunScenario.HOSTILE), "the blocker's query is shown as text");
        assertTrue(doc.select("#verdict .evidence").text().contains(SlowRunScenario.HOSTILE), "in the verdict too");
        assertFalse(Files.readString(html).contains(SlowRunScenario.HOSTILE), "and never as markup");
        // this cluster has no pg_stat_statements: the section says so and how to enable it
        assertTrue(doc.selectFirst("#statements .unavailable").text().contains("add it to shared_preload_libraries"), doc.select("#statements").text());
        assertTrue(Files.size(html) < 1024 * 1024, "HTML under 1 MB: " + Files.size(html));

        // Markdown: the same verdict and settings, escaped
        ReportRun md = ReportRun.of(scenario.monitorEnvironment(), "--run", "latest", "--name", SlowRunScenario.RUN_NAME,
                "--format", "md");
        assertEquals(0, md.exit(), md.stderr());
        assertTrue(md.stdout().contains("| work\\_mem | 200MB | 64kB | session | 5 of 5 |"), md.stdout());
        assertTrue(md.stdout().contains("Temp-file spills: temp written"), md.stdout());
        assertTrue(md.stdout().contains("Lock contention: time waiting for locks"), md.stdout());
        assertFalse(md.stdout().contains("<script>"), "markup escaped in Markdown");
        assertTrue(md.stdout().contains("&lt;script&gt;"), md.stdout());
    }

    /** A number as a plain decimal, whatever scale it was written with (0.000 and 0 are the same value). */
    private static String plain(java.math.BigDecimal value) {
        return value == null ? null : value.stripTrailingZeros().toPlainString();
    }

    private static JsonNode cause(JsonNode report, String pattern) {
        for (JsonNode c : report.path("verdict").path("causes")) {
            if (c.path("pattern").asText().equals(pattern)) {
                return c;
            }
        }
        throw new AssertionError("no cause " + pattern + " in " + report.path("verdict"));
    }

    static JsonNode runReport(RecordedRuns scenario, long runId) throws Exception {
        try (Connection c = scenario.cluster().connect(SlowRunScenario.DATABASE); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT telemetry.run_report(" + runId + ")::text")) {
            rs.next();
            return JSON.readTree(rs.getString(1));
        }
    }

    static int newest() {
        List<Integer> versions = SharedClusters.versions();
        return versions.get(versions.size() - 1);
    }
}
