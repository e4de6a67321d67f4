package io.pgbatchtelemetry.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.logging.Level;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;

/**
 * A report opened from {@code file://} in Debian's headless Chromium through chromium-driver
 * (installed by scripts/install-deps.sh), for the report's browser tests; fails saying how to
 * install it when it is missing. Artifacts (driver log, screenshots) go to {@code target/report-artifacts/}.
 */
final class HeadlessChromium implements AutoCloseable {

    static final Path ARTIFACTS = Path.of("target", "report-artifacts");
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");

    private final ChromeDriver driver;

    private HeadlessChromium(ChromeDriver driver) {
        this.driver = driver;
    }

    /** Starts Chromium and opens {@code html}; {@code logName} names the driver's log file. */
    static HeadlessChromium open(Path html, String logName) throws Exception {
        assertTrue(Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER),
                "Chromium is needed for the report's browser test: apt-get install chromium chromium-driver (scripts/install-deps.sh does)");
        Files.createDirectories(ARTIFACTS);
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
                .usingAnyFreePort().withLogFile(ARTIFACTS.resolve(logName).toFile()).build();
        ChromeDriver driver = new ChromeDriver(service, options);
        try {
            driver.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(60));
            driver.get(html.toAbsolutePath().toUri().toString());
        } catch (RuntimeException e) {
            driver.quit();
            throw e;
        }
        return new HeadlessChromium(driver);
    }

    /** Asserts the page logged no warning or error to the console and requested nothing beyond its own file. */
    void assertNoConsoleProblemsOrRequests() {
        List<LogEntry> problems = driver.manage().logs().get(LogType.BROWSER).getAll().stream()
                .filter(e -> e.getLevel().intValue() >= Level.WARNING.intValue()).toList();
        assertEquals(List.of(), problems.stream().map(LogEntry::getMessage).toList(), "console errors and warnings");
        // no request beyond the file itself: no resource entries, and the CSP would have refused them anyway
        assertEquals(List.of(), script("return performance.getEntriesByType('resource').map(e => e.name)"), "network requests");
    }

    Object script(String javascript) {
        return driver.executeScript(javascript);
    }

    void screenshot(String fileName) throws Exception {
        Files.write(ARTIFACTS.resolve(fileName), ((TakesScreenshot) driver).getScreenshotAs(OutputType.BYTES));
    }

    @Override
    public void close() {
        driver.quit();
    }
}
