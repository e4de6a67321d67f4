package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.collect;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class ActivityCollectorTest {

    private static final String CLIENT = "client backend";

    private final ActivityCollector collector = new ActivityCollector();

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void countsIdleInTransactionSessionsAndNotItself(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        int idleInTransaction = 3;
        List<Connection> sessions = new ArrayList<>();
        try (Connection exporter = cluster.connect()) {
            MetricSink before = collect(exporter, collector);
            // the collecting backend is "active" while it reads pg_stat_activity, and nothing else runs
            assertEquals(0.0, value(before, ActivityCollector.SESSIONS, CLIENT, "active"));
            double idleInTransactionBefore = value(before, ActivityCollector.SESSIONS, CLIENT, "idle in transaction");

            for (int i = 0; i < idleInTransaction; i++) {
                Connection session = cluster.connect();
                sessions.add(session);
                session.setAutoCommit(false);
                try (Statement statement = session.createStatement()) {
                    statement.execute("SELECT 1"); // opens the transaction; the session then sits idle in it
                }
            }
            MetricSink after = collect(exporter, collector);

            assertTrue(value(after, ActivityCollector.SESSIONS, CLIENT, "idle in transaction")
                    >= idleInTransactionBefore + idleInTransaction);
            assertEquals(0.0, value(after, ActivityCollector.SESSIONS, CLIENT, "active"));
            assertEquals(0.0, value(after, ActivityCollector.SESSIONS, CLIENT, "idle in transaction (aborted)"),
                    "zero-filled state of client backends");
            assertEquals(1.0, value(after, ActivityCollector.SESSIONS, "checkpointer", ""),
                    "background processes have state \"\"");
        } finally {
            for (Connection session : sessions) {
                session.close();
            }
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void reportsTheAgeOfTheOldestOpenTransaction(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        try (Connection exporter = cluster.connect(); Connection old = cluster.connect()) {
            MetricSink none = collect(exporter, collector);
            assertEquals(0.0, value(none, ActivityCollector.OLDEST_TRANSACTION_AGE), "no open transaction reads 0, not absent");
            assertEquals(0.0, value(none, ActivityCollector.IDLE_IN_TRANSACTION_MAX), "nobody idle in transaction reads 0");

            old.setAutoCommit(false);
            try (Statement statement = old.createStatement()) {
                statement.execute("SELECT 1");
            }
            Thread.sleep(2_000); // the transaction is now at least 2 s old
            MetricSink open = collect(exporter, collector);
            double age = value(open, ActivityCollector.OLDEST_TRANSACTION_AGE);
            double idle = value(open, ActivityCollector.IDLE_IN_TRANSACTION_MAX);
            double elapsedOnServer = secondsSinceTransactionStartOf(exporter, old);

            assertTrue(age >= 2.0, "age " + age);
            assertTrue(age <= elapsedOnServer, "age " + age + " is seconds, not more than " + elapsedOnServer);
            assertTrue(idle >= 2.0 && idle <= age, "idle in transaction since its SELECT: " + idle + " (transaction age " + age + ")");
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void seesASessionBlockedOnARowLockAndItsWaitGrowing(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        cluster.execute("DROP TABLE IF EXISTS activity_row_lock");
        cluster.execute("CREATE TABLE activity_row_lock (id int PRIMARY KEY, v int)");
        cluster.execute("INSERT INTO activity_row_lock VALUES (1, 0)");
        try (Connection exporter = cluster.connect(); Connection holder = cluster.connect()) {
            MetricSink idle = collect(exporter, collector);
            assertEquals(0.0, value(idle, ActivityCollector.LOCK_WAITING_SESSIONS));
            assertEquals(0.0, value(idle, ActivityCollector.BLOCKED_SESSIONS));
            assertEquals(0.0, value(idle, ActivityCollector.LOCK_WAIT_MAX));

            holder.setAutoCommit(false);
            try (Statement statement = holder.createStatement()) {
                statement.execute("UPDATE activity_row_lock SET v = 1 WHERE id = 1");
            }
            try (BackgroundSql waiter = new BackgroundSql(cluster.connect(),
                    "UPDATE activity_row_lock SET v = 2 WHERE id = 1")) {
                // waitstart is filled in shortly after the wait begins: wait until it is
                MetricSink first = Eventually.await("a lock waiter with a wait start",
                        () -> collect(exporter, collector),
                        sink -> value(sink, ActivityCollector.LOCK_WAIT_MAX) > 0);
                MetricSink second = collect(exporter, collector);

                assertTrue(value(first, ActivityCollector.LOCK_WAITING_SESSIONS) >= 1);
                assertTrue(value(first, ActivityCollector.BLOCKED_SESSIONS) >= 1);
                assertTrue(value(second, ActivityCollector.LOCK_WAIT_MAX) > value(first, ActivityCollector.LOCK_WAIT_MAX),
                        "the wait keeps growing while the holder keeps its transaction open");

                holder.rollback();
                waiter.awaitFinished();
            }
            MetricSink released = collect(exporter, collector);
            assertEquals(0.0, value(released, ActivityCollector.LOCK_WAITING_SESSIONS));
            assertEquals(0.0, value(released, ActivityCollector.LOCK_WAIT_MAX));
        } finally {
            cluster.execute("DROP TABLE IF EXISTS activity_row_lock");
        }
    }

    /** Server-clock seconds from {@code session}'s transaction start to now. */
    private static double secondsSinceTransactionStartOf(Connection observer, Connection session) throws Exception {
        int pid;
        try (Statement statement = session.createStatement();
             ResultSet row = statement.executeQuery("SELECT pg_backend_pid()")) {
            row.next();
            pid = row.getInt(1);
        }
        try (Statement statement = observer.createStatement();
             ResultSet row = statement.executeQuery("SELECT extract(epoch FROM clock_timestamp() - xact_start)"
                     + " FROM pg_stat_activity WHERE pid = " + pid)) {
            assertTrue(row.next());
            return row.getDouble(1);
        }
    }
}
