package io.pgbatchtelemetry.report;

import io.pgbatchtelemetry.exporter.it.TelemetryTestDb;
import io.pgbatchtelemetry.harness.PostgresCluster;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;

/**
 * Five normal runs of a batch and one slow run ({@link RecordedRuns}) on a private server with pg_stat_statements
 * preloaded (the caller closes it), each run's plans captured with {@code telemetry.capture_plans(run_id)} right after
 * {@code batch_end()} in the batch's own session, as docs/telemetry-schema.md says a batch does where no pg_cron
 * job (telemetry_plans) does it.
 * Between the normal runs and the slow run the primary key that {@link #UPDATE} uses is dropped (its
 * plan changes from an index scan to a sequential scan); in the slow run {@link #LOOKUP} is called
 * ten times as often, a statement whose text carries markup, pipes, backticks and a line break
 * ({@link #HOSTILE}) runs for the first time, and someone calls pg_stat_statements_reset() halfway
 * (after a snapshot, as the 5-minute pg_cron job would have taken one), so the slow run's statement
 * data is known to be incomplete. The statements have no parameters, so PostgreSQL 15 plans them too.
 * The batch runs as the superuser; {@link #READER} may read the telemetry schema but not other
 * roles' statement texts.
 */
final class StatementRunScenario {

    static final String DATABASE = "report_stmts";
    static final String RUN_NAME = "nightly_accounts";
    static final String UPDATE = "UPDATE acct a SET bal = a.bal * p.f FROM params p WHERE a.id = p.id";
    static final String LOOKUP = "SELECT count(*) FROM work_rows w WHERE w.v > (SELECT avg(v) FROM work_rows)";
    /** Markup in a quoted alias and in a comment (pg_stat_statements keeps both), a pipe, backticks, a line break. */
    static final String HOSTILE = "SELECT count(*) AS \"<script>alert('stmt')</script> a|b `c`\"\n  FROM work_rows /* </td> | `x` */";
    static final String MARKUP = "<script>alert('stmt')</script>";
    static final String READER = "pgbt_report_reader";
    static final String READER_PASSWORD = "reader-Secret-42";
    static final int UPDATE_CALLS = 60;
    static final int LOOKUP_CALLS = 20;
    static final int SLOW_LOOKUP_CALLS = 200;

    private StatementRunScenario() {
    }

    static RecordedRuns start(int version) throws Exception {
        PostgresCluster cluster = PostgresCluster.builder(version).name("report-stmts")
                .setting("shared_preload_libraries", "pg_stat_statements").build();
        cluster.start();
        try {
            RecordedRuns.setUp(cluster, DATABASE,
                    "CREATE ROLE " + READER + " LOGIN PASSWORD '" + READER_PASSWORD + "' IN ROLE telemetry_reader",
                    "CREATE TABLE acct (id int PRIMARY KEY, bal numeric)",
                    "INSERT INTO acct SELECT g, 1 FROM generate_series(1, 100000) g",
                    "CREATE TABLE params (id int, f numeric)",
                    "INSERT INTO params SELECT g * 7, 1.0001 FROM generate_series(1, 20) g",
                    "CREATE TABLE work_rows (v float8)",
                    "INSERT INTO work_rows SELECT random() FROM generate_series(1, 20000)",
                    "ANALYZE acct", "ANALYZE params", "ANALYZE work_rows",
                    // a test batch takes a second: a statement regression is a finding from 0.1 s extra (real batches: 1 s)
                    "UPDATE telemetry.config SET value = '0.1' WHERE key = 'diagnose.statement_extra_seconds'");
            List<Long> normal = RecordedRuns.normalRuns(() -> run(cluster, false));
            TelemetryTestDb.exec(cluster, DATABASE, "ALTER TABLE acct DROP CONSTRAINT acct_pkey");
            return new RecordedRuns(cluster, DATABASE, normal, run(cluster, true));
        } catch (Exception | Error e) {
            cluster.close();
            throw e;
        }
    }

    /** One run in its own session, its plans captured after batch_end(); returns its run id. */
    private static long run(PostgresCluster cluster, boolean slow) throws SQLException {
        try (Connection batch = cluster.connect(DATABASE); Statement b = batch.createStatement()) {
            long runId = RecordedRuns.longValue(b, "SELECT telemetry.batch_start('" + RUN_NAME + "')");
            int lookups = slow ? SLOW_LOOKUP_CALLS : LOOKUP_CALLS;
            for (int half = 0; half < 2; half++) {
                for (int i = 0; i < UPDATE_CALLS / 2; i++) {
                    b.execute(UPDATE);
                }
                for (int i = 0; i < lookups / 2; i++) {
                    b.execute(LOOKUP);
                }
                if (slow && half == 0) {
                    b.execute(HOSTILE);
                    b.execute("SELECT telemetry.snapshot()");
                    b.execute("SELECT pg_stat_statements_reset()");
                }
            }
            TelemetryTestDb.flushStats(batch);   // a real batch's counters reach the closing snapshot: it runs for minutes
            b.execute("SELECT telemetry.batch_end(" + runId + ")");
            b.execute("SELECT count(*) FROM telemetry.capture_plans(" + runId + ")");
            return runId;
        }
    }
}
