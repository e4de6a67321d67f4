package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.collect;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.it.ExporterTestSupport;
import io.pgbatchtelemetry.exporter.it.TelemetryTestDb;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.Statement;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Tracked tables as the monitoring role reads them live: rows written and VACUUM/ANALYZE move the
 * counters by exactly what was done, a partitioned table is the sum of its partitions, a rename
 * keeps tracking, a TRUNCATE-style lock leaves only the size out (instead of hanging the scrape),
 * and the batch's own VACUUM is not reported as an autovacuum. (An autovacuum caught in progress
 * needs a short autovacuum_naptime: {@link TelemetryCronAndAutovacuumTest}.)
 */
class TelemetryTablesCollectorTest {

    private static final String DB = "pgbt_tele_tables";

    private final TelemetryTablesCollector collector = new TelemetryTablesCollector();

    private static PostgresCluster prepared(int major, String... tables) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        TelemetryTestDb.install(cluster, DB);
        ExporterTestSupport.createMonitoringRole(cluster);
        for (String table : tables) {
            TelemetryTestDb.exec(cluster, DB, "DROP TABLE IF EXISTS " + table + " CASCADE");
        }
        TelemetryTestDb.exec(cluster, DB, "DELETE FROM telemetry.tracked_tables");
        return cluster;
    }

    private static Connection monitor(PostgresCluster cluster) throws Exception {
        Connection c = cluster.connect(ExporterTestSupport.MONITOR_USER, ExporterTestSupport.MONITOR_PASSWORD, DB);
        try (Statement s = c.createStatement()) {
            s.execute("SET lock_timeout = '5s'"); // as the exporter's pool does: a regression fails instead of hanging
        }
        return c;
    }

    private static double delta(MetricSink before, MetricSink after, MetricFamily family, String relname) {
        return value(after, family, "public", relname) - value(before, family, "public", relname);
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void countersMoveByWhatTheBatchDid(int major) throws Exception {
        PostgresCluster cluster = prepared(major, "tt_orders");
        TelemetryTestDb.exec(cluster, DB,
                // autovacuum off for this table: the test decides when it is vacuumed
                "CREATE TABLE tt_orders (id int PRIMARY KEY, note text) WITH (autovacuum_enabled = false)",
                "SELECT telemetry.track_table('tt_orders')");
        try (Connection monitor = monitor(cluster); Connection batch = cluster.connect(DB); Statement s = batch.createStatement()) {
            MetricSink before = collect(monitor, collector);
            assertEquals(1.0, value(before, TelemetryTablesCollector.TRACKED));
            assertEquals(0.0, value(before, TelemetryTablesCollector.AUTOVACUUM_RUNNING, "public", "tt_orders"));
            assertNull(value(before, TelemetryTablesCollector.LAST_AUTOVACUUM, "public", "tt_orders"), "never autovacuumed: absent");

            s.execute("INSERT INTO tt_orders SELECT g, repeat('x', 100) FROM generate_series(1, 1000) g");
            s.execute("UPDATE tt_orders SET note = 'y' WHERE id <= 100");
            s.execute("DELETE FROM tt_orders WHERE id > 950");
            TelemetryTestDb.flushStats(batch);
            MetricSink written = collect(monitor, collector);
            assertEquals(1000.0, delta(before, written, TelemetryTablesCollector.INSERTED, "tt_orders"));
            assertEquals(100.0, delta(before, written, TelemetryTablesCollector.UPDATED, "tt_orders"));
            assertEquals(50.0, delta(before, written, TelemetryTablesCollector.DELETED, "tt_orders"));
            assertEquals(950.0, value(written, TelemetryTablesCollector.LIVE_TUPLES, "public", "tt_orders"));
            assertEquals(150.0, value(written, TelemetryTablesCollector.DEAD_TUPLES, "public", "tt_orders"));
            assertEquals(TelemetryTestDb.number(cluster, DB, "SELECT pg_total_relation_size('tt_orders')"),
                    value(written, TelemetryTablesCollector.SIZE, "public", "tt_orders"));

            s.execute("VACUUM tt_orders");
            s.execute("ANALYZE tt_orders");
            TelemetryTestDb.flushStats(batch);
            MetricSink vacuumed = collect(monitor, collector);
            assertEquals(1.0, delta(written, vacuumed, TelemetryTablesCollector.VACUUMS, "tt_orders"));
            assertEquals(1.0, delta(written, vacuumed, TelemetryTablesCollector.ANALYZES, "tt_orders"));
            assertEquals(0.0, delta(written, vacuumed, TelemetryTablesCollector.AUTOVACUUMS, "tt_orders"));
            assertEquals(0.0, value(vacuumed, TelemetryTablesCollector.DEAD_TUPLES, "public", "tt_orders"));
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void aPartitionedTableIsTheSumOfItsPartitionsAndARenameKeepsTracking(int major) throws Exception {
        PostgresCluster cluster = prepared(major, "tt_events", "tt_events_renamed");
        TelemetryTestDb.exec(cluster, DB,
                "CREATE TABLE tt_events (day int, payload text) PARTITION BY RANGE (day)",
                "CREATE TABLE tt_events_1 PARTITION OF tt_events FOR VALUES FROM (0) TO (10) WITH (autovacuum_enabled = false)",
                "CREATE TABLE tt_events_2 PARTITION OF tt_events FOR VALUES FROM (10) TO (20) "
                        + "PARTITION BY RANGE (day)",   // a sub-partitioned partition: its leaves count, it does not
                "CREATE TABLE tt_events_2a PARTITION OF tt_events_2 FOR VALUES FROM (10) TO (20) WITH (autovacuum_enabled = false)",
                "SELECT telemetry.track_table('tt_events')");
        try (Connection monitor = monitor(cluster); Connection batch = cluster.connect(DB); Statement s = batch.createStatement()) {
            MetricSink before = collect(monitor, collector);
            s.execute("INSERT INTO tt_events SELECT g % 20, 'p' FROM generate_series(1, 300) g");
            TelemetryTestDb.flushStats(batch);
            MetricSink after = collect(monitor, collector);
            assertEquals(300.0, delta(before, after, TelemetryTablesCollector.INSERTED, "tt_events"));
            assertEquals(TelemetryTestDb.number(cluster, DB,
                            "SELECT pg_total_relation_size('tt_events_1') + pg_total_relation_size('tt_events_2a')"),
                    value(after, TelemetryTablesCollector.SIZE, "public", "tt_events"));
            assertNull(value(after, TelemetryTablesCollector.INSERTED, "public", "tt_events_1"), "partitions are not tracked themselves");

            s.execute("ALTER TABLE tt_events RENAME TO tt_events_renamed");
            MetricSink renamed = collect(monitor, collector);
            assertNull(value(renamed, TelemetryTablesCollector.INSERTED, "public", "tt_events"));
            assertEquals(value(after, TelemetryTablesCollector.INSERTED, "public", "tt_events"),
                    value(renamed, TelemetryTablesCollector.INSERTED, "public", "tt_events_renamed"), "tracked by OID");
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void anExclusiveLockLeavesOnlyTheSizeOutAndAManualVacuumIsNotAnAutovacuum(int major) throws Exception {
        PostgresCluster cluster = prepared(major, "tt_locked", "tt_manual");
        TelemetryTestDb.exec(cluster, DB,
                "CREATE TABLE tt_locked (id int)",
                "CREATE TABLE tt_manual (id int) WITH (autovacuum_enabled = false)",
                "INSERT INTO tt_manual SELECT generate_series(1, 5000)",
                "DELETE FROM tt_manual",
                "SELECT telemetry.track_table('tt_locked')",
                "SELECT telemetry.track_table('tt_manual')");
        try (Connection monitor = monitor(cluster); Connection truncating = cluster.connect(DB)) {
            truncating.setAutoCommit(false);
            try (Statement s = truncating.createStatement()) {
                s.execute("TRUNCATE tt_locked"); // holds AccessExclusiveLock until rollback
            }
            MetricSink locked = collect(monitor, collector);
            truncating.rollback();
            assertNull(value(locked, TelemetryTablesCollector.SIZE, "public", "tt_locked"), "size needs a lock: absent");
            assertNotNull(value(locked, TelemetryTablesCollector.INSERTED, "public", "tt_locked"), "statistics need none");
            assertNotNull(value(locked, TelemetryTablesCollector.SIZE, "public", "tt_manual"), "other tables keep their size");

            // the batch's own VACUUM, slowed down so that it is caught in pg_stat_progress_vacuum
            try (Connection vacuuming = cluster.connect(DB)) {
                try (Statement s = vacuuming.createStatement()) {
                    s.execute("SET vacuum_cost_delay = '20ms'");
                    s.execute("SET vacuum_cost_limit = 1");
                }
                try (BackgroundSql vacuum = new BackgroundSql(vacuuming, "VACUUM tt_manual")) {
                    Eventually.await("VACUUM tt_manual in pg_stat_progress_vacuum",
                            () -> TelemetryTestDb.number(cluster, DB, "SELECT count(*) FROM pg_stat_progress_vacuum "
                                    + "WHERE relid = 'tt_manual'::regclass"), n -> n > 0);
                    MetricSink during = collect(monitor, collector);
                    boolean stillRunning = TelemetryTestDb.number(cluster, DB, "SELECT count(*) FROM pg_stat_progress_vacuum "
                            + "WHERE relid = 'tt_manual'::regclass") > 0;
                    assertTrue(stillRunning, "the manual VACUUM was still running after the collection");
                    assertEquals(0.0, value(during, TelemetryTablesCollector.AUTOVACUUM_RUNNING, "public", "tt_manual"),
                            "a VACUUM by the batch itself is not autovacuum interference");
                } // cancelled here: it has served its purpose
            }
        }
    }
}
