package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import io.pgbatchtelemetry.exporter.config.ConfigException;
import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import io.pgbatchtelemetry.exporter.config.SettingsLoader;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code /probe?target=NAME} with targets from a config file: two real clusters, one of them
 * stopped, and a third target behind a stalled network. A name outside the configuration (a
 * connection string above all) is refused without being echoed; a dead or stalled target never
 * delays a healthy one; each target keeps to its own small pool.
 */
class MultiTargetTest {

    /** The common pool has one thread on two cores: the concurrent requests need their own. */
    private static final java.util.concurrent.ExecutorService CLIENTS = java.util.concurrent.Executors.newFixedThreadPool(16);
    @TempDir
    static Path dir;
    private static PostgresCluster stopped;
    private static PostgresCluster healthy;

    @BeforeAll
    static void clusters() throws Exception {
        List<Integer> versions = SharedClusters.versions();
        healthy = SharedClusters.get(versions.get(0));
        ExporterTestSupport.createMonitoringRole(healthy);
        stopped = ExporterTestSupport.startOwnCluster(ExporterTestSupport.newestVersion(), "probe-down");
        stopped.stop();
    }

    @AfterAll
    static void close() {
        CLIENTS.shutdownNow();
        if (stopped != null) {
            stopped.close();
        }
    }

    @Test
    void probesConfiguredTargetsAndNothingElse() throws Exception {
        try (StallingProxy proxy = new StallingProxy(healthy.host(), healthy.port());
             Exporter exporter = Exporter.start(probeOnly(proxy.port()))) {
            int port = exporter.port();
            Exposition db1 = probe(port, "db1");
            assertEquals(1.0, db1.value("pg_up"));
            for (String collector : CollectorCatalog.names()) {
                assertEquals(1.0, db1.value("pg_scrape_collector_success", "collector", collector), collector);
            }
            assertEquals(1.0, db1.value("pg_exporter_pool_max_connections"), "a probed target has its own pool of one");
            assertEquals("", ExporterTestSupport.promtoolCheck(db1.text()));

            ExporterTestSupport.Response down = ExporterTestSupport.get(port, "/probe?target=db2", null);
            assertEquals(200, down.status(), "a stopped target is reported, not an HTTP error");
            assertEquals(0.0, new Exposition(down.body()).value("pg_up"));

            ExporterTestSupport.Response missing = ExporterTestSupport.get(port, "/probe", null);
            assertEquals(400, missing.status());
            assertTrue(missing.body().contains("[db1, db2, stalled]"), missing.body());
            ExporterTestSupport.Response unknown = ExporterTestSupport.get(port, "/probe?target=db3", null);
            assertEquals(404, unknown.status());
            assertTrue(unknown.body().startsWith("Unknown target. Configured targets: [db1, db2, stalled]"), unknown.body());
            String dsn = "postgresql://postgres:" + healthy.superuserPassword() + "@127.0.0.1:" + healthy.port() + "/postgres";
            ExporterTestSupport.Response connectionString = ExporterTestSupport.get(port,
                    "/probe?target=" + URLEncoder.encode(dsn, StandardCharsets.UTF_8), null);
            assertEquals(404, connectionString.status(), "a connection string is not a target");
            assertFalse(connectionString.body().contains(healthy.superuserPassword()), "the request is not echoed");
            assertEquals(404, ExporterTestSupport.get(port, "/probes?target=db1", null).status());

            ExporterTestSupport.Response metrics = ExporterTestSupport.get(port, "/metrics", null);
            assertEquals(404, metrics.status(), "a probe-only exporter scrapes no server on /metrics");
            assertTrue(metrics.body().contains("/probe?target=NAME"), metrics.body());
            assertTrue(ExporterTestSupport.get(port, "/", null).body().contains("href=\"/probe?target=db1\""));
        }
    }

    @Test
    void aStoppedOrStalledTargetNeverDelaysAHealthyOne() throws Exception {
        try (StallingProxy proxy = new StallingProxy(healthy.host(), healthy.port());
             Exporter exporter = Exporter.start(probeOnly(proxy.port()))) {
            int port = exporter.port();
            assertEquals(1.0, probe(port, "stalled").value("pg_up"));
            proxy.stall();
            // keep the stalled and the stopped target busy: several scrapes each, all waiting on them
            List<CompletableFuture<ExporterTestSupport.Response>> slow = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                slow.add(async(port, "stalled"));
                slow.add(async(port, "db2"));
            }
            Thread.sleep(300);
            int healthyConnectionsBefore = exporterConnections(healthy);
            for (int i = 0; i < 3; i++) {
                long start = System.nanoTime();
                Exposition db1 = probe(port, "db1");
                double seconds = (System.nanoTime() - start) / 1e9;
                assertEquals(1.0, db1.value("pg_up"));
                // the stalled target's deadline is 2 s: a healthy target answering in less cannot have waited for it
                assertTrue(seconds < 1.5, "db1 answered in " + seconds + " s while the others were stuck");
            }
            for (CompletableFuture<ExporterTestSupport.Response> response : slow) {
                ExporterTestSupport.Response r = response.get(60, TimeUnit.SECONDS);
                assertEquals(200, r.status());
                assertEquals(0.0, new Exposition(r.body()).value("pg_scrape_collector_success", "collector", "wal"));
            }
            // the stalled target's connection goes through the proxy to the same server: db1 alone holds at most 1 directly
            assertTrue(healthyConnectionsBefore <= 2, "db1 (pool 1) and the stalled target (pool 1): " + healthyConnectionsBefore);
            proxy.resume();
        }
    }

    @Test
    void targetSettingsAreValidated() throws Exception {
        ConfigException unknownKey = assertThrows(ConfigException.class, () -> load("""
                pg-batch-exporter.targets.db1 { url = "postgresql://u@127.0.0.1:1/postgres", passwrod = "x" }
                """));
        assertTrue(unknownKey.getMessage().startsWith("pg-batch-exporter.targets.db1.passwrod: unknown key"), unknownKey.getMessage());
        ConfigException noUrl = assertThrows(ConfigException.class, () -> load("pg-batch-exporter.targets.db1 { pool-size = 1 }"));
        assertTrue(noUrl.getMessage().startsWith("pg-batch-exporter.targets.db1.url: required"), noUrl.getMessage());
        ConfigException badName = assertThrows(ConfigException.class, () -> load("""
                pg-batch-exporter.targets { "db 1" { url = "postgresql://u@127.0.0.1:1/postgres" } }
                """));
        assertTrue(badName.getMessage().contains("target names may use"), badName.getMessage());
        ConfigException bigPool = assertThrows(ConfigException.class, () -> load("""
                pg-batch-exporter.targets.db1 { url = "postgresql://u@127.0.0.1:1/postgres", pool-size = 9 }
                """));
        assertTrue(bigPool.getMessage().startsWith("pg-batch-exporter.targets.db1.pool-size"), bigPool.getMessage());
        ConfigException secret = assertThrows(ConfigException.class, () -> load("""
                pg-batch-exporter.targets.db1 { url = "host=127.0.0.1 password='Target-Secret-1" }
                """));
        assertFalse(secret.getMessage().contains("Target-Secret-1"), secret.getMessage());

        ExporterSettings both = load("""
                pg-batch-exporter.data-source.url = "postgresql://u@127.0.0.1:1/postgres"
                pg-batch-exporter.targets.db1 { url = "postgresql://v@127.0.0.1:2/postgres", timeout = 20s, pool-size = 2 }
                """);
        assertTrue(both.hasDefaultTarget());
        ExporterSettings.Target db1 = both.targets().get("db1");
        assertEquals(2, db1.scrape().poolSize());
        assertEquals(java.time.Duration.ofSeconds(20), db1.scrape().timeout());
        assertEquals(both.scrape().statementTimeout(), db1.scrape().statementTimeout(), "inherits scrape.statement-timeout");
        assertEquals("v", db1.dataSource().user());
    }

    // ------------------------------------------------------------------ helpers

    /** Probe-only settings from a HOCON file, as an operator writes them; passwords from files. */
    private static ExporterSettings probeOnly(int proxyPort) throws Exception {
        Path secret = dir.resolve("monitor-password");
        Files.writeString(secret, ExporterTestSupport.MONITOR_PASSWORD + "\n");
        String user = ExporterTestSupport.MONITOR_USER;
        return load("""
                pg-batch-exporter {
                  data-source.connect-timeout = 1s
                  targets {
                    db1 { url = "postgresql://%s@127.0.0.1:%d/postgres", password-file = "%s" }
                    db2 { url = "postgresql://%s@127.0.0.1:%d/postgres", password-file = "%s" }
                    stalled { url = "postgresql://%s@127.0.0.1:%d/postgres", password-file = "%s", timeout = 2s }
                  }
                }
                """.formatted(user, healthy.port(), secret, user, stopped.port(), secret, user, proxyPort, secret));
    }

    private static ExporterSettings load(String hocon) throws Exception {
        Path file = Files.createTempFile(dir, "targets", ".conf");
        Files.writeString(file, hocon);
        return new SettingsLoader().load(file, Map.of(), Map.of("web.listen-address", "127.0.0.1:0"));
    }

    private static Exposition probe(int port, String target) throws Exception {
        ExporterTestSupport.Response response = ExporterTestSupport.get(port, "/probe?target=" + target, null);
        assertEquals(200, response.status(), response.body());
        return new Exposition(response.body());
    }

    private static CompletableFuture<ExporterTestSupport.Response> async(int port, String target) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return ExporterTestSupport.get(port, "/probe?target=" + target, null);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, CLIENTS);
    }

    private static int exporterConnections(PostgresCluster cluster) throws Exception {
        try (Connection c = cluster.connect(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg-batch-exporter'")) {
            rs.next();
            return rs.getInt(1);
        }
    }
}
