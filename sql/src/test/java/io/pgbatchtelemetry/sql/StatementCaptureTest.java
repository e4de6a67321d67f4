package io.pgbatchtelemetry.sql;

import io.pgbatchtelemetry.harness.PostgresCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.pgbatchtelemetry.sql.TelemetryDb.exec;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How snapshot() stores pg_stat_statements deltas (telemetry._capture_statements), on one private
 * cluster per version with the library preloaded and shared_buffers small enough that a scan of an
 * 8 MB table reads its blocks: zero deltas stored as NULL still sum exactly, the kept rows are
 * exactly the top N per measure (ties broken by the key), the "all other statements" row keeps the
 * window's sums exact, and the unlogged base survives a clean restart (exact deltas) while a crash
 * empties it with pg_stat_statements (every entry counts from zero, and the capture says so).
 * The reference for "exact" is the base itself: statement_last after a capture holds what that
 * capture read from pg_stat_statements, so the deltas of capture s2 are statement_last after s2
 * minus statement_last after s1, entry by entry.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StatementCaptureTest {

    private static final String VERSIONS = "io.pgbatchtelemetry.harness.SharedClusters#versionsArguments";
    private static final String KEY = "userid, dbid, toplevel, queryid";
    private static final String[] COUNTERS = {"calls", "plans", "rows", "shared_blks_hit", "shared_blks_read",
        "shared_blks_dirtied", "shared_blks_written", "local_blks_hit", "temp_blks_read", "temp_blks_written",
        "wal_records", "wal_fpi", "wal_bytes"};

    /** shared_buffers = 16MB: a sequential scan of cap_read reads its blocks. One test crashes and restarts these clusters. */
    private final PgStatStatementsClusters clusters = new PgStatStatementsClusters("sql-capture",
            Map.of("shared_buffers", "16MB"));

    @AfterAll
    void stop() {
        clusters.close();
    }

    private static List<String> column(TelemetryDb db, String sql) throws SQLException {
        List<String> out = new ArrayList<>();
        try (Connection c = db.connect(); Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
            while (r.next()) {
                out.add(r.getString(1));
            }
        }
        return out;
    }

    /** A database with the schema, statement_top_n = n, and the tables the workload uses. */
    private static TelemetryDb database(PostgresCluster pg, String name, int topN) throws SQLException {
        TelemetryDb db = TelemetryDb.installed(pg, name);
        db.exec("UPDATE telemetry.config SET value = '" + topN + "' WHERE key = 'statement_top_n'",
                "DROP TABLE IF EXISTS cap_read, cap_wal, cap_last1, cap_last2",
                // 8 MB: over shared_buffers / 4, so a sequential scan reads it through a small ring
                "CREATE TABLE cap_read AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 60000) g",
                "CREATE TABLE cap_wal (v int)");
        return db;
    }

    /**
     * Statements that lead different measures: 6 called 7 times each (a tie at any cut), and 4
     * each that sleep (time), scan cap_read (blocks read), sort over work_mem (temp written) and
     * insert (WAL). Distinct shapes: k times "+1".
     */
    private static void workload(TelemetryDb db) throws SQLException {
        try (Connection c = db.connect()) {
            exec(c, "SET work_mem = '64kB'");
            for (int k = 1; k <= 6; k++) {
                String e = "(1" + "+1".repeat(k) + ")";
                for (int i = 0; i < 7; i++) {
                    exec(c, "SELECT 2 * " + e);
                }
                if (k <= 4) {
                    exec(c, "SELECT count(*) FROM pg_sleep(0.01) WHERE " + e + " > 0",
                            "SELECT count(*) FROM cap_read WHERE id > " + e,
                            "SELECT count(*) FROM (SELECT g FROM generate_series(1, 5000) g ORDER BY g * " + e + ") s",
                            "INSERT INTO cap_wal SELECT g + " + e + " FROM generate_series(1, " + 1000 * k + ") g");
                }
            }
        }
    }

    /** Snapshot s1, the workload, snapshot s2, with statement_last copied after each; returns {s1, s2}. */
    private static long[] window(TelemetryDb db) throws SQLException {
        db.value("SELECT telemetry.snapshot()");   // the base capture (first in this database)
        long s1 = db.count("SELECT telemetry.snapshot()");
        db.exec("CREATE TABLE cap_last1 AS SELECT * FROM telemetry.statement_last");
        workload(db);
        long s2 = db.count("SELECT telemetry.snapshot()");
        db.exec("CREATE TABLE cap_last2 AS SELECT * FROM telemetry.statement_last");
        assertEquals("ok", db.value("SELECT status FROM telemetry.statement_captures WHERE snapshot_id = " + s2));
        return new long[] {s1, s2};
    }

    /** Every entry's delta in capture s2, from the base before and after it. */
    private static String deltas(long s2) {
        StringBuilder cols = new StringBuilder();
        for (String c : COUNTERS) {
            cols.append(", b.").append(c).append(" - coalesce(a.").append(c).append(", 0) AS ").append(c);
        }
        return "(SELECT " + KEY + cols + ", b.total_exec_time - coalesce(a.total_exec_time, 0) AS total_exec_time, "
                + "b.total_plan_time - coalesce(a.total_plan_time, 0) AS total_plan_time "
                + "FROM cap_last2 b LEFT JOIN cap_last1 a USING (" + KEY + ") WHERE b.snapshot_id = " + s2 + ")";
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void zeroDeltasAreStoredAsNullAndWindowSumsStayExact(int major) throws Exception {
        TelemetryDb db = database(clusters.cluster(major), "cap_sums", 2);
        long[] w = window(db);
        String rows = "telemetry.snapshot_statements WHERE snapshot_id = " + w[1];

        for (String c : COUNTERS) {
            String stored = db.value("SELECT coalesce(sum(" + c + "), 0) FROM " + rows);
            String expected = db.value("SELECT coalesce(sum(" + c + "), 0) FROM " + deltas(w[1]) + " d");
            assertEquals(expected, stored, c + ": the kept rows and \"all other statements\" add up to every entry's delta");
        }
        double storedMs = Double.parseDouble(db.value("SELECT sum(coalesce(total_exec_time, 0) + coalesce(total_plan_time, 0)) FROM " + rows));
        double expectedMs = Double.parseDouble(db.value("SELECT sum(total_exec_time + total_plan_time) FROM " + deltas(w[1]) + " d"));
        assertEquals(expectedMs, storedMs, 1e-9 * expectedMs, "time adds up");
        // the one reader agrees: its totals over all rows of the window are the same sums
        assertEquals(db.value("SELECT coalesce(sum(calls), 0) FROM " + deltas(w[1]) + " d"),
                db.value("SELECT sum(calls) FROM telemetry._statement_sums(" + w[0] + ", " + w[1] + ")"));
        assertEquals(db.value("SELECT coalesce(sum(wal_bytes), 0) FROM " + deltas(w[1]) + " d"),
                db.value("SELECT sum(wal_bytes) FROM telemetry._statement_sums(" + w[0] + ", " + w[1] + ")"));

        assertEquals(1, db.count("SELECT count(*) FROM " + rows + " AND queryid IS NULL"), "one \"all other statements\" row");
        assertTrue(db.count("SELECT count(*) FROM " + rows + " AND queryid IS NOT NULL") <= 5 * 2, "top 2 by five measures");
        StringBuilder zero = new StringBuilder("SELECT count(*) FROM " + rows + " AND (false");
        for (String c : COUNTERS) {
            zero.append(" OR ").append(c).append(" = 0");
        }
        assertEquals(0, db.count(zero + " OR total_exec_time = 0 OR total_plan_time = 0)"), "a zero delta is stored as NULL");
        assertTrue(db.count("SELECT count(*) FROM " + rows + " AND temp_blks_written IS NULL") > 0);

        // a kept statement that ran only in the window: its sums are its pg_stat_statements counters
        String insert = "INSERT INTO cap_wal SELECT g + (1+1+1+1+1) FROM generate_series(1, 4000) g";   // k = 4: the most WAL
        String pgss = "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                + "AND query LIKE 'INSERT INTO cap_wal SELECT g + ($1+$2+$3+$4+$5)%'";
        String queryid = db.value("SELECT queryid " + pgss);
        assertTrue(queryid != null, "pg_stat_statements has " + insert);
        assertEquals(db.value("SELECT wal_bytes::text || ' ' || calls || ' ' || rows || ' ' || shared_blks_read " + pgss),
                db.value("SELECT wal_bytes::text || ' ' || calls || ' ' || rows || ' ' || shared_blks_read "
                        + "FROM telemetry._statement_sums(" + w[0] + ", " + w[1] + ") WHERE queryid = " + queryid),
                "the top WAL writer, kept, with its zero blocks read as 0");
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void theKeptRowsAreExactlyTheTopNPerMeasureWithTiesBrokenByKey(int major) throws Exception {
        int n = 3;
        TelemetryDb db = database(clusters.cluster(major), "cap_topn", n);
        long s2 = window(db)[1];
        String d = deltas(s2);
        String order = ", " + KEY + ")";
        String expected = "SELECT " + KEY + " FROM (SELECT *, "
                + "row_number() OVER (ORDER BY total_exec_time + total_plan_time DESC" + order + " AS r_time, "
                + "row_number() OVER (ORDER BY calls DESC" + order + " AS r_calls, "
                + "row_number() OVER (ORDER BY shared_blks_read DESC" + order + " AS r_read, "
                + "row_number() OVER (ORDER BY temp_blks_written DESC" + order + " AS r_temp, "
                + "row_number() OVER (ORDER BY wal_bytes DESC" + order + " AS r_wal "
                + "FROM " + d + " d WHERE calls > 0 OR plans > 0) x "
                + "WHERE r_time <= " + n + " OR r_calls <= " + n + " OR r_read <= " + n + " AND shared_blks_read > 0 "
                + "OR r_temp <= " + n + " AND temp_blks_written > 0 OR r_wal <= " + n + " AND wal_bytes > 0";
        String kept = "SELECT " + KEY + " FROM telemetry.snapshot_statements WHERE snapshot_id = " + s2 + " AND queryid IS NOT NULL";
        List<String> missing = column(db, "SELECT queryid FROM (" + expected + " EXCEPT " + kept + ") x");
        List<String> extra = column(db, "SELECT queryid FROM (" + kept + " EXCEPT " + expected + ") x");
        assertTrue(missing.isEmpty() && extra.isEmpty(), "kept = top " + n + " per measure; missing " + missing + ", extra " + extra);
        assertTrue(db.count("SELECT count(*) FROM (" + kept + ") k") > n, "more than one measure's list");

        // the six statements called 7 times tie across the cut at 3: the kept ones are the first by key
        long tied = db.count("SELECT count(*) FROM " + d + " d WHERE calls = 7");
        assertTrue(tied >= 6, "the tie crosses the cut: " + tied + " entries with 7 calls");
        List<String> keptTied = column(db, "SELECT queryid FROM telemetry.snapshot_statements s WHERE snapshot_id = " + s2
                + " AND calls = 7 AND (" + KEY + ") IN (SELECT " + KEY + " FROM " + d + " d WHERE calls = 7 ORDER BY " + KEY
                + " LIMIT " + n + ") ORDER BY queryid");
        assertEquals(n, keptTied.size(), "the first " + n + " of the tied entries by key are kept: " + keptTied);
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void aCrashStartsFromZeroWithANoteAndACleanRestartKeepsExactDeltas(int major) throws Exception {
        PostgresCluster pg = clusters.cluster(major);
        TelemetryDb db = database(pg, "cap_crash", 50);
        db.exec("ALTER TABLE telemetry.statement_last SET LOGGED");   // as installs before it was unlogged
        db.install();   // the upgrade
        assertEquals("u", db.value("SELECT relpersistence FROM pg_class WHERE oid = 'telemetry.statement_last'::regclass"));
        String probe = "SELECT count(*) FROM cap_read WHERE id < 10";
        String sums = "SELECT calls FROM telemetry._statement_sums(%d, %d) WHERE queryid = "
                + "(SELECT queryid FROM pg_stat_statements WHERE query = 'SELECT count(*) FROM cap_read WHERE id < $1' "
                + "AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database()))";
        db.value("SELECT telemetry.snapshot()");
        runTimes(db, probe, 5);
        db.value("SELECT telemetry.snapshot()");

        pg.crash();
        pg.start();
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.statement_last"), "crash recovery empties the unlogged base");
        long before = db.count("SELECT max(id) FROM telemetry.snapshots");
        runTimes(db, probe, 3);
        long afterCrash = db.count("SELECT telemetry.snapshot()");
        String capture = "SELECT status || ' ' || restarted || ' ' || reset_in_window || ' ' || coalesce(note, '') "
                + "FROM telemetry.statement_captures WHERE snapshot_id = ";
        String crashed = db.value(capture + afterCrash);
        assertTrue(crashed.startsWith("ok true true") && crashed.contains("restarted") && crashed.contains("started empty"), crashed);
        assertEquals("3", db.value(String.format(sums, before, afterCrash)), "counted from zero after the crash");
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.snapshot_statements WHERE least(calls, plans, rows, "
                + "shared_blks_hit, shared_blks_read, temp_blks_written, wal_records) < 0 OR least(total_exec_time, total_plan_time) < 0 "
                + "OR wal_bytes < 0"), "no negative delta");

        runTimes(db, probe, 4);
        pg.restart();   // fast shutdown: pg_stat_statements and the unlogged base are saved
        assertTrue(db.count("SELECT count(*) FROM telemetry.statement_last") > 0, "a clean shutdown keeps the base");
        runTimes(db, probe, 2);
        long afterRestart = db.count("SELECT telemetry.snapshot()");
        String clean = db.value(capture + afterRestart);
        assertEquals("ok true false ", clean, "a clean restart loses nothing: no note");
        assertEquals("6", db.value(String.format(sums, afterCrash, afterRestart)), "exact across a clean restart");
        assertNull(db.value("SELECT note FROM telemetry.statement_captures WHERE snapshot_id = " + afterRestart));
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void anEntryGoneFromPgStatStatementsLeavesTheBaseAndIsNotARestart(int major) throws Exception {
        TelemetryDb db = database(clusters.cluster(major), "cap_gone", 10);
        String probe = "SELECT count(*) FROM cap_wal WHERE v > 7";
        db.value("SELECT telemetry.snapshot()");
        runTimes(db, probe, 2);
        db.value("SELECT telemetry.snapshot()");
        String queryid = db.value("SELECT queryid FROM pg_stat_statements WHERE query = 'SELECT count(*) FROM cap_wal WHERE v > $1' "
                + "AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())");
        // in this database: another test's may run the same shape on a table with the same OID (the same queryid)
        assertEquals(1, db.count("SELECT count(*) FROM telemetry.statement_last WHERE queryid = " + queryid
                + " AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"));
        db.value("SELECT pg_stat_statements_reset(0, 0, " + queryid + ")");   // removes this one entry
        long s = db.count("SELECT telemetry.snapshot()");
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.statement_last WHERE queryid = " + queryid), "gone from the base");
        assertEquals("ok 0 false", db.value("SELECT status || ' ' || recreated || ' ' || reset_in_window "
                + "FROM telemetry.statement_captures WHERE snapshot_id = " + s), "an entry gone is not one that restarted its counters");
        assertNull(db.value("SELECT note FROM telemetry.statement_captures WHERE snapshot_id = " + s));
    }

    /**
     * Texts are read at most every statement_text_interval by snapshot() (one read of the whole
     * text file then serves every statement kept since the last one), but at once while a run is
     * open and by batch_end() for its run's statements, at every capture with an interval of 0, and
     * at every capture with a note when the setting is not an interval; retention keeps the texts
     * of runs' statements.
     */
    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void textsAreReadAtMostEveryIntervalAndAtOnceForARun(int major) throws Exception {
        TelemetryDb db = database(clusters.cluster(major), "cap_texts", 10);
        db.exec("UPDATE telemetry.config SET value = '1 hour' WHERE key = 'statement_text_interval'");
        String windowOnly = "SELECT count(*) FROM cap_wal WHERE v * 2 > 11";   // kept by a capture, before the run
        String inRun = "SELECT count(*) FROM cap_wal WHERE v * 3 < 12";         // kept by the run
        String inRunLate = "SELECT count(*) FROM cap_wal WHERE v * 5 <> 14";  // kept by the run only
        String afterRun = "SELECT count(*) FROM cap_wal WHERE v * 4 = 13";
        db.value("SELECT telemetry.snapshot()");   // the base capture: its texts (none) are done
        runTimes(db, windowOnly, 20);
        long deferred = db.count("SELECT telemetry.snapshot()");
        String windowId = statementId(db, "SELECT count(*) FROM cap_wal WHERE v * $1 > $2");
        assertEquals(1, db.count("SELECT count(*) FROM telemetry.snapshot_statements WHERE snapshot_id = " + deferred
                + " AND queryid = " + windowId), "the capture keeps the statement");
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.statement_texts WHERE queryid = " + windowId),
                "... and leaves its text for later: the last read is less than an hour old");
        assertEquals("f", db.value("SELECT texts_done FROM telemetry.statement_captures WHERE snapshot_id = " + deferred));

        long run = db.count("SELECT telemetry.batch_start('texts', session_bound => false)");
        runTimes(db, inRun, 20);
        long midRun = db.count("SELECT telemetry.snapshot()");
        String runId = statementId(db, "SELECT count(*) FROM cap_wal WHERE v * $1 < $2");
        assertEquals("SELECT count(*) FROM cap_wal WHERE v * $1 < $2", db.value("SELECT query FROM telemetry.statement_texts WHERE queryid = " + runId),
                "while a run is open a capture reads the texts it needs at once: a reset in the run would lose them");
        assertEquals("SELECT count(*) FROM cap_wal WHERE v * $1 > $2", db.value("SELECT query FROM telemetry.statement_texts WHERE queryid = " + windowId),
                "... and, in the same read, those the captures since the last read kept");
        assertEquals("t", db.value("SELECT texts_done FROM telemetry.statement_captures WHERE snapshot_id = " + midRun));
        runTimes(db, inRunLate, 20);   // after the last capture in the run
        db.value("SELECT telemetry.batch_end(" + run + ")");
        String lateId = statementId(db, "SELECT count(*) FROM cap_wal WHERE v * $1 <> $2");
        assertEquals(1, db.count("SELECT count(*) FROM telemetry.run_statements WHERE run_id = " + run + " AND queryid = " + lateId));
        assertEquals("SELECT count(*) FROM cap_wal WHERE v * $1 <> $2", db.value("SELECT query FROM telemetry.statement_texts WHERE queryid = " + lateId),
                "batch_end() stores its run's texts at once, though its capture (the run no longer open) leaves them for later");
        assertEquals("t", db.value("SELECT texts_done FROM telemetry.statement_captures c JOIN telemetry.run_statement_status s "
                + "ON s.end_snapshot_id = c.snapshot_id WHERE s.run_id = " + run));

        db.exec("UPDATE telemetry.config SET value = '0' WHERE key = 'statement_text_interval'");
        runTimes(db, afterRun, 20);
        long every = db.count("SELECT telemetry.snapshot()");
        String afterId = statementId(db, "SELECT count(*) FROM cap_wal WHERE v * $1 = $2");
        assertEquals(1, db.count("SELECT count(*) FROM telemetry.statement_texts WHERE queryid = " + afterId),
                "with an interval of 0 every capture reads the texts it needs");
        assertEquals("t", db.value("SELECT texts_done FROM telemetry.statement_captures WHERE snapshot_id = " + every));

        db.exec("UPDATE telemetry.config SET value = 'soon' WHERE key = 'statement_text_interval'",
                "DELETE FROM telemetry.statement_texts WHERE queryid = " + afterId);
        runTimes(db, afterRun, 20);
        long bad = db.count("SELECT telemetry.snapshot()");
        assertEquals("ok", db.value("SELECT status FROM telemetry.statement_captures WHERE snapshot_id = " + bad),
                "a bad setting costs no statement data");
        assertTrue(db.value("SELECT note FROM telemetry.statement_captures WHERE snapshot_id = " + bad)
                .contains("statement_text_interval 'soon' in telemetry.config is not an interval"));
        assertEquals(1, db.count("SELECT count(*) FROM telemetry.statement_texts WHERE queryid = " + afterId),
                "... and reads texts at every capture");

        // retention: once the captures are gone, only the run's statement keeps its text
        db.exec("DELETE FROM telemetry.snapshot_statements");
        db.value("SELECT telemetry._cleanup_statement_texts()");
        assertEquals(2, db.count("SELECT count(*) FROM telemetry.statement_texts WHERE queryid IN (" + runId + ", " + lateId + ")"),
                "the run's statements keep their texts");
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.statement_texts WHERE queryid IN (" + windowId + ", " + afterId + ")"));
    }

    private static String statementId(TelemetryDb db, String normalized) throws SQLException {
        String id = db.value("SELECT queryid FROM pg_stat_statements WHERE query = '" + normalized.replace("'", "''") + "' "
                + "AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel");
        assertTrue(id != null, "pg_stat_statements has " + normalized);
        return id;
    }

    private static void runTimes(TelemetryDb db, String sql, int times) throws SQLException {
        try (Connection c = db.connect()) {
            for (int i = 0; i < times; i++) {
                exec(c, sql);
            }
        }
    }
}
