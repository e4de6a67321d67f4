package io.pgbatchtelemetry.sql;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A batch that dies without batch_end() (database tel_abandoned on the shared clusters): its run is closed as
 * 'abandoned' by the next sample() once the session that started it has gone, and counted in run_totals; a run
 * whose session still works, a run started with session_bound => false, and a run whose pid now belongs to a
 * different session (same pid, other backend_start) are told apart.
 */
class AbandonedRunsTest {

    private static final String VERSIONS = "io.pgbatchtelemetry.harness.SharedClusters#versionsArguments";

    private static TelemetryDb db(int major) throws SQLException {
        return TelemetryDb.installed(SharedClusters.get(major), "tel_abandoned");
    }

    private static long start(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
            r.next();
            return r.getLong(1);
        }
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void aRunWhoseSessionDiedIsClosedAsAbandonedByTheNextSample(int major) throws Exception {
        TelemetryDb db = db(major);
        String name = "abandoned_" + System.nanoTime();
        long died;
        long alive;
        long detached;
        try (Connection survivor = db.connect()) {
            try (Connection batch = db.connect()) {
                died = start(batch, "SELECT telemetry.batch_start('" + name + "')");
                alive = start(survivor, "SELECT telemetry.batch_start('" + name + "')");
                detached = start(batch, "SELECT telemetry.batch_start('" + name + "', session_bound => false)");
                assertEquals("f", db.value("SELECT telemetry.run_session_gone(" + died + ")"), "its session is still there");
                db.value("SELECT telemetry.sample()");
                assertEquals("running", db.value("SELECT state FROM telemetry.runs WHERE run_id = " + died));
            } // the batch's connection ends without batch_end()
            assertTrue(TelemetryDb.await(10, () -> "t".equals(db.value("SELECT telemetry.run_session_gone(" + died + ")"))),
                    "the session's exit is seen");
            assertEquals("1", db.value("SELECT telemetry.close_abandoned_runs()"), "only the run whose session died");
            assertEquals("abandoned|true", db.value("SELECT state || '|' || (ended_at IS NOT NULL) FROM telemetry.batch_runs WHERE run_id = " + died));
            assertEquals("running", db.value("SELECT state FROM telemetry.runs WHERE run_id = " + alive), "its session works on");
            assertEquals("running", db.value("SELECT state FROM telemetry.runs WHERE run_id = " + detached),
                    "session_bound => false: batch_end() comes from another session");
            assertEquals("3|0|0|1", db.value("SELECT started || '|' || succeeded || '|' || failed || '|' || abandoned "
                    + "FROM telemetry.run_totals WHERE name = '" + name + "'"));
            CoreApiTest.assertError(db, "SELECT telemetry.batch_end(" + died + ")", "closed as abandoned");

            db.value("SELECT telemetry.batch_end(" + detached + ")");
            try (Statement s = survivor.createStatement()) {
                s.execute("SELECT telemetry.batch_end(" + alive + ", 'failed')");
            }
        }
        assertEquals("3|1|1|1", db.value("SELECT started || '|' || succeeded || '|' || failed || '|' || abandoned "
                + "FROM telemetry.run_totals WHERE name = '" + name + "'"));
    }

    /** install.sql over a schema from before abandoned runs: the state, the columns and the totals arrive; history stays. */
    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void reinstallingOverAnOlderSchemaAddsTheAbandonedState(int major) throws Exception {
        TelemetryDb db = TelemetryDb.installed(SharedClusters.get(major), "tel_abandoned_upgrade");
        db.exec("DELETE FROM telemetry.runs", "DELETE FROM telemetry.run_totals",
                "INSERT INTO telemetry.runs (name, pid) VALUES ('old_run', 1)",
                // the schema as the previous install.sql left it
                "ALTER TABLE telemetry.runs DROP CONSTRAINT runs_state_check",
                "ALTER TABLE telemetry.runs ADD CONSTRAINT runs_state_check CHECK (state IN ('running', 'succeeded', 'failed'))",
                "ALTER TABLE telemetry.runs DROP COLUMN backend_start",
                "ALTER TABLE telemetry.run_totals DROP COLUMN abandoned");
        db.install();
        assertEquals("running", db.value("SELECT state FROM telemetry.runs WHERE name = 'old_run'"),
                "a run from before: its session was never recorded, so it is not judged");
        assertEquals("0", db.value("SELECT abandoned FROM telemetry.run_totals WHERE name = 'old_run'"));
        db.install(); // and again: the constraint is left alone once it knows 'abandoned'
        assertEquals("1", db.value("SELECT count(*) FROM pg_constraint WHERE conname = 'runs_state_check' "
                + "AND pg_get_constraintdef(oid) LIKE '%abandoned%'"));
        String run = db.value("INSERT INTO telemetry.runs (name, pid, backend_start) VALUES ('old_run', 1, now()) RETURNING run_id");
        db.value("SELECT telemetry.sample()");
        assertEquals("abandoned", db.value("SELECT state FROM telemetry.runs WHERE run_id = " + run), "pid 1 is no session of ours");
    }

    @ParameterizedTest(name = "PG{0}")
    @MethodSource(VERSIONS)
    void aReusedPidIsNotMistakenForTheRunsSession(int major) throws Exception {
        TelemetryDb db = db(major);
        try (Connection other = db.connect()) {
            long otherPid = CoreApiTest.pidOf(other);
            // a run recorded by an earlier session that had the pid the other session has now
            long run = Long.parseLong(db.value("INSERT INTO telemetry.runs (name, pid, backend_start) VALUES ('reused_pid', "
                    + otherPid + ", now() - interval '1 day') RETURNING run_id"));
            assertEquals("t", db.value("SELECT telemetry.run_session_gone(" + run + ")"), "same pid, another session");
            db.value("SELECT telemetry.sample()");
            assertEquals("abandoned", db.value("SELECT state FROM telemetry.runs WHERE run_id = " + run));
            long legacy = Long.parseLong(db.value("INSERT INTO telemetry.runs (name, pid) VALUES ('reused_pid', 1) RETURNING run_id"));
            db.value("SELECT telemetry.sample()");
            assertEquals("running", db.value("SELECT state FROM telemetry.runs WHERE run_id = " + legacy),
                    "a run without a recorded session (older schema, session_bound => false) is never judged");
            db.value("SELECT telemetry.batch_end(" + legacy + ")");
        }
    }
}
