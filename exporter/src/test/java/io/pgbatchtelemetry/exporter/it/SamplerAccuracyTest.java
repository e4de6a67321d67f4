package io.pgbatchtelemetry.exporter.it;

import static io.pgbatchtelemetry.exporter.it.SamplerTestSupport.counter;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The sampler's numbers against workloads whose true session-seconds are known, on real servers:
 * N sessions in pg_sleep for T seconds, and one session blocked on a row lock for T seconds.
 *
 * <p>Sampling at 100 ms (the shortest interval the product allows) keeps the estimator's error,
 * below one interval at each end of a wait, well inside the 5 % the issue asks for. Counters are
 * read before the workload starts and again after two samples taken after it ended, so every
 * wait lies inside the measured window. Each test has its own batch rule on application names no
 * other test uses, so the per-batch counters see only its sessions.
 */
class SamplerAccuracyTest {

    private static final int SESSIONS = 5;
    private static final int SLEEP_SECONDS = 6;
    private static final int LOCK_SECONDS = 8;
    private static final double TOLERANCE = 0.05;

    /** Two versions keep the suite short: the oldest and the newest supported. */
    static Stream<Integer> versions() {
        List<Integer> chosen = SharedClusters.versions().stream().filter(v -> v == 15 || v == 18).toList();
        return (chosen.isEmpty() ? SharedClusters.versions().subList(0, 1) : chosen).stream();
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("versions")
    void sessionsInPgSleepGiveNTimesTSessionSeconds(int version) throws Exception {
        PostgresCluster cluster = SharedClusters.get(version);
        ExporterTestSupport.createMonitoringRole(cluster);
        String prefix = "pgbt_acc_sleep_" + UUID.randomUUID().toString().substring(0, 8);
        Map<String, String> flags = Map.of("sampler.interval", "100ms",
                "batches", "[{ name = acc_sleep, application-name = \"^" + prefix + "_[0-9]+$\" }]");
        ExecutorService pool = Executors.newFixedThreadPool(SESSIONS);
        List<Connection> sessions = new ArrayList<>();
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, flags))) {
            for (int i = 0; i < SESSIONS; i++) {
                sessions.add(SamplerTestSupport.session(cluster, prefix + "_" + i)); // idle: not counted yet
            }
            Exposition before = SamplerTestSupport.afterMoreSamples(exporter.port(), 3);

            CyclicBarrier start = new CyclicBarrier(SESSIONS);
            List<Future<?>> sleeps = new ArrayList<>();
            for (Connection session : sessions) {
                sleeps.add(pool.submit(() -> {
                    start.await();
                    try (Statement s = session.createStatement()) {
                        s.execute("SELECT pg_sleep(" + SLEEP_SECONDS + ")");
                    }
                    return null;
                }));
            }
            for (Future<?> sleep : sleeps) {
                sleep.get();
            }
            Exposition after = SamplerTestSupport.afterMoreSamples(exporter.port(), 2);

            double expected = SESSIONS * SLEEP_SECONDS;
            double batch = delta(before, after, "pg_batch_wait_event_seconds_total",
                    "batch", "acc_sleep", "wait_event_type", "Timeout", "wait_event", "PgSleep");
            System.out.printf("PostgreSQL %d: %d sessions x %d s in pg_sleep -> %.3f s (batch), %.3f s (server)%n",
                    version, SESSIONS, SLEEP_SECONDS, batch, server(before, after));
            assertEquals(expected, batch, expected * TOLERANCE, "per-batch Timeout:PgSleep session-seconds");
            double server = server(before, after);
            assertEquals(expected, server, expected * TOLERANCE, "server-wide Timeout:PgSleep session-seconds");
            assertEquals(0.0, after.value("pg_batch_sessions", "batch", "acc_sleep"), "sessions idle again");
        } finally {
            pool.shutdownNow();
            for (Connection session : sessions) {
                session.close();
            }
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("versions")
    void sessionBlockedOnARowLockIsAttributedToItsBatchAndItsBlocker(int version) throws Exception {
        PostgresCluster cluster = SharedClusters.get(version);
        ExporterTestSupport.createMonitoringRole(cluster);
        String id = UUID.randomUUID().toString().substring(0, 8);
        String table = "pgbt_acc_lock_" + id;
        String waiterApp = "pgbt_acc_waiter_" + id;
        String holderApp = "pgbt_acc_holder_" + id;
        cluster.execute("CREATE TABLE " + table + " (id int PRIMARY KEY, v int); INSERT INTO " + table + " VALUES (1, 0)");
        Map<String, String> flags = Map.of("sampler.interval", "100ms",
                "batches", "[{ name = acc_waiter, application-name = \"^" + waiterApp + "$\" },"
                        + " { name = acc_holder, application-name = \"^" + holderApp + "$\" }]");
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, flags));
             Connection holder = SamplerTestSupport.session(cluster, holderApp);
             Connection waiter = SamplerTestSupport.session(cluster, waiterApp)) {
            holder.setAutoCommit(false);
            try (Statement s = holder.createStatement()) {
                s.execute("UPDATE " + table + " SET v = v + 1 WHERE id = 1"); // holds the row; then idle in transaction
            }
            Exposition before = SamplerTestSupport.afterMoreSamples(exporter.port(), 3);

            // RETURNING runs once the lock is granted: the statement's age then is the time it was blocked
            Future<Double> blockedSeconds = pool.submit(() -> {
                try (Statement s = waiter.createStatement();
                     ResultSet rs = s.executeQuery("UPDATE " + table + " SET v = v + 1 WHERE id = 1 "
                             + "RETURNING extract(epoch FROM clock_timestamp() - statement_timestamp())::float8")) {
                    rs.next();
                    return rs.getDouble(1);
                }
            });
            SamplerTestSupport.awaitServer(cluster, "the waiter to wait on the holder's transaction id",
                    "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = '" + waiterApp
                            + "' AND wait_event_type = 'Lock' AND wait_event = 'transactionid'");
            Thread.sleep(LOCK_SECONDS * 1000L); // the workload: keep the lock for T seconds
            holder.commit();
            double truth = blockedSeconds.get();
            Exposition after = SamplerTestSupport.afterMoreSamples(exporter.port(), 2);

            double tolerance = truth * TOLERANCE;
            System.out.printf("PostgreSQL %d: blocked %.3f s -> Lock:transactionid %.3f s, blocked by acc_holder %.3f s%n",
                    version, truth, delta(before, after, "pg_batch_wait_event_seconds_total",
                            "batch", "acc_waiter", "wait_event_type", "Lock", "wait_event", "transactionid"),
                    delta(before, after, "pg_batch_blocked_seconds_total", "batch", "acc_waiter", "blocker_class", "acc_holder"));
            assertEquals(truth, delta(before, after, "pg_wait_event_seconds_total",
                    "backend_type", "client backend", "wait_event_type", "Lock", "wait_event", "transactionid"), tolerance,
                    "server-wide Lock:transactionid session-seconds (blocked " + truth + " s)");
            assertEquals(truth, delta(before, after, "pg_batch_wait_event_seconds_total",
                    "batch", "acc_waiter", "wait_event_type", "Lock", "wait_event", "transactionid"), tolerance,
                    "the waiter's batch waited on Lock:transactionid");
            assertEquals(truth, delta(before, after, "pg_batch_blocked_seconds_total",
                    "batch", "acc_waiter", "blocker_class", "acc_holder"), tolerance,
                    "who blocked my batch: the holder's batch");
            assertEquals(truth, delta(before, after, "pg_lock_wait_blocked_seconds_total", "blocker_class", "acc_holder"),
                    tolerance, "server-wide blocked seconds by blocker class");
            assertNull(after.value("pg_batch_wait_event_seconds_total", "batch", "acc_holder",
                    "wait_event_type", "Client", "wait_event", "ClientRead"), "idle in transaction is not load");
            assertEquals(0.0, after.value("pg_batch_sessions", "batch", "acc_holder"));
            assertEquals("", ExporterTestSupport.promtoolCheck(after.text()), "every sampler family populated, and clean");
        } finally {
            pool.shutdownNow();
            cluster.execute("DROP TABLE IF EXISTS " + table);
        }
    }

    private static double server(Exposition before, Exposition after) {
        return delta(before, after, "pg_wait_event_seconds_total",
                "backend_type", "client backend", "wait_event_type", "Timeout", "wait_event", "PgSleep");
    }

    private static double delta(Exposition before, Exposition after, String name, String... labels) {
        return counter(after, name, labels) - counter(before, name, labels);
    }
}
