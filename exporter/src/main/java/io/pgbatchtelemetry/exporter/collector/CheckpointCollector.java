package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.SharedReads;
import io.pgbatchtelemetry.exporter.db.StatementResults;
import io.pgbatchtelemetry.exporter.db.VersionedSql;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.SQLException;
import java.util.List;

/**
 * Checkpoint activity: how many checkpoints ran, how many were requested (forced by
 * {@code max_wal_size}, {@code CHECKPOINT} or a base backup), the time they spent writing and
 * syncing, the buffers they wrote, and how long ago the last one was.
 *
 * <p>Serves the checkpoint interference pattern: a batch that fills {@code max_wal_size} forces
 * checkpoints back to back, and every page it then touches for the first time costs a full-page
 * image.
 *
 * <p>Versions: PostgreSQL 15 and 16 keep these counters in {@code pg_stat_bgwriter}; 17 moved them
 * to {@code pg_stat_checkpointer} (num_timed, num_requested, write_time, sync_time,
 * buffers_written) and 18 added {@code num_done} (checkpoints that completed, as opposed to
 * requested ones skipped because nothing had changed). The read is shared with the telemetry schema
 * ({@code sql/src/reads/checkpointer.*.sql}, see {@link SharedReads}). The metric names keep
 * postgres_exporter's {@code pg_stat_bgwriter_} prefix on every version, so dashboards built for
 * postgres_exporter keep working on 17+ where the source is {@code pg_stat_checkpointer}.
 * {@code pg_stat_checkpointer_num_done_total} and
 * {@code pg_stat_checkpointer_stats_reset_timestamp_seconds} only exist where their column does
 * (18, and 17+); on 15/16 the reset time of these counters is {@code pg_stat_bgwriter.stats_reset},
 * exported by {@link BgwriterCollector}.
 *
 * <p>The checkpoint age comes from {@code pg_control_checkpoint()} (executable by PUBLIC on 15–18)
 * rather than from the counters, because it tells the time of the last checkpoint even right after
 * a restart or a stats reset. On a standby it is the last restartpoint.
 */
public final class CheckpointCollector implements Collector {

    static final MetricFamily TIMED = MetricFamily.counter("pg_stat_bgwriter_checkpoints_timed_total",
            "Checkpoints started because checkpoint_timeout elapsed (pg_stat_bgwriter.checkpoints_timed; "
                    + "pg_stat_checkpointer.num_timed on 17+).");
    static final MetricFamily REQUESTED = MetricFamily.counter("pg_stat_bgwriter_checkpoints_req_total",
            "Checkpoints requested: by max_wal_size, CHECKPOINT or a backup (pg_stat_bgwriter.checkpoints_req; "
                    + "pg_stat_checkpointer.num_requested on 17+).");
    static final MetricFamily WRITE_TIME = MetricFamily.counter(
            "pg_stat_bgwriter_checkpoint_write_time_seconds_total",
            "Time checkpoints spent writing buffers, spread over checkpoint_completion_target "
                    + "(pg_stat_bgwriter.checkpoint_write_time; pg_stat_checkpointer.write_time on 17+).");
    static final MetricFamily SYNC_TIME = MetricFamily.counter(
            "pg_stat_bgwriter_checkpoint_sync_time_seconds_total",
            "Time checkpoints spent syncing files to disk (pg_stat_bgwriter.checkpoint_sync_time; "
                    + "pg_stat_checkpointer.sync_time on 17+).");
    static final MetricFamily BUFFERS_WRITTEN = MetricFamily.counter("pg_stat_bgwriter_buffers_checkpoint_total",
            "Buffers written by checkpoints (pg_stat_bgwriter.buffers_checkpoint; "
                    + "pg_stat_checkpointer.buffers_written on 17+).");
    static final MetricFamily DONE = MetricFamily.counter("pg_stat_checkpointer_num_done_total",
            "Checkpoints completed, timed or requested (pg_stat_checkpointer.num_done; PostgreSQL 18+ only).");
    static final MetricFamily STATS_RESET = MetricFamily.gauge("pg_stat_checkpointer_stats_reset_timestamp_seconds",
            "When pg_stat_checkpointer was last reset (Unix time; PostgreSQL 17+ only).");
    static final MetricFamily LAST_CHECKPOINT_AGE = MetricFamily.gauge("pg_last_checkpoint_age_seconds",
            "Seconds since the last checkpoint (restartpoint on a standby) started, from pg_control_checkpoint().");

    private static final VersionedSql STATS = SharedReads.load("checkpointer")
            .map(read -> "SELECT r.*, extract(epoch FROM now() - c.checkpoint_time) AS last_checkpoint_age FROM ("
                    + read + ") r, pg_control_checkpoint() c");

    @Override
    public String name() {
        return "checkpoints";
    }

    @Override
    public List<MetricFamily> families() {
        return List.of(TIMED, REQUESTED, WRITE_TIME, SYNC_TIME, BUFFERS_WRITTEN, DONE, STATS_RESET,
                LAST_CHECKPOINT_AGE);
    }

    @Override
    public List<VersionedSql> statements(PgServer server) {
        return List.of(STATS);
    }

    @Override
    public void collect(StatementResults results, MetricSink sink) throws SQLException {
        results.one(STATS, row -> {
            sink.add(TIMED, row.number("timed"));
            sink.add(REQUESTED, row.number("requested"));
            sink.add(WRITE_TIME, row.millisAsSeconds("write_time"));
            sink.add(SYNC_TIME, row.millisAsSeconds("sync_time"));
            sink.add(BUFFERS_WRITTEN, row.number("buffers_written"));
            sink.add(DONE, row.number("done"));
            sink.add(STATS_RESET, row.epochSeconds("checkpointer_stats_reset"));
            sink.add(LAST_CHECKPOINT_AGE, row.number("last_checkpoint_age"));
        });
    }
}
