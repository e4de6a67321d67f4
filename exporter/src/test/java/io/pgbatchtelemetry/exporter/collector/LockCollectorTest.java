package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.collect;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.Statement;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class LockCollectorTest {

    private static final List<String> MODES = List.of("AccessShareLock", "RowShareLock", "RowExclusiveLock",
            "ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock");

    private final LockCollector collector = new LockCollector();

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void countsAGrantedAccessExclusiveLockAndItsWaiter(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        cluster.execute("CREATE TABLE IF NOT EXISTS locks_target (id int)");
        try (Connection exporter = cluster.connect(); Connection holder = cluster.connect()) {
            assertEquals(0.0, value(collect(exporter, collector), LockCollector.LOCKS,
                    "postgres", "AccessShareLock", "false"), "nobody waits before the workload");

            holder.setAutoCommit(false);
            try (Statement statement = holder.createStatement()) {
                statement.execute("LOCK TABLE locks_target IN ACCESS EXCLUSIVE MODE");
            }
            try (BackgroundSql reader = new BackgroundSql(cluster.connect(), "SELECT count(*) FROM locks_target")) {
                MetricSink blocked = Eventually.await("a reader waiting for AccessShareLock",
                        () -> collect(exporter, collector),
                        sink -> value(sink, LockCollector.LOCKS, "postgres", "AccessShareLock", "false") >= 1);

                assertTrue(value(blocked, LockCollector.LOCKS, "postgres", "AccessExclusiveLock", "true") >= 1);
                // virtualxid/transactionid locks have no database: every session holds its own virtualxid
                assertTrue(value(blocked, LockCollector.LOCKS, "", "ExclusiveLock", "true") >= 1);
                for (String database : List.of("postgres", "")) {
                    for (String mode : MODES) {
                        for (String granted : List.of("true", "false")) {
                            assertTrue(value(blocked, LockCollector.LOCKS, database, mode, granted) != null,
                                    "series present even at 0: " + database + "/" + mode + "/" + granted);
                        }
                    }
                }
                assertEquals(0.0, value(blocked, LockCollector.LOCKS, "postgres", "ShareRowExclusiveLock", "false"));

                holder.rollback();
                reader.awaitFinished();
            }
            assertEquals(0.0, value(collect(exporter, collector), LockCollector.LOCKS,
                    "postgres", "AccessShareLock", "false"), "the waiter got its lock");
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void leavesOutTheLocksOfItsOwnSession(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        cluster.execute("CREATE TABLE IF NOT EXISTS locks_own (id int)");
        // ShareRowExclusiveLock: a mode that nothing in the background takes
        try (Connection exporter = cluster.connect(); Connection other = cluster.connect()) {
            exporter.setAutoCommit(false);
            try (Statement statement = exporter.createStatement()) {
                statement.execute("LOCK TABLE locks_own IN SHARE ROW EXCLUSIVE MODE");
            }
            assertEquals(0.0, value(collect(exporter, collector), LockCollector.LOCKS,
                    "postgres", "ShareRowExclusiveLock", "true"), "the exporter's own lock is not counted");
            exporter.rollback();

            other.setAutoCommit(false);
            try (Statement statement = other.createStatement()) {
                statement.execute("LOCK TABLE locks_own IN SHARE ROW EXCLUSIVE MODE");
            }
            assertEquals(1.0, value(collect(exporter, collector), LockCollector.LOCKS,
                    "postgres", "ShareRowExclusiveLock", "true"), "another session's lock is");
            exporter.rollback();
            other.rollback();
        }
    }
}
