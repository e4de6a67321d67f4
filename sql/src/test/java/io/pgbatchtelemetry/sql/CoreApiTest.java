package io.pgbatchtelemetry.sql;

import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The seed's API on every configured PostgreSQL version (shared clusters, database tel_core):
 * snapshot()/compare()/table_compare() measure a workload, sample() reads vacuum progress with the
 * PG17 column names, resets never give negative deltas, windows are checked, re-install keeps data.
 * Issue items 1, 2, 3, 8, 9 and the privileges/cleanup items 11, 12.
 */
class CoreApiTest {

    private static final String VERSIONS = "io.pgbatchtelemetry.harness.SharedClusters#versionsArguments";

    private static TelemetryDb db(int major) throws SQLException {
        PostgresCluster pg = SharedClusters.get(major);
        TelemetryDb db = TelemetryDb.of(pg, "tel_core");
        String out = db.install();
        if (major != 15) {
            assertTrue(out.contains("WITHOUT automatic collection") && out.contains("telemetry.sample()"),
                    "install without pg_cron says how to collect by hand:\n" + out);
        }
        return db;
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void snapshotsMeasureWorkOnPlainAndPartitionedTables(int major) throws Exception {
        TelemetryDb db = db(major);
        db.exec("DROP TABLE IF EXISTS core_plain, core_part",
                "CREATE TABLE core_plain (id int PRIMARY KEY, v text)",
                "CREATE TABLE core_part (id int, v text) PARTITION BY RANGE (id)",
                "CREATE TABLE core_part_1 PARTITION OF core_part FOR VALUES FROM (0) TO (1000)",
                "CREATE TABLE core_part_2 PARTITION OF core_part FOR VALUES FROM (1000) TO (3000)",
                "SELECT telemetry.track_table('core_plain'), telemetry.track_table('core_part')");
        long s1 = db.count("SELECT telemetry.snapshot()");
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            s.execute("INSERT INTO core_plain SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g");
            s.execute("INSERT INTO core_part SELECT g, 'y' FROM generate_series(0, 2999) g");
            TelemetryDb.flushStats(c);
        }
        long s2 = db.count("SELECT telemetry.snapshot()");
        String window = "(SELECT captured_at FROM telemetry.snapshots WHERE id = " + s1 + "), "
                + "(SELECT captured_at FROM telemetry.snapshots WHERE id = " + s2 + ")";
        try (Connection c = db.connect(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT * FROM telemetry.compare(" + window + ")")) {
            assertTrue(r.next());
            assertEquals(s1, r.getLong("start_snapshot_id"));
            assertEquals(s2, r.getLong("end_snapshot_id"));
            assertTrue(r.getLong("wal_bytes_delta") > 500_000, "WAL of 8000 rows");
            assertNotNull(r.getString("wal_bytes_pretty"));
            // PG18 has no wal_write in pg_stat_wal: it comes from pg_stat_io (object wal)
            assertNotNull(r.getObject("wal_write_delta"), "wal_write_delta on PG" + major);
            assertNotNull(r.getObject("ckpt_timed_delta"));
            assertNotNull(r.getObject("bgw_buffers_backend_delta"));
            assertFalse(r.getBoolean("stats_reset_in_window"));
            if (major >= 16) {
                assertTrue(r.getLong("io_client_extends") > 0, "pg_stat_io client extends on PG" + major);
            } else {
                assertNull(r.getObject("io_client_writes"), "no pg_stat_io on PG15");
            }
            assertNull(r.getString("snapshot_errors"));
        }
        try (Connection c = db.connect(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT * FROM telemetry.table_compare('core_part', " + window + ")")) {
            assertTrue(r.next());
            assertEquals(3000, r.getLong("n_tup_ins_delta"), "sum over both partitions");
            assertEquals(2, r.getInt("partitions"));
            assertTrue(r.getLong("size_delta") > 0);
            assertTrue(r.getBoolean("size_exact"));
        }
        assertEquals(5000, db.count("SELECT n_tup_ins_delta FROM telemetry.table_compare('public.core_plain', "
                + window + ")"));
        assertTrue(db.count("SELECT count(*) FROM telemetry.table_deltas WHERE relname = 'core_part'") >= 1);
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void sampleReadsVacuumProgressWithThisVersionsColumns(int major) throws Exception {
        TelemetryDb db = db(major);
        db.exec("DROP TABLE IF EXISTS core_vac",
                "CREATE TABLE core_vac (id int, v text) WITH (autovacuum_enabled = false)",
                "INSERT INTO core_vac SELECT g, repeat('v', 50) FROM generate_series(1, 100000) g",
                "DELETE FROM core_vac WHERE id % 2 = 0");
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (Connection vac = db.connect(); Statement vs = vac.createStatement()) {
            // a throttled VACUUM stays in progress long enough to be sampled
            vs.execute("SET vacuum_cost_delay = '100ms'");
            vs.execute("SET vacuum_cost_limit = 1");
            long pid = pidOf(vac);
            CompletableFuture<Void> running = CompletableFuture.runAsync(() -> {
                try {
                    vs.execute("VACUUM core_vac");
                } catch (SQLException cancelled) {
                    // cancelled below on purpose
                }
            }, pool);
            boolean seen = TelemetryDb.await(30, () -> {
                db.value("SELECT telemetry.sample()");
                return db.count("SELECT count(*) FROM telemetry.sample_progress WHERE command = 'VACUUM' AND pid = "
                        + pid + " AND relid = 'core_vac'::regclass") > 0;
            });
            db.exec("SELECT pg_cancel_backend(" + pid + ")");
            running.join();
            assertTrue(seen, "sample() recorded the running VACUUM");
        } finally {
            pool.shutdownNow();
        }
        String column = major >= 17 ? "max_dead_tuple_bytes" : "max_dead_items";
        assertTrue(db.count("SELECT max(" + column + ") FROM telemetry.sample_progress WHERE command = 'VACUUM'") > 0,
                column + " filled on PG" + major);
        assertTrue(db.count("SELECT count(*) FROM telemetry.recent_progress WHERE command = 'VACUUM'") > 0);
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void countersResetInsideTheWindowAreReportedAndNeverNegative(int major) throws Exception {
        TelemetryDb db = db(major);
        db.exec("DROP TABLE IF EXISTS core_reset", "CREATE TABLE core_reset (v text)");
        long s1 = db.count("SELECT telemetry.snapshot()");
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            s.execute("INSERT INTO core_reset SELECT repeat('r', 200) FROM generate_series(1, 20000)");
            s.execute("SELECT pg_stat_reset_shared('wal')");
            s.execute("SELECT pg_stat_reset_shared('bgwriter')");
            if (major >= 16) {
                s.execute("SELECT pg_stat_reset_shared('io')");
            }
            if (major >= 17) {
                s.execute("SELECT pg_stat_reset_shared('checkpointer')");
            }
            s.execute("INSERT INTO core_reset VALUES ('after reset')");
            TelemetryDb.flushStats(c);
        }
        long s2 = db.count("SELECT telemetry.snapshot()");
        String pair = "FROM telemetry._pair_deltas c WHERE start_snapshot_id = " + s1 + " AND end_snapshot_id = " + s2;
        assertEquals("t", db.value("SELECT stats_reset_in_window " + pair));
        String groups = db.value("SELECT array_to_string(reset_groups, ',') " + pair);
        assertTrue(groups.contains("wal") && groups.contains("bgwriter"), groups);
        assertEquals(0, db.count("SELECT count(*) " + pair.replace("FROM telemetry._pair_deltas c",
                "FROM telemetry._pair_deltas c, jsonb_each(to_jsonb(c)) e")
                + " AND jsonb_typeof(e.value) = 'number' AND e.value::text::numeric < 0"), "no negative delta");
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.deltas c, jsonb_each(to_jsonb(c)) e "
                + "WHERE jsonb_typeof(e.value) = 'number' AND e.value::text::numeric < 0"), "deltas view never negative");
        String note = db.value("SELECT coverage_note FROM telemetry.compare((SELECT captured_at FROM telemetry.snapshots "
                + "WHERE id = " + s1 + "), (SELECT captured_at FROM telemetry.snapshots WHERE id = " + s2 + "))");
        assertTrue(note != null && note.contains("reset inside the window"), String.valueOf(note));
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void windowsAreCheckedAndNeverSilentlyEmpty(int major) throws Exception {
        TelemetryDb db = db(major);
        db.value("SELECT telemetry.snapshot()");
        db.value("SELECT telemetry.sample()");
        assertError(db, "SELECT * FROM telemetry.compare(now(), now() - interval '1 hour')", "must be before");
        assertError(db, "SELECT * FROM telemetry.compare('2001-01-01', '2001-01-02')", "outside retention");
        assertError(db, "SELECT * FROM telemetry.wait_summary('2001-01-01', '2001-01-02')", "outside retention");
        assertError(db, "SELECT * FROM telemetry.locks_between('2001-01-01', '2001-01-02')", "outside retention");
        assertError(db, "SELECT * FROM telemetry.waits_between(now(), now())", "must be before");
        assertError(db, "SELECT * FROM telemetry.table_compare('no_such_table', now() - interval '1 hour', now())",
                "not tracked");
        // right after the batch: the window reaches past the newest snapshot, so a fresh one is taken
        long before = db.count("SELECT count(*) FROM telemetry.snapshots");
        String note = db.value("SELECT coverage_note FROM telemetry.compare(now() - interval '1 minute', clock_timestamp())");
        assertTrue(note != null && note.contains("took a fresh snapshot"), String.valueOf(note));
        assertEquals(before + 1, db.count("SELECT count(*) FROM telemetry.snapshots"));
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void reinstallKeepsDataAndSettings(int major) throws Exception {
        TelemetryDb db = db(major);
        db.exec("DROP TABLE IF EXISTS core_keep", "CREATE TABLE core_keep (id int)",
                "SELECT telemetry.track_table('core_keep')",
                "SELECT telemetry.snapshot()", "SELECT telemetry.sample()",
                "UPDATE telemetry.config SET value = '77' WHERE key = 'query_preview_chars'");
        long snapshots = db.count("SELECT count(*) FROM telemetry.snapshots");
        long samples = db.count("SELECT count(*) FROM telemetry.samples");
        long tableRows = db.count("SELECT count(*) FROM telemetry.snapshot_tables");
        db.install();
        assertEquals(snapshots, db.count("SELECT count(*) FROM telemetry.snapshots"));
        assertEquals(samples, db.count("SELECT count(*) FROM telemetry.samples"));
        assertEquals(tableRows, db.count("SELECT count(*) FROM telemetry.snapshot_tables"));
        assertEquals("77", db.value("SELECT value FROM telemetry.config WHERE key = 'query_preview_chars'"));
        assertEquals(1, db.count("SELECT count(*) FROM telemetry.list_tracked_tables() WHERE relname = 'core_keep'"));
        db.exec("UPDATE telemetry.config SET value = '200' WHERE key = 'query_preview_chars'");
        assertNotNull(db.value("SELECT telemetry.snapshot()"));
        assertNotNull(db.value("SELECT wal_bytes_delta FROM telemetry.compare(now() - interval '1 day', now())"));
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void trackingSurvivesRenameAndIndexesServeTimeRanges(int major) throws Exception {
        TelemetryDb db = db(major);
        db.exec("DROP TABLE IF EXISTS core_before, core_after", "CREATE TABLE core_before (id int)",
                "SELECT telemetry.track_table('core_before')");
        long s1 = db.count("SELECT telemetry.snapshot()");
        db.exec("ALTER TABLE core_before RENAME TO core_after", "INSERT INTO core_after SELECT generate_series(1, 10)");
        try (Connection c = db.connect()) {
            TelemetryDb.flushStats(c);
        }
        db.exec("SELECT pg_sleep(0.01)");
        long s2 = db.count("SELECT telemetry.snapshot()");
        assertEquals(1, db.count("SELECT count(*) FROM telemetry.list_tracked_tables() WHERE relname = 'core_after'"));
        assertEquals("core_after", db.value("SELECT relname FROM telemetry.snapshot_tables WHERE snapshot_id = " + s2
                + " AND relid = 'core_after'::regclass"));
        assertEquals(10, db.count("SELECT n_tup_ins_delta FROM telemetry.table_compare('core_after', "
                + "(SELECT captured_at FROM telemetry.snapshots WHERE id = " + s1 + "), "
                + "(SELECT captured_at FROM telemetry.snapshots WHERE id = " + s2 + "))"));
        for (String index : new String[] {"snapshots_captured_at_idx", "samples_captured_at_idx",
                "sample_waits_sample_idx", "sample_locks_sample_idx", "snapshot_tables_relid_idx"}) {
            assertEquals(1, db.count("SELECT count(*) FROM pg_indexes WHERE schemaname = 'telemetry' AND indexname = '"
                    + index + "'"), index);
        }
        db.exec("SELECT telemetry.untrack_table('core_after')");
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.tracked_tables WHERE relname IN ('core_before', 'core_after')"));
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void cleanupDeletesInBatchesAndKeepsRecentData(int major) throws Exception {
        TelemetryDb db = db(major);
        db.exec("SELECT telemetry.sample()", "SELECT telemetry.snapshot()");
        long recentSamples = db.count("SELECT count(*) FROM telemetry.samples WHERE captured_at > now() - interval '7 days'");
        db.exec("UPDATE telemetry.config SET value = '1000' WHERE key = 'cleanup_batch_rows'",
                "INSERT INTO telemetry.samples (captured_at, active_sessions) "
                        + "SELECT now() - interval '8 days' - g * interval '30 seconds', 1 FROM generate_series(1, 2500) g",
                "INSERT INTO telemetry.sample_waits SELECT id, 'client backend', 'CPU', 'CPU', 1 FROM telemetry.samples "
                        + "WHERE captured_at < now() - interval '8 days'",
                "INSERT INTO telemetry.snapshots (captured_at) SELECT now() - interval '9 days' - g * interval '5 minutes' "
                        + "FROM generate_series(1, 300) g");
        long oldSamples = db.count("SELECT count(*) FROM telemetry.samples WHERE captured_at < now() - interval '7 days'");
        long oldSnapshots = db.count("SELECT count(*) FROM telemetry.snapshots WHERE captured_at < now() - interval '7 days'");
        try (Connection c = db.connect(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT table_name, rows_deleted FROM telemetry.cleanup('7 days')")) {
            java.util.Map<String, Long> deleted = new java.util.HashMap<>();
            while (r.next()) {
                deleted.put(r.getString(1), r.getLong(2));
            }
            assertEquals(oldSamples, deleted.get("samples"));
            assertEquals(2500L, deleted.get("sample_waits"));
            assertEquals(oldSnapshots, deleted.get("snapshots"));
        }
        db.exec("UPDATE telemetry.config SET value = '5000' WHERE key = 'cleanup_batch_rows'");
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.samples WHERE captured_at < now() - interval '7 days'"));
        assertEquals(recentSamples, db.count("SELECT count(*) FROM telemetry.samples"));
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void cleanupInBatchesCommitsEveryBatch(int major) throws Exception {
        TelemetryDb db = db(major);
        db.exec("SELECT telemetry.sample()", "SELECT telemetry.snapshot()");
        String oldSamples = "SELECT count(*) FROM telemetry.samples WHERE captured_at < now() - interval '7 days'";
        String oldSnapshots = "SELECT count(*) FROM telemetry.snapshots WHERE captured_at < now() - interval '7 days'";
        long recentSamples = db.count("SELECT count(*) FROM telemetry.samples") - db.count(oldSamples);
        long recentSnapshots = db.count("SELECT count(*) FROM telemetry.snapshots") - db.count(oldSnapshots);
        db.exec("INSERT INTO telemetry.samples (captured_at, active_sessions) "
                        + "SELECT now() - interval '8 days' - g * interval '30 seconds', 1 FROM generate_series(1, 2500) g",
                "INSERT INTO telemetry.sample_waits SELECT id, 'client backend', 'CPU', 'CPU', 1 FROM telemetry.samples "
                        + "WHERE captured_at < now() - interval '8 days'",
                "INSERT INTO telemetry.snapshots (captured_at) SELECT now() - interval '9 days' - g * interval '5 minutes' "
                        + "FROM generate_series(1, 1500) g",
                "INSERT INTO telemetry.snapshot_tables (snapshot_id, relid) SELECT id, 1 FROM telemetry.snapshots "
                        + "WHERE captured_at < now() - interval '9 days'");
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (Connection blocker = db.connect(); Connection cleaner = db.connect()) {
            // the snapshot batches come after the sample batches and wait for this lock
            blocker.setAutoCommit(false);
            blocker.createStatement().execute("LOCK TABLE telemetry.snapshot_tables IN SHARE MODE");
            long cleanerPid = pidOf(cleaner);
            CompletableFuture<String> call = CompletableFuture.supplyAsync(() -> {
                try (Statement s = cleaner.createStatement()) {
                    s.execute("CALL telemetry.cleanup_in_batches('7 days', 1000)");
                    SQLWarning notice = s.getWarnings();
                    return notice == null ? "(no notice)" : notice.getMessage();
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            }, pool);
            assertTrue(TelemetryDb.await(30, () -> db.count("SELECT count(*) FROM pg_stat_activity WHERE pid = " + cleanerPid
                    + " AND wait_event_type = 'Lock'") == 1), "the procedure reached the snapshot batches");
            // seen from another session while the procedure still runs: its sample batches are committed
            assertEquals(0, db.count(oldSamples));
            assertEquals(0, db.count("SELECT count(*) FROM telemetry.sample_waits w WHERE NOT EXISTS "
                    + "(SELECT 1 FROM telemetry.samples s WHERE s.id = w.sample_id)"), "with their child rows");
            assertEquals(1500, db.count(oldSnapshots));
            assertFalse(call.isDone());
            blocker.rollback();
            String notice = call.join();
            // samples 1000 + 1000 + 500, snapshots 1000 + 500: a commit after each
            assertTrue(notice.contains("5 batches of up to 1000 rows committed"), notice);
        } finally {
            pool.shutdownNow();
        }
        assertEquals(0, db.count(oldSnapshots));
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.snapshot_tables WHERE relid = 1"));
        assertEquals(recentSamples, db.count("SELECT count(*) FROM telemetry.samples"), "newer samples kept");
        assertEquals(recentSnapshots, db.count("SELECT count(*) FROM telemetry.snapshots"), "newer snapshots kept");

        // it commits, so it refuses to run inside a transaction block
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            SQLException e = assertThrows(SQLException.class, () -> s.execute("CALL telemetry.cleanup_in_batches()"));
            assertTrue(e.getMessage().contains("invalid transaction termination"), e.getMessage());
            c.rollback();
        }
    }

    static void assertError(TelemetryDb db, String sql, String expected) {
        SQLException e = assertThrows(SQLException.class, () -> db.value(sql), sql);
        assertTrue(e.getMessage().contains(expected), sql + " -> " + e.getMessage());
    }

    static long pidOf(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT pg_backend_pid()")) {
            r.next();
            return r.getLong(1);
        }
    }
}
