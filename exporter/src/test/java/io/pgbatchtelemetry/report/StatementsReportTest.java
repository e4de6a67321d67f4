package io.pgbatchtelemetry.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.pgbatchtelemetry.exporter.it.ExporterTestSupport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.commonmark.ext.gfm.tables.TablesExtension;
import org.commonmark.parser.Parser;
import org.commonmark.renderer.html.HtmlRenderer;
import org.jsoup.Jsoup;
import org.jsoup.nodes.Document;
import org.jsoup.nodes.Element;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The report's statements and plan-changes sections on a server with pg_stat_statements loaded
 * ({@link StatementRunScenario}: one private cluster per version, one set of runs shared by every
 * test here): run_report() ranks the statement whose plan changed and the one called ten times as
 * often, with their verdicts and both one-line plans; the HTML (read with jsoup, and in Chromium)
 * and the Markdown (read back with a GFM parser) show the same rows with the same values; a text
 * holding markup, pipes and backticks stays text and keeps the Markdown table whole; a reader who
 * may not see the batch's statement texts gets the report without them; and a
 * pg_stat_statements_reset() during the run is a warning in every form of the report.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StatementsReportTest {

    private static final String VERSIONS = "io.pgbatchtelemetry.harness.SharedClusters#versionsArguments";
    private static final String HIDDEN = "<insufficient privilege>";

    private final Map<Integer, RecordedRuns> scenarios = new HashMap<>();

    @TempDir
    Path dir;

    private synchronized RecordedRuns scenario(int version) throws Exception {
        RecordedRuns scenario = scenarios.get(version);
        if (scenario == null) {
            scenario = StatementRunScenario.start(version);
            scenarios.put(version, scenario);
        }
        return scenario;
    }

    @AfterAll
    void stop() {
        scenarios.values().forEach(scenario -> scenario.cluster().close());   // private clusters
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource(VERSIONS)
    void runReportRanksThePlanChangeAndTheTenfoldCallsWithBothPlans(int version) throws Exception {
        RecordedRuns scenario = scenario(version);
        JsonNode report = runReport(scenario, ExporterTestSupport.MONITOR_USER, ExporterTestSupport.MONITOR_PASSWORD);
        JsonNode statements = report.path("statements");
        assertEquals("ok", statements.path("status").asText(), statements.toString());
        assertTrue(scenario.normalRuns().contains(statements.path("baseline_run_id").asLong()), "compared with a normal run: " + statements);

        long update = scenario.queryid(StatementRunScenario.UPDATE);
        long lookup = scenario.queryid(StatementRunScenario.LOOKUP);
        List<JsonNode> ranked = statementRows(report);
        assertEquals(Set.of(update, lookup), Set.of(ranked.get(0).path("queryid").asLong(), ranked.get(1).path("queryid").asLong()),
                "the two regressions take the most extra time: " + ranked.subList(0, Math.min(4, ranked.size())));
        // by extra time, the batch's statements first and then the telemetry schema's own (snapshot(), ...)
        for (int i = 1; i < ranked.size(); i++) {
            boolean ownBefore = ranked.get(i - 1).path("query").asText().contains("telemetry.");
            boolean own = ranked.get(i).path("query").asText().contains("telemetry.");
            assertTrue(!ownBefore || own, "the telemetry schema's own statements rank last: " + ranked.get(i - 1) + " before " + ranked.get(i));
            assertTrue(ownBefore != own
                            || ranked.get(i - 1).path("extra_ms").decimalValue().compareTo(ranked.get(i).path("extra_ms").decimalValue()) >= 0,
                    "ranked by extra time: " + ranked.get(i - 1) + " before " + ranked.get(i));
        }

        JsonNode updateRow = row(ranked, update);
        assertEquals("plan changed", updateRow.path("verdict").asText(), updateRow.toString());
        assertEquals(StatementRunScenario.UPDATE, updateRow.path("query").asText());
        assertEquals(StatementRunScenario.UPDATE_CALLS, updateRow.path("baseline_calls").asInt(), updateRow.toString());
        assertEquals(StatementRunScenario.UPDATE_CALLS, updateRow.path("slow_calls").asInt(), updateRow.toString());
        JsonNode lookupRow = row(ranked, lookup);
        assertEquals("more calls", lookupRow.path("verdict").asText(), lookupRow.toString());
        assertEquals(StatementRunScenario.LOOKUP_CALLS, lookupRow.path("baseline_calls").asInt(), lookupRow.toString());
        assertEquals(StatementRunScenario.SLOW_LOOKUP_CALLS, lookupRow.path("slow_calls").asInt(), lookupRow.toString());

        JsonNode plans = report.path("plan_changes");
        assertEquals("ok", plans.path("status").asText(), plans.toString());
        assertEquals(1, plans.path("rows").size(), "only the UPDATE's plan changed: " + plans);
        JsonNode change = plans.path("rows").get(0);
        assertEquals(update, change.path("queryid").asLong());
        assertEquals(StatementRunScenario.UPDATE, change.path("query").asText());
        assertTrue(change.path("baseline_plan").asText().contains("Index Scan using acct_pkey on acct"), change.toString());
        assertTrue(change.path("slow_plan").asText().contains("Seq Scan on acct")
                && !change.path("slow_plan").asText().contains("acct_pkey"), change.toString());

        JsonNode hostile = hostileRow(report);
        assertEquals("new statement", hostile.path("verdict").asText(), hostile.toString());

        // the verdict names both statements, the plan change with both plans
        List<String> headlines = new ArrayList<>();
        report.path("verdict").path("causes").forEach(c -> {
            if (c.path("pattern").asText().equals("statement_regression")) {
                headlines.add(c.path("headline").asText());
            }
        });
        assertTrue(headlines.stream().anyMatch(h -> h.startsWith("Statement regression: plan changed: queryid " + update)
                && h.contains("plan " + change.path("baseline_plan").asText() + " → " + change.path("slow_plan").asText())), "verdict: " + headlines + " findings " + report.path("findings") + " rows " + ranked);
        String comparedWith = "than in baseline run " + statements.path("baseline_run_id").asText() + ",";
        assertTrue(headlines.stream().allMatch(h -> h.contains(comparedWith)), "the verdict and the table compare with one run: " + headlines);
        assertTrue(headlines.stream().anyMatch(h -> h.startsWith("Statement regression: more calls: queryid " + lookup)
                && h.contains("calls " + StatementRunScenario.LOOKUP_CALLS + " -> " + StatementRunScenario.SLOW_LOOKUP_CALLS)),
                "verdict: " + headlines);
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource(VERSIONS)
    void htmlShowsRunReportsStatementsAndPlansWithMarkupAsText(int version) throws Exception {
        RecordedRuns scenario = scenario(version);
        JsonNode report = runReport(scenario, ExporterTestSupport.MONITOR_USER, ExporterTestSupport.MONITOR_PASSWORD);
        Path html = dir.resolve("report.html");
        ReportRun run = ReportRun.of(scenario.monitorEnvironment(), "--run", Long.toString(scenario.slowRun()), "--out", html.toString());
        assertEquals(0, run.exit(), run.stderr());
        Document doc = Jsoup.parse(Files.readString(html));

        List<String> headlines = new ArrayList<>();
        report.path("verdict").path("causes").forEach(c -> headlines.add(c.path("headline").asText()));
        assertEquals(headlines, doc.select("#verdict li.cause .headline").eachText());
        assertTableShows(doc.selectFirst("#statements table"), report.path("statements").path("rows"), STATEMENT_COLUMNS, "HTML statements");
        assertTableShows(doc.selectFirst("#plans table"), report.path("plan_changes").path("rows"), PLAN_COLUMNS, "HTML plan changes");
        String shownHostile = hostileRow(report).path("query").asText();
        assertTrue(doc.select("#statements td").eachText().contains(shownHostile), "the markup is shown as text");
        assertFalse(Files.readString(html).contains(StatementRunScenario.MARKUP), "and never as markup");
        assertEquals(3, doc.select("script").size(), "only the report's own scripts: data, uPlot, charts");
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource(VERSIONS)
    void markdownShowsTheSameRowsAndATextWithPipesAndBackticksKeepsTheTableWhole(int version) throws Exception {
        RecordedRuns scenario = scenario(version);
        JsonNode report = runReport(scenario, ExporterTestSupport.MONITOR_USER, ExporterTestSupport.MONITOR_PASSWORD);
        ReportRun md = ReportRun.of(scenario.monitorEnvironment(), "--run", Long.toString(scenario.slowRun()), "--format", "md");
        assertEquals(0, md.exit(), md.stderr());
        Files.createDirectories(HeadlessChromium.ARTIFACTS);
        Files.writeString(HeadlessChromium.ARTIFACTS.resolve("statements-report-pg" + version + ".md"), md.stdout());
        assertFalse(md.stdout().contains(StatementRunScenario.MARKUP), "no raw markup in Markdown");

        Document rendered = markdown(md.stdout());
        assertTableShows(tableAfter(rendered, "Top statements"), report.path("statements").path("rows"), STATEMENT_COLUMNS, "Markdown statements");
        assertTableShows(tableAfter(rendered, "Plan changes"), report.path("plan_changes").path("rows"), PLAN_COLUMNS, "Markdown plan changes");
        assertTrue(rendered.select("td").eachText().contains(hostileRow(report).path("query").asText()),
                "the hostile text reads back whole, in one cell");
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource(VERSIONS)
    void aReaderWhoMayNotSeeTheTextsGetsTheReportWithoutThem(int version) throws Exception {
        RecordedRuns scenario = scenario(version);
        JsonNode report = runReport(scenario, StatementRunScenario.READER, StatementRunScenario.READER_PASSWORD);
        assertEquals("ok", report.path("statements").path("status").asText(), report.path("statements").toString());
        List<JsonNode> ranked = statementRows(report);
        assertFalse(ranked.isEmpty());
        for (JsonNode r : ranked) {
            assertEquals(HIDDEN, r.path("query").asText(), r.toString());
        }
        String whole = report.toString();
        for (String secret : List.of("UPDATE acct", "acct_pkey", "Seq Scan on acct", "work_rows", "alert(")) {
            assertFalse(whole.contains(secret), "the reader sees no statement text or plan (" + secret + "): " + whole);
        }
        // what changed is still said, without the text: the verdicts come from plan fingerprints and counters
        long update = scenario.queryid(StatementRunScenario.UPDATE);
        assertEquals("plan changed", row(ranked, update).path("verdict").asText());
        assertEquals("more calls", row(ranked, scenario.queryid(StatementRunScenario.LOOKUP)).path("verdict").asText());
        JsonNode change = report.path("plan_changes").path("rows").get(0);
        assertNotNull(change, "the plan change is listed: " + report.path("plan_changes"));
        assertEquals(update, change.path("queryid").asLong());
        assertEquals(HIDDEN, change.path("baseline_plan").asText(), change.toString());
        assertEquals(HIDDEN, change.path("slow_plan").asText(), change.toString());

        Path html = dir.resolve("reader.html");
        Map<String, String> reader = scenario.environment(StatementRunScenario.READER, StatementRunScenario.READER_PASSWORD);
        ReportRun run = ReportRun.of(reader, "--run", Long.toString(scenario.slowRun()), "--out", html.toString());
        assertEquals(0, run.exit(), run.stderr());
        Document doc = Jsoup.parse(Files.readString(html));
        assertTableShows(doc.selectFirst("#statements table"), report.path("statements").path("rows"), STATEMENT_COLUMNS, "reader's HTML statements");
        assertFalse(Files.readString(html).contains("acct_pkey") || Files.readString(html).contains("work_rows"));
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource(VERSIONS)
    void aResetDuringTheRunIsAWarningInEveryForm(int version) throws Exception {
        RecordedRuns scenario = scenario(version);
        JsonNode report = runReport(scenario, ExporterTestSupport.MONITOR_USER, ExporterTestSupport.MONITOR_PASSWORD);
        List<JsonNode> incomplete = new ArrayList<>();
        report.path("warnings").forEach(w -> {
            if (w.path("code").asText().equals("statements_incomplete")) {
                incomplete.add(w);
            }
        });
        assertEquals(1, incomplete.size(), "one warning, for the slow run only: " + report.path("warnings"));
        JsonNode warning = incomplete.get(0);
        assertEquals(scenario.slowRun(), warning.path("run_id").asLong(), warning.toString());
        assertTrue(warning.path("message").asText().contains("pg_stat_statements was reset"), warning.toString());

        Path html = dir.resolve("reset.html");
        ReportRun run = ReportRun.of(scenario.monitorEnvironment(), "--run", Long.toString(scenario.slowRun()), "--out", html.toString());
        assertEquals(0, run.exit(), run.stderr());
        Element shown = Jsoup.parse(Files.readString(html)).selectFirst("#warnings li[data-code=statements_incomplete]");
        assertNotNull(shown, "the HTML warns");
        assertEquals(warning.path("message").asText(), shown.text());

        ReportRun md = ReportRun.of(scenario.monitorEnvironment(), "--run", Long.toString(scenario.slowRun()), "--format", "md");
        assertEquals(0, md.exit(), md.stderr());
        assertTrue(markdown(md.stdout()).select("li").eachText().contains(warning.path("message").asText()), md.stdout());
    }

    @Test
    void chromiumShowsTheStatementsAndPlansWithTheMarkupAsText() throws Exception {
        RecordedRuns scenario = scenario(BatchRunReportTest.newest());
        JsonNode report = runReport(scenario, ExporterTestSupport.MONITOR_USER, ExporterTestSupport.MONITOR_PASSWORD);
        Files.createDirectories(HeadlessChromium.ARTIFACTS);
        Path html = HeadlessChromium.ARTIFACTS.resolve("statements-report.html").toAbsolutePath();
        ReportRun run = ReportRun.of(scenario.monitorEnvironment(), "--run", Long.toString(scenario.slowRun()), "--out", html.toString());
        assertEquals(0, run.exit(), run.stderr());
        try (HeadlessChromium browser = HeadlessChromium.open(html, "chromedriver-statements.log")) {
            browser.assertNoConsoleProblemsOrRequests();
            assertEquals((long) report.path("statements").path("rows").size(),
                    browser.script("return document.querySelectorAll('#statements tbody tr').length"));
            String statements = (String) browser.script("return document.querySelector('#statements').innerText");
            assertTrue(statements.contains(StatementRunScenario.MARKUP), "the markup reads as text: " + statements);
            assertTrue(statements.contains("plan changed") && statements.contains("more calls"), statements);
            String plans = (String) browser.script("return document.querySelector('#plans').innerText");
            JsonNode change = report.path("plan_changes").path("rows").get(0);
            assertTrue(plans.contains(change.path("baseline_plan").asText()) && plans.contains(change.path("slow_plan").asText()), plans);
            assertEquals(3L, browser.script("return document.querySelectorAll('script').length"), "no script came from a statement");
            browser.screenshot("statements-report.png");
        }
    }

    /** The headings of the statements table and the run_report() keys each shows (two: "baseline → this run"). */
    private static final Map<String, List<String>> STATEMENT_COLUMNS = ordered(
            "#", List.of("rank"), "verdict", List.of("verdict"), "share of extra time, %", List.of("share_of_extra_pct"),
            "extra time, ms", List.of("extra_ms"), "calls, baseline → this run", List.of("baseline_calls", "slow_calls"),
            "mean ms per call", List.of("baseline_mean_ms", "slow_mean_ms"),
            "temp blocks written", List.of("baseline_temp_written", "slow_temp_written"), "queryid", List.of("queryid"),
            "user", List.of("username"), "statement", List.of("query"));
    private static final Map<String, List<String>> PLAN_COLUMNS = ordered(
            "#", List.of("rank"), "queryid", List.of("queryid"), "statement", List.of("query"), "baseline plan", List.of("baseline_plan"),
            "this run's plan", List.of("slow_plan"));

    /** Every row of {@code rows} in {@code table}, in order, each cell holding run_report()'s values for its heading. */
    private static void assertTableShows(Element table, JsonNode rows, Map<String, List<String>> shown, String what) {
        assertNotNull(table, what + ": no table");
        List<String> columns = table.select("thead th").stream().map(Element::text).toList();
        assertEquals(List.copyOf(shown.keySet()), columns, what + ": columns");
        List<Element> trs = table.select("tbody tr");
        assertEquals(rows.size(), trs.size(), what + ": rows");
        for (int i = 0; i < rows.size(); i++) {
            List<String> cells = trs.get(i).select("td").stream().map(Element::text).toList();
            assertEquals(columns.size(), cells.size(), what + ": cells of row " + i + ": " + cells);
            for (int c = 0; c < columns.size(); c++) {
                JsonNode row = rows.get(i);
                List<String> values = shown.get(columns.get(c)).stream()
                        .map(k -> row.path(k).isMissingNode() || row.path(k).isNull() ? "" : row.path(k).asText().strip()).toList();
                String expected = values.stream().allMatch(String::isEmpty) ? ""
                        : String.join(" → ", values.stream().map(v -> v.isEmpty() ? "–" : v).toList());
                assertEquals(expected, cells.get(c), what + ": row " + i + ", " + columns.get(c));
            }
        }
    }

    private static Map<String, List<String>> ordered(Object... headingsAndKeys) {
        Map<String, List<String>> map = new LinkedHashMap<>();
        for (int i = 0; i < headingsAndKeys.length; i += 2) {
            @SuppressWarnings("unchecked")
            List<String> keys = (List<String>) headingsAndKeys[i + 1];
            map.put((String) headingsAndKeys[i], keys);
        }
        return map;
    }

    private static Document markdown(String text) {
        Parser parser = Parser.builder().extensions(List.of(TablesExtension.create())).build();
        HtmlRenderer renderer = HtmlRenderer.builder().extensions(List.of(TablesExtension.create())).build();
        return Jsoup.parse(renderer.render(parser.parse(text)));
    }

    private static Element tableAfter(Document doc, String heading) {
        for (Element h : doc.select("h2")) {
            if (h.text().equals(heading)) {
                for (Element next = h.nextElementSibling(); next != null && !next.tagName().equals("h2"); next = next.nextElementSibling()) {
                    if (next.tagName().equals("table")) {
                        return next;
                    }
                }
            }
        }
        return null;
    }

    private static List<JsonNode> statementRows(JsonNode report) {
        List<JsonNode> rows = new ArrayList<>();
        report.path("statements").path("rows").forEach(r -> {
            if (!r.path("queryid").isNull() && !r.path("queryid").isMissingNode()) {
                rows.add(r);
            }
        });
        return rows;
    }

    private static JsonNode row(List<JsonNode> rows, long queryid) {
        return rows.stream().filter(r -> r.path("queryid").asLong() == queryid).findFirst()
                .orElseThrow(() -> new AssertionError("no row for queryid " + queryid + " in " + rows));
    }

    private static JsonNode hostileRow(JsonNode report) {
        for (JsonNode r : report.path("statements").path("rows")) {
            if (r.path("query").asText().contains(StatementRunScenario.MARKUP)) {
                return r;
            }
        }
        throw new AssertionError("no statement with the markup in " + report.path("statements"));
    }

    private static JsonNode runReport(RecordedRuns scenario, String user, String password) throws Exception {
        try (Connection c = scenario.cluster().connect(user, password, StatementRunScenario.DATABASE); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT telemetry.run_report(" + scenario.slowRun() + ")::text")) {
            rs.next();
            return BatchRunReportTest.JSON.readTree(rs.getString(1));
        }
    }
}
