package io.pgbatchtelemetry.sql;

import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each of the six patterns reproduced on a real server, bracketed by batch_start()/batch_end(), and
 * diagnose(run) ranks it first; a healthy run has no findings. Its own cluster (newest configured
 * version) because the tests reconfigure it: shared_buffers 16MB for buffer pressure, max_wal_size
 * 32MB for checkpoints, a streaming replica with replay paused for replication lag, which is also
 * where snapshot()/compare() are checked on a standby (item 10).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DiagnoseTest {

    private PostgresCluster pg;
    private TelemetryDb db;

    @BeforeAll
    void start() throws SQLException {
        int major = Collections.max(SharedClusters.versions());
        pg = PostgresCluster.builder(major).name("sql-diag").setting("shared_buffers", "16MB")
                .setting("autovacuum_naptime", "1s").build();
        pg.start();
        db = TelemetryDb.installed(pg, "tel_diag");
    }

    @AfterAll
    void stop() {
        if (pg != null) {
            pg.close();
        }
    }

    private List<String> diagnose(long run) throws SQLException {
        List<String> patterns = new ArrayList<>();
        try (Connection c = db.connect(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT rank, pattern, severity, score, evidence FROM telemetry.diagnose(" + run + ")")) {
            while (r.next()) {
                patterns.add(r.getString("pattern"));
                assertEquals(patterns.size(), r.getInt("rank"));
                assertTrue(r.getDouble("score") >= 1, "a finding exceeds its threshold");
                assertTrue(r.getString("evidence") != null && !r.getString("evidence").isBlank());
            }
        }
        return patterns;
    }

    private long begin(String name) throws SQLException {
        // batch_end() comes from another connection: the run is not bound to this one
        return db.count("SELECT telemetry.batch_start('" + name + "', session_bound => false)");
    }

    private void end(long run) throws SQLException {
        db.value("SELECT telemetry.batch_end(" + run + ")");
    }

    private static void run(Connection c, String... sql) throws SQLException {
        try (Statement s = c.createStatement()) {
            for (String q : sql) {
                s.execute(q);
            }
        }
        TelemetryDb.flushStats(c);
    }

    @Test
    @Order(1)
    void healthyRunHasNoFindings() throws Exception {
        long run = begin("healthy");
        try (Connection c = db.connect()) {
            run(c, "CREATE TABLE healthy (id int, v text)", "INSERT INTO healthy SELECT g, 'ok' FROM generate_series(1, 2000) g",
                    "SELECT count(*) FROM healthy");
        }
        end(run);
        assertEquals(List.of(), diagnose(run));
        assertEquals("succeeded", db.value("SELECT state FROM telemetry.batch_runs WHERE run_id = " + run));
    }

    @Test
    @Order(2)
    void lockContention() throws Exception {
        db.exec("CREATE TABLE locked (id int)");
        long run = begin("locks");
        try (Connection holder = db.connect(); Connection waiter = db.connect()) {
            holder.setAutoCommit(false);
            holder.createStatement().execute("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE");
            long waiterPid = CoreApiTest.pidOf(waiter);
            CompletableFuture<Void> blocked = CompletableFuture.runAsync(() -> {
                try (Statement s = waiter.createStatement()) {
                    s.execute("SELECT count(*) FROM locked");
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            assertTrue(TelemetryDb.await(10, () -> db.count("SELECT count(*) FROM pg_stat_activity WHERE pid = " + waiterPid
                    + " AND wait_event_type = 'Lock'") == 1));
            Thread.sleep(2000);
            db.value("SELECT telemetry.sample()");
            holder.rollback();
            blocked.join();
        }
        end(run);
        assertEquals("lock_contention", diagnose(run).get(0));
    }

    @Test
    @Order(3)
    void tempFileSpills() throws Exception {
        long run = begin("temp");
        try (Connection c = db.connect()) {
            run(c, "SET work_mem = '64kB'", "SELECT count(*) FROM (SELECT g FROM generate_series(1, 1500000) g ORDER BY random()) x");
        }
        end(run);
        assertEquals("temp_file_spills", diagnose(run).get(0));
    }

    @Test
    @Order(4)
    void checkpointInterference() throws Exception {
        pg.setSetting("max_wal_size", "32MB");
        try {
            long run = begin("checkpoints");
            long requested = requestedCheckpoints();
            try (Connection c = db.connect()) {
                // 100 MB of WAL that dirties no shared buffers: only checkpoints react to it
                run(c, "SELECT count(pg_logical_emit_message(false, 'pgbt', repeat('x', 1000000))) FROM generate_series(1, 100)");
            }
            assertTrue(TelemetryDb.await(60, () -> requestedCheckpoints() > requested + 1), "WAL beyond max_wal_size forces checkpoints");
            end(run);
            assertEquals("checkpoint_interference", diagnose(run).get(0));
        } finally {
            pg.setSetting("max_wal_size", "1GB");
        }
    }

    private long requestedCheckpoints() throws SQLException {
        return db.count(pg.majorVersion() >= 17 ? "SELECT num_requested FROM pg_stat_checkpointer"
                : "SELECT checkpoints_req FROM pg_stat_bgwriter");
    }

    @Test
    @Order(5)
    void bufferPressure() throws Exception {
        db.exec("CHECKPOINT");
        long run = begin("buffers");
        try (Connection c = db.connect()) {
            // ~70 MB through 16 MB of shared_buffers: backends must evict dirty pages themselves
            run(c, "CREATE TABLE pressure (id int, v text)",
                    "INSERT INTO pressure SELECT g, repeat('p', 200) FROM generate_series(1, 300000) g");
        }
        end(run);
        assertEquals("buffer_wal_pressure", diagnose(run).get(0));
    }

    @Test
    @Order(6)
    void autovacuumOnATrackedTable() throws Exception {
        db.exec("CREATE TABLE vacuumed (id int, v text) WITH (autovacuum_vacuum_threshold = 100, "
                        + "autovacuum_vacuum_scale_factor = 0, autovacuum_analyze_threshold = 100, autovacuum_analyze_scale_factor = 0)",
                "INSERT INTO vacuumed SELECT g, 'v' FROM generate_series(1, 5000) g",
                "SELECT telemetry.track_table('vacuumed')");
        assertTrue(TelemetryDb.await(30, () -> db.count("SELECT autoanalyze_count FROM pg_stat_user_tables WHERE relname = 'vacuumed'") > 0));
        long run = begin("autovacuum");
        long before = db.count("SELECT autovacuum_count FROM pg_stat_user_tables WHERE relname = 'vacuumed'");
        try (Connection c = db.connect()) {
            run(c, "UPDATE vacuumed SET v = 'w'", "DELETE FROM vacuumed WHERE id % 2 = 0");
        }
        assertTrue(TelemetryDb.await(30, () -> db.count("SELECT autovacuum_count FROM pg_stat_user_tables WHERE relname = 'vacuumed'") > before),
                "autovacuum ran on the tracked table");
        end(run);
        try {
            assertEquals("autovacuum_interference", diagnose(run).get(0));
            assertEquals("t", db.value("SELECT autovacuum_ran FROM telemetry.table_compare('vacuumed', "
                    + "(SELECT started_at FROM telemetry.runs WHERE run_id = " + run + "), "
                    + "(SELECT ended_at FROM telemetry.runs WHERE run_id = " + run + "))"));
        } finally {
            db.exec("SELECT telemetry.untrack_table('vacuumed')");
        }
    }

    @Test
    @Order(7)
    void replicationLagAndStandby() throws Exception {
        try (PostgresCluster standby = pg.createStreamingReplica("sql-diag-standby")) {
            TelemetryDb replica = TelemetryDb.of(standby, "tel_diag");
            // on a standby the schema is read-only: collection declines politely, analysis works
            assertNull(replica.value("SELECT telemetry.snapshot()"));
            assertNull(replica.value("SELECT telemetry.sample()"));
            assertTrue(replica.value("SELECT pg_is_in_recovery()").equals("t"));
            try (Connection c = replica.connect(); Statement s = c.createStatement()) {
                try (ResultSet r = s.executeQuery("SELECT telemetry.version_sql('current_lsn')")) {
                    r.next();
                    try (ResultSet l = c.createStatement().executeQuery(r.getString(1))) {
                        assertTrue(l.next() && l.getString(1) != null, "an LSN without pg_current_wal_lsn()");
                    }
                }
            }
            String note = replica.value("SELECT coverage_note FROM telemetry.compare(now() - interval '1 day', now() + interval '1 hour')");
            assertTrue(note != null && note.contains("covered only until") && note.contains("standby"), String.valueOf(note));
            assertTrue(replica.count("SELECT count(*) FROM telemetry.wait_summary(now() - interval '1 day', now())") >= 0);

            standby.execute("SELECT pg_wal_replay_pause()");
            try {
                long run = begin("replica");
                try (Connection c = db.connect()) {
                    run(c, "SELECT count(pg_logical_emit_message(false, 'pgbt', repeat('r', 1000000))) FROM generate_series(1, 40)");
                }
                assertTrue(TelemetryDb.await(20, () -> db.count("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint "
                        + "FROM pg_stat_replication") > 32_000_000), "replay is behind");
                db.value("SELECT telemetry.sample()");
                end(run);
                assertEquals("replication_lag", diagnose(run).get(0));
                assertTrue(db.count("SELECT count(*) FROM telemetry.recent_replication WHERE replay_lag_bytes > 32000000") > 0);
            } finally {
                standby.execute("SELECT pg_wal_replay_resume()");
            }
        }
    }
}
