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
 * Batch runs from the telemetry schema's {@code telemetry.batch_runs} view (runs marked with
 * {@code batch_start()}/{@code batch_end()} or opened by {@code sample()}'s application_name rules),
 * and the run totals of {@code telemetry.run_totals}.
 *
 * <p>This is what lets Prometheus compare a run with the batch's usual duration
 * ({@code PostgresBatchRunSlow}) and Grafana annotate runs: whether a run is open and for how long,
 * how long the last finished run took and how it ended, and the usual duration of the batch's latest
 * run (open or finished). "Usual" has one definition, the schema's {@code telemetry.usual_duration(run_id)}
 * over {@code telemetry.baseline_runs(run_id)}: the mean of the previous succeeded runs (config
 * {@code baseline_runs}, default 5, leaving out runs marked with {@code exclude_from_baseline()}),
 * never the run itself, and nothing before config {@code baseline_min_runs} (default 3) such runs
 * exist. This collector reads it rather than computing its own, so the metric, the
 * {@code batch_runs} view and {@code diagnose()} can't disagree. A schema older than that function
 * gets no usual-duration metric.
 *
 * <p>Batch names are chosen by users, so the label set is capped: the {@value #MAX_BATCHES} batches
 * with an open run or the most recent activity are exported; {@code pg_telemetry_batches} tells how
 * many there are. Run counts come from {@code run_totals}, which a trigger keeps and which only grows:
 * counting rows of the view would go down whenever {@code cleanup()} deletes old runs, and Prometheus
 * would read that as a counter reset. A schema installed before {@code run_totals} existed simply
 * gets no run counters until {@code install.sql} is run again.
 *
 * <p>A run whose session ended without {@code batch_end()} is abandoned, not running: the schema's
 * {@code telemetry.run_session_gone()} says so (the one definition; {@code sample()} closes such runs
 * with it), and this query asks it for open runs, so an alert sees the abandonment at the next scrape
 * even where nothing calls {@code sample()} often. Such a run counts as {@code state="abandoned"} at
 * once; when {@code sample()} closes it, {@code run_totals.abandoned} takes it over, so the counter never
 * goes down.
 *
 * <p>Versions: the schema is the same on PostgreSQL 15–18 and so is this query. Without the schema
 * the collector exports nothing and succeeds. On a standby the runs are the primary's, replicated.
 */
public final class TelemetryBatchesCollector implements Collector {

    /** Batches exported at most; beyond it the least recently active are left out. */
    static final int MAX_BATCHES = 50;

    static final MetricFamily BATCHES = MetricFamily.gauge("pg_telemetry_batches",
            "Distinct batch names in telemetry.batch_runs; at most " + MAX_BATCHES + " of them are exported.");
    static final MetricFamily RUNNING = MetricFamily.gauge("pg_telemetry_batch_running",
            "1 while a run of the batch is open in telemetry.batch_runs and its session has not gone, else 0.", "batch");
    static final MetricFamily CURRENT_RUN_SECONDS = MetricFamily.gauge("pg_telemetry_batch_current_run_seconds",
            "Seconds since the open run (the oldest, if several) started; absent while no run is open.", "batch");
    static final MetricFamily LAST_DURATION_SECONDS = MetricFamily.gauge("pg_telemetry_batch_last_duration_seconds",
            "Duration of the batch's last finished run (succeeded or failed; absent when it was abandoned and not yet closed).", "batch");
    static final MetricFamily LAST_SUCCEEDED = MetricFamily.gauge("pg_telemetry_batch_last_succeeded",
            "1 when the batch's last finished run succeeded, 0 when it failed or was abandoned; absent before the first finished run.", "batch");
    static final MetricFamily USUAL_DURATION_SECONDS = MetricFamily.gauge("pg_telemetry_batch_usual_duration_seconds",
            "Usual duration of the batch's latest run: telemetry.usual_duration(), the mean of the succeeded runs before it "
                    + "(config baseline_runs); absent until there are baseline_min_runs of them.", "batch");
    static final MetricFamily RUNS = MetricFamily.counter("pg_telemetry_batch_runs_total",
            "Runs of the batch started (telemetry.run_totals.started).", "batch");
    static final MetricFamily RUNS_FINISHED = MetricFamily.counter("pg_telemetry_batch_runs_finished_total",
            "Runs of the batch that ended, by how they ended: succeeded, failed or abandoned (telemetry.run_totals; abandoned also counts open runs whose session has gone).", "batch", "state");

    /*
     * %1$s is "the open run's session has gone" (telemetry.run_session_gone(), or false for a schema
     * without it): such a run is not running any more but abandoned, even before sample() closes it.
     * It is asked once per open run (open runs are few; each call reads pg_stat_activity).
     */
    private static final String RUNS_QUERY = """
            WITH open_runs AS MATERIALIZED (
              SELECT r.run_id, %1$s AS gone FROM telemetry.runs r WHERE r.state = 'running'
            ),
            batches AS (
              SELECT r.name,
                     bool_or(o.gone IS FALSE) AS running,
                     min(r.started_at) FILTER (WHERE o.gone IS FALSE) AS open_since,
                     count(*) FILTER (WHERE o.gone) AS abandoned_unclosed,
                     count(*) OVER () AS batches
                FROM telemetry.batch_runs r
                LEFT JOIN open_runs o ON o.run_id = r.run_id AND r.state = 'running'
               GROUP BY r.name
               ORDER BY bool_or(r.state = 'running') DESC, max(coalesce(r.ended_at, r.started_at)) DESC, r.name
               LIMIT %2$d
            )
            SELECT b.name, b.running, b.batches,
                   extract(epoch FROM now() - b.open_since) AS current_run_seconds,
                   last.seconds AS last_duration_seconds,
                   last.state = 'succeeded' AS last_succeeded,
                   usual.seconds AS usual_duration_seconds,
                   %3$s
              FROM batches b
              LEFT JOIN LATERAL (SELECT r.state, extract(epoch FROM r.ended_at - r.started_at) AS seconds
                                   FROM telemetry.batch_runs r
                                  WHERE r.name = b.name
                                    AND (r.state <> 'running' OR (SELECT o.gone FROM open_runs o WHERE o.run_id = r.run_id))
                                  ORDER BY r.ended_at DESC, r.run_id DESC LIMIT 1) last ON true
              LEFT JOIN LATERAL (%4$s) usual ON true
              %5$s
             ORDER BY b.name""";

    /** The latest run's usual duration, from the schema's one definition (89-baseline.sql). */
    private static final String USUAL = """
            SELECT u.usual_s AS seconds
                                   FROM (SELECT r.run_id FROM telemetry.runs r WHERE r.name = b.name
                                          ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1) latest
                                  CROSS JOIN LATERAL telemetry.usual_duration(latest.run_id) u""";
    private static final String NO_USUAL = "SELECT NULL::numeric AS seconds";
    /** "Run r's session has gone": the schema's one definition of abandoned; the runs collector asks it too. */
    static final String SESSION_GONE = "telemetry.run_session_gone(r.run_id)";
    private static final String TOTALS_JOIN = "LEFT JOIN telemetry.run_totals t ON t.name = b.name";
    private static final String ABANDONED_TOTALS = "t.started, t.succeeded, t.failed, t.abandoned + b.abandoned_unclosed AS abandoned";
    private static final VersionedSql CURRENT = VersionedSql.of(RUNS_QUERY.formatted(SESSION_GONE, MAX_BATCHES,
            ABANDONED_TOTALS, USUAL, TOTALS_JOIN));
    private static final VersionedSql WITH_ABANDONED = VersionedSql.of(RUNS_QUERY.formatted(SESSION_GONE, MAX_BATCHES,
            ABANDONED_TOTALS, NO_USUAL, TOTALS_JOIN));
    private static final VersionedSql WITH_TOTALS = VersionedSql.of(RUNS_QUERY.formatted("false", MAX_BATCHES,
            "t.started, t.succeeded, t.failed, NULL::bigint AS abandoned", NO_USUAL, TOTALS_JOIN));
    private static final VersionedSql WITHOUT_TOTALS = VersionedSql.of(RUNS_QUERY.formatted("false", MAX_BATCHES,
            "NULL::bigint AS started, NULL::bigint AS succeeded, NULL::bigint AS failed, NULL::bigint AS abandoned",
            NO_USUAL, ""));

    @Override
    public String name() {
        return "telemetry_batches";
    }

    @Override
    public List<MetricFamily> families() {
        return List.of(BATCHES, RUNNING, CURRENT_RUN_SECONDS, LAST_DURATION_SECONDS, LAST_SUCCEEDED,
                USUAL_DURATION_SECONDS, RUNS, RUNS_FINISHED);
    }

    @Override
    public List<VersionedSql> statements(PgServer server) {
        return server.telemetry().readable() ? List.of(runsQuery(server.telemetry())) : List.of();
    }

    /**
     * A schema installed before usual_duration(), run_session_gone() or run_totals existed gets the runs without the
     * usual duration or those counters.
     */
    private static VersionedSql runsQuery(TelemetrySchema schema) {
        if (schema.has("run_session_gone()")) {
            return schema.has("usual_duration()") ? CURRENT : WITH_ABANDONED;
        }
        return schema.has("run_totals") ? WITH_TOTALS : WITHOUT_TOTALS;
    }

    @Override
    public void collect(StatementResults results, MetricSink sink) throws SQLException {
        TelemetrySchema schema = results.server().telemetry();
        if (!schema.toCollect()) {
            return;
        }
        boolean[] first = {true};
        results.rows(runsQuery(schema), row -> {
            if (first[0]) {
                sink.add(BATCHES, row.number("batches")); // the same on every row: a window count before LIMIT
                first[0] = false;
            }
            String batch = row.text("name");
            sink.add(RUNNING, row.boolAsNumber("running"), batch);
            sink.add(CURRENT_RUN_SECONDS, row.number("current_run_seconds"), batch);
            sink.add(LAST_DURATION_SECONDS, row.number("last_duration_seconds"), batch);
            sink.add(LAST_SUCCEEDED, row.boolAsNumber("last_succeeded"), batch);
            sink.add(USUAL_DURATION_SECONDS, row.number("usual_duration_seconds"), batch);
            sink.add(RUNS, row.number("started"), batch);
            sink.add(RUNS_FINISHED, row.number("succeeded"), batch, "succeeded");
            sink.add(RUNS_FINISHED, row.number("failed"), batch, "failed");
            sink.add(RUNS_FINISHED, row.number("abandoned"), batch, "abandoned");
        });
        if (first[0]) {
            sink.add(BATCHES, 0L);
        }
    }
}
