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
 * The recent runs of each batch from {@code telemetry.runs}, one series per run, and each run's usual runs
 * from {@code telemetry.baseline_runs(run_id)}: what the Grafana run picker and per-run scorecard need.
 *
 * <p>Why per-run series: Prometheus cannot ask the database which runs are "the usual ones" for a run, and
 * PromQL ranges cannot be computed from data. So the exporter says, while each run is recent, when it ran
 * ({@code pg_telemetry_run_running} is 1 exactly while it is open) and which runs are its baseline. The board
 * then measures the run and its baseline runs with the same PromQL, summing the evidence only at the instants
 * where {@code pg_telemetry_run_running == 1} for those run ids: one definition of the usual runs (the schema's),
 * one definition of each measure (the PromQL over the exporter's counters). See docs/metrics.md.
 *
 * <p>Labels are bounded: the {@value #MAX_BATCHES} batches with an open run or the most recent activity (as
 * {@link TelemetryBatchesCollector} chooses them), the last {@value #RECENT_RUNS} runs of each, and at most
 * {@code baseline_runs} (config of the schema, default 5) baseline runs per run. The baseline is exported for the
 * open runs and the newest finished run of each batch only: a run's series then exist from its start until the next
 * run of the batch ends, which covers the run's own window (where the board looks for them), and a scrape asks
 * {@code baseline_runs()} at most twice per batch rather than for every recent run. A baseline is exported only when
 * it counts as usual: at least {@code baseline_min_runs} (default 3) runs. A schema without
 * {@code baseline_runs()} (installed before it existed) gets the runs without baselines.
 *
 * <p>A run whose session ended without {@code batch_end()} is abandoned, not open: its {@code running} is 0 at the
 * next scrape, not only once {@code sample()} closes it, because open runs are checked with the schema's
 * {@code telemetry.run_session_gone()}, the one definition of abandoned, exactly as {@link TelemetryBatchesCollector}
 * checks them ({@link TelemetryBatchesCollector#SESSION_GONE}); such a run counts as not succeeded. A schema
 * without that function gets the stored state.
 *
 * <p>Versions: the schema is the same on PostgreSQL 15–18 and so is this query. Without the schema the collector
 * exports nothing and succeeds.
 */
public final class TelemetryRunsCollector implements Collector {

    /** Batches whose runs are exported at most (the same choice as the batch collector's). */
    static final int MAX_BATCHES = TelemetryBatchesCollector.MAX_BATCHES;
    /** Runs per batch exported: the open ones and the most recent finished ones. */
    static final int RECENT_RUNS = 10;

    static final MetricFamily RUNNING = MetricFamily.gauge("pg_telemetry_run_running",
            "1 while the run is open and its session has not gone, 0 once it ended or was abandoned; exported for the last "
                    + RECENT_RUNS + " runs of each batch.",
            "batch", "run_id");
    static final MetricFamily STARTED = MetricFamily.gauge("pg_telemetry_run_start_timestamp_seconds",
            "When the run started (telemetry.runs.started_at), Unix time.", "batch", "run_id");
    static final MetricFamily ENDED = MetricFamily.gauge("pg_telemetry_run_end_timestamp_seconds",
            "When the run ended (telemetry.runs.ended_at), Unix time; absent while it is open.", "batch", "run_id");
    static final MetricFamily SUCCEEDED = MetricFamily.gauge("pg_telemetry_run_succeeded",
            "1 when the run succeeded, 0 when it failed or was abandoned; absent while it is open.", "batch", "run_id");
    static final MetricFamily BASELINE = MetricFamily.gauge("pg_telemetry_run_baseline",
            "1 for each run of telemetry.baseline_runs(run_id), the usual runs the run is compared with, for the open runs "
                    + "and the newest finished run of each batch; absent while there are fewer than baseline_min_runs of them.", "batch", "run_id", "baseline_run_id");

    private static final String RUNS_QUERY = """
            WITH batches AS (
              SELECT r.name
                FROM telemetry.runs r
               GROUP BY r.name
               ORDER BY bool_or(r.state = 'running') DESC, max(coalesce(r.ended_at, r.started_at)) DESC, r.name
               LIMIT %1$d
            ), recent AS (
              SELECT x.*,
                     row_number() OVER (PARTITION BY x.name, x.state = 'running'
                                        ORDER BY x.started_at DESC, x.run_id DESC) AS newest
                FROM batches b
               CROSS JOIN LATERAL (SELECT r.run_id, r.name, r.state, r.started_at, r.ended_at,
                                          CASE WHEN r.state = 'running' THEN %3$s ELSE false END AS gone
                                     FROM telemetry.runs r
                                    WHERE r.name = b.name
                                    ORDER BY r.started_at DESC, r.run_id DESC LIMIT %2$d) x
            )
            SELECT rr.run_id, rr.name, rr.state, rr.gone,
                   extract(epoch FROM rr.started_at) AS started, extract(epoch FROM rr.ended_at) AS ended,
                   CASE WHEN rr.state = 'running' OR rr.newest = 1 THEN %4$s END AS baseline
              FROM recent rr
             ORDER BY rr.name, rr.run_id""";

    /** The usual runs as a comma-separated list, or NULL when there are too few of them to count as usual. */
    private static final String BASELINE_LIST = """
            (SELECT CASE WHEN count(*) >= coalesce((SELECT c.value::int FROM telemetry.config c
                                                     WHERE c.key = 'baseline_min_runs'), 3)
                         THEN string_agg(br.run_id::text, ',' ORDER BY br.run_id) END
               FROM telemetry.baseline_runs(rr.run_id) br)""";

    private static final VersionedSql CURRENT = query(TelemetryBatchesCollector.SESSION_GONE, BASELINE_LIST);
    private static final VersionedSql WITHOUT_SESSION_GONE = query("false", BASELINE_LIST);
    private static final VersionedSql WITHOUT_BASELINE = query(TelemetryBatchesCollector.SESSION_GONE, "NULL::text");
    private static final VersionedSql WITHOUT_EITHER = query("false", "NULL::text");

    private static VersionedSql query(String sessionGone, String baseline) {
        return VersionedSql.of(RUNS_QUERY.formatted(MAX_BATCHES, RECENT_RUNS, sessionGone, baseline));
    }

    @Override
    public String name() {
        return "telemetry_runs";
    }

    @Override
    public List<MetricFamily> families() {
        return List.of(RUNNING, STARTED, ENDED, SUCCEEDED, BASELINE);
    }

    @Override
    public List<VersionedSql> statements(PgServer server) {
        return server.telemetry().readable() ? List.of(runsQuery(server.telemetry())) : List.of();
    }

    /** A schema installed before baseline_runs() or run_session_gone() existed gets the runs without baselines or abandonment. */
    private static VersionedSql runsQuery(TelemetrySchema schema) {
        boolean gone = schema.has("run_session_gone()");
        if (schema.has("baseline_runs()")) {
            return gone ? CURRENT : WITHOUT_SESSION_GONE;
        }
        return gone ? WITHOUT_BASELINE : WITHOUT_EITHER;
    }

    @Override
    public void collect(StatementResults results, MetricSink sink) throws SQLException {
        TelemetrySchema schema = results.server().telemetry();
        if (!schema.toCollect()) {
            return;
        }
        results.rows(runsQuery(schema), row -> {
            String batch = row.text("name");
            String run = row.text("run_id");
            boolean open = "running".equals(row.text("state")) && !Boolean.TRUE.equals(row.bool("gone"));
            sink.add(RUNNING, open ? 1.0 : 0.0, batch, run);
            sink.add(STARTED, row.number("started"), batch, run);
            sink.add(ENDED, row.number("ended"), batch, run);
            sink.add(SUCCEEDED, open ? null : ("succeeded".equals(row.text("state")) ? 1.0 : 0.0), batch, run);
            String baseline = row.text("baseline");
            if (baseline != null) {
                for (String baselineRun : baseline.split(",")) {
                    sink.add(BASELINE, 1.0, batch, run, baselineRun);
                }
            }
        });
    }
}
