package io.pgbatchtelemetry.sql;

import io.pgbatchtelemetry.harness.SharedClusters;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What sample() sees of sessions (database tel_sessions on the shared clusters): load without idle
 * waits (item 5), exact blockers and wait start (item 6), window twins of recent_* (item 7),
 * lock-bounded snapshot() (item 4), privileges, pinned search_path and query previews (item 12).
 */
class SessionsTest {

    private static final String VERSIONS = "io.pgbatchtelemetry.harness.SharedClusters#versionsArguments";

    private static TelemetryDb db(int major) throws SQLException {
        return TelemetryDb.installed(SharedClusters.get(major), "tel_sessions");
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void waitSummaryCountsLoadNotIdleProcesses(int major) throws Exception {
        TelemetryDb db = db(major);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        String start = db.value("SELECT clock_timestamp()");
        try (Connection idle = db.connect(); Connection busy = db.connect()) {
            idle.createStatement().execute("SELECT 1");   // stays connected, idle in ClientRead
            long busyPid = CoreApiTest.pidOf(busy);
            CompletableFuture<Void> sleeping = CompletableFuture.runAsync(() -> {
                try (Statement s = busy.createStatement()) {
                    s.execute("SELECT pg_sleep(3)");
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            }, pool);
            assertTrue(TelemetryDb.await(10, () -> db.count("SELECT count(*) FROM pg_stat_activity WHERE pid = " + busyPid
                    + " AND wait_event = 'PgSleep'") == 1));
            assertTrue(db.count("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Activity'") > 0,
                    "idle background processes exist and must be left out");
            db.value("SELECT telemetry.sample()");
            db.value("SELECT telemetry.sample()");
            sleeping.join();
        } finally {
            pool.shutdownNow();
        }
        String window = "'" + start + "', clock_timestamp()";
        try (Connection c = db.connect(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT * FROM telemetry.wait_summary(" + window + ")")) {
            boolean sawSleep = false;
            while (r.next()) {
                String type = r.getString("wait_event_type");
                String event = r.getString("wait_event");
                assertTrue(!"Activity".equals(type) && !"ClientRead".equals(event), "idle wait counted: " + type + ":" + event);
                if ("PgSleep".equals(event)) {
                    sawSleep = true;
                    assertEquals(2, r.getLong("sample_count"));
                    assertEquals(100.0, r.getDouble("pct_of_samples"), 0.01);
                    assertEquals(1, r.getInt("max_waiters"));
                }
            }
            assertTrue(sawSleep, "the sleeping session is load");
        }
        assertEquals(2, db.count("SELECT count(*) FROM telemetry.waits_between(" + window + ") WHERE wait_event = 'PgSleep'"));
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void blockersAreExactAndWaitsTimedFromWaitStart(int major) throws Exception {
        TelemetryDb db = db(major);
        db.exec("DROP TABLE IF EXISTS sess_t", "CREATE TABLE sess_t (id int)", "INSERT INTO sess_t VALUES (1)");
        String start = db.value("SELECT clock_timestamp()");
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (Connection holder = db.connect(); Connection ddl = db.connect(); Connection reader = db.connect()) {
            holder.setAutoCommit(false);
            holder.createStatement().execute("SELECT * FROM sess_t");          // AccessShareLock, transaction open
            long holderPid = CoreApiTest.pidOf(holder);
            long ddlPid = CoreApiTest.pidOf(ddl);
            long readerPid = CoreApiTest.pidOf(reader);
            List<CompletableFuture<Void>> waiting = new ArrayList<>();
            waiting.add(runAsync(pool, ddl, "ALTER TABLE sess_t ADD COLUMN IF NOT EXISTS note text"));   // waits for holder
            assertTrue(TelemetryDb.await(10, () -> waitingOnLock(db, ddlPid)));
            waiting.add(runAsync(pool, reader, "SELECT count(*) FROM sess_t"));   // queued behind ddl, not holder
            assertTrue(TelemetryDb.await(10, () -> waitingOnLock(db, readerPid)));
            Thread.sleep(1100);
            db.value("SELECT telemetry.sample()");
            holder.rollback();
            waiting.forEach(CompletableFuture::join);

            String rows = "FROM telemetry.locks_between('" + start + "', clock_timestamp()) ";
            assertEquals(String.valueOf(holderPid), db.value("SELECT string_agg(blocking_pid::text, ',') " + rows
                    + "WHERE blocked_pid = " + ddlPid), "the DDL waits for the open transaction only");
            assertEquals(String.valueOf(ddlPid), db.value("SELECT string_agg(blocking_pid::text, ',') " + rows
                    + "WHERE blocked_pid = " + readerPid), "the reader queues behind the DDL, not the compatible holder");
            assertEquals("relation|AccessExclusiveLock|public.sess_t", db.value("SELECT lock_type || '|' || lock_mode || '|' || relation "
                    + rows + "WHERE blocked_pid = " + ddlPid));
            assertTrue(db.count("SELECT (extract(epoch FROM blocked_duration) * 1000)::bigint " + rows + "WHERE blocked_pid = " + ddlPid) >= 1000,
                    "measured from pg_locks.waitstart");
            assertNotNull(db.value("SELECT wait_started_at " + rows + "WHERE blocked_pid = " + ddlPid));
            assertEquals("idle in transaction", db.value("SELECT blocking_state " + rows + "WHERE blocked_pid = " + ddlPid));
            assertEquals(2, db.count("SELECT count(*) FROM telemetry.recent_locks WHERE captured_at >= '" + start + "'"));
        } finally {
            pool.shutdownNow();
        }
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void snapshotIsNotHeldUpByAnAccessExclusiveLock(int major) throws Exception {
        TelemetryDb db = db(major);
        db.exec("DROP TABLE IF EXISTS sess_locked, sess_queued, sess_free", "CREATE TABLE sess_locked (id int PRIMARY KEY)",
                "CREATE TABLE sess_queued (id int)", "CREATE TABLE sess_free (id int)", "INSERT INTO sess_free VALUES (1)",
                "SELECT telemetry.track_table('sess_locked'), telemetry.track_table('sess_queued'), telemetry.track_table('sess_free')");
        ExecutorService pool = Executors.newSingleThreadExecutor();
        long id;
        long batchPid;
        long alterPid;
        try (Connection batch = db.connect(); Connection reader = db.connect(); Connection alter = db.connect()) {
            batch.setAutoCommit(false);
            batch.createStatement().execute("TRUNCATE sess_locked");   // AccessExclusiveLock until commit
            batchPid = CoreApiTest.pidOf(batch);
            // an ALTER queued behind a reader: its waiting request would queue our lock request too
            reader.setAutoCommit(false);
            reader.createStatement().execute("SELECT count(*) FROM sess_queued");
            alterPid = CoreApiTest.pidOf(alter);
            CompletableFuture<Void> queued = runAsync(pool, alter, "ALTER TABLE sess_queued ADD COLUMN note text");
            assertTrue(TelemetryDb.await(10, () -> waitingOnLock(db, alterPid)));
            id = snapshotWithSafetyNet(db);
            reader.rollback();
            queued.join();
            batch.rollback();
        } finally {
            pool.shutdownNow();
        }
        String row = "FROM telemetry.snapshot_tables WHERE snapshot_id = " + id + " AND relid = ";
        assertEquals("f", db.value("SELECT size_exact " + row + "'sess_locked'::regclass"));
        assertEquals("size estimated from pg_class.relpages: AccessExclusiveLock held by pid " + batchPid,
                db.value("SELECT error " + row + "'sess_locked'::regclass"), "one note for the table and its index");
        assertEquals("size estimated from pg_class.relpages: AccessExclusiveLock awaited by pid " + alterPid,
                db.value("SELECT error " + row + "'sess_queued'::regclass"));
        assertEquals("t", db.value("SELECT size_exact " + row + "'sess_free'::regclass"));
        assertEquals(db.value("SELECT pg_total_relation_size('sess_free')"), db.value("SELECT total_bytes " + row + "'sess_free'::regclass"));
        assertNull(db.value("SELECT error " + row + "'sess_free'::regclass"));
        assertNotNull(db.value("SELECT wal_bytes FROM telemetry.snapshots WHERE id = " + id), "the rest is kept");

        // A lock that arrives after snapshot() looked at pg_locks (simulated: the check sees nothing)
        // costs one lock_timeout for the set-based statement, then each table is sized on its own.
        db.exec("CREATE OR REPLACE FUNCTION telemetry._exclusively_locked() RETURNS TABLE (relid oid, note text) "
                + "LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS 'SELECT NULL::oid, NULL::text WHERE false'");
        long raced;
        try (Connection batch = db.connect()) {
            batch.setAutoCommit(false);
            batch.createStatement().execute("TRUNCATE sess_locked");
            raced = snapshotWithSafetyNet(db);
            batch.rollback();
        } finally {
            db.install();   // the real _exclusively_locked() again
        }
        assertEquals("size estimated from pg_class.relpages: lock timeout (part_lock_timeout)",
                db.value("SELECT error FROM telemetry.snapshot_tables WHERE snapshot_id = " + raced
                        + " AND relid = 'sess_locked'::regclass"));
        assertEquals(2, db.count("SELECT count(*) FROM telemetry.snapshot_tables WHERE snapshot_id = " + raced + " AND size_exact"),
                "the other tables are sized exactly");
        db.exec("SELECT telemetry.untrack_table('sess_locked')", "SELECT telemetry.untrack_table('sess_queued')",
                "SELECT telemetry.untrack_table('sess_free')");
    }

    private static long snapshotWithSafetyNet(TelemetryDb db) throws SQLException {
        try (Connection collector = db.connect(); Statement s = collector.createStatement()) {
            s.execute("SET statement_timeout = '60s'");   // a safety net for the test only
            try (ResultSet r = s.executeQuery("SELECT telemetry.snapshot()")) {
                r.next();
                return r.getLong(1);
            }
        }
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void privilegesSearchPathAndPreviews(int major) throws Exception {
        TelemetryDb db = db(major);
        db.exec("DO $$ BEGIN "
                + "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tel_nobody') THEN CREATE ROLE tel_nobody LOGIN PASSWORD 'pw1'; END IF; "
                + "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tel_monitor') THEN CREATE ROLE tel_monitor LOGIN PASSWORD 'pw2' IN ROLE pg_monitor; END IF; "
                + "END $$",
                "SELECT telemetry.snapshot()", "SELECT pg_sleep(0.01)", "SELECT telemetry.snapshot()");
        try (Connection c = db.connect("tel_nobody", "pw1"); Statement s = c.createStatement()) {
            SQLException e = assertThrows(SQLException.class, () -> s.executeQuery("SELECT count(*) FROM telemetry.snapshots"));
            assertTrue(e.getMessage().contains("permission denied for schema telemetry"), e.getMessage());
        }
        try (Connection c = db.connect("tel_monitor", "pw2"); Statement s = c.createStatement()) {
            try (ResultSet r = s.executeQuery("SELECT count(*) FROM telemetry.snapshots")) {
                r.next();
                assertTrue(r.getLong(1) >= 2);
            }
            try (ResultSet r = s.executeQuery("SELECT wal_bytes_delta FROM telemetry.compare(now() - interval '1 hour', "
                    + "(SELECT max(captured_at) FROM telemetry.snapshots))")) {
                assertTrue(r.next());
            }
            SQLException e = assertThrows(SQLException.class, () -> s.executeQuery("SELECT telemetry.snapshot()"));
            assertTrue(e.getMessage().contains("permission denied"), e.getMessage());
            e = assertThrows(SQLException.class, () -> s.execute("CALL telemetry.cleanup_in_batches()"));
            assertTrue(e.getMessage().contains("permission denied for procedure cleanup_in_batches"), e.getMessage());
        }
        assertEquals(0, db.count("SELECT count(*) FROM pg_proc WHERE pronamespace = 'telemetry'::regnamespace AND prokind <> 'p' "
                + "AND NOT coalesce(proconfig, '{}') @> ARRAY['search_path=pg_catalog, telemetry, pg_temp'] "
                + "AND NOT coalesce(proconfig, '{}') @> ARRAY['search_path=pg_catalog, pg_temp']"), "every function pins search_path");
        // a procedure that commits may have neither SET nor SECURITY DEFINER: it runs with its caller's rights
        assertEquals("cleanup_in_batches|false|true", db.value("SELECT string_agg(proname || '|' || prosecdef || '|' || (proconfig IS NULL), ',') "
                + "FROM pg_proc WHERE pronamespace = 'telemetry'::regnamespace AND prokind = 'p'"));
        assertEquals("f", db.value("SELECT has_schema_privilege('public', 'telemetry', 'USAGE')"));

        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (Connection busy = db.connect()) {
            long pid = CoreApiTest.pidOf(busy);
            CompletableFuture<Void> f = runAsync(pool, busy, "SELECT pg_sleep(2) /* a long secret comment in the query */");
            assertTrue(TelemetryDb.await(10, () -> db.count("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid
                    + " AND wait_event = 'PgSleep'") == 1));
            db.exec("UPDATE telemetry.config SET value = '0' WHERE key = 'query_preview_chars'");
            long off = db.count("SELECT telemetry.sample()");
            db.exec("UPDATE telemetry.config SET value = '12' WHERE key = 'query_preview_chars'");
            long capped = db.count("SELECT telemetry.sample()");
            db.exec("UPDATE telemetry.config SET value = '200' WHERE key = 'query_preview_chars'");
            f.join();
            assertNull(db.value("SELECT query FROM telemetry.sample_queries WHERE sample_id = " + off + " AND pid = " + pid));
            assertEquals("SELECT pg_sl", db.value("SELECT query FROM telemetry.sample_queries WHERE sample_id = "
                    + capped + " AND pid = " + pid));
        } finally {
            pool.shutdownNow();
        }
    }

    private static boolean waitingOnLock(TelemetryDb db, long pid) throws SQLException {
        return db.count("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid + " AND wait_event_type = 'Lock'") == 1;
    }

    private static CompletableFuture<Void> runAsync(ExecutorService pool, Connection c, String sql) {
        return CompletableFuture.runAsync(() -> {
            try (Statement s = c.createStatement()) {
                s.execute(sql);
            } catch (SQLException e) {
                throw new IllegalStateException(e);
            }
        }, pool);
    }
}
