package io.pgbatchtelemetry.exporter.collector;

import static org.junit.jupiter.api.Assertions.fail;

import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.function.Predicate;

/**
 * SQL for collector tests, and waiting for PostgreSQL's cumulative statistics to catch up.
 *
 * <p>A backend publishes its statistics when it goes idle, at most once a second unless forced, and
 * the checkpointer publishes after it has already woken the backend waiting on {@code CHECKPOINT}.
 * Tests therefore force the flush where they can and poll with a deadline where they can't.
 */
final class StatsTestSql {

    /** Long enough for the slowest path (an idle backend's 10 s flush timer); polls end far sooner. */
    private static final Duration DEADLINE = Duration.ofSeconds(20);
    private static final long POLL_MILLIS = 50;

    private StatsTestSql() {}

    static void execute(Connection connection, String... statements) throws SQLException {
        try (Statement statement = connection.createStatement()) {
            for (String sql : statements) {
                statement.execute(sql);
            }
        }
    }

    /** The first column of the single row {@code sql} returns, null when NULL. */
    static Double queryDouble(Connection connection, String sql) throws SQLException {
        try (Statement statement = connection.createStatement(); ResultSet rs = statement.executeQuery(sql)) {
            rs.next();
            double value = rs.getDouble(1);
            return rs.wasNull() ? null : value;
        }
    }

    /** Leaves the shared clusters as the tests found them: drops the tables a test class made. */
    static void dropTablesOnSharedClusters(String... tables) throws SQLException {
        for (int major : SharedClusters.versions()) {
            SharedClusters.get(major).execute("DROP TABLE IF EXISTS " + String.join(", ", tables));
        }
    }

    /** Makes this backend publish its pending statistics before this call returns (PostgreSQL 15+). */
    static void flushStats(Connection connection) throws SQLException {
        execute(connection, "SELECT pg_stat_force_next_flush()");
    }

    /** Collects until {@code done} holds for the sink, failing with {@code what} at the deadline. */
    static MetricSink collectUntil(Connection connection, Collector collector, Predicate<MetricSink> done, String what)
            throws SQLException, InterruptedException {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (true) {
            MetricSink sink = CollectorTestSupport.collect(connection, collector);
            if (done.test(sink)) {
                return sink;
            }
            if (System.nanoTime() > deadline) {
                fail("statistics did not show " + what + " within " + DEADLINE + "; last samples: " + sink.samples());
            }
            Thread.sleep(POLL_MILLIS);
        }
    }
}
