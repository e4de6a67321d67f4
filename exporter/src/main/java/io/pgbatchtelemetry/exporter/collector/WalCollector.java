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
 * WAL generation and WAL I/O from {@code pg_stat_wal}, and the current WAL position.
 *
 * <p>Serves the buffer/WAL pressure pattern: WAL bytes per second against rows written, full-page
 * images after a checkpoint, {@code wal_buffers} filling up, and time spent writing and syncing WAL.
 *
 * <p>Versions: PostgreSQL 15–17 keep the write/sync counters and times in {@code pg_stat_wal};
 * 18 removed them, and the same numbers are the {@code object = 'wal'}, {@code context = 'normal'}
 * rows of {@code pg_stat_io} (writes and fsyncs by {@code XLogWrite()} and
 * {@code issue_xlog_fsync()}, what PG17's columns counted), summed over backend types; context
 * {@code 'init'}, the zero-filling of new WAL segments, was never part of them. The read is shared
 * with the telemetry schema ({@code sql/src/reads/wal.*.sql}, see {@link SharedReads}). The metric
 * names do not change. On a standby {@code pg_current_wal_lsn()} fails, so the position is read from
 * {@code pg_last_wal_receive_lsn()} and {@code pg_last_wal_replay_lsn()} instead.
 */
public final class WalCollector implements Collector {

    static final MetricFamily RECORDS = MetricFamily.counter("pg_stat_wal_records_total",
            "WAL records generated (pg_stat_wal.wal_records).");
    static final MetricFamily FPI = MetricFamily.counter("pg_stat_wal_fpi_total",
            "WAL full-page images generated (pg_stat_wal.wal_fpi).");
    static final MetricFamily BYTES = MetricFamily.counter("pg_stat_wal_bytes_total",
            "WAL bytes generated (pg_stat_wal.wal_bytes).");
    static final MetricFamily BUFFERS_FULL = MetricFamily.counter("pg_stat_wal_buffers_full_total",
            "Times WAL was written because wal_buffers was full (pg_stat_wal.wal_buffers_full).");
    static final MetricFamily WRITES = MetricFamily.counter("pg_stat_wal_write_total",
            "WAL buffer writes to disk (pg_stat_wal.wal_write; on 18 pg_stat_io writes of object 'wal', context 'normal').");
    static final MetricFamily SYNCS = MetricFamily.counter("pg_stat_wal_sync_total",
            "WAL file syncs to disk (pg_stat_wal.wal_sync; on 18 pg_stat_io fsyncs of object 'wal', context 'normal').");
    static final MetricFamily WRITE_TIME = MetricFamily.counter("pg_stat_wal_write_time_seconds_total",
            "Time spent writing WAL to disk; stays 0 unless track_wal_io_timing is on.");
    static final MetricFamily SYNC_TIME = MetricFamily.counter("pg_stat_wal_sync_time_seconds_total",
            "Time spent syncing WAL to disk; stays 0 unless track_wal_io_timing is on.");
    static final MetricFamily STATS_RESET = MetricFamily.gauge("pg_stat_wal_stats_reset_timestamp_seconds",
            "When pg_stat_wal was last reset (Unix time).");
    static final MetricFamily CURRENT_LSN = MetricFamily.gauge("pg_wal_current_lsn_bytes",
            "Current WAL write position on a primary, in bytes since WAL position 0/0.");
    static final MetricFamily RECEIVE_LSN = MetricFamily.gauge("pg_wal_receive_lsn_bytes",
            "On a standby: last WAL position received and flushed to disk, in bytes.");
    static final MetricFamily REPLAY_LSN = MetricFamily.gauge("pg_wal_replay_lsn_bytes",
            "On a standby: last WAL position replayed, in bytes.");

    // The positions ride along with the counters: one round trip per scrape instead of two.
    private static final String POSITION = """
            (SELECT CASE WHEN pg_is_in_recovery() THEN NULL
                         ELSE pg_current_wal_lsn() - '0/0' END AS current_lsn,
                    pg_last_wal_receive_lsn() - '0/0' AS receive_lsn,
                    pg_last_wal_replay_lsn() - '0/0' AS replay_lsn) pos""";

    private static final VersionedSql STATS = SharedReads.load("wal")
            .map(read -> "SELECT r.*, pos.* FROM (" + read + ") r, " + POSITION);

    @Override
    public String name() {
        return "wal";
    }

    @Override
    public List<MetricFamily> families() {
        return List.of(RECORDS, FPI, BYTES, BUFFERS_FULL, WRITES, SYNCS, WRITE_TIME, SYNC_TIME,
                STATS_RESET, CURRENT_LSN, RECEIVE_LSN, REPLAY_LSN);
    }

    @Override
    public List<VersionedSql> statements(PgServer server) {
        return List.of(STATS);
    }

    @Override
    public void collect(StatementResults results, MetricSink sink) throws SQLException {
        results.one(STATS, row -> {
            sink.add(RECORDS, row.number("wal_records"));
            sink.add(FPI, row.number("wal_fpi"));
            sink.add(BYTES, row.number("wal_bytes"));
            sink.add(BUFFERS_FULL, row.number("wal_buffers_full"));
            sink.add(WRITES, row.number("wal_write"));
            sink.add(SYNCS, row.number("wal_sync"));
            sink.add(WRITE_TIME, row.millisAsSeconds("wal_write_time"));
            sink.add(SYNC_TIME, row.millisAsSeconds("wal_sync_time"));
            sink.add(STATS_RESET, row.epochSeconds("stats_reset"));
            sink.add(CURRENT_LSN, row.number("current_lsn"));
            sink.add(RECEIVE_LSN, row.number("receive_lsn"));
            sink.add(REPLAY_LSN, row.number("replay_lsn"));
        });
    }
}
