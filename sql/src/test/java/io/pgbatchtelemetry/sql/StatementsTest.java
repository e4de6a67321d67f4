package io.pgbatchtelemetry.sql;

import io.pgbatchtelemetry.harness.SharedClusters;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.pgbatchtelemetry.sql.TelemetryDb.exec;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Statement evidence from pg_stat_statements on servers with the library preloaded (one private
 * cluster per version, pg_stat_statements.max = 100 so that eviction is easy to cause): the
 * statement whose index was dropped between two runs is ranked first with verdict "plan changed"
 * and both plans, and a reader who may not see the texts gets the same ranking; a statement called
 * 10x as often is "more calls" with its share of the extra time; a baseline given by hand is the
 * statements' baseline too; the report lists every plan change, also one below its top 20; eviction and a reset mid-run leave no negative numbers and are reported; plans are
 * captured as the statement's role, never wait for a lock held by the batch, and a role without
 * the rights gets a message; sampled lock waits are attributed to the waiting statement. Without
 * the extension (the shared clusters) everything else works and diagnose() says how to enable it.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StatementsTest {

    private static final String VERSIONS = "io.pgbatchtelemetry.harness.SharedClusters#versionsArguments";
    private static final String UPDATE = "UPDATE acct a SET bal = a.bal * p.f FROM params p WHERE a.id = p.id";

    /** pg_stat_statements.max = 100: eviction is easy to cause. */
    private final PgStatStatementsClusters clusters = new PgStatStatementsClusters("sql-stmts",
            Map.of("pg_stat_statements.max", "100"));

    @AfterAll
    void stop() {
        clusters.close();
    }

    private static long queryid(TelemetryDb db, String text) throws SQLException {
        // LIKE: an entry evicted while its statement ran (pg_stat_statements.max = 100 here) comes
        // back with its literal text instead of the normalized one
        String v = db.value("SELECT queryid FROM pg_stat_statements WHERE query LIKE '" + text.replace("'", "''")
                + "' AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1");
        assertNotNull(v, "pg_stat_statements has " + text + ": " + db.rows("SELECT query FROM pg_stat_statements ORDER BY calls DESC LIMIT 100"));
        return Long.parseLong(v);
    }

    private static long run(TelemetryDb db, String name, int times, String... workload) throws SQLException {
        long run = db.count("SELECT telemetry.batch_start('" + name + "', session_bound => false)");
        try (Connection c = db.connect()) {
            for (int i = 0; i < times; i++) {
                exec(c, workload);
            }
        }
        db.value("SELECT telemetry.batch_end(" + run + ")");
        return run;
    }

    /**
     * Two runs of a batch with the index its UPDATE uses dropped between them, and more of the
     * telemetry schema's own work (snapshot() calls) in the second: built once per version, read by
     * the tests that need them.
     */
    private record PlanChangeRuns(TelemetryDb db, long baseline, long slow, long queryid, List<Map<String, String>> pending) {
    }

    private final Map<Integer, PlanChangeRuns> planChangeRuns = new HashMap<>();

    private synchronized PlanChangeRuns planChangeRuns(int major) throws Exception {
        PlanChangeRuns built = planChangeRuns.get(major);
        if (built != null) {
            return built;
        }
        TelemetryDb db = clusters.installed(major, "stmt_plans");
        db.exec("DROP TABLE IF EXISTS acct, params",
                "CREATE TABLE acct (id int PRIMARY KEY, bal numeric)",
                "INSERT INTO acct SELECT g, 1 FROM generate_series(1, 200000) g",
                "CREATE TABLE params (id int, f numeric)",
                "INSERT INTO params SELECT g * 7, 1.0001 FROM generate_series(1, 20) g",
                "ANALYZE acct", "ANALYZE params");
        String steady = "SELECT count(*) FROM params WHERE f > 1";   // the same in both runs
        long baseline = run(db, "nightly_plans", 150, UPDATE, steady);
        db.value("SELECT count(*) FROM telemetry.capture_plans(" + baseline + ")");
        db.exec("ALTER TABLE acct DROP CONSTRAINT acct_pkey");
        long slow = db.count("SELECT telemetry.batch_start('nightly_plans', session_bound => false)");
        try (Connection c = db.connect()) {
            for (int i = 0; i < 150; i++) {
                exec(c, UPDATE, steady);
            }
            for (int i = 0; i < 5; i++) {
                exec(c, "SELECT telemetry.snapshot()");   // the schema's own work, more of it than in the baseline
            }
        }
        db.value("SELECT telemetry.batch_end(" + slow + ")");
        // what the telemetry_plans pg_cron job runs: the slow run's plans (the baseline has its own already)
        List<Map<String, String>> pending = db.rows("SELECT * FROM telemetry.capture_pending_plans()");
        built = new PlanChangeRuns(db, baseline, slow, queryid(db, UPDATE), pending);
        planChangeRuns.put(major, built);
        return built;
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void aDroppedIndexIsAPlanChangeRankedFirstWithBothPlans(int major) throws Exception {
        PlanChangeRuns runs = planChangeRuns(major);
        TelemetryDb db = runs.db();
        long baseline = runs.baseline();
        long slow = runs.slow();
        List<Map<String, String>> pending = runs.pending();
        assertEquals(List.of(Long.toString(slow)), pending.stream().map(r -> r.get("run_id")).toList(), pending.toString());
        assertTrue(Integer.parseInt(pending.get(0).get("captured")) >= 1, pending.toString());
        assertEquals(List.of(), db.rows("SELECT * FROM telemetry.capture_pending_plans()"), "nothing left to capture");
        long queryid = runs.queryid();

        List<Map<String, String>> cmp = db.rows("SELECT * FROM telemetry.statement_compare_runs(" + baseline + ", " + slow + ")");
        Map<String, String> first = cmp.get(0);
        assertEquals(Long.toString(queryid), first.get("queryid"), "the UPDATE ranks first: " + cmp.subList(0, 3));
        assertEquals("plan changed", first.get("verdict"), first.toString());
        assertTrue(first.get("baseline_plan").contains("using acct_pkey on acct"), first.get("baseline_plan"));
        assertTrue(first.get("slow_plan").contains("Seq Scan on") && !first.get("slow_plan").contains("acct_pkey"), first.get("slow_plan"));
        assertEquals("150", first.get("baseline_calls"));
        assertEquals("150", first.get("slow_calls"));
        assertEquals(UPDATE, first.get("query"));
        assertTrue(Double.parseDouble(first.get("share_of_extra_pct")) > 50, first.toString());
        assertTrue(cmp.stream().anyMatch(r -> "(all other statements)".equals(r.get("query"))), "the rest is one row");
        // the telemetry schema's own statements (snapshot(), batch_end, ...) rank after the batch's, even
        // snapshot() with its extra calls ahead of the steady statement's near-zero change
        List<Boolean> own = cmp.stream().filter(r -> r.get("queryid") != null)
                .map(r -> String.valueOf(r.get("query")).contains("telemetry.")).toList();
        assertTrue(own.contains(true), "this run called telemetry functions: " + cmp);
        assertEquals(own.indexOf(true), own.lastIndexOf(false) + 1, "own statements last: " + cmp);

        List<Map<String, String>> findings = db.rows("SELECT * FROM telemetry.diagnose(" + slow + ")");
        Map<String, String> regression = findings.stream().filter(f -> f.get("pattern").equals("statement_regression"))
                .findFirst().orElseThrow(() -> new AssertionError("no statement_regression in " + findings));
        String evidence = regression.get("evidence");
        assertTrue(evidence.startsWith("plan changed: queryid " + queryid), evidence);
        assertTrue(evidence.contains("acct_pkey") && evidence.contains("Seq Scan"), "both plans: " + evidence);
        assertTrue(evidence.contains(UPDATE), evidence);
    }

    /**
     * Whether a statement is the telemetry schema's own (ranked after the batch's) is decided by
     * its text, which row-level security hides from a reader who may not see it: the ranking must
     * not depend on that, or two readers would get the statements in different orders.
     */
    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void aReaderWhoMayNotSeeTheTextsGetsTheSameRanking(int major) throws Exception {
        PlanChangeRuns runs = planChangeRuns(major);
        TelemetryDb db = runs.db();
        db.exec("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'stmt_text_blind') THEN "
                        + "CREATE ROLE stmt_text_blind LOGIN PASSWORD 'pw4'; END IF; END $$",
                "GRANT telemetry_reader TO stmt_text_blind");
        String compare = "SELECT * FROM telemetry.statement_compare_runs(" + runs.baseline() + ", " + runs.slow() + ")";
        List<Map<String, String>> owner = db.rows(compare);
        List<Map<String, String>> reader = new ArrayList<>();
        try (Connection c = db.connect("stmt_text_blind", "pw4"); Statement s = c.createStatement(); ResultSet r = s.executeQuery(compare)) {
            while (r.next()) {
                reader.add(Map.of("queryid", String.valueOf(r.getString("queryid")), "query", String.valueOf(r.getString("query"))));
            }
        }
        // the set-up that makes the test mean something: the reader sees none of the texts, and the
        // schema's own statements took more extra time than a statement of the batch, so ranking them by
        // extra time alone would put one of them among the batch's statements
        assertTrue(reader.stream().filter(r -> !"null".equals(r.get("queryid")))
                .allMatch(r -> "<insufficient privilege>".equals(r.get("query"))), "texts hidden from the reader: " + reader);
        double ownMaxExtra = owner.stream().filter(r -> r.get("queryid") != null && String.valueOf(r.get("query")).contains("telemetry."))
                .mapToDouble(r -> Double.parseDouble(r.get("extra_ms"))).max().orElseThrow();
        double batchMinExtra = owner.stream().filter(r -> r.get("queryid") != null && !String.valueOf(r.get("query")).contains("telemetry."))
                .mapToDouble(r -> Double.parseDouble(r.get("extra_ms"))).min().orElseThrow();
        assertTrue(ownMaxExtra > batchMinExtra, "an own statement took more extra time than one of the batch's: " + owner);

        assertEquals(owner.stream().map(r -> String.valueOf(r.get("queryid"))).toList(),
                reader.stream().map(r -> r.get("queryid")).toList(), "the same statements in the same order for both readers");
    }

    /** A table of 100,000 random values in column v, analyzed: a statement over it takes measurable time. */
    private static void randomRows(TelemetryDb db, String table) throws SQLException {
        db.exec("DROP TABLE IF EXISTS " + table, "CREATE TABLE " + table + " (v float8)",
                "INSERT INTO " + table + " SELECT random() FROM generate_series(1, 100000)", "ANALYZE " + table);
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void tenTimesTheCallsIsMoreCallsWithItsShareOfTheExtraTime(int major) throws Exception {
        TelemetryDb db = clusters.installed(major, "stmt_calls");
        String work = "SELECT count(*) FROM work_rows w WHERE w.v > (SELECT avg(v) FROM work_rows)";
        randomRows(db, "work_rows");
        String total = "SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements WHERE query = '" + work.replace("'", "''") + "'";
        double before = Double.parseDouble(db.value(total));
        long baseline = run(db, "nightly_calls", 20, work);
        double mid = Double.parseDouble(db.value(total));
        long slow = run(db, "nightly_calls", 200, work);
        double after = Double.parseDouble(db.value(total));
        double measuredExtraMs = (after - mid) - (mid - before);

        List<Map<String, String>> cmp = db.rows("SELECT * FROM telemetry.statement_compare_runs(" + baseline + ", " + slow + ")");
        Map<String, String> first = cmp.get(0);
        assertEquals(Long.toString(queryid(db, work)), first.get("queryid"), cmp.subList(0, 3).toString());
        assertEquals("more calls", first.get("verdict"), first.toString());
        assertEquals("20", first.get("baseline_calls"));
        assertEquals("200", first.get("slow_calls"));
        double extra = Double.parseDouble(first.get("extra_ms"));
        assertEquals(measuredExtraMs, extra, 0.05 * measuredExtraMs, "its extra time as pg_stat_statements counts it");
        double allExtra = cmp.stream().mapToDouble(r -> Double.parseDouble(r.get("extra_ms"))).sum();
        double share = Double.parseDouble(first.get("share_of_extra_pct"));
        assertEquals(100 * measuredExtraMs / allExtra, share, 5, "share of the extra time within 5 %");
        for (Map<String, String> r : cmp) {
            assertFalse(r.get("slow_total_ms").startsWith("-") || r.get("baseline_total_ms").startsWith("-"), r.toString());
        }
    }

    /**
     * A baseline chosen by hand (run_report(run_id, baseline), the report command's --baseline) is
     * the baseline of the statements too: the statements section and diagnose()'s
     * statement_regression compare with the same run, the typical run of those given (that run
     * when one is given), not with the typical run of the automatic baseline.
     */
    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void anExplicitBaselineIsTheBaselineOfTheStatementsToo(int major) throws Exception {
        TelemetryDb db = clusters.installed(major, "stmt_explicit");
        String work = "SELECT count(*) FROM explicit_rows w WHERE w.v > (SELECT avg(v) FROM explicit_rows)";
        randomRows(db, "explicit_rows");
        // the automatic baseline: the last three runs, whose typical run called the statement as often as the slow one
        db.exec("UPDATE telemetry.config SET value = '3' WHERE key = 'baseline_runs'",
                "UPDATE telemetry.config SET value = '0.1' WHERE key = 'diagnose.statement_extra_seconds'");
        long few1 = run(db, "nightly_explicit", 10, work);
        long few2 = run(db, "nightly_explicit", 10, work);
        long many1 = run(db, "nightly_explicit", 60, work);
        long many2 = run(db, "nightly_explicit", 60, work);
        long slow = run(db, "nightly_explicit", 60, work);
        long queryid = queryid(db, work);

        String auto = db.value("SELECT telemetry.run_report(" + slow + ") #>> '{statements,baseline_run_id}'");
        assertTrue(List.of(Long.toString(many1), Long.toString(many2)).contains(auto),
                "automatically the typical of runs " + few2 + ", " + many1 + ", " + many2 + " is one that called it 60 times: " + auto);

        for (long[] given : List.of(new long[] {few1}, new long[] {few1, few2})) {
            String array = "ARRAY" + java.util.Arrays.toString(given) + "::bigint[]";
            Map<String, String> report = db.rows("SELECT r #>> '{statements,baseline_run_id}' AS statements_baseline, "
                    + "(SELECT f ->> 'evidence' FROM jsonb_array_elements(r -> 'findings') f WHERE f ->> 'pattern' = 'statement_regression' "
                    + " AND f ->> 'evidence' LIKE '%queryid " + queryid + " %') AS regression "
                    + "FROM telemetry.run_report(" + slow + ", " + array + ") r").get(0);
            String typical = report.get("statements_baseline");
            assertTrue(given.length > 1 || typical.equals(Long.toString(few1)), "one run given is that run: " + report);
            assertTrue(List.of(Long.toString(few1), Long.toString(few2)).contains(typical), "the typical of those given: " + report);
            assertNotNull(report.get("regression"), "against a run that called it 10 times, 60 calls are a statement_regression: " + report);
            assertTrue(report.get("regression").startsWith("more calls: queryid " + queryid), report.toString());
            assertTrue(report.get("regression").contains("than in baseline run " + typical + ","),
                    "statement_regression compares with the statements section's run: " + report);
            assertTrue(report.get("regression").contains("calls 10 -> 60"), report.toString());
        }
    }

    /**
     * The report's plan changes are every statement whose plan changed between the two runs, also one
     * that ranks below the statements section's top 20 (little extra time, a changed plan all the same).
     */
    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void everyPlanChangeIsReportedWhereverItRanks(int major) throws Exception {
        TelemetryDb db = clusters.installed(major, "stmt_plan_rank");
        String joined = "SELECT count(*) FROM rank_items i JOIN rank_keys k ON k.id = i.id";   // no constant: plannable on 15 too
        int newStatements = 22;
        db.exec("DROP TABLE IF EXISTS rank_items, rank_keys", "CREATE TABLE rank_items (id int PRIMARY KEY, v int)",
                "INSERT INTO rank_items SELECT g, g FROM generate_series(1, 20000) g",
                "CREATE TABLE rank_keys (id int)", "INSERT INTO rank_keys SELECT g * 13 FROM generate_series(1, 20) g",
                "ANALYZE rank_items", "ANALYZE rank_keys");
        for (int i = 1; i <= newStatements; i++) {
            db.exec("DROP TABLE IF EXISTS rank_new_" + i, "CREATE TABLE rank_new_" + i + " (x int)", "INSERT INTO rank_new_" + i + " VALUES (1)");
        }
        long baseline = run(db, "nightly_plan_rank", 3, joined);
        db.value("SELECT count(*) FROM telemetry.capture_plans(" + baseline + ", 50)");
        db.exec("ALTER TABLE rank_items DROP CONSTRAINT rank_items_pkey");
        long slow = db.count("SELECT telemetry.batch_start('nightly_plan_rank', session_bound => false)");
        try (Connection c = db.connect()) {
            for (int i = 0; i < 3; i++) {
                exec(c, joined);
            }
            for (int i = 1; i <= newStatements; i++) {   // new statements, each with more extra time than the join's
                exec(c, "SELECT pg_sleep(0.05) FROM rank_new_" + i);
            }
        }
        db.value("SELECT telemetry.batch_end(" + slow + ")");
        db.value("SELECT count(*) FROM telemetry.capture_plans(" + slow + ", 50)");
        long queryid = queryid(db, joined);

        Map<String, String> changed = db.rows("SELECT * FROM telemetry.statement_compare_runs(" + baseline + ", " + slow
                + ") WHERE queryid = " + queryid).get(0);
        assertEquals("plan changed", changed.get("verdict"), changed.toString());
        assertTrue(Integer.parseInt(changed.get("rank")) > 20, "ranks below the top 20: " + changed);

        Map<String, String> report = db.rows("SELECT jsonb_array_length(r #> '{statements,rows}') AS shown, "
                + "(SELECT count(*) FROM jsonb_array_elements(r #> '{statements,rows}') x WHERE x ->> 'queryid' = '" + queryid + "') AS in_statements, "
                + "r #>> '{plan_changes,status}' AS status, r #>> '{plan_changes,baseline_run_id}' AS baseline_run, "
                + "(SELECT x::text FROM jsonb_array_elements(r #> '{plan_changes,rows}') x WHERE x ->> 'queryid' = '" + queryid + "') AS change "
                + "FROM telemetry.run_report(" + slow + ") r").get(0);
        assertEquals("20", report.get("shown"), "the statements section keeps its top 20: " + report);
        assertEquals("0", report.get("in_statements"), report.toString());
        assertEquals("ok", report.get("status"), report.toString());
        assertEquals(Long.toString(baseline), report.get("baseline_run"), report.toString());
        String change = report.get("change");
        assertNotNull(change, "the plan change below the top 20 is reported: " + report);
        assertTrue(change.contains("rank_items_pkey") && change.contains("Seq Scan on rank_items"), "both plans: " + change);
        assertTrue(change.contains("\"rank\": " + changed.get("rank")), "with its rank: " + change);
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void evictionAndAResetMidRunAreReportedAndNeverNegative(int major) throws Exception {
        TelemetryDb db = clusters.installed(major, "stmt_evict");
        long evicted = db.count("SELECT telemetry.batch_start('evicting', session_bound => false)");
        try (Connection c = db.connect()) {
            for (int i = 1; i <= 500; i++) {   // 500 distinct statements: 1+1, 1+1+1, ...
                exec(c, "SELECT 1" + "+1".repeat(i));
            }
        }
        db.value("SELECT telemetry.batch_end(" + evicted + ")");
        String warned = db.messages("SELECT * FROM telemetry.statement_compare((SELECT started_at FROM telemetry.runs WHERE run_id = "
                + evicted + "), (SELECT ended_at FROM telemetry.runs WHERE run_id = " + evicted + "))");
        assertTrue(warned.contains("evicted") && warned.contains("pg_stat_statements.max"), warned);

        long reset = db.count("SELECT telemetry.batch_start('resetting', session_bound => false)");
        try (Connection c = db.connect()) {
            for (int i = 0; i < 30; i++) {
                exec(c, "SELECT count(*) FROM pg_class");
            }
            db.value("SELECT telemetry.snapshot()");
            exec(c, "SELECT pg_stat_statements_reset()");
            for (int i = 0; i < 5; i++) {
                exec(c, "SELECT count(*) FROM pg_class");
            }
        }
        db.value("SELECT telemetry.batch_end(" + reset + ")");
        String notice = db.messages("SELECT * FROM telemetry.diagnose(" + reset + ")");
        assertTrue(notice.contains("statement evidence is incomplete") && notice.contains("was reset"), notice);
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.snapshot_statements WHERE least(calls, plans, rows, shared_blks_hit, "
                + "shared_blks_read, temp_blks_written, wal_records) < 0 OR least(total_exec_time, total_plan_time) < 0 OR wal_bytes < 0"),
                "no negative delta");
        assertTrue(db.count("SELECT count(*) FROM telemetry.statement_captures WHERE dealloc_delta > 0") > 0);
        assertTrue(db.count("SELECT count(*) FROM telemetry.statement_captures WHERE reset_in_window") > 0);
        // kept rows are bounded: top statement_top_n by five measures plus "all other statements"
        assertTrue(db.count("SELECT max(n) - 5 * (SELECT value::int FROM telemetry.config WHERE key = 'statement_top_n') "
                + "FROM (SELECT count(*) n FROM telemetry.snapshot_statements GROUP BY snapshot_id) x") <= 1);
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void plansAreCapturedAsTheStatementsRoleOnlyByThoseAllowedAndNeverWait(int major) throws Exception {
        TelemetryDb db = clusters.installed(major, "stmt_roles");
        db.exec("DROP TABLE IF EXISTS owned", "DROP FUNCTION IF EXISTS planned_as_owner()",
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'stmt_owner') THEN "
                        + "CREATE ROLE stmt_owner LOGIN PASSWORD 'pw1'; CREATE ROLE stmt_helper LOGIN PASSWORD 'pw2'; "
                        + "CREATE ROLE stmt_nobody LOGIN PASSWORD 'pw3'; END IF; END $$",
                "GRANT telemetry_writer TO stmt_owner, stmt_helper",
                "GRANT telemetry_reader TO stmt_nobody",
                "GRANT CREATE ON SCHEMA public TO stmt_owner",
                // planning folds this immutable function: it fails unless planned as stmt_owner
                "CREATE FUNCTION planned_as_owner() RETURNS int IMMUTABLE LANGUAGE plpgsql AS "
                        + "$$ BEGIN IF current_user <> 'stmt_owner' THEN RAISE EXCEPTION 'planned as %', current_user; END IF; RETURN 1; END $$");
        String query = "SELECT count(*) FROM owned WHERE id = planned_as_owner()";
        long run = db.count("SELECT telemetry.batch_start('owned_batch', session_bound => false)");
        try (Connection c = db.connect("stmt_owner", "pw1")) {
            exec(c, "CREATE TABLE owned (id int)", "INSERT INTO owned SELECT generate_series(1, 1000)");
            for (int i = 0; i < 50; i++) {
                exec(c, query);
            }
        }
        db.value("SELECT telemetry.batch_end(" + run + ")");
        long queryid = queryid(db, query);

        // a writer that may not become stmt_owner: skipped, with the reason
        List<Map<String, String>> helper = new ArrayList<>();
        try (Connection c = db.connect("stmt_helper", "pw2"); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT * FROM telemetry.capture_plans(" + run + ") WHERE queryid = " + queryid)) {
            while (r.next()) {
                helper.add(Map.of("status", r.getString("status"), "reason", r.getString("reason")));
            }
        }
        assertEquals(1, helper.size());
        assertEquals("skipped", helper.get(0).get("status"));
        assertTrue(helper.get(0).get("reason").contains("may not become"), helper.toString());

        // a role without telemetry_writer: a message, not an error, and nothing stored
        String said;
        try (Connection c = db.connect("stmt_nobody", "pw3"); Statement s = c.createStatement()) {
            s.execute("SELECT * FROM telemetry.capture_plans(" + run + ")");
            said = s.getWarnings() == null ? "" : s.getWarnings().getMessage();
        }
        assertTrue(said.contains("may not capture plans") && said.contains("telemetry_writer"), said);

        // a superuser plans it as stmt_owner (the function would raise otherwise)
        Map<String, String> captured = db.rows("SELECT * FROM telemetry.capture_plans(" + run + ") WHERE queryid = " + queryid).get(0);
        assertEquals("captured", captured.get("status"), captured.toString());
        assertTrue(captured.get("plan").contains("on ") && captured.get("plan").contains("owned"), captured.toString());

        // a writer that may not become stmt_owner can neither forge its plan nor erase it
        String forged;
        try (Connection c = db.connect("stmt_helper", "pw2"); Statement s = c.createStatement()) {
            s.executeQuery("SELECT * FROM telemetry.capture_plans(" + run + ")").close();
            forged = assertThrows(SQLException.class, () -> s.execute("SELECT telemetry._store_plan(" + run
                    + ", 'stmt_owner'::regrole, (SELECT oid FROM pg_database WHERE datname = current_database()), " + queryid
                    + ", 'captured', NULL, '[{\"Plan\": {\"Node Type\": \"Seq Scan\", \"Relation Name\": \"forged\"}}]')")).getMessage();
        }
        assertTrue(forged.contains("may not store a plan"), forged);
        String stored = db.value("SELECT status || ': ' || shape FROM telemetry.statement_plans WHERE run_id = " + run + " AND queryid = " + queryid);
        assertEquals("captured: " + captured.get("plan"), stored, "the captured plan stays");

        // the statement's own role sees the plan; a reader of another role does not
        assertEquals(1, countAs(db, "stmt_owner", "pw1", "SELECT count(*) FROM telemetry.run_plans(" + run + ") WHERE shape IS NOT NULL AND queryid = " + queryid));
        assertEquals(0, countAs(db, "stmt_nobody", "pw3", "SELECT count(*) FROM telemetry.run_plans(" + run + ") WHERE shape IS NOT NULL"));
        assertEquals(0, countAs(db, "stmt_nobody", "pw3", "SELECT count(*) FROM telemetry.statement_texts WHERE userid <> 'stmt_nobody'::regrole"));

        // a batch holding an exclusive lock: planning fails fast instead of waiting
        try (Connection batch = db.connect("stmt_owner", "pw1")) {
            batch.setAutoCommit(false);
            exec(batch, "LOCK TABLE owned IN ACCESS EXCLUSIVE MODE");
            long t0 = System.nanoTime();
            Map<String, String> blocked = CompletableFuture.supplyAsync(() -> {
                try {
                    return db.rows("SELECT * FROM telemetry.capture_plans(" + run + ") WHERE queryid = " + queryid).get(0);
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            }).get(30, TimeUnit.SECONDS);
            long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertEquals("failed", blocked.get("status"), blocked.toString());
            assertTrue(blocked.get("reason").contains("lock timeout"), blocked.toString());
            assertTrue(waitedMs < 20_000, "did not wait for the batch's lock: " + waitedMs + " ms");
            batch.rollback();
        }
        assertEquals(stored, db.value("SELECT status || ': ' || shape FROM telemetry.statement_plans WHERE run_id = " + run
                + " AND queryid = " + queryid), "a failed attempt keeps the plan captured before");
        assertTrue(db.count("SELECT count(*) FROM telemetry.statement_texts") > 0);
        if (major == 15) {
            String withParameter = db.rows("SELECT reason FROM telemetry.statement_plans WHERE run_id = " + run
                    + " AND status = 'skipped' AND reason LIKE '%parameters%'").toString();
            assertTrue(withParameter.contains("PostgreSQL 15 cannot plan it"), "INSERT ... generate_series($1, $2) is skipped on 15: " + withParameter);
        }
        // retention: with the snapshots and runs gone, no kept delta or plan refers to the texts any more
        db.value("SELECT count(*) FROM telemetry.cleanup('0 seconds')");
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.statement_plans WHERE run_id = " + run));
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.statement_texts"), "orphaned texts are deleted");
    }

    private static long countAs(TelemetryDb db, String user, String password, String sql) throws SQLException {
        try (Connection c = db.connect(user, password); Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
            r.next();
            return r.getLong(1);
        }
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void sampledLockWaitsAreAttributedToTheWaitingStatement(int major) throws Exception {
        TelemetryDb db = clusters.installed(major, "stmt_waits");
        db.exec("DROP TABLE IF EXISTS hot", "CREATE TABLE hot (id int PRIMARY KEY, n int)", "INSERT INTO hot VALUES (1, 0)");
        String blocked = "UPDATE hot SET n = n + 1 WHERE id = 1";
        long run = db.count("SELECT telemetry.batch_start('blocked_batch', session_bound => false)");
        try (Connection holder = db.connect(); Connection batch = db.connect()) {
            holder.setAutoCommit(false);
            exec(holder, "UPDATE hot SET n = n WHERE id = 1");
            long pid = CoreApiTest.pidOf(batch);
            CompletableFuture<Void> waiting = CompletableFuture.runAsync(() -> {
                try {
                    exec(batch, blocked);
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            assertTrue(TelemetryDb.await(10, () -> db.count("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid
                    + " AND wait_event_type = 'Lock'") == 1));
            // the third sample comes at least 1.2 s into the wait: over diagnose.lock_wait_seconds (1 s)
            // however fast the machine, so diagnose() has a lock finding whose evidence names the statement
            for (int i = 0; i < 3; i++) {
                db.value("SELECT telemetry.sample()");
                Thread.sleep(600);
            }
            holder.commit();
            waiting.get(10, TimeUnit.SECONDS);
        }
        db.value("SELECT telemetry.batch_end(" + run + ")");
        long queryid = queryid(db, "UPDATE hot SET n = n + % WHERE id = %");
        String window = "(SELECT started_at FROM telemetry.runs WHERE run_id = " + run + "), (SELECT ended_at FROM telemetry.runs WHERE run_id = " + run + ")";
        Map<String, String> top = db.rows("SELECT * FROM telemetry.statement_waits(" + window + ") WHERE wait_event_type = 'Lock'").get(0);
        assertEquals(Long.toString(queryid), top.get("queryid"), top.toString());
        assertEquals("transactionid", top.get("wait_event"));
        assertTrue(Long.parseLong(top.get("sessions_sampled")) >= 3, top.toString());
        assertEquals("100.0", top.get("pct_of_wait"));
        assertTrue(top.get("query").startsWith("UPDATE hot SET n = n + "), top.toString());
        String lock = db.rows("SELECT evidence FROM telemetry.diagnose(" + run + ") WHERE pattern = 'lock_contention'").toString();
        assertTrue(lock.contains("waiting: queryid " + queryid), lock);
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void withoutTheExtensionEverythingElseWorksAndDiagnoseSaysHowToEnableIt(int major) throws Exception {
        TelemetryDb db = TelemetryDb.installed(SharedClusters.get(major), "tel_no_pgss");
        long run = db.count("SELECT telemetry.batch_start('no_pgss', session_bound => false)");
        db.exec("SET work_mem = '64kB'; SELECT count(*) FROM (SELECT g FROM generate_series(1, 300000) g ORDER BY random()) x");
        db.value("SELECT telemetry.batch_end(" + run + ")");
        assertEquals("unavailable", db.value("SELECT status FROM telemetry.statement_captures ORDER BY snapshot_id DESC LIMIT 1"));
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.run_statement_status WHERE run_id = " + run), "no per-run statement totals, no base");
        assertTrue(db.count("SELECT count(*) FROM telemetry.compare((SELECT started_at FROM telemetry.runs WHERE run_id = " + run
                + "), (SELECT ended_at FROM telemetry.runs WHERE run_id = " + run + "))") == 1, "compare() works");
        String said = db.messages("SELECT * FROM telemetry.diagnose(" + run + ")");
        assertTrue(said.contains("statement evidence is unavailable") && said.contains("shared_preload_libraries"), said);
        assertTrue(db.count("SELECT count(*) FROM telemetry.wait_summary((SELECT started_at FROM telemetry.runs WHERE run_id = " + run
                + "), (SELECT ended_at FROM telemetry.runs WHERE run_id = " + run + "))") >= 0, "wait_summary() works");
        CoreApiTest.assertError(db, "SELECT * FROM telemetry.statement_compare_runs(" + run + ", " + run + ")",
                "shared_preload_libraries");
    }
}
