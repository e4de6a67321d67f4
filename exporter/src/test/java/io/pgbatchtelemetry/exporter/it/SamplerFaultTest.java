package io.pgbatchtelemetry.exporter.it;

import static io.pgbatchtelemetry.exporter.it.SamplerTestSupport.counter;
import static io.pgbatchtelemetry.exporter.it.SamplerTestSupport.samples;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.harness.PostgresCluster;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The sampler under trouble, on a cluster of its own (these tests stop the server and freeze a
 * backend): it backs off while the server is down and recovers when it is back, and a scrape
 * never waits for it, even when its query hangs.
 */
class SamplerFaultTest {

    private static final int VERSION = 17;
    private static final Duration INTERVAL = Duration.ofMillis(100);
    private static final Duration SCRAPE_TIMEOUT = Duration.ofSeconds(2);
    private static final Map<String, String> FLAGS = Map.of("sampler.interval", INTERVAL.toMillis() + "ms",
            "data-source.connect-timeout", "1s", "scrape.timeout", SCRAPE_TIMEOUT.toMillis() + "ms",
            "scrape.statement-timeout", SCRAPE_TIMEOUT.toMillis() + "ms");
    private static PostgresCluster cluster;

    @BeforeAll
    static void startCluster() throws Exception {
        cluster = ExporterTestSupport.startOwnCluster(VERSION, "sampler-faults");
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void serverDownCountsErrorsWithBackoffAndTheSamplerRecovers() throws Exception {
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, FLAGS))) {
            int port = exporter.port();
            Exposition up = SamplerTestSupport.afterMoreSamples(port, 3);
            assertEquals(0.0, counter(up, "pg_sampler_errors_total"));

            cluster.stop();
            long stoppedAt = System.nanoTime();
            Exposition down;
            try {
                double samplesAtStop = samples(ExporterTestSupport.scrape(port));
                down = SamplerTestSupport.scrapeUntil(port, "sampler errors while the server is down",
                        m -> counter(m, "pg_sampler_errors_total") >= 4);
                double elapsedIntervals = (System.nanoTime() - stoppedAt) / (double) INTERVAL.toNanos();
                double errors = counter(down, "pg_sampler_errors_total");
                // attempts after the first failure wait 1, 2, 4, ... intervals: about log2 of the outage
                double backoffBound = Math.floor(Math.log(elapsedIntervals + 1) / Math.log(2)) + 2;
                assertTrue(errors <= backoffBound, errors + " errors in " + elapsedIntervals
                        + " intervals: more than exponential backoff allows (" + backoffBound + ")");
                assertEquals(0.0, down.value("pg_up"), "the scrape path sees the server down too");
                long start = System.nanoTime();
                Exposition whileDown = ExporterTestSupport.scrape(port);
                Duration took = Duration.ofNanos(System.nanoTime() - start);
                assertTrue(took.compareTo(SCRAPE_TIMEOUT.plusMillis(200)) < 0, "a scrape while down took " + took);
                assertTrue(counter(whileDown, "pg_sampler_errors_total") >= 4, "sampler counters served while down");
                assertTrue(samples(down) <= samplesAtStop + 1, "no samples while down (one may have been in flight)");
                assertNotNull(down.value("pg_sampler_covered_seconds_total"));
                assertEquals("", ExporterTestSupport.promtoolCheck(down.text()));
            } finally {
                cluster.start();
            }
            double samplesWhenBack = samples(ExporterTestSupport.scrape(port));
            Exposition recovered = SamplerTestSupport.scrapeUntil(port, "the sampler to sample again",
                    m -> samples(m) >= samplesWhenBack + 3);
            double errorsAfter = counter(recovered, "pg_sampler_errors_total");
            Exposition later = SamplerTestSupport.afterMoreSamples(port, 5);
            assertEquals(errorsAfter, counter(later, "pg_sampler_errors_total"), "no more errors once recovered");
            assertEquals(1.0, later.value("pg_up"));
        }
    }

    @Test
    void aHungSamplerQueryNeverDelaysAScrape() throws Exception {
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, FLAGS))) {
            int port = exporter.port();
            SamplerTestSupport.afterMoreSamples(port, 3);
            long backend = freezeIdleSamplerBackend();
            int scrapes = 0;
            try {
                // the sampler's next query goes to the frozen backend and hangs until the socket timeout
                // (twice the statement timeout: 4 s); scrapes go on meanwhile, on time, with its counters
                double samplesWhenFrozen = samples(ExporterTestSupport.scrape(port));
                while (true) {
                    long start = System.nanoTime();
                    Exposition metrics = ExporterTestSupport.scrape(port);
                    Duration took = Duration.ofNanos(System.nanoTime() - start);
                    scrapes++;
                    // the product's guarantee: a scrape answers within scrape.timeout (plus the coordinator's 200 ms grace)
                    assertTrue(took.compareTo(SCRAPE_TIMEOUT.plusMillis(200)) < 0, "scrape took " + took);
                    assertEquals(1.0, metrics.value("pg_up"));
                    if (counter(metrics, "pg_sampler_errors_total") >= 1) {
                        break; // the sampler gave up on the hung query
                    }
                    assertTrue(samples(metrics) <= samplesWhenFrozen + 1, "the sampler is stuck, yet the scrape answered");
                    assertTrue(scrapes < 200, "the sampler's socket timeout never fired");
                    Thread.sleep(100);
                }
            } finally {
                signal("CONT", backend);
            }
            assertTrue(scrapes >= 5, "scrapes answered while the sampler hung: " + scrapes);
            SamplerTestSupport.afterMoreSamples(port, 3); // on a new connection
        }
    }

    /**
     * SIGSTOPs the sampler's backend while it is idle between two samples, so that it holds no
     * lock another session (a scrape) could need; retries if it was caught mid-query.
     */
    private static long freezeIdleSamplerBackend() throws Exception {
        try (Connection c = cluster.connect(); Statement s = c.createStatement()) {
            for (int attempt = 0; attempt < 50; attempt++) {
                long pid;
                try (ResultSet rs = s.executeQuery("SELECT pid FROM pg_stat_activity WHERE application_name = 'pg-batch-exporter-sampler'")) {
                    assertTrue(rs.next(), "the sampler has its own connection, named pg-batch-exporter-sampler");
                    pid = rs.getLong(1);
                }
                signal("STOP", pid);
                try (ResultSet rs = s.executeQuery("SELECT state FROM pg_stat_activity WHERE pid = " + pid)) {
                    if (rs.next() && "idle".equals(rs.getString(1))) {
                        return pid;
                    }
                }
                signal("CONT", pid);
                Thread.sleep(10);
            }
        }
        throw new AssertionError("could not catch the sampler's backend idle");
    }

    private static void signal(String signal, long pid) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).redirectErrorStream(true).start();
        String output = new String(kill.getInputStream().readAllBytes());
        assertEquals(0, kill.waitFor(), "kill -" + signal + " " + pid + ": " + output);
    }
}
