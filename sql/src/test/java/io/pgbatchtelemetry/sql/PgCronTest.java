package io.pgbatchtelemetry.sql;

import io.pgbatchtelemetry.harness.SharedClusters;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Collection by pg_cron on the shared PostgreSQL 15 cluster (pg_cron 1.4.2 preloaded, jobs run in
 * database postgres by background workers): the three jobs are scheduled, '30 seconds' is refused
 * by this pg_cron so sampling falls back to every minute with a notice, a sample job really fires
 * and writes rows, the cleanup job's command (a procedure that commits between batches) really runs
 * under pg_cron, cleanup() purges the jobs' run history and uninstall.sql removes jobs and history.
 */
class PgCronTest {

    private static final String OLD_SAMPLES = "SELECT count(*) FROM telemetry.samples WHERE captured_at < now() - interval '7 days'";

    @Test
    void jobsAreScheduledFireAndAreRemovedByUninstall() throws Exception {
        assumeTrue(SharedClusters.versions().contains(15), "pg_cron exists only for the Debian PostgreSQL 15 here; "
                + "PGBT_PG_VERSIONS=" + SharedClusters.versions() + " leaves it out");
        TelemetryDb db = TelemetryDb.of(SharedClusters.get(15), "postgres");   // cron.database_name
        try {
            String out = db.install();
            assertTrue(out.contains("telemetry_sample runs every minute instead"), out);
            assertEquals("*/5 * * * *", db.value("SELECT schedule FROM cron.job WHERE jobname = 'telemetry_snapshot'"));
            assertEquals("* * * * *", db.value("SELECT schedule FROM cron.job WHERE jobname = 'telemetry_sample'"));
            assertEquals("CALL telemetry.cleanup_in_batches()",
                    db.value("SELECT command FROM cron.job WHERE jobname = 'telemetry_cleanup'"));
            assertEquals("SELECT count(*) FROM telemetry.capture_pending_plans()",
                    db.value("SELECT command FROM cron.job WHERE jobname = 'telemetry_plans'"));
            db.install();   // idempotent: still one job of each
            assertEquals(4, db.count("SELECT count(*) FROM cron.job WHERE jobname LIKE 'telemetry\\_%'"));

            // the daily cleanup command, also due at the next minute boundary, with more old rows than one batch
            db.exec("UPDATE telemetry.config SET value = '1000' WHERE key = 'cleanup_batch_rows'",
                    "INSERT INTO telemetry.samples (captured_at, active_sessions) "
                            + "SELECT now() - interval '8 days' - g * interval '30 seconds', 1 FROM generate_series(1, 2500) g",
                    "SELECT cron.schedule('telemetry_cleanup_now', '* * * * *', "
                            + "(SELECT command FROM cron.job WHERE jobname = 'telemetry_cleanup'))");
            assertEquals(2500, db.count(OLD_SAMPLES));
            String start = db.value("SELECT clock_timestamp()");

            // '* * * * *' jobs fire at the next minute boundary: up to 60 s, once for all three
            boolean ran = TelemetryDb.await(75, () -> db.count("SELECT count(DISTINCT j.jobname) FROM cron.job_run_details d "
                    + "JOIN cron.job j USING (jobid) WHERE j.jobname IN ('telemetry_sample', 'telemetry_cleanup_now', 'telemetry_plans') "
                    + "AND d.status IN ('succeeded', 'failed')") == 3);
            String runs = db.value("SELECT string_agg(j.jobname || ': ' || d.status || ' ' || coalesce(d.return_message, ''), '; ') "
                    + "FROM cron.job_run_details d JOIN cron.job j USING (jobid)");
            assertTrue(ran, "the three jobs ran: " + runs);
            assertEquals(3, db.count("SELECT count(DISTINCT j.jobname) FROM cron.job_run_details d JOIN cron.job j USING (jobid) "
                    + "WHERE j.jobname IN ('telemetry_sample', 'telemetry_cleanup_now', 'telemetry_plans') AND d.status = 'succeeded'"), runs);
            assertEquals(0, db.count(OLD_SAMPLES), "the cleanup job deleted the old samples in batches");
            assertTrue(db.count("SELECT count(*) FROM telemetry.samples WHERE captured_at >= '" + start + "'") > 0,
                    "the sample job wrote a sample, and the cleanup kept it");
            db.exec("SELECT cron.unschedule('telemetry_cleanup_now')");

            db.exec("UPDATE telemetry.config SET value = '0 seconds' WHERE key = 'cron_history_retain'");
            assertTrue(db.count("SELECT rows_deleted FROM telemetry.cleanup() WHERE table_name = 'cron.job_run_details'") >= 1);
            assertEquals(0, db.count("SELECT count(*) FROM cron.job_run_details d JOIN cron.job j USING (jobid) "
                    + "WHERE j.jobname LIKE 'telemetry\\_%' AND d.status IN ('succeeded', 'failed')"));
        } finally {
            db.uninstall();
        }
        assertEquals(0, db.count("SELECT count(*) FROM cron.job WHERE jobname LIKE 'telemetry\\_%'"));
        assertEquals(0, db.count("SELECT count(*) FROM pg_namespace WHERE nspname = 'telemetry'"));
    }
}
