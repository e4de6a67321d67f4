package io.pgbatchtelemetry.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The HTML report of the slow run opened from {@code file://} in a real headless Chromium (Debian's
 * chromium and chromium-driver, installed by scripts/install-deps.sh): no console error, every
 * chart drawn, no network request. The page and a screenshot are kept under
 * {@code target/report-artifacts/}. Without Chromium this test fails, saying how to install it.
 */
class ReportBrowserTest {

    @Test
    void opensFromFileWithoutErrorsOrNetworkAndDrawsEveryChart() throws Exception {
        RecordedRuns scenario = SlowRunScenario.on(BatchRunReportTest.newest());
        Files.createDirectories(HeadlessChromium.ARTIFACTS);
        Path html = HeadlessChromium.ARTIFACTS.resolve("slow-run-report.html").toAbsolutePath();
        ReportRun run = ReportRun.of(scenario.monitorEnvironment(), "--run", Long.toString(scenario.slowRun()), "--out", html.toString());
        assertEquals(0, run.exit(), run.stderr());

        try (HeadlessChromium browser = HeadlessChromium.open(html, "chromedriver.log")) {
            browser.assertNoConsoleProblemsOrRequests();
            long chartDivs = (Long) browser.script("return document.querySelectorAll('.chart').length");
            assertEquals(3L, chartDivs, "AAS, bytes and blocks charts");
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> drawn = (List<Map<String, Object>>) browser.script("""
                    return Array.from(document.querySelectorAll('.chart')).map(function (div) {
                      var chart = (window.reportCharts || []).find(function (c) { return c.id === div.id; });
                      var canvas = div.querySelector('canvas');
                      var inked = 0;
                      if (canvas) {
                        var px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
                        for (var i = 3; i < px.length; i += 4) { if (px[i] > 0) inked++; }
                      }
                      return { id: div.id, registered: !!chart, series: chart ? chart.series : 0,
                               points: chart ? chart.points : 0, inked: inked,
                               seriesPaths: chart ? chart.plot.series.slice(1).filter(function (s) { return s._paths; }).length : 0 };
                    });""");
            for (Map<String, Object> chart : drawn) {
                assertEquals(Boolean.TRUE, chart.get("registered"), chart.toString());
                assertTrue((Long) chart.get("series") > 0 && (Long) chart.get("points") > 0, chart.toString());
                assertTrue((Long) chart.get("inked") > 1000, "canvas has ink: " + chart);
                assertEquals(chart.get("series"), chart.get("seriesPaths"), "every series drawn: " + chart);
            }
            // the waits chart shows the baseline too
            long baselineSeries = (Long) browser.script(
                    "return window.reportCharts[0].plot.series.filter(function (s) { return / \\(baseline\\)$/.test(s.label); }).length");
            assertTrue(baselineSeries > 0, "baseline overlaid on the AAS chart");

            browser.screenshot("slow-run-report.png");
        }
    }
}
