package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.collector.Collector;
import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import io.pgbatchtelemetry.exporter.collector.CollectorOptions;
import io.pgbatchtelemetry.exporter.config.SettingsLoader;
import io.pgbatchtelemetry.harness.PostgresCluster;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Faults with real servers, each bounded in time: PostgreSQL restarted while a client scrapes in a
 * loop, killed with SIGKILL (crash recovery) three times over, a network stall between exporter
 * and server, and 200 concurrent scrapes. The exporter must answer every request, report the
 * failure honestly, recover by itself, and leak neither threads nor server connections.
 */
class FaultToleranceTest {

    private static final String APP = "pg-batch-exporter";
    private static final int POOL = 3;
    private static PostgresCluster cluster;

    @BeforeAll
    static void startCluster() throws Exception {
        cluster = ExporterTestSupport.startOwnCluster(ExporterTestSupport.newestVersion(), "faults-ops");
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void restartWhileScrapingInALoop() throws Exception {
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, Map.of("data-source.connect-timeout", "1s",
                "scrape.timeout", "3s", "scrape.statement-timeout", "2s")))) {
            List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            List<Double> ups = java.util.Collections.synchronizedList(new ArrayList<>());
            AtomicBoolean stop = new AtomicBoolean();
            AtomicInteger duringRestart = new AtomicInteger();
            // odd while a restart runs: a scrape overlapped one if it began or ended in one, or one
            // began and ended while it ran (a scrape waiting out the connect timeout can span a restart)
            AtomicInteger restartEdges = new AtomicInteger();
            Thread scraper = new Thread(() -> {
                for (int i = 0; i < 2000 && !stop.get(); i++) {
                    int edgesBefore = restartEdges.get();
                    try {
                        ExporterTestSupport.Response response = ExporterTestSupport.get(exporter.port(), "/metrics", null);
                        if (response.status() != 200) {
                            failures.add("status " + response.status());
                        } else {
                            ups.add(new Exposition(response.body()).value("pg_up"));
                        }
                        int edgesAfter = restartEdges.get();
                        if (edgesBefore % 2 == 1 || edgesAfter != edgesBefore) {
                            duringRestart.incrementAndGet();
                        }
                    } catch (Exception e) {
                        failures.add(e.toString());
                    }
                }
            }, "scrape-loop");
            scraper.start();
            try {
                awaitUp(exporter, Duration.ofSeconds(30));
                for (int i = 0; i < 2; i++) {
                    restartEdges.incrementAndGet();
                    cluster.restart();
                    restartEdges.incrementAndGet();
                    awaitUp(exporter, Duration.ofSeconds(30));
                }
            } finally {
                stop.set(true);
                scraper.join(TimeUnit.SECONDS.toMillis(30));
            }
            assertTrue(failures.isEmpty(), "every scrape answered 200: " + failures);
            assertTrue(duringRestart.get() >= 2, "scrapes ran while the server restarted: " + duringRestart.get());
            assertEquals(1.0, ups.get(ups.size() - 1), "pg_up is back to 1");
            assertAllCollectorsSucceed(ExporterTestSupport.scrape(exporter.port()));
        }
    }

    /**
     * A stopped server refuses connections: the scrape says so at once instead of waiting out the
     * connect timeout (5 s here), which only a silent network needs (the stall tests below).
     */
    @Test
    void aRefusedConnectionFailsTheScrapeAtOnce() throws Exception {
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, Map.of("data-source.connect-timeout", "5s",
                "scrape.timeout", "8s")))) {
            assertEquals(1.0, ExporterTestSupport.scrape(exporter.port()).value("pg_up"));
            cluster.stop();
            try {
                for (int i = 0; i < 3; i++) {
                    long start = System.nanoTime();
                    ExporterTestSupport.Response down = ExporterTestSupport.get(exporter.port(), "/metrics", null);
                    double seconds = (System.nanoTime() - start) / 1e9;
                    assertEquals(200, down.status());
                    assertEquals(0.0, new Exposition(down.body()).value("pg_up"));
                    assertTrue(seconds < 1.0, "scrape " + i + " with the server stopped took " + seconds
                            + " s: a refused connection must not wait for the 5 s connect timeout");
                }
            } finally {
                cluster.start();
            }
            awaitUp(exporter, Duration.ofSeconds(30));
        }
    }

    @Test
    void sigkillCrashRecoveryLeaksNoThreadsOrConnections() throws Exception {
        int threadsBefore = exporterThreads();
        int afterFirstCycle = -1;
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, Map.of("data-source.connect-timeout", "1s")))) {
            assertEquals(1.0, ExporterTestSupport.scrape(exporter.port()).value("pg_up"));
            for (int cycle = 1; cycle <= 3; cycle++) {
                cluster.crash();
                try {
                    ExporterTestSupport.Response down = ExporterTestSupport.get(exporter.port(), "/metrics", null);
                    assertEquals(200, down.status(), "answers while the server is dead");
                    assertEquals(0.0, new Exposition(down.body()).value("pg_up"));
                } finally {
                    cluster.start(); // crash recovery
                }
                awaitUp(exporter, Duration.ofSeconds(60));
                for (int i = 0; i < 5; i++) {
                    assertAllCollectorsSucceed(ExporterTestSupport.scrape(exporter.port()));
                }
                assertTrue(serverConnections() <= POOL, "server connections after recovery: " + serverConnections());
                int threads = exporterThreads() - threadsBefore;
                if (afterFirstCycle < 0) {
                    afterFirstCycle = threads;
                } else {
                    // the scrape pool is a cached one: a thread may still be idling from the last cycle
                    assertTrue(threads <= afterFirstCycle + 1, "exporter threads grow with crashes: " + afterFirstCycle
                            + " after the first cycle, " + threads + " after cycle " + cycle + ": " + exporterThreadNames());
                }
            }
        }
        awaitTrue(() -> exporterThreads() <= threadsBefore, Duration.ofSeconds(10),
                () -> "threads left after close: " + exporterThreadNames());
        awaitTrue(() -> serverConnections() == 0, Duration.ofSeconds(10), () -> "server connections left after close");
    }

    @Test
    void networkStallMeetsTheDeadlineAndRecoversWhenTrafficFlowsAgain() throws Exception {
        try (StallingProxy proxy = new StallingProxy(cluster.host(), cluster.port())) {
            Map<String, String> env = Map.of("DATA_SOURCE_NAME", "postgresql://" + ExporterTestSupport.MONITOR_USER + ":"
                    + ExporterTestSupport.MONITOR_PASSWORD + "@127.0.0.1:" + proxy.port() + "/postgres?sslmode=disable");
            Map<String, String> flags = Map.of("web.listen-address", "127.0.0.1:0", "data-source.connect-timeout", "1s",
                    "scrape.timeout", "2s", "scrape.statement-timeout", "1s");
            try (Exporter exporter = Exporter.start(new SettingsLoader().load(null, env, flags))) {
                assertAllCollectorsSucceed(ExporterTestSupport.scrape(exporter.port()));

                proxy.stall();
                for (int i = 0; i < 3; i++) {
                    long start = System.nanoTime();
                    ExporterTestSupport.Response response = ExporterTestSupport.get(exporter.port(), "/metrics", null);
                    double seconds = (System.nanoTime() - start) / 1e9;
                    assertEquals(200, response.status());
                    Exposition metrics = new Exposition(response.body());
                    boolean reportsFailure = metrics.value("pg_up") == 0.0
                            || metrics.value("pg_scrape_collector_success", "collector", "wal") == 0.0;
                    assertTrue(reportsFailure, "a stalled network is reported as a failure:\n" + response.body());
                    // the deadline is a product guarantee: 2 s plus the 0.2 s grace, with room for a loaded machine
                    assertTrue(seconds < 2.2 + 1.5, "scrape " + i + " answered within its deadline, took " + seconds + " s");
                }

                proxy.resume();
                Exposition recovered = awaitUp(exporter, Duration.ofSeconds(30));
                assertAllCollectorsSucceed(recovered);
                assertTrue(serverConnections() <= POOL, "server connections: " + serverConnections());
            }
        }
    }

    /**
     * The stall hits while a query is running: the scrape must still answer at its deadline, even
     * though cancelling that query needs the stalled network too.
     */
    @Test
    void networkStallDuringAQueryMeetsTheDeadline() throws Exception {
        List<Collector> collectors = new ArrayList<>(CollectorCatalog.create(CollectorCatalog.names(), CollectorOptions.UNCACHED));
        collectors.add(new SqlTestCollector("slow", "SELECT (pg_sleep(1) IS NULL)::int AS n"));
        try (StallingProxy proxy = new StallingProxy(cluster.host(), cluster.port())) {
            Map<String, String> env = Map.of("DATA_SOURCE_NAME", "postgresql://" + ExporterTestSupport.MONITOR_USER + ":"
                    + ExporterTestSupport.MONITOR_PASSWORD + "@127.0.0.1:" + proxy.port() + "/postgres?sslmode=disable");
            Map<String, String> flags = Map.of("web.listen-address", "127.0.0.1:0", "data-source.connect-timeout", "1s",
                    "scrape.timeout", "2s", "scrape.statement-timeout", "2s");
            try (Exporter exporter = Exporter.start(new SettingsLoader().load(null, env, flags), collectors)) {
                assertEquals(1.0, ExporterTestSupport.scrape(exporter.port()).value("pg_up"));
                CompletableFuture<ExporterTestSupport.Response> inFlight = CompletableFuture.supplyAsync(() -> {
                    try {
                        return ExporterTestSupport.get(exporter.port(), "/metrics", null);
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                });
                long start = System.nanoTime();
                Thread.sleep(400); // the slow collector's pg_sleep is running now
                proxy.stall();
                ExporterTestSupport.Response response = inFlight.get(60, TimeUnit.SECONDS);
                double seconds = (System.nanoTime() - start) / 1e9;
                assertEquals(200, response.status());
                Exposition metrics = new Exposition(response.body());
                assertEquals(0.0, metrics.value("pg_scrape_collector_success", "collector", "slow"), response.body());
                assertTrue(seconds < 2.2 + 1.5, "the stalled scrape answered within its deadline, took " + seconds + " s");
                proxy.resume();
                awaitUp(exporter, Duration.ofSeconds(30));
            }
        }
    }

    @Test
    void twoHundredConcurrentScrapesAreAnsweredWithinThePool() throws Exception {
        List<Collector> collectors = new ArrayList<>(CollectorCatalog.create(CollectorCatalog.names(), CollectorOptions.UNCACHED));
        SqlTestCollector slow = new SqlTestCollector("slow", "SELECT (pg_sleep(0.1) IS NULL)::int AS n");
        collectors.add(slow);
        ExecutorService clientThreads = Executors.newFixedThreadPool(8);
        HttpClient client = HttpClient.newBuilder().executor(clientThreads).connectTimeout(Duration.ofSeconds(20)).build();
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, Map.of()), collectors);
             Connection watcher = cluster.connect()) {
            List<CompletableFuture<HttpResponse<String>>> scrapes = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                scrapes.add(client.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + exporter.port() + "/metrics"))
                        .timeout(Duration.ofSeconds(120)).build(), HttpResponse.BodyHandlers.ofString()));
            }
            int maxConnections = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(150);
            while (scrapes.stream().anyMatch(f -> !f.isDone()) && System.nanoTime() < deadline) {
                maxConnections = Math.max(maxConnections, serverConnections(watcher));
                Thread.sleep(20);
            }
            int answered = 0;
            for (CompletableFuture<HttpResponse<String>> scrape : scrapes) {
                HttpResponse<String> response = scrape.get(1, TimeUnit.SECONDS);
                assertEquals(200, response.statusCode());
                assertEquals(1.0, new Exposition(response.body()).value("pg_up"));
                answered++;
            }
            assertEquals(200, answered);
            assertTrue(maxConnections <= POOL, "the server saw " + maxConnections + " exporter connections");
            assertTrue(slow.calls() < 200, "concurrent scrapes share runs: " + slow.calls() + " runs for 200 scrapes");
        } finally {
            clientThreads.shutdownNow();
        }
    }

    // ------------------------------------------------------------------ helpers

    private static void assertAllCollectorsSucceed(Exposition metrics) {
        assertEquals(1.0, metrics.value("pg_up"), metrics.text());
        for (String collector : CollectorCatalog.names()) {
            assertEquals(1.0, metrics.value("pg_scrape_collector_success", "collector", collector), collector);
        }
    }

    /** Scrapes until pg_up is 1 and every collector succeeded, or fails after {@code timeout}. */
    private static Exposition awaitUp(Exporter exporter, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        Exposition last = null;
        while (System.nanoTime() < deadline) {
            last = ExporterTestSupport.scrape(exporter.port());
            Exposition current = last;
            Predicate<String> ok = c -> Double.valueOf(1.0).equals(current.value("pg_scrape_collector_success", "collector", c));
            if (Double.valueOf(1.0).equals(last.value("pg_up")) && CollectorCatalog.names().stream().allMatch(ok)) {
                return last;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("not back up within " + timeout + ":\n" + (last == null ? "" : last.text()));
    }

    private interface Check {
        boolean ok() throws Exception;
    }

    private static void awaitTrue(Check check, Duration timeout, java.util.function.Supplier<String> message) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!check.ok()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(message.get());
            }
            Thread.sleep(100);
        }
    }

    private static boolean isExporterThread(Thread t) {
        String name = t.getName();
        return name.startsWith("scrape-") && !name.equals("scrape-loop") || name.startsWith("http-")
                || name.startsWith(APP) || name.startsWith("HTTP-Dispatcher");
    }

    private static int exporterThreads() {
        return (int) Thread.getAllStackTraces().keySet().stream().filter(FaultToleranceTest::isExporterThread).count();
    }

    private static List<String> exporterThreadNames() {
        return Thread.getAllStackTraces().keySet().stream().filter(FaultToleranceTest::isExporterThread).map(Thread::getName).sorted().toList();
    }

    private static int serverConnections() throws SQLException {
        try (Connection c = cluster.connect()) {
            return serverConnections(c);
        }
    }

    private static int serverConnections(Connection watcher) throws SQLException {
        try (Statement s = watcher.createStatement();
             ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + APP + "'")) {
            rs.next();
            return rs.getInt(1);
        }
    }
}
