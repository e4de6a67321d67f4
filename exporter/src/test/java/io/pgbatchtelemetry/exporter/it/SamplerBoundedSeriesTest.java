package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.sampler.SamplerFamilies;
import io.pgbatchtelemetry.harness.PostgresCluster;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The sampler's series do not grow with the number of sessions: the same label sets with 10 and
 * with 1 000 sessions, each with an application_name of its own, nine in ten in pg_sleep and one
 * in ten blocked on a row another session holds.
 *
 * <p>A cluster of its own with max_connections = 1100, autovacuum off, a 10 min deadlock_timeout
 * and a 1 h checkpoint_timeout, so the only load is the test's sessions (no deadlock checks or
 * checkpoints adding their own wait events to one phase and not the other). The role the
 * sessions log in with has a one-iteration SCRAM secret (PostgreSQL 16+), so opening 1 000 JDBC
 * connections on two cores takes seconds, not a minute. Each phase starts a fresh exporter once
 * the sessions are settled, so the login storm itself (a real, bounded set of wait events) is not
 * what is compared.
 */
class SamplerBoundedSeriesTest {

    private static final int VERSION = 17;
    private static final String ROLE = "pgbt_flat";
    private static final String ROLE_PASSWORD = "flat-Secret-7";
    private static final int ROWS = 100;
    private static PostgresCluster cluster;
    private static Connection holder;
    private static final List<Connection> sessions = new ArrayList<>();
    private static final ExecutorService workers = Executors.newCachedThreadPool(r -> {
        Thread thread = new Thread(null, r, "flat-session", 256 * 1024);
        thread.setDaemon(true);
        return thread;
    });

    @BeforeAll
    static void startCluster() throws Exception {
        cluster = PostgresCluster.builder(VERSION).name("sampler-1000")
                .setting("max_connections", "1100")
                .setting("autovacuum", "off")
                .setting("deadlock_timeout", "10min")
                .setting("checkpoint_timeout", "1h")
                .build();
        cluster.start();
        ExporterTestSupport.createMonitoringRole(cluster);
        cluster.execute("SET scram_iterations = 1; CREATE ROLE " + ROLE + " LOGIN PASSWORD '" + ROLE_PASSWORD + "';"
                + "CREATE TABLE flat_rows (id int PRIMARY KEY); INSERT INTO flat_rows SELECT generate_series(1, " + ROWS + ");"
                + "GRANT SELECT, UPDATE ON flat_rows TO " + ROLE);
        holder = SamplerTestSupport.session(cluster, "flat_holder");
        holder.setAutoCommit(false);
        try (Statement s = holder.createStatement()) {
            s.execute("SELECT id FROM flat_rows FOR UPDATE"); // then idle in transaction, holding every row
        }
    }

    @AfterAll
    static void stopCluster() throws Exception {
        workers.shutdownNow();
        if (cluster != null) {
            cluster.close(); // immediate stop: the 1 000 sessions end with it
        }
    }

    @Test
    void seriesStayTheSameFromTenToAThousandSessions() throws Exception {
        addSessions(0, 10);
        Map<String, Double> ten = sampleSeries(10);
        addSessions(10, 1000);
        Map<String, Double> thousand = sampleSeries(1000);

        System.out.printf("sampler series: %d with 10 sessions, %d with 1000 (sample query %.1f ms at 1000 sessions)%n",
                ten.size(), thousand.size(), thousand.get("pg_sampler_sample_duration_seconds") * 1000);
        assertEquals(sessionSeries(ten), sessionSeries(thousand), "label sets driven by the sessions");
        assertTrue(thousand.keySet().stream().noneMatch(k -> k.contains("flat_")), "no application name became a label");
    }

    /** Starts a fresh exporter, lets it take 10 samples, returns the sampler's series. */
    private static Map<String, Double> sampleSeries(int expectedSessions) throws Exception {
        Map<String, String> flags = Map.of("sampler.interval", "100ms",
                "batches", "[{ name = flat, application-name = \"^flat_\" }]");
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, flags))) {
            Exposition metrics = SamplerTestSupport.afterMoreSamples(exporter.port(), 10);
            assertEquals(expectedSessions, metrics.value("pg_batch_sessions", "batch", "flat"),
                    "the sampler saw every session of the batch");
            assertTrue(SamplerTestSupport.counter(metrics, "pg_lock_wait_blocked_seconds_total", "blocker_class", "flat") > 0,
                    "the blocked sessions were attributed to the holder's batch");
            Map<String, Double> series = new java.util.TreeMap<>();
            Set<String> names = new TreeSet<>();
            SamplerFamilies.FAMILIES.stream().map(MetricFamily::name).forEach(names::add);
            metrics.series().forEach((key, value) -> {
                String name = key.contains("{") ? key.substring(0, key.indexOf('{')) : key;
                if (names.contains(name)) {
                    series.put(key, value);
                }
            });
            return series;
        }
    }

    /**
     * The series a session can create: every family except background processes' whole-server
     * wait series (the background writer may flush the holder's page in one phase and not the other)
     * and client backends on {@code CPU} or in {@code Client:ClientRead}: the observers' own queries
     * (the exporter's scrapes, the test polling the server) running or mid-message, which a 100 ms
     * sample catches or not by timing. The test's sessions only sleep or wait for a lock; their series
     * are the Timeout and Lock waits and every {@code pg_batch_*} series, all compared.
     */
    private static Set<String> sessionSeries(Map<String, Double> series) {
        Set<String> keys = new TreeSet<>();
        for (String key : series.keySet()) {
            boolean wait = key.startsWith("pg_wait_event_seconds_total{");
            boolean observers = key.contains("wait_event=\"ClientRead\"") || key.contains("wait_event=\"CPU\"");
            if (wait && (!key.contains("backend_type=\"client backend\"") || observers)) {
                continue;
            }
            keys.add(key);
        }
        return keys;
    }

    /** Opens sessions {@code from..to-1}: every tenth waits for a row the holder locked, the rest sleep. */
    private static void addSessions(int from, int to) throws Exception {
        Semaphore connecting = new Semaphore(4); // a login storm on two cores would only slow itself down
        for (int i = from; i < to; i++) {
            int n = i;
            workers.submit(() -> {
                Connection connection;
                connecting.acquire();
                try {
                    Properties properties = new Properties();
                    properties.setProperty("user", ROLE);
                    properties.setProperty("password", ROLE_PASSWORD);
                    properties.setProperty("ApplicationName", "flat_" + n);
                    connection = DriverManager.getConnection(cluster.jdbcUrl("postgres"), properties);
                    synchronized (sessions) {
                        sessions.add(connection);
                    }
                } finally {
                    connecting.release();
                }
                try (Statement s = connection.createStatement()) {
                    s.execute(n % 10 == 0
                            ? "SELECT id FROM flat_rows WHERE id = " + (n / 10 + 1) + " FOR UPDATE"
                            : "SELECT pg_sleep(600)");
                } catch (SQLException endedByTheTest) {
                    // the cluster stops at the end of the test
                }
                return null;
            });
        }
        SamplerTestSupport.awaitServer(cluster, (to) + " sessions sleeping or blocked",
                "SELECT count(*) = " + to + " FROM pg_stat_activity WHERE application_name LIKE 'flat\\_%' "
                        + "AND application_name <> 'flat_holder' "
                        + "AND ((wait_event_type = 'Timeout' AND wait_event = 'PgSleep') "
                        + "  OR (wait_event_type = 'Lock' AND wait_event = 'transactionid'))");
    }
}
