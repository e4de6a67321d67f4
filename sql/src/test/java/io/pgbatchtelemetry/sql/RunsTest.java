package io.pgbatchtelemetry.sql;

import io.pgbatchtelemetry.harness.SharedClusters;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.math.BigDecimal;
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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Batch runs beyond batch_start()/batch_end() (database tel_runs on the shared clusters):
 * compare_runs() and its window twin compare_windows() put a run that spilled sorts to disk next
 * to one that did not and rank the temp bytes first, and runs are opened and closed by sample()
 * from telemetry.run_rules when a session with a matching application_name works and stops.
 */
class RunsTest {

    private static final String VERSIONS = "io.pgbatchtelemetry.harness.SharedClusters#versionsArguments";

    private static TelemetryDb db(int major) throws SQLException {
        return TelemetryDb.installed(SharedClusters.get(major), "tel_runs");
    }

    record MetricRow(String metric, BigDecimal baseline, BigDecimal slow, BigDecimal ratio) {
    }

    private static List<MetricRow> rows(TelemetryDb db, String query) throws SQLException {
        List<MetricRow> rows = new ArrayList<>();
        try (Connection c = db.connect(); Statement s = c.createStatement(); ResultSet r = s.executeQuery(query)) {
            while (r.next()) {
                rows.add(new MetricRow(r.getString("metric"), r.getBigDecimal("baseline"), r.getBigDecimal("slow"),
                        r.getBigDecimal("ratio")));
            }
        }
        return rows;
    }

    private static long run(TelemetryDb db, String name, String... workload) throws SQLException {
        long run = db.count("SELECT telemetry.batch_start('" + name + "')");
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            for (String sql : workload) {
                s.execute(sql);
            }
            TelemetryDb.flushStats(c);
        }
        db.value("SELECT telemetry.batch_end(" + run + ")");
        return run;
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void compareRunsRanksTheTempSpillOfTheSlowRunFirst(int major) throws Exception {
        TelemetryDb db = db(major);
        long baseline = run(db, "nightly", "SELECT count(*) FROM (SELECT g FROM generate_series(1, 20000) g ORDER BY g DESC) x");
        long slow = run(db, "nightly", "SET work_mem = '64kB'",
                "SELECT count(*) FROM (SELECT g FROM generate_series(1, 300000) g ORDER BY random()) x");

        List<MetricRow> byRun = rows(db, "SELECT * FROM telemetry.compare_runs(" + baseline + ", " + slow + ")");
        MetricRow temp = byRun.stream().filter(r -> r.metric().equals("temp_bytes_delta")).findFirst().orElseThrow();
        assertEquals(0, temp.baseline().signum(), "the baseline run wrote no temp files: " + temp);
        assertTrue(temp.slow().longValue() > 1_000_000, "the slow run spilled megabytes: " + temp);
        assertNull(temp.ratio(), "no ratio against a zero baseline");
        int rank = byRun.indexOf(temp) + 1;
        assertTrue(rank <= 2, "temp_bytes_delta ranks at the top, not " + rank + ": " + byRun.subList(0, Math.min(5, byRun.size())));
        MetricRow files = byRun.stream().filter(r -> r.metric().equals("temp_files_delta")).findFirst().orElseThrow();
        assertTrue(files.slow().longValue() >= 1 && files.baseline().signum() == 0, files.toString());
        MetricRow wal = byRun.stream().filter(r -> r.metric().equals("wal_bytes_delta")).findFirst().orElseThrow();
        assertNotNull(wal.ratio(), "a metric present in both runs has a ratio");
        assertEquals(wal.slow().divide(wal.baseline(), 2, java.math.RoundingMode.HALF_UP), wal.ratio());
        assertFalse(byRun.stream().anyMatch(r -> r.metric().endsWith("_snapshot_id")), "ids are not metrics");

        // the window twin over the runs' own windows (which end at the snapshot after the batch session's stats flush) gives the same table
        String windows = "(SELECT start_time FROM telemetry._run_window(%d)), (SELECT end_time FROM telemetry._run_window(%d))";
        List<MetricRow> byWindow = rows(db, "SELECT * FROM telemetry.compare_windows(" + String.format(windows, baseline, baseline)
                + ", " + String.format(windows, slow, slow) + ")");
        assertEquals(byRun, byWindow);
        CoreApiTest.assertError(db, "SELECT * FROM telemetry.compare_runs(" + baseline + ", -1)", "run -1 does not exist");
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void applicationNameRulesOpenAndCloseRuns(int major) throws Exception {
        TelemetryDb db = db(major);
        String rule = "source = 'rule:runs_rule_job%'";
        db.exec("DELETE FROM telemetry.runs WHERE " + rule,
                "INSERT INTO telemetry.run_rules VALUES ('runs_rule_job%', 'rule job') ON CONFLICT DO NOTHING");
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (Connection test = db.connect(); Connection job = db.connect()) {
            try (Statement s = job.createStatement()) {
                s.execute("SET application_name = 'runs_rule_job_42'");   // connected, idle: not a run yet
            }
            db.value("SELECT telemetry.sample()");
            assertEquals(0, db.count("SELECT count(*) FROM telemetry.runs WHERE " + rule), "an idle session opens no run");

            // the job works (waits on an advisory lock the test holds) until the test lets it finish
            test.createStatement().execute("SELECT pg_advisory_lock(4242)");
            long jobPid = CoreApiTest.pidOf(job);
            CompletableFuture<Void> working = CompletableFuture.runAsync(() -> {
                try (Statement s = job.createStatement()) {
                    s.execute("SELECT pg_advisory_lock(4242), pg_advisory_unlock(4242)");
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            }, pool);
            assertTrue(TelemetryDb.await(10, () -> db.count("SELECT count(*) FROM pg_stat_activity WHERE pid = " + jobPid
                    + " AND state = 'active'") == 1));
            db.value("SELECT telemetry.sample()");
            db.value("SELECT telemetry.sample()");
            assertEquals("rule job|running|1", db.value("SELECT min(name) || '|' || min(state) || '|' || count(*) "
                    + "FROM telemetry.runs WHERE " + rule), "one run while the job works, however many samples");
            assertNull(db.value("SELECT ended_at FROM telemetry.runs WHERE " + rule));

            test.createStatement().execute("SELECT pg_advisory_unlock(4242)");
            working.join();
            db.value("SELECT telemetry.sample()");
        } finally {
            pool.shutdownNow();
            db.exec("DELETE FROM telemetry.run_rules WHERE app_pattern = 'runs_rule_job%'");
        }
        assertEquals("succeeded|1", db.value("SELECT min(state) || '|' || count(*) FROM telemetry.runs WHERE " + rule),
                "the run ends once no matching session works");
        assertEquals("t", db.value("SELECT duration > interval '0' AND ended_at IS NOT NULL FROM telemetry.batch_runs WHERE " + rule));
        assertEquals("rule job", db.value("SELECT name FROM telemetry.batch_runs WHERE " + rule));
    }
}
