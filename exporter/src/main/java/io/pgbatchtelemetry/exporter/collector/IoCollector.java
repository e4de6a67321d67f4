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
 * I/O by process type, object and context from {@code pg_stat_io}, one series per row.
 *
 * <p>Serves the buffer/WAL pressure pattern: whether client backends read, extend, evict and
 * write buffers themselves, and in which context (a bulk read or bulk write ring, vacuum, or
 * normal shared buffers).
 *
 * <p>Versions: {@code pg_stat_io} exists from PostgreSQL 16, so {@link #supports} is false on 15.
 * 16 and 17 report sizes as {@code op_bytes} (always the block size) per row; 18 dropped
 * {@code op_bytes}, added {@code read_bytes}, {@code write_bytes} and {@code extend_bytes} (an
 * operation may cover several blocks there, so ops x block size would be wrong) and added
 * {@code object = 'wal'} rows. The {@code _bytes_total} names are the same on every version:
 * on 16/17 they are the operation count times {@code op_bytes}.
 *
 * <p>A cell is NULL where the operation cannot happen for that row (the checkpointer never reads,
 * temp relations are never fsynced); those series are absent rather than a fake 0. The label
 * set is bounded by PostgreSQL's fixed lists of backend types, objects and contexts (about 30
 * rows on 16/17, about 80 on 18).
 */
public final class IoCollector implements Collector {

    private static final String[] LABELS = {"backend_type", "object", "context"};

    static final MetricFamily READS = counter("pg_stat_io_reads_total", "Read operations (pg_stat_io.reads).");
    static final MetricFamily WRITES = counter("pg_stat_io_writes_total", "Write operations (pg_stat_io.writes).");
    static final MetricFamily WRITEBACKS = counter("pg_stat_io_writebacks_total",
            "Requests to the kernel to write data to storage (pg_stat_io.writebacks).");
    static final MetricFamily EXTENDS = counter("pg_stat_io_extends_total",
            "Relation extend operations (pg_stat_io.extends).");
    static final MetricFamily HITS = counter("pg_stat_io_hits_total",
            "Times a wanted block was already in a buffer (pg_stat_io.hits).");
    static final MetricFamily EVICTIONS = counter("pg_stat_io_evictions_total",
            "Times a block was evicted from a buffer to reuse it (pg_stat_io.evictions).");
    static final MetricFamily REUSES = counter("pg_stat_io_reuses_total",
            "Times a buffer in a bulk read/write or vacuum ring was reused (pg_stat_io.reuses).");
    static final MetricFamily FSYNCS = counter("pg_stat_io_fsyncs_total", "fsync calls (pg_stat_io.fsyncs).");
    static final MetricFamily READ_TIME = counter("pg_stat_io_read_time_seconds_total",
            "Time spent reading; stays 0 unless track_io_timing is on (pg_stat_io.read_time).");
    static final MetricFamily WRITE_TIME = counter("pg_stat_io_write_time_seconds_total",
            "Time spent writing; stays 0 unless track_io_timing is on (pg_stat_io.write_time).");
    static final MetricFamily WRITEBACK_TIME = counter("pg_stat_io_writeback_time_seconds_total",
            "Time spent in writeback; stays 0 unless track_io_timing is on (pg_stat_io.writeback_time).");
    static final MetricFamily EXTEND_TIME = counter("pg_stat_io_extend_time_seconds_total",
            "Time spent extending; stays 0 unless track_io_timing is on (pg_stat_io.extend_time).");
    static final MetricFamily FSYNC_TIME = counter("pg_stat_io_fsync_time_seconds_total",
            "Time spent in fsync; stays 0 unless track_io_timing is on (pg_stat_io.fsync_time).");
    static final MetricFamily READ_BYTES = counter("pg_stat_io_read_bytes_total",
            "Bytes read (pg_stat_io.read_bytes on 18; reads x op_bytes on 16/17).");
    static final MetricFamily WRITE_BYTES = counter("pg_stat_io_write_bytes_total",
            "Bytes written (pg_stat_io.write_bytes on 18; writes x op_bytes on 16/17).");
    static final MetricFamily EXTEND_BYTES = counter("pg_stat_io_extend_bytes_total",
            "Bytes added by relation extension (pg_stat_io.extend_bytes on 18; extends x op_bytes on 16/17).");
    static final MetricFamily STATS_RESET = MetricFamily.gauge("pg_stat_io_stats_reset_timestamp_seconds",
            "When pg_stat_io was last reset (Unix time, latest over its rows).");

    private static final VersionedSql ROWS = SharedReads.load("io");

    private static MetricFamily counter(String name, String help) {
        return MetricFamily.counter(name, help, LABELS);
    }

    @Override
    public String name() {
        return "io";
    }

    @Override
    public List<MetricFamily> families() {
        return List.of(READS, WRITES, WRITEBACKS, EXTENDS, HITS, EVICTIONS, REUSES, FSYNCS,
                READ_TIME, WRITE_TIME, WRITEBACK_TIME, EXTEND_TIME, FSYNC_TIME,
                READ_BYTES, WRITE_BYTES, EXTEND_BYTES, STATS_RESET);
    }

    @Override
    public boolean supports(PgServer server) {
        return ROWS.supports(server);
    }

    @Override
    public List<VersionedSql> statements(PgServer server) {
        return List.of(ROWS);
    }

    @Override
    public void collect(StatementResults results, MetricSink sink) throws SQLException {
        Double[] statsReset = {null}; // the latest reset over the view's rows
        results.rows(ROWS, row -> {
            Double reset = row.epochSeconds("stats_reset");
            if (reset != null && (statsReset[0] == null || reset > statsReset[0])) {
                statsReset[0] = reset;
            }
            String[] labels = {row.text("backend_type"), row.text("object"), row.text("context")};
            sink.add(READS, row.number("reads"), labels);
            sink.add(WRITES, row.number("writes"), labels);
            sink.add(WRITEBACKS, row.number("writebacks"), labels);
            sink.add(EXTENDS, row.number("extends"), labels);
            sink.add(HITS, row.number("hits"), labels);
            sink.add(EVICTIONS, row.number("evictions"), labels);
            sink.add(REUSES, row.number("reuses"), labels);
            sink.add(FSYNCS, row.number("fsyncs"), labels);
            sink.add(READ_TIME, row.millisAsSeconds("read_time"), labels);
            sink.add(WRITE_TIME, row.millisAsSeconds("write_time"), labels);
            sink.add(WRITEBACK_TIME, row.millisAsSeconds("writeback_time"), labels);
            sink.add(EXTEND_TIME, row.millisAsSeconds("extend_time"), labels);
            sink.add(FSYNC_TIME, row.millisAsSeconds("fsync_time"), labels);
            sink.add(READ_BYTES, row.number("read_bytes"), labels);
            sink.add(WRITE_BYTES, row.number("write_bytes"), labels);
            sink.add(EXTEND_BYTES, row.number("extend_bytes"), labels);
        });
        sink.add(STATS_RESET, statsReset[0]);
    }
}
