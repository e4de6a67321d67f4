package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.collect;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.collectUntil;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.dropTablesOnSharedClusters;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.execute;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.flushStats;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.queryDouble;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.sql.Statement;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class DatabaseCollectorTest {

    private static final String DEADLOCK_DETECTED = "40P01";

    private final DatabaseCollector collector = new DatabaseCollector(Duration.ZERO);

    @AfterAll
    static void dropTestTables() throws SQLException {
        dropTablesOnSharedClusters("database_collector_deadlock", "database_collector_rows", "database_collector_size");
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void sortSpillShowsAsTempSpaceInUseWhileOpenAndAsTempFilesWhenClosed(int major) throws Exception {
        try (Connection observer = SharedClusters.get(major).connect();
             Connection sorter = SharedClusters.get(major).connect()) {
            String datname = currentDatabase(observer);
            MetricSink before = collect(observer, collector);

            // A cursor over a sort that can't fit in 64kB: fetching the first row finishes the external
            // sort, and its run files stay on disk until the cursor closes. Parallel workers would put
            // their files in a shared-fileset subdirectory, which pg_ls_tmpdir() does not list.
            sorter.setAutoCommit(false);
            execute(sorter, "SET work_mem = '64kB'", "SET max_parallel_workers_per_gather = 0",
                    "DECLARE spill CURSOR FOR SELECT md5(g::text) FROM generate_series(1, 100000) g ORDER BY 1",
                    "FETCH 1 FROM spill");
            MetricSink open = collect(observer, collector);
            assertTrue(value(open, DatabaseCollector.TEMP_FILES_IN_USE)
                    > value(before, DatabaseCollector.TEMP_FILES_IN_USE), "the open sort's files are listed");
            assertTrue(value(open, DatabaseCollector.TEMP_SPACE_IN_USE) > 0, "the open sort's files have bytes");
            assertEquals(value(before, DatabaseCollector.TEMP_FILES, datname), value(open, DatabaseCollector.TEMP_FILES, datname),
                    "temp_files only counts a file when it is closed");

            execute(sorter, "CLOSE spill", "COMMIT");
            sorter.setAutoCommit(true);
            flushStats(sorter);

            double filesBefore = value(before, DatabaseCollector.TEMP_FILES, datname);
            MetricSink after = collectUntil(observer, collector,
                    sink -> value(sink, DatabaseCollector.TEMP_FILES, datname) >= filesBefore + 1,
                    "the closed sort's temp files counted for " + datname);
            assertTrue(value(after, DatabaseCollector.TEMP_BYTES, datname)
                    > value(before, DatabaseCollector.TEMP_BYTES, datname));
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void inducedDeadlockCountsExactlyOnce(int major) throws Exception {
        try (Connection observer = SharedClusters.get(major).connect();
             Connection first = SharedClusters.get(major).connect();
             Connection second = SharedClusters.get(major).connect()) {
            String datname = currentDatabase(observer);
            execute(observer, "DROP TABLE IF EXISTS database_collector_deadlock",
                    "CREATE TABLE database_collector_deadlock (id int PRIMARY KEY, v int)",
                    "INSERT INTO database_collector_deadlock VALUES (1, 0), (2, 0)");
            double deadlocksBefore = value(collect(observer, collector), DatabaseCollector.DEADLOCKS, datname);

            first.setAutoCommit(false);
            second.setAutoCommit(false);
            // short deadlock_timeout so the detector runs after 50 ms instead of the default second
            execute(first, "SET LOCAL deadlock_timeout = '50ms'",
                    "UPDATE database_collector_deadlock SET v = 1 WHERE id = 1");
            execute(second, "SET LOCAL deadlock_timeout = '50ms'",
                    "UPDATE database_collector_deadlock SET v = 2 WHERE id = 2");
            int firstPid = backendPid(first);
            CompletableFuture<String> firstWaits = CompletableFuture.supplyAsync(
                    () -> updateReportingSqlState(first, 2));
            awaitLockWait(observer, firstPid);
            String secondOutcome = updateReportingSqlState(second, 1);
            String firstOutcome = firstWaits.get(20, TimeUnit.SECONDS);
            first.rollback();
            second.rollback();
            first.setAutoCommit(true);
            second.setAutoCommit(true);

            List<String> outcomes = Arrays.asList(firstOutcome, secondOutcome); // null: that update went through
            assertEquals(1, outcomes.stream().filter(DEADLOCK_DETECTED::equals).count(),
                    "exactly one side is chosen as the deadlock victim: " + outcomes);
            flushStats(first);
            flushStats(second);
            MetricSink after = collectUntil(observer, collector,
                    sink -> value(sink, DatabaseCollector.DEADLOCKS, datname) >= deadlocksBefore + 1,
                    "the deadlock counted for " + datname);
            assertEquals(deadlocksBefore + 1, value(after, DatabaseCollector.DEADLOCKS, datname));
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void commitsAndRowsAreCountedPerDatabaseAndTemplatesAreSkipped(int major) throws Exception {
        try (Connection observer = SharedClusters.get(major).connect();
             Connection worker = SharedClusters.get(major).connect()) {
            String datname = currentDatabase(observer);
            execute(observer, "DROP TABLE IF EXISTS database_collector_rows",
                    "CREATE TABLE database_collector_rows (id int)");
            MetricSink before = collect(observer, collector);

            execute(worker, "INSERT INTO database_collector_rows SELECT generate_series(1, 100)",
                    "UPDATE database_collector_rows SET id = id + 1 WHERE id <= 10",   // 2..11 and 11..100 remain
                    "DELETE FROM database_collector_rows WHERE id > 90");             // 10 rows
            flushStats(worker);

            double commitsBefore = value(before, DatabaseCollector.XACT_COMMIT, datname);
            MetricSink after = collectUntil(observer, collector,
                    sink -> value(sink, DatabaseCollector.XACT_COMMIT, datname) >= commitsBefore + 3
                            && value(sink, DatabaseCollector.TUP_DELETED, datname)
                                    >= value(before, DatabaseCollector.TUP_DELETED, datname) + 10,
                    "three commits and their rows counted for " + datname);
            assertGrewBy(before, after, DatabaseCollector.TUP_INSERTED, datname, 100);
            assertGrewBy(before, after, DatabaseCollector.TUP_UPDATED, datname, 10);
            assertTrue(value(after, DatabaseCollector.NUMBACKENDS, datname) >= 2, "observer and worker are connected");
            assertEquals(queryDouble(observer, "SELECT pg_database_size(current_database())"),
                    value(after, DatabaseCollector.SIZE, datname), 1024 * 1024, "size, give or take a table's growth");
            assertTrue(value(after, DatabaseCollector.SIZE, datname) > 0);
            assertNotNull(value(after, DatabaseCollector.BLK_READ_TIME, datname));
            for (String template : List.of("template0", "template1")) {
                assertNull(value(after, DatabaseCollector.XACT_COMMIT, template), template + " is skipped");
                assertNull(value(after, DatabaseCollector.SIZE, template), template + " is skipped");
            }
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void sizesAreReadAgainOnlyWhenOlderThanTheIntervalOrWhenADatabaseAppears(int major) throws Exception {
        String created = "pgbt_size_probe_" + major;
        try (Connection observer = SharedClusters.get(major).connect()) {
            String datname = currentDatabase(observer);
            execute(observer, "DROP DATABASE IF EXISTS " + created, "DROP TABLE IF EXISTS database_collector_size");
            DatabaseCollector hourly = new DatabaseCollector(Duration.ofHours(1));
            double before = value(collect(observer, hourly), DatabaseCollector.SIZE, datname);

            execute(observer, "CREATE TABLE database_collector_size AS SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 30000) g");
            double grown = queryDouble(observer, "SELECT pg_database_size(current_database())");
            assertTrue(grown >= before + 3 * 1024 * 1024, "the table added ~4 MB");
            assertEquals(before, value(collect(observer, hourly), DatabaseCollector.SIZE, datname),
                    "within the interval the size read first is served");
            assertEquals(grown, value(collect(observer, new DatabaseCollector(Duration.ZERO)), DatabaseCollector.SIZE, datname),
                    1024 * 1024, "with interval 0 every collect reads the size");

            try {
                execute(observer, "CREATE DATABASE " + created);
                MetricSink withNew = collect(observer, hourly);
                assertTrue(value(withNew, DatabaseCollector.SIZE, created) > 0, "a new database's size is read at once");
                assertEquals(grown, value(withNew, DatabaseCollector.SIZE, datname), 1024 * 1024,
                        "and the others' sizes are read again with it");
            } finally {
                execute(observer, "DROP DATABASE IF EXISTS " + created);
            }
            assertNull(value(collect(observer, hourly), DatabaseCollector.SIZE, created), "a dropped database's size is not served");
        }
    }

    private static void assertGrewBy(MetricSink before, MetricSink after, MetricFamily family, String datname,
                                     double atLeast) {
        double growth = value(after, family, datname) - value(before, family, datname);
        assertTrue(growth >= atLeast, family.name() + " grew by " + growth + ", expected at least " + atLeast);
    }

    private static String currentDatabase(Connection connection) throws SQLException {
        try (Statement statement = connection.createStatement();
             ResultSet rs = statement.executeQuery("SELECT current_database()")) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static int backendPid(Connection connection) throws SQLException {
        return queryDouble(connection, "SELECT pg_backend_pid()").intValue();
    }

    /** Runs the update and returns null on success, the SQLSTATE on failure. */
    private static String updateReportingSqlState(Connection connection, int id) {
        try {
            execute(connection, "UPDATE database_collector_deadlock SET v = v + 10 WHERE id = " + id);
            return null;
        } catch (SQLException e) {
            return e.getSQLState();
        }
    }

    /** Waits until {@code pid} waits on a lock, so the two updates meet in a known order. */
    private static void awaitLockWait(Connection observer, int pid) throws SQLException, InterruptedException {
        for (int attempt = 0; attempt < 400; attempt++) {
            if (queryDouble(observer, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid
                    + " AND wait_event_type = 'Lock'") > 0) {
                return;
            }
            Thread.sleep(25);
        }
        throw new AssertionError("backend " + pid + " never waited on the row lock");
    }
}
