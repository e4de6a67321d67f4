package io.pgbatchtelemetry.sql;

import io.pgbatchtelemetry.harness.SharedClusters;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The schema's security boundaries (database tel_security on the shared clusters), each as an
 * attacker with a documented role would try it: overlong run names, ending another role's run,
 * a rule opening runs for any role, reading another role's query text, and run totals that
 * outlive retention.
 */
class SecurityTest {

    private static final String VERSIONS = "io.pgbatchtelemetry.harness.SharedClusters#versionsArguments";
    private static final String SECRET = "4111 1111 1111 1111";

    private static TelemetryDb db(int major) throws SQLException {
        TelemetryDb db = TelemetryDb.installed(SharedClusters.get(major), "tel_security");
        db.exec("DO $$ DECLARE r text; BEGIN "
                + "FOREACH r IN ARRAY ARRAY['sec_w1', 'sec_w2', 'sec_admin', 'sec_victim', 'sec_reader', 'sec_stats'] LOOP "
                + "  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN EXECUTE format('CREATE ROLE %I LOGIN PASSWORD ''pw''', r); END IF; "
                + "END LOOP; END $$",
                "GRANT telemetry_writer TO sec_w1, sec_w2",
                "GRANT telemetry_admin TO sec_admin",
                "GRANT telemetry_reader TO sec_reader, sec_stats, sec_victim",
                "GRANT pg_read_all_stats TO sec_stats");
        return db;
    }

    private static String value(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
            return r.next() ? r.getString(1) : null;
        }
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void runNamesAreBoundedAndWritersCannotInsertAroundTheBound(int major) throws Exception {
        TelemetryDb db = db(major);
        try (Connection w1 = db.connect("sec_w1", "pw")) {
            try (PreparedStatement start = w1.prepareStatement("SELECT telemetry.batch_start(?)")) {
                start.setString(1, "x".repeat(150_000));
                SQLException e = assertThrows(SQLException.class, start::executeQuery);
                assertEquals("ERROR: telemetry.batch_start: a run name is at most 200 characters (this one has 150000)",
                        e.getMessage().lines().findFirst().orElseThrow());
                start.setString(1, "n".repeat(200));
                try (ResultSet r = start.executeQuery()) {
                    assertTrue(r.next(), "200 characters are accepted");
                }
            }
            SQLException e = assertThrows(SQLException.class, () -> value(w1,
                    "INSERT INTO telemetry.runs (name) VALUES (repeat('y', 150000)) RETURNING run_id"));
            assertTrue(e.getMessage().contains("permission denied for table runs"), e.getMessage());
        }
        // the schema owner can't either, and neither can a rule
        SQLException e = assertThrows(SQLException.class, () -> db.exec("INSERT INTO telemetry.run_rules VALUES ('sec%', repeat('z', 201))"));
        assertTrue(e.getMessage().contains("run_rules_run_name_length"), e.getMessage());
        e = assertThrows(SQLException.class, () -> db.exec("INSERT INTO telemetry.runs (name) VALUES (repeat('z', 201))"));
        assertTrue(e.getMessage().contains("runs_name_length"), e.getMessage());
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void onlyTheStarterOrAnAdministratorEndsARun(int major) throws Exception {
        TelemetryDb db = db(major);
        try (Connection w1 = db.connect("sec_w1", "pw"); Connection w2 = db.connect("sec_w2", "pw");
             Connection admin = db.connect("sec_admin", "pw")) {
            String mine = value(w1, "SELECT telemetry.batch_start('sec_owned')");
            SQLException e = assertThrows(SQLException.class, () -> value(w2, "SELECT telemetry.batch_end(" + mine + ", 'failed')"));
            assertEquals("42501", e.getSQLState());
            assertTrue(e.getMessage().contains("was started by another role"), e.getMessage());
            assertEquals("running", db.value("SELECT state FROM telemetry.runs WHERE run_id = " + mine));
            value(w1, "SELECT telemetry.batch_end(" + mine + ")");
            assertEquals("succeeded", db.value("SELECT state FROM telemetry.runs WHERE run_id = " + mine));

            String other = value(w2, "SELECT telemetry.batch_start('sec_owned')");
            value(admin, "SELECT telemetry.batch_end(" + other + ", 'failed')");
            assertEquals("failed", db.value("SELECT state FROM telemetry.runs WHERE run_id = " + other), "telemetry_admin may end any run");
        }
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void aRuleWithRolesOpensRunsOnlyForThoseRoles(int major) throws Exception {
        TelemetryDb db = db(major);
        db.exec("DELETE FROM telemetry.run_rules", "UPDATE telemetry.runs SET state = 'failed', ended_at = now() WHERE state = 'running'",
                "INSERT INTO telemetry.run_rules (app_pattern, run_name, roles) VALUES ('sec_job%', 'sec_rule_run', '{sec_w1}')");
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (Connection w2 = db.connect("sec_w2", "pw")) {
            w2.setClientInfo("ApplicationName", "sec_job_forged");
            CompletableFuture<Void> busy = sleep(pool, w2, 2);
            assertTrue(TelemetryDb.await(10, () -> db.count("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sec_job_forged'"
                    + " AND state = 'active'") == 1));
            db.value("SELECT telemetry.sample()");
            assertEquals(0, db.count("SELECT count(*) FROM telemetry.runs WHERE name = 'sec_rule_run'"), "sec_w2 is not in the rule's roles");
            busy.join();
        }
        try (Connection w1 = db.connect("sec_w1", "pw")) {
            w1.setClientInfo("ApplicationName", "sec_job_real");
            CompletableFuture<Void> busy = sleep(pool, w1, 2);
            assertTrue(TelemetryDb.await(10, () -> db.count("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sec_job_real'"
                    + " AND state = 'active'") == 1));
            db.value("SELECT telemetry.sample()");
            assertEquals(1, db.count("SELECT count(*) FROM telemetry.runs WHERE name = 'sec_rule_run' AND state = 'running'"));
            busy.join();
        } finally {
            pool.shutdownNow();
            db.exec("DELETE FROM telemetry.run_rules");
        }
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void queryTextIsShownOnlyToWhomPostgresShowsIt(int major) throws Exception {
        TelemetryDb db = db(major);
        db.exec("CREATE TABLE IF NOT EXISTS sec_accounts (id int)", "GRANT SELECT ON sec_accounts TO sec_victim");
        ExecutorService pool = Executors.newFixedThreadPool(2);
        long sample;
        try (Connection victim = db.connect("sec_victim", "pw"); Connection holder = db.connect()) {
            long victimPid = CoreApiTest.pidOf(victim);
            // the superuser holds a lock the victim's query waits for: the victim's text is in activity and locks
            holder.setAutoCommit(false);
            try (Statement s = holder.createStatement()) {
                s.execute("LOCK TABLE sec_accounts IN ACCESS EXCLUSIVE MODE /* holder " + SECRET + " */");
            }
            CompletableFuture<Void> waiting = CompletableFuture.runAsync(() -> {
                try (Statement s = victim.createStatement()) {
                    s.execute("SELECT * FROM sec_accounts WHERE id = 1 /* card " + SECRET + " */");
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            }, pool);
            assertTrue(TelemetryDb.await(10, () -> db.count("SELECT count(*) FROM pg_stat_activity WHERE pid = " + victimPid
                    + " AND wait_event_type = 'Lock'") == 1));
            Thread.sleep(1_100); // a wait diagnose() reports (diagnose.lock_wait_seconds = 1)
            sample = db.count("SELECT telemetry.sample()");
            holder.rollback();
            waiting.join();

            try (Connection reader = db.connect("sec_reader", "pw")) {
                assertEquals("<insufficient privilege>", value(reader, "SELECT query FROM pg_stat_activity WHERE pid = " + CoreApiTest.pidOf(holder)),
                        "PostgreSQL hides another role's query from this reader");
                assertEquals(0, Long.parseLong(value(reader, "SELECT count(*) FROM telemetry.sample_queries WHERE query LIKE '%" + SECRET + "%'")));
                assertEquals("1", value(reader, "SELECT count(*) FROM telemetry.recent_activity WHERE pid = " + victimPid
                        + " AND captured_at = (SELECT captured_at FROM telemetry.samples WHERE id = " + sample + ")"),
                        "the session itself stays visible");
                assertNull(value(reader, "SELECT query_preview FROM telemetry.recent_activity WHERE pid = " + victimPid
                        + " AND captured_at = (SELECT captured_at FROM telemetry.samples WHERE id = " + sample + ")"));
                assertNull(value(reader, "SELECT blocked_query FROM telemetry.recent_locks WHERE blocked_pid = " + victimPid));
                String evidence = value(reader, "SELECT evidence FROM telemetry.diagnose(now() - interval '1 minute', now()) WHERE pattern = 'lock_contention'");
                assertTrue(evidence.contains("no query text"), evidence);
                assertFalse(evidence.contains(SECRET), "diagnose() runs as its caller: " + evidence);
            }
            try (Connection stats = db.connect("sec_stats", "pw")) {
                assertTrue(value(stats, "SELECT query_preview FROM telemetry.recent_activity WHERE pid = " + victimPid
                        + " AND captured_at = (SELECT captured_at FROM telemetry.samples WHERE id = " + sample + ")").contains(SECRET),
                        "pg_read_all_stats sees every text");
                assertTrue(value(stats, "SELECT blocked_query FROM telemetry.recent_locks WHERE blocked_pid = " + victimPid).contains(SECRET));
                assertTrue(value(stats, "SELECT evidence FROM telemetry.diagnose(now() - interval '1 minute', now()) WHERE pattern = 'lock_contention'")
                        .contains("holder " + SECRET));
            }
            try (Connection own = db.connect("sec_victim", "pw")) {
                assertTrue(value(own, "SELECT query_preview FROM telemetry.recent_activity WHERE pid = " + victimPid
                        + " AND captured_at = (SELECT captured_at FROM telemetry.samples WHERE id = " + sample + ")").contains(SECRET),
                        "a role sees its own text");
                assertNull(value(own, "SELECT blocking_query FROM telemetry.recent_locks WHERE blocked_pid = " + victimPid),
                        "but not the superuser's that blocked it");
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * A SECURITY DEFINER function runs as the schema owner, which bypasses row-level security: one
     * that read a text table could hand any caller any text. Only the writers and the retention
     * functions (which return row counts) may name such a table; a new one must be reviewed and added here.
     */
    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void noSecurityDefinerFunctionReadsATextTable(int major) throws Exception {
        TelemetryDb db = db(major);
        assertEquals("sample_queries,statement_plans,statement_texts", db.value("SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_policy p "
                + "JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = 'telemetry'::regnamespace "
                + "AND pg_get_expr(p.polqual, p.polrelid) LIKE '%_may_read_text%' AND c.relrowsecurity"));
        // _store_plan writes the plan its caller made and returns that plan's shape; _cleanup_statement_texts returns a
        // count, and _cleanup_rest names it (calls it) without reading a text table; _plans_changed returns the keys of
        // statements whose plan changed between two runs, never a plan, shape or fingerprint; _telemetry_statements returns
        // the keys of the schema's own statements (so that every reader ranks them alike), never a text
        assertEquals("_cleanup_batch,_cleanup_rest,_cleanup_statement_texts,_plans_changed,_sample,_store_plan,_telemetry_statements,cleanup", db.value("SELECT string_agg(DISTINCT f.proname, ',' ORDER BY f.proname) "
                + "FROM pg_proc f, pg_policy p JOIN pg_class c ON c.oid = p.polrelid "
                + "WHERE f.pronamespace = 'telemetry'::regnamespace AND f.prosecdef "
                + "AND pg_get_expr(p.polqual, p.polrelid) LIKE '%_may_read_text%' AND f.prosrc LIKE '%' || c.relname || '%'"));
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void anUpgradeMovesStoredTextBehindRowLevelSecurity(int major) throws Exception {
        TelemetryDb db = db(major);
        long sample = db.count("SELECT telemetry.sample()");
        db.exec("ALTER TABLE telemetry.sample_activity ADD COLUMN query_preview text",
                "INSERT INTO telemetry.sample_activity (sample_id, pid, usename, query_preview) VALUES (" + sample + ", 424242, 'sec_victim', 'old secret')");
        db.install();
        assertEquals("old secret", db.value("SELECT query FROM telemetry.sample_queries WHERE sample_id = " + sample + " AND pid = 424242"));
        assertEquals("sec_victim", db.value("SELECT role_oid::regrole::text FROM telemetry.sample_queries WHERE sample_id = " + sample + " AND pid = 424242"));
        assertEquals(0, db.count("SELECT count(*) FROM pg_attribute WHERE attrelid = 'telemetry.sample_activity'::regclass AND attname = 'query_preview' AND NOT attisdropped"));
        try (Connection reader = db.connect("sec_reader", "pw")) {
            assertEquals("0", value(reader, "SELECT count(*) FROM telemetry.sample_queries WHERE pid = 424242"));
        }
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void retentionCleansRunTotalsOfNamesWithoutRuns(int major) throws Exception {
        TelemetryDb db = db(major);
        db.exec("INSERT INTO telemetry.runs (name, state, started_at, ended_at) VALUES "
                        + "('sec_aged', 'succeeded', now() - interval '30 days', now() - interval '30 days'), "
                        + "('sec_kept', 'succeeded', now() - interval '30 days', now() - interval '30 days'), "
                        + "('sec_kept', 'succeeded', now() - interval '1 hour', now())");
        assertEquals(1, db.count("SELECT started FROM telemetry.run_totals WHERE name = 'sec_aged'"));
        assertTrue(db.count("SELECT rows_deleted FROM telemetry.cleanup('7 days') WHERE table_name = 'run_totals'") >= 1);
        assertEquals(0, db.count("SELECT count(*) FROM telemetry.run_totals WHERE name = 'sec_aged'"), "its last run aged out");
        assertTrue(db.count("SELECT started FROM telemetry.run_totals WHERE name = 'sec_kept'") >= 2, "a name with runs keeps counting");
    }

    private static CompletableFuture<Void> sleep(ExecutorService pool, Connection c, int seconds) {
        return CompletableFuture.runAsync(() -> {
            try (Statement s = c.createStatement()) {
                s.execute("SELECT pg_sleep(" + seconds + ")");
            } catch (SQLException e) {
                throw new IllegalStateException(e);
            }
        }, pool);
    }
}
