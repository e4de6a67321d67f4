package io.pgbatchtelemetry.sql;

import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Collection by pg_cron on PostgreSQL 15 (pg_cron 1.4.2 preloaded, jobs run in database postgres
 * by background workers): the three jobs are scheduled, '30 seconds' is refused by this pg_cron so
 * sampling falls back to every minute with a notice, a sample job really fires and writes rows,
 * cleanup() purges the jobs' run history and uninstall.sql removes jobs and history.
 */
class PgCronTest {

    @Test
    void jobsAreScheduledFireAndAreRemovedByUninstall() throws Exception {
        assumeTrue(SharedClusters.versions().contains(15), "pg_cron exists only for the Debian PostgreSQL 15 here; "
                + "PGBT_PG_VERSIONS=" + SharedClusters.versions() + " leaves it out");
        // own cluster: pg_cron must run its jobs in background workers, because its default libpq
        // connection to localhost has no password for the harness's scram-on-TCP setup
        try (PostgresCluster pg = PostgresCluster.builder(15).name("sql-cron").preloadPgCron(true)
                .setting("cron.use_background_workers", "on").build()) {
            pg.start();
            scheduleFireAndUninstall(TelemetryDb.of(pg, "postgres"));
        }
    }

    private static void scheduleFireAndUninstall(TelemetryDb db) throws Exception {
        try {
            String out = db.install();
            assertTrue(out.contains("telemetry_sample runs every minute instead"), out);
            assertEquals("*/5 * * * *", db.value("SELECT schedule FROM cron.job WHERE jobname = 'telemetry_snapshot'"));
            assertEquals("* * * * *", db.value("SELECT schedule FROM cron.job WHERE jobname = 'telemetry_sample'"));
            assertEquals(1, db.count("SELECT count(*) FROM cron.job WHERE jobname = 'telemetry_cleanup'"));
            db.install();   // idempotent: still one job of each
            assertEquals(3, db.count("SELECT count(*) FROM cron.job WHERE jobname LIKE 'telemetry\\_%'"));

            long before = db.count("SELECT count(*) FROM telemetry.samples");
            // a '* * * * *' job fires at the next minute boundary: up to 60 s, once
            boolean fired = TelemetryDb.await(75, () -> db.count("SELECT count(*) FROM cron.job_run_details d "
                    + "JOIN cron.job j USING (jobid) WHERE j.jobname = 'telemetry_sample' AND d.status = 'succeeded'") > 0);
            assertTrue(fired, "telemetry_sample ran: " + db.value("SELECT string_agg(status || ' ' || coalesce(return_message, ''), '; ') "
                    + "FROM cron.job_run_details"));
            assertTrue(db.count("SELECT count(*) FROM telemetry.samples") > before, "the job wrote a sample");

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
