package io.pgbatchtelemetry.sql;

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
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Exact per-run statement totals (56-run-statements.sql) on servers with pg_stat_statements preloaded
 * (one private cluster per version): with per-capture rows cut to the top 1, a statement that was small
 * in the baseline runs and got slower per call is "slower per call", not "new statement", in
 * statement_compare_runs(), diagnose() and run_report(); the totals equal pg_stat_statements' own counts
 * and, with "all other statements", the sum over all entries; a reset in the run never gives negative
 * numbers and marks the run incomplete; abandoned runs and retention leave no base behind; concurrent
 * runs each count from their own base.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RunStatementsTest {

    private static final String VERSIONS = "io.pgbatchtelemetry.harness.SharedClusters#versionsArguments";

    /** pg_stat_statements.max at its default (5000): no eviction, so the totals can be exact. */
    private final PgStatStatementsClusters clusters = new PgStatStatementsClusters("sql-run-stmts");

    @AfterAll
    void stop() {
        clusters.close();
    }

    /** pg_stat_statements' own cumulative value of {@code column} for statements whose text is LIKE {@code pattern}. */
    private static double pgss(TelemetryDb db, String column, String pattern) throws SQLException {
        return Double.parseDouble(db.value("SELECT coalesce(sum(" + column + "), 0) FROM pg_stat_statements WHERE query LIKE '"
                + pattern.replace("'", "''") + "' AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"));
    }

    private static String queryid(TelemetryDb db, String pattern) throws SQLException {
        String v = db.value("SELECT queryid FROM pg_stat_statements WHERE query LIKE '" + pattern.replace("'", "''")
                + "' AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1");
        assertNotNull(v, "pg_stat_statements has " + pattern);
        return v;
    }

    private static long run(TelemetryDb db, String name, String... workload) throws SQLException {
        long run = db.count("SELECT telemetry.batch_start('" + name + "', session_bound => false)");
        try (Connection c = db.connect()) {
            exec(c, workload);
        }
        db.value("SELECT telemetry.batch_end(" + run + ")");
        return run;
    }

    private static String[] workload(double sleepSeconds) {
        List<String> w = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            w.add("SELECT count(*) FROM generate_series(1, 1500000)");   // the most time of every capture
        }
        for (int i = 0; i < 200; i++) {
            w.add("SELECT 1");                                          // the most calls
        }
        for (int i = 0; i < 30; i++) {
            w.add("SELECT pg_sleep(" + sleepSeconds + ")");              // small: never among a capture's top 1
        }
        return w.toArray(String[]::new);
    }

    /** Five baseline runs and a slow one in which the small pg_sleep statement sleeps 25 times as long per call. */
    private record SlowerRuns(long baseline, long slow, double measuredExtraMs, String queryid) {
    }

    private static SlowerRuns slowerPerCall(TelemetryDb db, String name) throws SQLException {
        String sleep = "SELECT pg_sleep($1)";
        long baseline = 0;
        double beforeLast = 0;
        for (int i = 0; i < 5; i++) {
            beforeLast = pgss(db, "total_exec_time + total_plan_time", sleep);
            baseline = run(db, name, workload(0.002));
        }
        double mid = pgss(db, "total_exec_time + total_plan_time", sleep);
        long slow = run(db, name, workload(0.05));
        double after = pgss(db, "total_exec_time + total_plan_time", sleep);
        String queryid = queryid(db, sleep);
        // the captures kept nothing of it in the baseline runs: their sums would call it new
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.snapshot_statements st JOIN telemetry.snapshots s ON s.id = st.snapshot_id "
                + "WHERE st.queryid = " + queryid + " AND s.captured_at < (SELECT started_at FROM telemetry.runs WHERE run_id = " + slow + ")"),
                "the per-capture top 1 does not keep the small statement");
        return new SlowerRuns(baseline, slow, (after - mid) - (mid - beforeLast), queryid);
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void aStatementTooSmallForTheCapturesTopIsSlowerPerCallNotNew(int major) throws Exception {
        TelemetryDb db = clusters.installed(major, "run_stmt_slower");
        db.exec("UPDATE telemetry.config SET value = '1' WHERE key = 'statement_top_n'");
        SlowerRuns runs = slowerPerCall(db, "nightly_small");
        long baseline = runs.baseline();
        long slow = runs.slow();
        double measuredExtraMs = runs.measuredExtraMs();
        String queryid = runs.queryid();

        List<Map<String, String>> cmp = db.rows("SELECT * FROM telemetry.statement_compare_runs(" + baseline + ", " + slow + ")");
        Map<String, String> first = cmp.get(0);
        assertEquals(queryid, first.get("queryid"), cmp.subList(0, Math.min(3, cmp.size())).toString());
        assertEquals("slower per call", first.get("verdict"), first.toString());
        assertEquals("run totals", first.get("source"));
        assertEquals("30", first.get("baseline_calls"));
        assertEquals("30", first.get("slow_calls"));
        double extra = Double.parseDouble(first.get("extra_ms"));
        assertEquals(measuredExtraMs, extra, 0.01 * measuredExtraMs, "its extra time as pg_stat_statements counts it");
        double allExtra = cmp.stream().mapToDouble(r -> Double.parseDouble(r.get("extra_ms"))).sum();
        assertEquals(100 * measuredExtraMs / allExtra, Double.parseDouble(first.get("share_of_extra_pct")), 5,
                "share of the extra time within 5 %");

        Map<String, String> regression = db.rows("SELECT * FROM telemetry.diagnose(" + slow + ")").stream()
                .filter(f -> f.get("pattern").equals("statement_regression")).findFirst()
                .orElseThrow(() -> new AssertionError("no statement_regression finding"));
        assertTrue(regression.get("evidence").startsWith("slower per call: queryid " + queryid), regression.toString());
        assertTrue(regression.get("evidence").contains("per-run totals"), regression.toString());

        // the report compares with one typical baseline run of the five: the same answer
        Map<String, String> report = db.rows("SELECT r -> 'statements' ->> 'status' AS status, "
                + "r -> 'statements' -> 'rows' -> 0 ->> 'verdict' AS verdict, r -> 'statements' -> 'rows' -> 0 ->> 'queryid' AS queryid, "
                + "r -> 'statements' -> 'rows' -> 0 ->> 'source' AS source FROM telemetry.run_report(" + slow + ") r").get(0);
        assertEquals("ok", report.get("status"), report.toString());
        assertEquals(queryid, report.get("queryid"), report.toString());
        assertEquals("slower per call", report.get("verdict"), report.toString());
        assertEquals("run totals", report.get("source"), report.toString());
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void aStatementInTheBaselineRunsOtherRowIsComparedWithItsOwnCallsAndTime(int major) throws Exception {
        TelemetryDb db = clusters.installed(major, "run_stmt_minor");
        db.exec("UPDATE telemetry.config SET value = '1' WHERE key IN ('statement_top_n', 'run_statement_top_n')");
        SlowerRuns runs = slowerPerCall(db, "nightly_minor");
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.run_statements WHERE run_id = " + runs.baseline()
                + " AND queryid = " + runs.queryid()), "the baseline run folded it into all other statements");
        List<Map<String, String>> cmp = db.rows("SELECT * FROM telemetry.statement_compare_runs(" + runs.baseline() + ", " + runs.slow() + ")");
        Map<String, String> first = cmp.get(0);
        assertEquals(runs.queryid(), first.get("queryid"), cmp.toString());
        assertEquals("slower per call", first.get("verdict"), first.toString());
        assertEquals("30", first.get("baseline_calls"));
        assertEquals(runs.measuredExtraMs(), Double.parseDouble(first.get("extra_ms")), 0.01 * runs.measuredExtraMs());
        // taken out of the baseline's "all other statements": the run's total time is unchanged
        String total = "SELECT sum(total_ms) FROM telemetry._run_statement_sums(" + runs.baseline() + "%s)";
        assertEquals(db.value(String.format(total, "")), db.value(String.format(total, ", " + runs.slow())));
        double baselineTotal = cmp.stream().mapToDouble(r -> Double.parseDouble(r.get("baseline_total_ms"))).sum();
        assertEquals(Double.parseDouble(db.value(String.format(total, ""))), baselineTotal, 0.01);
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void runTotalsArePgStatStatementsOwnCountsAndAddUpToAllEntries(int major) throws Exception {
        TelemetryDb db = clusters.installed(major, "run_stmt_exact");
        db.exec("UPDATE telemetry.config SET value = '1' WHERE key = 'statement_top_n'",
                "UPDATE telemetry.config SET value = '2' WHERE key = 'run_statement_top_n'");
        String known = "SELECT g FROM generate_series(1, 7) g WHERE g > 0";
        String pattern = "SELECT g FROM generate_series($1, $2) g WHERE g > $3";
        double callsBefore = pgss(db, "calls", pattern);
        List<String> work = new ArrayList<>();
        for (int i = 0; i < 13; i++) {
            work.add(known);
        }
        for (int i = 0; i < 40; i++) {
            work.add("SELECT 1" + "+1".repeat(i + 1));   // 40 distinct statements: most go to "all other statements"
        }
        long run = run(db, "exact", work.toArray(String[]::new));
        String queryid = queryid(db, pattern);
        // kept by its rank in a second run: exactly pg_stat_statements' deltas
        db.exec("UPDATE telemetry.config SET value = '50' WHERE key = 'run_statement_top_n'");
        double callsMid = pgss(db, "calls", pattern);
        double rowsMid = pgss(db, "rows", pattern);
        long second = run(db, "exact", work.toArray(String[]::new));
        assertEquals(13, pgss(db, "calls", pattern) - callsMid, "pg_stat_statements' own count");
        assertEquals(91, pgss(db, "rows", pattern) - rowsMid, "pg_stat_statements' own count");
        assertEquals(26, pgss(db, "calls", pattern) - callsBefore);
        Map<String, String> s = db.rows("SELECT * FROM telemetry._run_statement_sums(" + second + ") WHERE queryid = " + queryid).get(0);
        assertEquals("13", s.get("calls"), s.toString());
        assertEquals("91", s.get("rows"), s.toString());
        assertEquals("kept|true", db.value("SELECT status || '|' || complete FROM telemetry.run_statement_status WHERE run_id = " + run));
        assertTrue(db.count("SELECT count(*) FROM telemetry.run_statements WHERE run_id = " + run + " AND queryid IS NULL") == 1,
                "one row for all other statements");
        // the run's rows add up to every entry's delta: the captures' exact sums over the same interval
        for (String column : new String[] {"calls", "rows", "shared_blks_hit", "wal_records"}) {
            // coalesce: the captures store a zero delta as NULL
            String byRun = db.value("SELECT coalesce(sum(" + column + "), 0) FROM telemetry.run_statements WHERE run_id = " + run);
            String byCapture = db.value("SELECT coalesce(sum(st." + column + "), 0) FROM telemetry.snapshot_statements st, telemetry.run_statement_status r "
                    + "WHERE r.run_id = " + run + " AND st.snapshot_id > r.base_snapshot_id AND st.snapshot_id <= r.end_snapshot_id");
            assertEquals(byCapture, byRun, column + ": the run's totals with all other statements are the sum over all entries");
        }
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.run_statement_base"), "the base is dropped at batch_end");
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void aResetInTheRunIsNeverNegativeAndMarksTheRunIncomplete(int major) throws Exception {
        TelemetryDb db = clusters.installed(major, "run_stmt_reset");
        String q = "SELECT count(*) FROM pg_class WHERE relpages >= 0";
        String before = "SELECT count(*) FROM pg_am WHERE amname <> ''";   // runs only before the reset
        run(db, "resetting", q, q, q);   // a baseline run with the counters high
        long run = db.count("SELECT telemetry.batch_start('resetting', session_bound => false)");
        try (Connection c = db.connect()) {
            for (int i = 0; i < 30; i++) {
                exec(c, q);
            }
            for (int i = 0; i < 4; i++) {
                exec(c, before);
            }
            // a capture (the 5-minute pg_cron snapshot) sees the work so far; the reset then loses only what came after it
            db.value("SELECT telemetry.snapshot()");
            exec(c, q);
            exec(c, "SELECT pg_stat_statements_reset()");
            for (int i = 0; i < 5; i++) {
                exec(c, q);
            }
        }
        db.value("SELECT telemetry.batch_end(" + run + ", 'failed')");   // failed runs keep their totals too
        Map<String, String> status = db.rows("SELECT * FROM telemetry.run_statement_status WHERE run_id = " + run).get(0);
        assertEquals("kept", status.get("status"), status.toString());
        assertEquals("f", status.get("complete"), status.toString());
        assertTrue(status.get("note").contains("was reset"), status.toString());
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.run_statements WHERE least(calls, plans, rows, shared_blks_hit, "
                + "shared_blks_read, temp_blks_written, wal_records) < 0 OR least(total_exec_time, total_plan_time) < 0 OR wal_bytes < 0"),
                "no negative total");
        assertEquals("35", db.value("SELECT calls FROM telemetry.run_statements WHERE run_id = " + run + " AND queryid = "
                + queryid(db, "SELECT count(*) FROM pg_class WHERE relpages >= $1")),
                "30 seen by the capture before the reset and 5 after it (the one between the capture and the reset is lost)");
        try (Connection c = db.connect()) {
            exec(c, before);   // back in pg_stat_statements, with the same queryid, so the test can name it
        }
        assertEquals("4", db.value("SELECT calls FROM telemetry.run_statements WHERE run_id = " + run + " AND queryid = "
                + queryid(db, "SELECT count(*) FROM pg_am WHERE amname <> $1")),
                "a statement gone from pg_stat_statements by the reset keeps its work before it");
        long baseline = db.count("SELECT min(run_id) FROM telemetry.runs WHERE name = 'resetting'");
        String warned = db.messages("SELECT * FROM telemetry.statement_compare_runs(" + baseline + ", " + run + ")");
        assertTrue(warned.contains("run " + run + ":") && warned.contains("was reset"), warned);
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void concurrentRunsKeepTheirOwnBaseAndNoBaseOutlivesItsRun(int major) throws Exception {
        TelemetryDb db = clusters.installed(major, "run_stmt_bases");
        String x = "SELECT 'x' || count(*) FROM pg_namespace";
        String y = "SELECT 'y' || count(*) FROM pg_am";
        long a = db.count("SELECT telemetry.batch_start('run_a', session_bound => false)");
        try (Connection c = db.connect()) {
            for (int i = 0; i < 5; i++) {
                exec(c, x);
            }
            long b = db.count("SELECT telemetry.batch_start('run_b', session_bound => false)");
            for (int i = 0; i < 3; i++) {
                exec(c, x);
            }
            for (int i = 0; i < 4; i++) {
                exec(c, y);
            }
            assertTrue(db.count("SELECT count(DISTINCT run_id) FROM telemetry.run_statement_base WHERE run_id IN (" + a + ", " + b + ")") == 2,
                    "each open run has its own base");
            db.value("SELECT telemetry.batch_end(" + a + ")");
            for (int i = 0; i < 6; i++) {
                exec(c, y);
            }
            db.value("SELECT telemetry.batch_end(" + b + ")");
            String qx = queryid(db, "SELECT $1 || count(*) FROM pg_namespace");
            String qy = queryid(db, "SELECT $1 || count(*) FROM pg_am");
            String calls = "SELECT coalesce(sum(calls), 0) FROM telemetry.run_statements WHERE run_id = %d AND queryid = %s";
            assertEquals(8, db.count(String.format(calls, a, qx)), "run a: x before and after b started");
            assertEquals(4, db.count(String.format(calls, a, qy)), "run a: y until a ended");
            assertEquals(3, db.count(String.format(calls, b, qx)), "run b: x only since b started");
            assertEquals(10, db.count(String.format(calls, b, qy)), "run b: y until b ended");
        }
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.run_statement_base"));

        // a run whose session died: closed as abandoned, its base dropped, and why it has no totals
        long abandoned;
        try (Connection batch = db.connect(); Statement s = batch.createStatement(); ResultSet r = s.executeQuery("SELECT telemetry.batch_start('dies')")) {
            r.next();
            abandoned = r.getLong(1);
        }
        assertTrue(db.count("SELECT count(*) FROM telemetry.run_statement_base WHERE run_id = " + abandoned) > 0);
        assertTrue(TelemetryDb.await(10, () -> "t".equals(db.value("SELECT telemetry.run_session_gone(" + abandoned + ")"))));
        assertEquals(1, db.count("SELECT telemetry.close_abandoned_runs()"));
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.run_statement_base WHERE run_id = " + abandoned));
        assertTrue(db.value("SELECT note FROM telemetry.run_statement_status WHERE run_id = " + abandoned).contains("abandoned"));

        // retention: a run left open past the cutoff loses its base; deleted runs take their totals with them
        long open = db.count("SELECT telemetry.batch_start('never_ends', session_bound => false)");
        assertTrue(db.count("SELECT count(*) FROM telemetry.run_statement_base WHERE run_id = " + open) > 0);
        db.value("SELECT count(*) FROM telemetry.cleanup('0 seconds')");
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.run_statement_base"), "no base outlives retention");
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.run_statements WHERE run_id = " + a), "deleted with its run");
        assertEquals("unavailable", db.value("SELECT status FROM telemetry.run_statement_status WHERE run_id = " + open));
        db.value("SELECT telemetry.batch_end(" + open + ")");   // ends without totals, and without an error
        assertEquals("unavailable", db.value("SELECT status FROM telemetry.run_statement_status WHERE run_id = " + open));
    }
}
