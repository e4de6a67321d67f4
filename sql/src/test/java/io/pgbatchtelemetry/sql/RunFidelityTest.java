package io.pgbatchtelemetry.sql;

import io.pgbatchtelemetry.harness.SharedClusters;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a run's evidence is made of (database tel_fidelity on the shared clusters): the batch
 * session's own settings (run_settings, recorded by batch_start()), a baseline of the runs before
 * the run (baseline_runs(), never the run itself), the closing snapshot taken after the batch
 * session flushed its statistics (a run of a few ms keeps its own WAL and tuples), rate forms of
 * the per-window thresholds (a short, intense spill is found), and the coverage of the samples.
 */
class RunFidelityTest {

    private static final String VERSIONS = "io.pgbatchtelemetry.harness.SharedClusters#versionsArguments";

    private static TelemetryDb db(int major) throws SQLException {
        return TelemetryDb.installed(SharedClusters.get(major), "tel_fidelity");
    }

    private static long start(Connection batch, String name) throws SQLException {
        try (Statement s = batch.createStatement(); ResultSet r = s.executeQuery("SELECT telemetry.batch_start('" + name + "')")) {
            r.next();
            return r.getLong(1);
        }
    }

    private static void end(Connection batch, long run) throws SQLException {
        try (Statement s = batch.createStatement()) {
            s.execute("SELECT telemetry.batch_end(" + run + ")");
        }
    }

    /** Rows of diagnose(run) as "pattern: evidence", and the notices it raised. */
    private static List<String> diagnose(TelemetryDb db, String call, List<String> notices) throws SQLException {
        List<String> rows = new ArrayList<>();
        try (Connection c = db.connect(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT pattern, evidence FROM " + call)) {
            while (r.next()) {
                rows.add(r.getString(1) + ": " + r.getString(2));
            }
            for (SQLWarning w = s.getWarnings(); w != null; w = w.getNextWarning()) {
                notices.add(w.getMessage());
            }
        }
        return rows;
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void spillEvidenceShowsTheBatchSessionsWorkMemAndAShortSpillIsFoundByItsRate(int major) throws Exception {
        TelemetryDb db = db(major);
        long run;
        try (Connection batch = db.connect(); Statement s = batch.createStatement()) {
            s.execute("SET work_mem = '64kB'");
            run = start(batch, "fidelity_spill");
            s.execute("SELECT count(*) FROM (SELECT g FROM generate_series(1, 400000) g ORDER BY random()) x");
            end(batch, run);
        }
        assertEquals("64|kB|session", db.value("SELECT setting || '|' || unit || '|' || source FROM telemetry.run_settings "
                + "WHERE run_id = " + run + " AND name = 'work_mem'"), "batch_start recorded the batch session's work_mem");
        assertEquals(15, db.count("SELECT count(*) FROM telemetry.run_settings WHERE run_id = " + run + " AND name IN ("
                + "'work_mem', 'maintenance_work_mem', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'random_page_cost', "
                + "'jit', 'effective_cache_size', 'temp_buffers', 'hash_mem_multiplier', 'max_parallel_workers_per_gather', "
                + "'synchronous_commit', 'track_io_timing', 'track_wal_io_timing', 'temp_file_limit')"));

        String window = "(SELECT w.start_time FROM telemetry._run_window(" + run + ") w), (SELECT w.end_time FROM telemetry._run_window(" + run + ") w)";
        BigDecimal spilled = new BigDecimal(db.value("SELECT temp_bytes_delta FROM telemetry.compare(" + window + ")"));
        BigDecimal seconds = new BigDecimal(db.value("SELECT extract(epoch FROM w.end_time - w.start_time) FROM telemetry._run_window(" + run + ") w"));
        assertTrue(spilled.longValue() > 4_000_000 && spilled.longValue() < 33_554_432,
                "a spill of a few MB, under the absolute 32 MB threshold, so only the rate form can find it: " + spilled);
        assertEquals("8388608", db.value("SELECT value FROM telemetry.config WHERE key = 'diagnose.temp_bytes_per_second'"));
        // the run's length depends on the machine's load: the rate threshold is set to half the run's own rate,
        // so the rate form scores 2 whatever the length, while the absolute form stays under 1
        double rate = spilled.doubleValue() / Math.max(seconds.doubleValue(), 1.0);
        db.exec("UPDATE telemetry.config SET value = '" + Math.round(rate / 2) + "' WHERE key = 'diagnose.temp_bytes_per_second'");
        try {
            assertEquals(2.0, Double.parseDouble(db.value("SELECT score FROM telemetry.diagnose(" + run + ") WHERE pattern = 'temp_file_spills'")),
                    0.02, "scored by the rate form");
            spillEvidence(db, run, window);
        } finally {
            db.exec("UPDATE telemetry.config SET value = '8388608' WHERE key = 'diagnose.temp_bytes_per_second'");
        }
    }

    private static void spillEvidence(TelemetryDb db, long run, String window) throws Exception {
        List<String> notices = new ArrayList<>();
        List<String> findings = diagnose(db, "telemetry.diagnose(" + run + ")", notices);
        String spill = findings.stream().filter(f -> f.startsWith("temp_file_spills")).findFirst()
                .orElseThrow(() -> new AssertionError("the short spill is found by its rate: " + findings + " " + notices));
        assertTrue(spill.contains("work_mem 64 kB (batch session)"), spill);
        assertTrue(spill.contains("/s over"), "the rate is in the evidence: " + spill);

        // a plain window does not know the batch's session: it names the server default, not the caller's SET
        try (Connection asker = db.connect(); Statement s = asker.createStatement()) {
            s.execute("SET work_mem = '3MB'");
            try (ResultSet r = s.executeQuery("SELECT evidence FROM telemetry.diagnose(" + window + ") WHERE pattern = 'temp_file_spills'")) {
                assertTrue(r.next(), "the window finds the spill too");
                String evidence = r.getString(1);
                assertTrue(evidence.matches(".*work_mem \\d+ ?[kMG]B \\(server default, (built in|configuration file)\\).*"), evidence);
                assertFalse(evidence.contains("work_mem 3"), "not the asking session's work_mem (3MB): " + evidence);
            }
        }
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void usualIsTheRunsBeforeTheRunWithAMinimumCount(int major) throws Exception {
        TelemetryDb db = db(major);
        String name = "fidelity_baseline_" + System.nanoTime();
        // five runs of 10 s an hour apart, then a sixth of 100 s; one 500 s run marked as not representative
        db.exec("INSERT INTO telemetry.runs (name, state, started_at, ended_at) SELECT '" + name + "', 'succeeded', "
                        + "now() - (10 - g) * interval '1 hour', now() - (10 - g) * interval '1 hour' + interval '10 s' FROM generate_series(1, 5) g",
                "INSERT INTO telemetry.runs (name, state, started_at, ended_at) VALUES ('" + name + "', 'succeeded', "
                        + "now() - interval '4 hours', now() - interval '4 hours' + interval '500 s')",
                "SELECT telemetry.exclude_from_baseline(max(run_id)) FROM telemetry.runs WHERE name = '" + name + "'",
                "INSERT INTO telemetry.runs (name, state, started_at, ended_at) VALUES ('" + name + "', 'succeeded', "
                        + "now() - interval '2 hours', now() - interval '2 hours' + interval '100 s')");
        String slow = "(SELECT max(run_id) FROM telemetry.runs WHERE name = '" + name + "')";
        assertEquals("10.00|10.000|5", db.value("SELECT duration_vs_avg || '|' || extract(epoch FROM avg_succeeded_duration)::numeric(10, 3) || '|' || baseline_runs "
                + "FROM telemetry.batch_runs WHERE run_id = " + slow), "the slow run against the five before it, not itself");
        assertEquals(5, db.count("SELECT count(*) FROM telemetry.baseline_runs(" + slow + ") WHERE duration_s = 10"),
                "the excluded 500 s run is left out");
        assertEquals(1, db.count("SELECT count(*) FROM telemetry.batch_runs WHERE name = '" + name + "' AND baseline_excluded"));

        // the third run has two runs before it: not yet a habit
        String third = "(SELECT run_id FROM telemetry.runs WHERE name = '" + name + "' ORDER BY started_at OFFSET 2 LIMIT 1)";
        assertEquals("2", db.value("SELECT baseline_runs FROM telemetry.batch_runs WHERE run_id = " + third));
        assertNull(db.value("SELECT duration_vs_avg FROM telemetry.batch_runs WHERE run_id = " + third), "fewer than baseline_min_runs");
        assertEquals("10.000", db.value("SELECT usual_s FROM telemetry.usual_duration((SELECT run_id FROM telemetry.runs WHERE name = '"
                + name + "' ORDER BY started_at OFFSET 3 LIMIT 1))"), "three runs before it: usual");
        CoreApiTest.assertError(db, "SELECT telemetry.exclude_from_baseline(-5)", "run -5 does not exist");
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void aRunOfAFewMillisecondsKeepsItsOwnWork(int major) throws Exception {
        TelemetryDb db = db(major);
        db.exec("DROP TABLE IF EXISTS fidelity_short", "CREATE TABLE fidelity_short (id int PRIMARY KEY, v int)",
                "INSERT INTO fidelity_short SELECT g, 0 FROM generate_series(1, 1000) g",
                "SELECT telemetry.track_table('fidelity_short')");
        long run;
        try (Connection batch = db.connect(); Statement s = batch.createStatement()) {
            s.execute("SELECT 1");   // a session that already flushed once: its next flush waits a second
            run = start(batch, "fidelity_short");
            s.execute("UPDATE fidelity_short SET v = v + 1");
            end(batch, run);
            // the batch session stays connected: its statistics were flushed when batch_end's transaction ended
        }
        String window = "(SELECT w.start_time FROM telemetry._run_window(" + run + ") w), (SELECT w.end_time FROM telemetry._run_window(" + run + ") w)";
        assertTrue(db.count("SELECT wal_records_delta FROM telemetry.compare(" + window + ")") >= 1000,
                "1000 updated rows are at least 1000 WAL records: " + db.value("SELECT wal_records_delta FROM telemetry.compare(" + window + ")"));
        assertTrue(db.count("SELECT blks_hit_delta FROM telemetry.compare(" + window + ")") > 0);
        assertEquals(1000, db.count("SELECT n_tup_upd_delta FROM telemetry.table_compare('fidelity_short', " + window + ")"),
                "the run's own 1000 updates");
        assertNotNull(db.value("SELECT stats_snapshot_id FROM telemetry.runs WHERE run_id = " + run),
                "the closing snapshot was taken again after the batch session flushed");
        double ms = Double.parseDouble(db.value("SELECT extract(epoch FROM ended_at - started_at) * 1000 FROM telemetry.runs WHERE run_id = " + run));
        assertTrue(ms < 1000, "a run of milliseconds: " + ms);
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void openRunsAreSampledOnDemandAndDiagnoseStatesItsCoverage(int major) throws Exception {
        TelemetryDb db = db(major);
        db.exec("UPDATE telemetry.runs SET state = 'failed', ended_at = now() WHERE state = 'running'");
        assertNull(db.value("SELECT telemetry.sample_open_runs('exporter', 1)"), "no run open: no sample");
        long run;
        try (Connection batch = db.connect()) {
            run = start(batch, "fidelity_coverage");
            Thread.sleep(600);
            assertEquals("true|true", db.value("SELECT (telemetry.sample_open_runs('exporter', 1) IS NOT NULL) || '|' "
                    + "|| (telemetry.sample_open_runs('pg_cron', 1) IS NULL)"),
                    "a run is open: a sample; and none from a second source that finds it taken less than half a second ago");
            assertEquals("exporter|1", db.value("SELECT source || '|' || interval_s FROM telemetry.samples ORDER BY id DESC LIMIT 1"));
            Thread.sleep(1200);
            end(batch, run);
        }
        assertEquals(1, db.count("SELECT count(*) FROM telemetry.samples WHERE source = 'batch_start' AND captured_at >= "
                + "(SELECT started_at - interval '1 s' FROM telemetry.runs WHERE run_id = " + run + ")"));
        List<String> notices = new ArrayList<>();
        diagnose(db, "telemetry.diagnose(" + run + ")", notices);
        String coverage = notices.stream().filter(n -> n.contains("coverage:")).findFirst().orElseThrow(() -> new AssertionError(notices.toString()));
        assertTrue(coverage.matches(".*coverage: 3 samples \\(.*1 from exporter every 1 s.*"), coverage);
        assertTrue(coverage.contains("1 from batch_start") && coverage.contains("1 from batch_end"), coverage);
        double gap = Double.parseDouble(db.value("SELECT longest_gap_s FROM telemetry.sample_coverage((SELECT started_at FROM telemetry.runs "
                + "WHERE run_id = " + run + "), (SELECT end_time FROM telemetry._run_window(" + run + ")))"));
        assertTrue(gap >= 1.0, "the exporter sample was 0.6 s after the start and batch_end 1.2 s after it: " + gap);
        assertTrue(coverage.contains("longest stretch without a sample " + gap + " s: waits shorter than that may be missing"), coverage);
        CoreApiTest.assertError(db, "SELECT telemetry.sample_open_runs('exporter', 0)", "a positive interval");
    }
}
