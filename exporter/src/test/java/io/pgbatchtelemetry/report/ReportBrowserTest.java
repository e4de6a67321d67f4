package io.pgbatchtelemetry.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;

/**
 * The HTML report of the slow run opened from {@code file://} in a real headless Chromium (Debian's
 * chromium and chromium-driver, installed by scripts/install-deps.sh): no console error, every
 * chart drawn, no network request. The page and a screenshot are kept under
 * {@code target/report-artifacts/}. Without Chromium this test fails, saying how to install it.
 */
class ReportBrowserTest {

    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final Path ARTIFACTS = Path.of("target", "report-artifacts");

    @Test
    void opensFromFileWithoutErrorsOrNetworkAndDrawsEveryChart() throws Exception {
        assertTrue(Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER),
                "Chromium is needed for the report's browser test: apt-get install chromium chromium-driver (scripts/install-deps.sh does)");
        SlowRunScenario scenario = SlowRunScenario.on(BatchRunReportTest.newest());
        Files.createDirectories(ARTIFACTS);
        Path html = ARTIFACTS.resolve("slow-run-report.html").toAbsolutePath();
        ReportRun run = ReportRun.of(scenario.environment(), "--run", Long.toString(scenario.slowRun()), "--out", html.toString());
        assertEquals(0, run.exit(), run.stderr());

        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--enable-logging=stderr", "--window-size=1280,2400",
                "--user-data-dir=" + Files.createTempDirectory("pgbt-chromium").toAbsolutePath());
        LoggingPreferences logging = new LoggingPreferences();
        logging.enable(LogType.BROWSER, Level.ALL);
        options.setCapability("goog:loggingPrefs", logging);
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort().withLogFile(ARTIFACTS.resolve("chromedriver.log").toFile()).build();
        ChromeDriver driver = new ChromeDriver(service, options);
        try {
            driver.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(60));
            driver.get(html.toUri().toString());
            JavascriptExecutor js = driver;

            List<LogEntry> problems = driver.manage().logs().get(LogType.BROWSER).getAll().stream()
                    .filter(e -> e.getLevel().intValue() >= Level.WARNING.intValue()).toList();
            assertEquals(List.of(), problems.stream().map(LogEntry::getMessage).toList(), "console errors and warnings");

            // no request beyond the file itself: no resource entries, and the CSP would have refused them anyway
            Object resources = js.executeScript("return performance.getEntriesByType('resource').map(e => e.name)");
            assertEquals(List.of(), resources, "network requests");

            long chartDivs = (Long) js.executeScript("return document.querySelectorAll('.chart').length");
            assertEquals(3L, chartDivs, "AAS, bytes and blocks charts");
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> drawn = (List<Map<String, Object>>) js.executeScript("""
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
            long baselineSeries = (Long) js.executeScript(
                    "return window.reportCharts[0].plot.series.filter(function (s) { return / \\(baseline\\)$/.test(s.label); }).length");
            assertTrue(baselineSeries > 0, "baseline overlaid on the AAS chart");

            Files.write(ARTIFACTS.resolve("slow-run-report.png"), ((TakesScreenshot) driver).getScreenshotAs(OutputType.BYTES));
        } finally {
            driver.quit();
        }
    }
}
