package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Two views of one source of truth: over a window, the exporter's counters (scraped over HTTP, as
 * the pg_monitor-only role) move by what {@code telemetry.compare()} reports for the same window, for
 * every quantity both report: WAL records, full-page images, bytes, buffers full, writes, syncs and
 * their times; checkpoints timed, requested and done, their times and buffers; the background
 * writer's clean, maxwritten and alloc; backend writes and fsyncs; temp files and bytes, deadlocks,
 * blocks read and hit, commits and rollbacks; I/O of relations by backend type (and the client
 * backends' normal-context writes); replication slots and their retained WAL. The window's
 * boundaries are two {@code telemetry.snapshot()}s, each between two scrapes (see {@link Boundary});
 * between them the test writes WAL, forces two checkpoints, bulk-writes through a ring, spills a
 * temporary table and a sort, and makes two sessions deadlock.
 *
 * <p>The same exporter also shows the telemetry collectors working end to end: a tracked table and a
 * batch run appear, every collector succeeds, and {@code promtool check metrics} is clean with the
 * telemetry families populated. Where the schema is not installed, they export nothing but
 * {@code pg_telemetry_schema_installed 0}.
 */
class TelemetryCrossCheckTest {

    private static final String DB = "pgbt_tele_crosscheck";
    private static final int ROWS = 30_000;

    private static final String SLOT = "pgbt_cross_check_slot";

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void everyQuantityBothReportAgreesOverTheSameWindow(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        TelemetryTestDb.install(cluster, DB);
        ExporterTestSupport.createMonitoringRole(cluster);
        TelemetryTestDb.exec(cluster, DB,
                // autovacuum off: no autovacuum of these tables may write WAL between a snapshot and its scrape
                "DROP TABLE IF EXISTS cc_orders, cc_bulk, cc_locks",
                "CREATE TABLE cc_orders (id int, note text) WITH (autovacuum_enabled = false)",
                "CREATE TABLE cc_locks (id int PRIMARY KEY) WITH (autovacuum_enabled = false)",
                "INSERT INTO cc_locks VALUES (1), (2)",
                "DELETE FROM telemetry.tracked_tables",
                "SELECT telemetry.track_table('cc_orders')",
                // a slot that keeps WAL: the retained bytes grow with the window's WAL
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + SLOT + "'",
                "SELECT pg_create_physical_replication_slot('" + SLOT + "', true)");

        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, DB, Map.of("sampler.enabled", "false")));
             Connection admin = cluster.connect(DB); Connection batch = cluster.connect(DB)) {
            Boundary start = boundary(exporter, admin);

            long run;
            try (Statement s = batch.createStatement()) {
                run = longValue(s, "SELECT telemetry.batch_start('cross_check')");
                // about 25 MB of WAL: the rows, then the update's full-page images after a checkpoint
                s.execute("INSERT INTO cc_orders SELECT g, repeat('w', 200) FROM generate_series(1, " + ROWS + ") g");
                s.execute("CHECKPOINT");
                s.execute("UPDATE cc_orders SET note = 'v' WHERE id % 10 = 0");
                s.execute("CHECKPOINT");
                // a bulk write through its 16 MB ring: the backend writes (and extends) shared buffers itself
                s.execute("CREATE TABLE cc_bulk WITH (autovacuum_enabled = false) AS "
                        + "SELECT g AS id, repeat('b', 200) AS note FROM generate_series(1, " + 4 * ROWS + ") g");
                s.execute("SELECT count(*) FROM cc_bulk"); // read back through a ring: blocks read
                // a temporary table beyond temp_buffers: local-buffer writes of a temp relation
                s.execute("CREATE TEMP TABLE cc_temp AS SELECT g AS id, repeat('t', 200) AS note FROM generate_series(1, " + 2 * ROWS + ") g");
                s.execute("DROP TABLE cc_temp");
                s.execute("SET work_mem = '64kB'");
                s.execute("SELECT count(*) FROM (SELECT note FROM cc_orders ORDER BY note DESC, id) sorted"); // spills
                s.execute("RESET work_mem");
            }
            deadlock(cluster);
            try (Statement s = batch.createStatement()) {
                s.execute("SELECT telemetry.batch_end(" + run + ")");
            }
            TelemetryTestDb.flushStats(batch);
            Boundary end = boundary(exporter, admin);

            Map<String, Double> compare = compare(admin, start.capturedAt(), end.capturedAt());
            List<String> report = new ArrayList<>();
            for (Quantity q : quantities()) {
                report.add(q.check(major, start, end, compare));
            }
            System.out.println("[telemetry cross-check, PostgreSQL " + major + "]\n  " + String.join("\n  ", report));

            // Nothing else in the cluster requests checkpoints, spills to temp files or deadlocks: the
            // exporter's own two scrapes (after each snapshot) see exactly what compare() says.
            for (String[] exact : new String[][] {{"pg_stat_bgwriter_checkpoints_req_total", "ckpt_requested_delta"},
                    {"pg_stat_database_temp_files_total", "temp_files_delta"},
                    {"pg_stat_database_temp_bytes_total", "temp_bytes_delta"},
                    {"pg_stat_database_deadlocks_total", "deadlocks_delta"}}) {
                assertEquals(compare.get(exact[1]), value(end.after(), exact[0]) - value(start.after(), exact[0]), exact[0]);
            }

            // the telemetry collectors, through HTTP as the monitoring role
            Exposition last = end.after();
            for (String collector : CollectorCatalog.names()) {
                assertEquals(1.0, last.value("pg_scrape_collector_success", "collector", collector), collector + "\n" + last.text());
            }
            assertEquals(1.0, last.value("pg_telemetry_schema_installed"));
            assertEquals(0.0, last.value("pg_telemetry_batch_running", "batch", "cross_check"));
            assertEquals(1.0, last.value("pg_telemetry_batch_runs_total", "batch", "cross_check") -
                    orZero(start.after().value("pg_telemetry_batch_runs_total", "batch", "cross_check")));
            assertEquals((double) ROWS, last.value("pg_telemetry_tracked_table_inserted_tuples_total", "schemaname", "public", "relname", "cc_orders")
                    - start.after().value("pg_telemetry_tracked_table_inserted_tuples_total", "schemaname", "public", "relname", "cc_orders"));
            String promtool = ExporterTestSupport.promtoolCheck(last.text());
            assertEquals("", promtool, "promtool check metrics with the telemetry families populated");
        } finally {
            TelemetryTestDb.exec(cluster, DB, "SELECT pg_drop_replication_slot('" + SLOT + "')", "DROP TABLE IF EXISTS cc_bulk");
        }
    }

    /**
     * Replication lag needs a replica: a streaming standby whose replay is paused, so that its
     * replay position stays put while the primary writes WAL, and the lag only grows. compare()'s
     * lag of the window's end lies between what the two scrapes around the end snapshot read.
     */
    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void replayLagAgreesOnAStandbyWhoseReplayIsPaused(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        TelemetryTestDb.install(cluster, DB);
        ExporterTestSupport.createMonitoringRole(cluster);
        TelemetryTestDb.exec(cluster, DB, "CREATE TABLE IF NOT EXISTS cc_replicated (note text)");
        try (PostgresCluster standby = cluster.createStreamingReplica("cross_check_standby");
             Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, DB, Map.of("sampler.enabled", "false")));
             Connection admin = cluster.connect(DB); Connection onStandby = standby.connect();
             Statement primary = admin.createStatement(); Statement replica = onStandby.createStatement()) {
            awaitTrue(primary, "SELECT count(*) > 0 FROM pg_stat_replication WHERE state = 'streaming'");
            replica.execute("SELECT pg_wal_replay_pause()");
            try {
                // the primary knows where replay stopped once the standby reported it: from then on it stays put
                awaitTrue(replica, "SELECT pg_get_wal_replay_pause_state() = 'paused'");
                String paused = text(replica, "SELECT pg_last_wal_replay_lsn()::text");
                awaitTrue(primary, "SELECT bool_and(replay_lsn = '" + paused + "') FROM pg_stat_replication");
                Boundary start = boundary(exporter, admin);
                primary.execute("INSERT INTO cc_replicated SELECT repeat('r', 200) FROM generate_series(1, 5000)");
                Boundary end = boundary(exporter, admin);

                Map<String, Double> compare = compare(admin, start.capturedAt(), end.capturedAt());
                Double telemetry = compare.get("max_replay_lag_bytes");
                double low = max(end.before(), "pg_stat_replication_replay_lag_bytes");
                double high = max(end.after(), "pg_stat_replication_replay_lag_bytes");
                String line = "max_replay_lag_bytes: compare() " + telemetry + ", exporter [" + low + ", " + high + "]";
                System.out.println("[telemetry cross-check, PostgreSQL " + major + "] " + line);
                assertTrue(telemetry != null && telemetry > 1e6, "the standby lags by the WAL written: " + line);
                assertTrue(low <= telemetry && telemetry <= high, line);
            } finally {
                replica.execute("SELECT pg_wal_replay_resume()");
            }
        } finally {
            TelemetryTestDb.exec(cluster, DB, "DROP TABLE IF EXISTS cc_replicated");
        }
    }

    private static void awaitTrue(Statement statement, String sql) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!"t".equals(text(statement, sql))) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not true within 30 s: " + sql);
            }
            Thread.sleep(50);
        }
    }

    private static String text(Statement statement, String sql) throws SQLException {
        try (ResultSet rs = statement.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    /**
     * One boundary of the window: a scrape, the snapshot, a scrape. Every quantity only grows (the
     * counters, and the slot's retained WAL while nothing consumes it), so what the snapshot read lies
     * between what the two scrapes read: the window read both ways agrees when compare()'s delta lies
     * between the exporter's narrowest delta (first scrape of the end minus last of the start) and its
     * widest (last of the end minus first of the start). The bracket is the work done between the two
     * scrapes of a boundary (the snapshot's own rows and commit, whatever the server did meanwhile):
     * counting noise, small against the window's workload.
     */
    private record Boundary(Exposition before, Timestamp capturedAt, Exposition after) {}

    private static Boundary boundary(Exporter exporter, Connection admin) throws Exception {
        Exposition before = ExporterTestSupport.scrape(exporter.port());
        Timestamp capturedAt = snapshot(admin);
        return new Boundary(before, capturedAt, ExporterTestSupport.scrape(exporter.port()));
    }

    /**
     * A quantity both sides report: compare()'s column, and the same quantity from an exposition
     * (null where the exporter has no series). {@code counter}: a delta over the window; otherwise a
     * value at the window's end. {@code moves}: the workload must move it, so the check can fail.
     */
    private record Quantity(String column, Function<Exposition, Double> exporter, boolean counter, boolean moves, int fromMajor) {

        String check(int major, Boundary start, Boundary end, Map<String, Double> compare) {
            Double telemetry = compare.get(column);
            if (major < fromMajor) {
                assertNull(telemetry, column + " on PostgreSQL " + major);
            }
            if (telemetry == null) { // not on this version, or NULL in the view (bgwriter never reads): absent on both
                assertTrue(major < fromMajor || !moves, column + " is NULL in compare() on PostgreSQL " + major);
                assertNull(exporter.apply(end.after()), column + " has no series on PostgreSQL " + major);
                return column + ": absent on both";
            }
            double low = counter ? exporter.apply(end.before()) - exporter.apply(start.after()) : exporter.apply(end.before());
            double high = counter ? exporter.apply(end.after()) - exporter.apply(start.before()) : exporter.apply(end.after());
            String line = column + ": compare() " + telemetry + ", exporter [" + low + ", " + high + "]";
            double slack = 1e-9 * Math.max(1, Math.abs(high)); // decimal text of a double
            assertTrue(low - slack <= telemetry && telemetry <= high + slack, line);
            if (moves) {
                assertTrue(telemetry > 0, "the workload moved " + line);
            }
            return line;
        }
    }

    private static List<Quantity> quantities() {
        List<Quantity> q = new ArrayList<>(List.of(
                counter("wal_records_delta", "pg_stat_wal_records_total", true),
                counter("wal_fpi_delta", "pg_stat_wal_fpi_total", true),
                counter("wal_bytes_delta", "pg_stat_wal_bytes_total", true),
                counter("wal_buffers_full_delta", "pg_stat_wal_buffers_full_total", false),
                counter("wal_write_delta", "pg_stat_wal_write_total", true),
                counter("wal_sync_delta", "pg_stat_wal_sync_total", true),
                millis("wal_write_time_ms", "pg_stat_wal_write_time_seconds_total", true),
                millis("wal_sync_time_ms", "pg_stat_wal_sync_time_seconds_total", true),
                counter("ckpt_timed_delta", "pg_stat_bgwriter_checkpoints_timed_total", false),
                counter("ckpt_requested_delta", "pg_stat_bgwriter_checkpoints_req_total", true),
                new Quantity("ckpt_done_delta", e -> value(e, "pg_stat_checkpointer_num_done_total"), true, true, 18),
                millis("ckpt_write_time_ms", "pg_stat_bgwriter_checkpoint_write_time_seconds_total", false),
                millis("ckpt_sync_time_ms", "pg_stat_bgwriter_checkpoint_sync_time_seconds_total", false),
                counter("ckpt_buffers_delta", "pg_stat_bgwriter_buffers_checkpoint_total", true),
                counter("bgw_buffers_clean_delta", "pg_stat_bgwriter_buffers_clean_total", false),
                counter("bgw_maxwritten_clean_delta", "pg_stat_bgwriter_maxwritten_clean_total", false),
                counter("bgw_buffers_alloc_delta", "pg_stat_bgwriter_buffers_alloc_total", true),
                counter("bgw_buffers_backend_delta", "pg_stat_bgwriter_buffers_backend_total", true),
                counter("bgw_buffers_backend_fsync_delta", "pg_stat_bgwriter_buffers_backend_fsync_total", false),
                counter("temp_files_delta", "pg_stat_database_temp_files_total", true),
                counter("temp_bytes_delta", "pg_stat_database_temp_bytes_total", true),
                counter("deadlocks_delta", "pg_stat_database_deadlocks_total", true),
                counter("blks_read_delta", "pg_stat_database_blks_read_total", true),
                counter("blks_hit_delta", "pg_stat_database_blks_hit_total", true),
                counter("xact_commit_delta", "pg_stat_database_xact_commit_total", true),
                counter("xact_rollback_delta", "pg_stat_database_xact_rollback_total", true),
                new Quantity("slot_count", e -> (double) e.count("pg_replication_slot_retained_wal_bytes"), false, true, 15),
                new Quantity("slot_max_retained_bytes", e -> max(e, "pg_replication_slot_retained_wal_bytes"), false, true, 15)));
        // I/O of relations (shared and temporary buffers, every context) by backend type, as compare() sums it
        Map<String, String> backendTypes = Map.of("checkpointer", "checkpointer", "autovacuum", "autovacuum worker",
                "client", "client backend", "bgwriter", "background writer");
        Map<String, String> columns = Map.of("reads", "pg_stat_io_reads_total", "writes", "pg_stat_io_writes_total",
                "extends", "pg_stat_io_extends_total", "fsyncs", "pg_stat_io_fsyncs_total",
                "read_time", "pg_stat_io_read_time_seconds_total", "write_time", "pg_stat_io_write_time_seconds_total");
        backendTypes.forEach((shortName, backendType) -> columns.forEach((column, metric) -> {
            boolean seconds = column.endsWith("_time");
            boolean moves = shortName.equals("client") && List.of("reads", "writes", "extends").contains(column);
            q.add(new Quantity("io_" + shortName + "_" + column,
                    e -> scaled(ioSum(e, metric, backendType, null), seconds ? 1000 : 1), true, moves, 16));
        }));
        q.add(new Quantity("io_client_normal_writes", e -> ioSum(e, "pg_stat_io_writes_total", "client backend", "normal"), true, true, 16));
        return q;
    }

    private static Quantity counter(String column, String metric, boolean moves) {
        return new Quantity(column, e -> value(e, metric), true, moves, 15);
    }

    private static Quantity millis(String column, String metric, boolean moves) {
        return new Quantity(column, e -> scaled(value(e, metric), 1000), true, moves, 15);
    }

    /** A metric without labels, or the sum of its series (per database); null when it has none. */
    private static Double value(Exposition e, String metric) {
        Double unlabelled = e.value(metric);
        if (unlabelled != null) {
            return unlabelled;
        }
        return e.count(metric) == 0 ? null : sum(e, metric);
    }

    private static Double scaled(Double value, double factor) {
        return value == null ? null : value * factor;
    }

    private static Double max(Exposition e, String metric) {
        return e.series().entrySet().stream().filter(s -> s.getKey().startsWith(metric + "{"))
                .map(Map.Entry::getValue).max(Double::compare).orElse(null);
    }

    /** pg_stat_io series of relations and temp relations of one backend type (and context, if given); null without any. */
    private static Double ioSum(Exposition e, String metric, String backendType, String context) {
        List<Double> values = e.series().entrySet().stream()
                .filter(s -> s.getKey().startsWith(metric + "{"))
                .filter(s -> s.getKey().contains("backend_type=\"" + backendType + "\""))
                .filter(s -> s.getKey().contains("object=\"relation\"") || s.getKey().contains("object=\"temp relation\""))
                .filter(s -> context == null || s.getKey().contains("context=\"" + context + "\""))
                .map(Map.Entry::getValue).toList();
        return values.isEmpty() ? null : values.stream().mapToDouble(Double::doubleValue).sum();
    }

    /** Two sessions each hold a row lock the other one wants: one of them is cancelled as a deadlock. */
    private static void deadlock(PostgresCluster cluster) throws Exception {
        try (Connection one = cluster.connect(DB); Connection two = cluster.connect(DB);
             Statement s1 = one.createStatement(); Statement s2 = two.createStatement()) {
            one.setAutoCommit(false);
            two.setAutoCommit(false);
            s1.execute("SET deadlock_timeout = '100ms'");
            s2.execute("SET deadlock_timeout = '100ms'");
            s1.execute("SELECT 1 FROM cc_locks WHERE id = 1 FOR UPDATE");
            s2.execute("SELECT 1 FROM cc_locks WHERE id = 2 FOR UPDATE");
            CompletableFuture<Void> first = CompletableFuture.runAsync(() -> {
                try {
                    s1.execute("SELECT 1 FROM cc_locks WHERE id = 2 FOR UPDATE");
                } catch (SQLException e) {
                    if (!"40P01".equals(e.getSQLState())) {
                        throw new IllegalStateException(e);
                    }
                }
            });
            try {
                Thread.sleep(200); // the first waits for the second's lock
                s2.execute("SELECT 1 FROM cc_locks WHERE id = 1 FOR UPDATE");
            } catch (SQLException e) {
                if (!"40P01".equals(e.getSQLState())) {
                    throw e;
                }
            }
            two.rollback();
            first.get(30, TimeUnit.SECONDS);
            one.rollback();
            TelemetryTestDb.flushStats(one);
            TelemetryTestDb.flushStats(two);
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

    /** Every numeric column of compare() over the window, by name; NULL kept as null. */
    private static Map<String, Double> compare(Connection admin, Timestamp start, Timestamp end) throws SQLException {
        try (var s = admin.prepareStatement("SELECT * FROM telemetry.compare(?, ?)")) {
            s.setTimestamp(1, start);
            s.setTimestamp(2, end);
            try (ResultSet rs = s.executeQuery()) {
                rs.next();
                Map<String, Double> columns = new HashMap<>();
                ResultSetMetaData meta = rs.getMetaData();
                for (int i = 1; i <= meta.getColumnCount(); i++) {
                    Object value = rs.getObject(i);
                    if (value == null || value instanceof Number) {
                        columns.put(meta.getColumnName(i), value == null ? null : ((Number) value).doubleValue());
                    }
                }
                return columns;
            }
        }
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
