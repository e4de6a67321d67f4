package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Two views of one source of truth: over a window, the exporter's counters (scraped over HTTP, as
 * the pg_monitor-only role) move by what {@code telemetry.compare()} reports for the same window —
 * WAL bytes, checkpoints, temp files and temp bytes. The window's boundaries are two
 * {@code telemetry.snapshot()}s, each followed at once by a scrape; between them the test writes WAL,
 * forces two checkpoints and spills a sort to disk.
 *
 * <p>The same exporter also shows the telemetry collectors working end to end: a tracked table and a
 * batch run appear, every collector succeeds, and {@code promtool check metrics} is clean with the
 * telemetry families populated. Where the schema is not installed, they export nothing but
 * {@code pg_telemetry_schema_installed 0}.
 */
class TelemetryCrossCheckTest {

    private static final String DB = "pgbt_tele_crosscheck";
    private static final int ROWS = 30_000;

    /** What a counter read at two boundaries says, as the exporter and as compare() see it. */
    private record Delta(String what, double exporter, double telemetry) {}

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void exporterCountersAgreeWithTelemetryCompareOverTheSameWindow(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        TelemetryTestDb.install(cluster, DB);
        ExporterTestSupport.createMonitoringRole(cluster);
        TelemetryTestDb.exec(cluster, DB,
                // autovacuum off: no autovacuum of this table may write WAL between a snapshot and its scrape
                "DROP TABLE IF EXISTS cc_orders",
                "CREATE TABLE cc_orders (id int, note text) WITH (autovacuum_enabled = false)",
                "DELETE FROM telemetry.tracked_tables",
                "SELECT telemetry.track_table('cc_orders')");

        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, DB, Map.of("sampler.enabled", "false")));
             Connection admin = cluster.connect(DB); Connection batch = cluster.connect(DB)) {
            Timestamp windowStart = snapshot(admin);
            Exposition start = ExporterTestSupport.scrape(exporter.port());

            long run;
            try (Statement s = batch.createStatement()) {
                run = longValue(s, "SELECT telemetry.batch_start('cross_check')");
                // about 25 MB of WAL: the rows, then the update's full-page images after a checkpoint
                s.execute("INSERT INTO cc_orders SELECT g, repeat('w', 200) FROM generate_series(1, " + ROWS + ") g");
                s.execute("CHECKPOINT");
                s.execute("UPDATE cc_orders SET note = 'v' WHERE id % 10 = 0");
                s.execute("CHECKPOINT");
                s.execute("SET work_mem = '64kB'");
                s.execute("SELECT count(*) FROM (SELECT note FROM cc_orders ORDER BY note DESC, id) sorted"); // spills
                s.execute("RESET work_mem");
                s.execute("SELECT telemetry.batch_end(" + run + ")");
            }
            TelemetryTestDb.flushStats(batch);
            Timestamp windowEnd = snapshot(admin);
            Exposition end = ExporterTestSupport.scrape(exporter.port());

            Map<String, Double> compare = compare(admin, windowStart, windowEnd);
            Delta wal = new Delta("WAL bytes", end.value("pg_stat_wal_bytes_total") - start.value("pg_stat_wal_bytes_total"),
                    compare.get("wal_bytes_delta"));
            Delta requested = new Delta("requested checkpoints", counterDelta(start, end, "pg_stat_bgwriter_checkpoints_req_total"),
                    compare.get("ckpt_requested_delta"));
            Delta checkpoints = new Delta("checkpoints",
                    requested.exporter() + counterDelta(start, end, "pg_stat_bgwriter_checkpoints_timed_total"),
                    compare.get("ckpt_requested_delta") + compare.get("ckpt_timed_delta"));
            Delta tempFiles = new Delta("temp files", sumDelta(start, end, "pg_stat_database_temp_files_total"), compare.get("temp_files_delta"));
            Delta tempBytes = new Delta("temp bytes", sumDelta(start, end, "pg_stat_database_temp_bytes_total"), compare.get("temp_bytes_delta"));
            String report = String.join("\n", wal.toString(), requested.toString(), checkpoints.toString(), tempFiles.toString(),
                    tempBytes.toString(), "compare(): " + compare);
            System.out.println("[telemetry cross-check, PostgreSQL " + major + "] " + report.replace("\n", " | "));

            // The workload happened: both views saw it.
            assertTrue(wal.telemetry() > 8e6 && wal.exporter() > 8e6, report);
            assertTrue(requested.telemetry() >= 2, report);
            assertTrue(tempFiles.telemetry() >= 1 && tempBytes.telemetry() > 1e6, report);
            // The boundaries differ by the time from a snapshot's read to the scrape after it (tens of
            // milliseconds). WAL written in those gaps counts in one view only: each gap holds the
            // snapshot's own rows (the same size at both ends, so they cancel) and whatever the server
            // writes meanwhile on its own (a checkpoint record, hint bits set by a catalog read right after
            // a checkpoint, each a page image of 8 kB at most). 256 kB is 32 such pages, 2 % of the window.
            assertTrue(Math.abs(wal.exporter() - wal.telemetry()) <= 256 * 1024, "WAL bytes differ by more than 256 kB:\n" + report);
            // Checkpoints requested come only from this test's CHECKPOINTs (the WAL written is far below
            // max_wal_size), all inside both windows: exact. A timed checkpoint (every checkpoint_timeout,
            // 5 min) might start in one of the two gaps: at most one more on one side.
            assertEquals(requested.telemetry(), requested.exporter(), report);
            assertTrue(Math.abs(checkpoints.exporter() - checkpoints.telemetry()) <= 1, report);
            // Temp files are counted when the spilling query ends; nothing else in this JVM's cluster sorts
            // on disk, and neither the snapshots nor the scrapes do: exact.
            assertEquals(tempFiles.telemetry(), tempFiles.exporter(), report);
            assertEquals(tempBytes.telemetry(), tempBytes.exporter(), report);

            // the telemetry collectors, through HTTP as the monitoring role
            for (String collector : CollectorCatalog.names()) {
                assertEquals(1.0, end.value("pg_scrape_collector_success", "collector", collector), collector + "\n" + end.text());
            }
            assertEquals(1.0, end.value("pg_telemetry_schema_installed"));
            assertEquals(0.0, end.value("pg_telemetry_batch_running", "batch", "cross_check"));
            assertEquals(1.0, end.value("pg_telemetry_batch_runs_total", "batch", "cross_check") -
                    orZero(start.value("pg_telemetry_batch_runs_total", "batch", "cross_check")));
            assertEquals((double) ROWS, end.value("pg_telemetry_tracked_table_inserted_tuples_total", "schemaname", "public", "relname", "cc_orders")
                    - start.value("pg_telemetry_tracked_table_inserted_tuples_total", "schemaname", "public", "relname", "cc_orders"));
            String promtool = ExporterTestSupport.promtoolCheck(end.text());
            assertEquals("", promtool, "promtool check metrics with the telemetry families populated");
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void withoutTheSchemaTheTelemetryCollectorsSucceedAndExportOnlyThatItIsMissing(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        ExporterTestSupport.createMonitoringRole(cluster);
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, "postgres", Map.of("sampler.enabled", "false")))) {
            Exposition metrics = ExporterTestSupport.scrape(exporter.port());
            for (String collector : new String[] {"telemetry_batches", "telemetry_runs", "telemetry_tables", "telemetry_health"}) {
                assertEquals(1.0, metrics.value("pg_scrape_collector_success", "collector", collector), collector);
            }
            assertEquals(0.0, metrics.value("pg_telemetry_schema_installed"));
            assertEquals(1L, metrics.series().keySet().stream().filter(k -> k.startsWith("pg_telemetry_")).count(),
                    "only pg_telemetry_schema_installed: " + metrics.series().keySet().stream().filter(k -> k.startsWith("pg_telemetry_")).toList());
        }
    }

    /** Takes a snapshot as the superuser and makes its own statistics visible; returns its captured_at. */
    private static Timestamp snapshot(Connection admin) throws SQLException {
        Timestamp capturedAt;
        try (Statement s = admin.createStatement()) {
            long id = longValue(s, "SELECT telemetry.snapshot()");
            try (ResultSet rs = s.executeQuery("SELECT captured_at FROM telemetry.snapshots WHERE id = " + id)) {
                rs.next();
                capturedAt = rs.getTimestamp(1);
            }
        }
        TelemetryTestDb.flushStats(admin);
        return capturedAt;
    }

    private static Map<String, Double> compare(Connection admin, Timestamp start, Timestamp end) throws SQLException {
        try (var s = admin.prepareStatement("SELECT wal_bytes_delta, ckpt_requested_delta, ckpt_timed_delta, temp_files_delta, "
                + "temp_bytes_delta FROM telemetry.compare(?, ?)")) {
            s.setTimestamp(1, start);
            s.setTimestamp(2, end);
            try (ResultSet rs = s.executeQuery()) {
                rs.next();
                return Map.of("wal_bytes_delta", rs.getDouble(1), "ckpt_requested_delta", rs.getDouble(2),
                        "ckpt_timed_delta", rs.getDouble(3), "temp_files_delta", rs.getDouble(4), "temp_bytes_delta", rs.getDouble(5));
            }
        }
    }

    private static double counterDelta(Exposition start, Exposition end, String name) {
        return end.value(name) - start.value(name);
    }

    /** Over every database, as pg_stat_database's rows are summed by snapshot(). */
    private static double sumDelta(Exposition start, Exposition end, String name) {
        return sum(end, name) - sum(start, name);
    }

    private static double sum(Exposition exposition, String name) {
        return exposition.series().entrySet().stream().filter(e -> e.getKey().startsWith(name + "{"))
                .mapToDouble(Map.Entry::getValue).sum();
    }

    private static double orZero(Double value) {
        return value == null ? 0 : value;
    }

    private static long longValue(Statement s, String sql) throws SQLException {
        try (ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
