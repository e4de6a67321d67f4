package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.SharedReads;
import io.pgbatchtelemetry.exporter.db.StatementResults;
import io.pgbatchtelemetry.exporter.db.VersionedSql;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Per-database activity from {@code pg_stat_database} and size from {@code pg_database_size()},
 * plus the temporary files that exist right now.
 *
 * <p>Serves the temp-file spill pattern ({@code temp_files}/{@code temp_bytes} growth when
 * {@code work_mem} is too small) and the lock pattern ({@code deadlocks}), and gives the
 * transaction and tuple rates a batch is compared against. {@code temp_bytes} only moves when a
 * query closes its temp files, i.e. when it ends; a 40-minute sort that spills shows nothing
 * there until it finishes. {@code pg_temp_files_in_use} and {@code pg_temp_space_in_use_bytes}
 * come from {@code pg_ls_tmpdir()} (executable by pg_monitor) on the default tablespace and show
 * the spill while it happens. {@code pg_ls_tmpdir()} lists plain files only: the shared file
 * sets of parallel sorts and hashes live in subdirectories and are not counted, and neither are
 * temp files in {@code temp_tablespaces}.
 *
 * <p>{@code pg_database_size()} stats every file of a database: with thousands of tables it is most
 * of the exporter's server time (measured in docs/benchmarks.md), while sizes move slowly. It therefore runs in
 * its own statement at most once per {@code scrape.database-size-interval} (default 60 s; 0 = every
 * scrape), or sooner when a database appears; scrapes in between serve the last sizes read.
 *
 * <p>Versions: the columns read here are the same on PostgreSQL 15–18. The rows are the telemetry
 * schema's too ({@code sql/src/reads/database.15.sql}, see {@link SharedReads}): joining
 * {@code pg_database} drops the NULL-datid row for shared catalogs, and templates are skipped ({@code datistemplate}: template0, template1 and any database made a template), since
 * no batch runs there. The size is left NULL (absent) rather than failing the whole collector
 * where the user may neither connect to the database nor read all stats; with pg_monitor it is
 * always there.
 */
public final class DatabaseCollector implements Collector {

    static final MetricFamily NUMBACKENDS = MetricFamily.gauge("pg_stat_database_numbackends",
            "Backends connected to this database (pg_stat_database.numbackends).", "datname");
    static final MetricFamily XACT_COMMIT = counter("pg_stat_database_xact_commit_total",
            "Transactions committed (pg_stat_database.xact_commit).");
    static final MetricFamily XACT_ROLLBACK = counter("pg_stat_database_xact_rollback_total",
            "Transactions rolled back (pg_stat_database.xact_rollback).");
    static final MetricFamily BLKS_READ = counter("pg_stat_database_blks_read_total",
            "Blocks read from disk or the OS cache (pg_stat_database.blks_read).");
    static final MetricFamily BLKS_HIT = counter("pg_stat_database_blks_hit_total",
            "Blocks found in shared buffers (pg_stat_database.blks_hit).");
    static final MetricFamily TUP_RETURNED = counter("pg_stat_database_tup_returned_total",
            "Rows returned by scans (pg_stat_database.tup_returned).");
    static final MetricFamily TUP_FETCHED = counter("pg_stat_database_tup_fetched_total",
            "Rows fetched by index scans (pg_stat_database.tup_fetched).");
    static final MetricFamily TUP_INSERTED = counter("pg_stat_database_tup_inserted_total",
            "Rows inserted (pg_stat_database.tup_inserted).");
    static final MetricFamily TUP_UPDATED = counter("pg_stat_database_tup_updated_total",
            "Rows updated (pg_stat_database.tup_updated).");
    static final MetricFamily TUP_DELETED = counter("pg_stat_database_tup_deleted_total",
            "Rows deleted (pg_stat_database.tup_deleted).");
    static final MetricFamily CONFLICTS = counter("pg_stat_database_conflicts_total",
            "Queries cancelled by recovery conflicts on a standby (pg_stat_database.conflicts).");
    static final MetricFamily TEMP_FILES = counter("pg_stat_database_temp_files_total",
            "Temporary files created by queries, counted when closed (pg_stat_database.temp_files).");
    static final MetricFamily TEMP_BYTES = counter("pg_stat_database_temp_bytes_total",
            "Bytes written to temporary files, counted when closed (pg_stat_database.temp_bytes).");
    static final MetricFamily DEADLOCKS = counter("pg_stat_database_deadlocks_total",
            "Deadlocks detected (pg_stat_database.deadlocks).");
    static final MetricFamily BLK_READ_TIME = counter("pg_stat_database_blk_read_time_seconds_total",
            "Time backends spent reading blocks; stays 0 unless track_io_timing is on "
                    + "(pg_stat_database.blk_read_time).");
    static final MetricFamily BLK_WRITE_TIME = counter("pg_stat_database_blk_write_time_seconds_total",
            "Time backends spent writing blocks; stays 0 unless track_io_timing is on "
                    + "(pg_stat_database.blk_write_time).");
    static final MetricFamily STATS_RESET = MetricFamily.gauge("pg_stat_database_stats_reset_timestamp_seconds",
            "When this database's statistics were last reset (Unix time; absent if never).", "datname");
    static final MetricFamily SIZE = MetricFamily.gauge("pg_database_size_bytes",
            "Disk space used by the database (pg_database_size), read at most every scrape.database-size-interval.",
            "datname");
    static final MetricFamily TEMP_FILES_IN_USE = MetricFamily.gauge("pg_temp_files_in_use",
            "Temporary files that exist now in the default tablespace (pg_ls_tmpdir()).");
    static final MetricFamily TEMP_SPACE_IN_USE = MetricFamily.gauge("pg_temp_space_in_use_bytes",
            "Bytes of temporary files that exist now in the default tablespace (pg_ls_tmpdir()).");

    // The temp files in use ride along on every row: one round trip for the whole collector.
    private static final VersionedSql DATABASES = SharedReads.load("database").map(read -> """
            SELECT r.*, tmp.files AS temp_files_in_use, tmp.bytes AS temp_space_in_use
              FROM (%s) r
             CROSS JOIN (SELECT count(*) AS files, coalesce(sum(size), 0) AS bytes FROM pg_ls_tmpdir()) tmp"""
            .formatted(read));

    private static final VersionedSql SIZES = VersionedSql.of(15, """
            SELECT d.datname,
                   CASE WHEN has_database_privilege(d.oid, 'CONNECT')
                          OR pg_has_role('pg_read_all_stats', 'USAGE')
                        THEN pg_database_size(d.oid) END AS size_bytes
              FROM pg_database d
             WHERE NOT d.datistemplate""");

    /** Sizes by database name (null where not readable), and when they were read. */
    private record Sizes(Map<String, Double> bytes, long readAtNanos) {}

    private final Duration sizeInterval;
    /** Written by the scrape that refreshed it; overlapping scrapes at worst refresh twice. */
    private volatile Sizes sizes;

    /** @param sizeInterval how old the served database sizes may be; zero reads them every scrape */
    public DatabaseCollector(Duration sizeInterval) {
        this.sizeInterval = sizeInterval;
    }

    private static MetricFamily counter(String name, String help) {
        return MetricFamily.counter(name, help, "datname");
    }

    @Override
    public String name() {
        return "database";
    }

    @Override
    public List<MetricFamily> families() {
        return List.of(NUMBACKENDS, XACT_COMMIT, XACT_ROLLBACK, BLKS_READ, BLKS_HIT, TUP_RETURNED, TUP_FETCHED,
                TUP_INSERTED, TUP_UPDATED, TUP_DELETED, CONFLICTS, TEMP_FILES, TEMP_BYTES, DEADLOCKS,
                BLK_READ_TIME, BLK_WRITE_TIME, STATS_RESET, SIZE, TEMP_FILES_IN_USE, TEMP_SPACE_IN_USE);
    }

    @Override
    public List<VersionedSql> statements(PgServer server) {
        return List.of(DATABASES); // the sizes only now and then: not announced
    }

    @Override
    public void collect(StatementResults results, MetricSink sink) throws SQLException {
        List<String> databases = new ArrayList<>();
        results.rows(DATABASES, row -> {
            String datname = row.text("datname");
            databases.add(datname);
            sink.add(NUMBACKENDS, row.number("numbackends"), datname);
            sink.add(XACT_COMMIT, row.number("xact_commit"), datname);
            sink.add(XACT_ROLLBACK, row.number("xact_rollback"), datname);
            sink.add(BLKS_READ, row.number("blks_read"), datname);
            sink.add(BLKS_HIT, row.number("blks_hit"), datname);
            sink.add(TUP_RETURNED, row.number("tup_returned"), datname);
            sink.add(TUP_FETCHED, row.number("tup_fetched"), datname);
            sink.add(TUP_INSERTED, row.number("tup_inserted"), datname);
            sink.add(TUP_UPDATED, row.number("tup_updated"), datname);
            sink.add(TUP_DELETED, row.number("tup_deleted"), datname);
            sink.add(CONFLICTS, row.number("conflicts"), datname);
            sink.add(TEMP_FILES, row.number("temp_files"), datname);
            sink.add(TEMP_BYTES, row.number("temp_bytes"), datname);
            sink.add(DEADLOCKS, row.number("deadlocks"), datname);
            sink.add(BLK_READ_TIME, row.millisAsSeconds("blk_read_time"), datname);
            sink.add(BLK_WRITE_TIME, row.millisAsSeconds("blk_write_time"), datname);
            sink.add(STATS_RESET, row.epochSeconds("stats_reset"), datname);
            if (row.first()) { // the same on every row
                sink.add(TEMP_FILES_IN_USE, row.number("temp_files_in_use"));
                sink.add(TEMP_SPACE_IN_USE, row.number("temp_space_in_use"));
            }
        });
        Sizes current = currentSizes(results, databases);
        for (String datname : databases) {
            sink.add(SIZE, current.bytes().get(datname), datname); // a dropped database's size is not served
        }
    }

    /** The cached sizes, read again when older than the interval or when a database is new to them. */
    private Sizes currentSizes(StatementResults results, List<String> databases) throws SQLException {
        Sizes cached = sizes;
        long now = System.nanoTime();
        if (cached != null && now - cached.readAtNanos() < sizeInterval.toNanos()
                && cached.bytes().keySet().containsAll(databases)) {
            return cached;
        }
        Map<String, Double> bytes = new HashMap<>();
        results.followUp(SIZES, row -> bytes.put(row.text("datname"), row.number("size_bytes")));
        Sizes fresh = new Sizes(bytes, now);
        sizes = fresh;
        return fresh;
    }
}
