package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.StatementResults;
import io.pgbatchtelemetry.exporter.db.TelemetrySchema;
import io.pgbatchtelemetry.exporter.db.VersionedSql;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.SQLException;
import java.util.List;

/**
 * The telemetry schema's own health: whether it is installed in the database the exporter reads,
 * how old its newest snapshot and sample are ({@code telemetry.snapshots}, {@code telemetry.samples}),
 * and how its pg_cron jobs fare ({@code telemetry.cron_job_health()}).
 *
 * <p>History that silently stopped being collected is found out the morning it is needed; an age
 * that keeps growing says so while there is still time. pg_cron's tables are closed to monitoring
 * roles (pg_cron does not grant its schema, and row-level security shows each user only their own
 * jobs), so the job health comes from the schema's SECURITY DEFINER function, which
 * {@code telemetry_reader} — and through it {@code pg_monitor} — may call. Where that function is
 * missing (a schema installed by an older {@code install.sql}) or may not be called, the job metrics
 * are absent and the collector still succeeds; where pg_cron is not installed, the function returns
 * no jobs. The failure count is a gauge over the last hour rather than a counter, because
 * {@code cleanup()} deletes old pg_cron history and a count of it would go down.
 *
 * <p>Versions: the same queries on PostgreSQL 15–18 (pg_cron is only tested on 15 here). Without the
 * schema only {@code pg_telemetry_schema_installed 0} is exported. On a standby the ages are those of
 * the replicated history, which is what a DBA reading it there gets.
 */
public final class TelemetryHealthCollector implements Collector {

    private static final String PERMISSION_DENIED = "42501";

    static final MetricFamily INSTALLED = MetricFamily.gauge("pg_telemetry_schema_installed",
            "1 when the telemetry schema (sql/install.sql) is installed in the database the exporter connects to, else 0.");
    static final MetricFamily SNAPSHOT_AGE = MetricFamily.gauge("pg_telemetry_last_snapshot_age_seconds",
            "Seconds since the newest telemetry.snapshots row was captured; absent before the first snapshot.");
    static final MetricFamily SAMPLE_AGE = MetricFamily.gauge("pg_telemetry_last_sample_age_seconds",
            "Seconds since the newest telemetry.samples row was captured; absent before the first sample.");
    static final MetricFamily CRON_JOB_ACTIVE = MetricFamily.gauge("pg_telemetry_cron_job_active",
            "1 when the telemetry pg_cron job is active (cron.job.active), else 0.", "job");
    static final MetricFamily CRON_JOB_LAST_RUN_FAILED = MetricFamily.gauge("pg_telemetry_cron_job_last_run_failed",
            "1 when the job's last finished run failed, 0 when it succeeded; absent before its first finished run.", "job");
    static final MetricFamily CRON_JOB_FAILED_RUNS = MetricFamily.gauge("pg_telemetry_cron_job_failed_runs_last_hour",
            "Runs of the job that failed in the last hour (cron.job_run_details).", "job");

    private static final VersionedSql AGES = VersionedSql.of("""
            SELECT extract(epoch FROM now() - (SELECT max(captured_at) FROM telemetry.snapshots)) AS snapshot_age,
                   extract(epoch FROM now() - (SELECT max(captured_at) FROM telemetry.samples)) AS sample_age""");

    /** Listed by the probe only where this role may execute it (TelemetrySchema). */
    private static final String CRON_JOB_HEALTH = "cron_job_health()";

    private static final VersionedSql CRON_JOBS = VersionedSql.of("""
            SELECT jobname, active, last_status = 'failed' AS last_failed, failed_last_hour
              FROM telemetry.cron_job_health()""");

    @Override
    public String name() {
        return "telemetry_health";
    }

    @Override
    public List<MetricFamily> families() {
        return List.of(INSTALLED, SNAPSHOT_AGE, SAMPLE_AGE, CRON_JOB_ACTIVE, CRON_JOB_LAST_RUN_FAILED, CRON_JOB_FAILED_RUNS);
    }

    @Override
    public List<VersionedSql> statements(PgServer server) {
        TelemetrySchema schema = server.telemetry();
        if (!schema.readable()) {
            return List.of();
        }
        return schema.has(CRON_JOB_HEALTH) ? List.of(AGES, CRON_JOBS) : List.of(AGES);
    }

    @Override
    public void collect(StatementResults results, MetricSink sink) throws SQLException {
        TelemetrySchema schema = results.server().telemetry();
        sink.add(INSTALLED, schema.installed());
        if (!schema.installed()) {
            return;
        }
        schema.requireUsable();
        results.one(AGES, row -> {
            sink.add(SNAPSHOT_AGE, row.number("snapshot_age"));
            sink.add(SAMPLE_AGE, row.number("sample_age"));
        });
        if (schema.has(CRON_JOB_HEALTH)) {
            collectCronJobs(results, sink);
        }
    }

    /** The job metrics are extras: a revoked EXECUTE leaves them absent instead of failing the rest. */
    private static void collectCronJobs(StatementResults results, MetricSink sink) throws SQLException {
        MetricSink jobs = new MetricSink();
        try {
            results.rows(CRON_JOBS, row -> {
                String job = row.text("jobname");
                jobs.add(CRON_JOB_ACTIVE, row.boolAsNumber("active"), job);
                jobs.add(CRON_JOB_LAST_RUN_FAILED, row.boolAsNumber("last_failed"), job);
                jobs.add(CRON_JOB_FAILED_RUNS, row.number("failed_last_hour"), job);
            });
        } catch (SQLException e) {
            if (PERMISSION_DENIED.equals(e.getSQLState())) {
                return; // autocommit: the failed statement leaves the connection usable for the next collector
            }
            throw e;
        }
        sink.addAll(jobs);
    }
}
