package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.StatementResults;
import io.pgbatchtelemetry.exporter.db.VersionedSql;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Statement counters from {@code pg_stat_statements}: the top statements by execution time,
 * totals over all of them, evictions ({@code pg_stat_statements_info.dealloc}) and the last reset.
 *
 * <p>Series are bounded: only the statements chosen by {@link StatementTopK} (default 20, with
 * hysteresis so that near-ties do not flap) get series labelled {@code queryid}, {@code datname},
 * {@code user}, postgres_exporter's labels and names; the totals cover every entry, so a
 * statement's share is its rate over the total's. Entries of the same statement at top level and
 * nested are summed. Query text is never a label, except in the opt-in
 * {@code pg_stat_statements_query_info}, whose {@code query} is a short {@link QueryPreview}; the
 * texts are read ({@code pg_stat_statements(true)} reads the whole text file) only for statements
 * new to the top, and kept while they stay there.
 *
 * <p>Reading {@code pg_stat_statements} costs time in proportion to its entries (every entry is
 * visited, whatever the LIMIT). The read is one pass: one aggregate gives the per-statement sums and,
 * as its empty grouping set, the totals; names are looked up for the returned rows only. Even so it
 * costs more than a scrape should pay every time with thousands of entries (measured in
 * docs/statements-benchmark.md), so it runs at most once per {@code statements.interval} (0 = every
 * scrape), counted from the start of the scrape that read, and scrapes in between serve the counters
 * last read, as the database collector does with sizes; Prometheus' rates over minutes do not
 * notice. Whether a scrape reads is decided once, when it declares its statements. It is one
 * statement, planned with the server's facts: the probe tells whether the
 * extension exists in this database with its library loaded ({@link PgServer#statementsSchema}).
 * Where it does not, the collector runs nothing, serves {@code pg_stat_statements_available 0}
 * and logs once. Versions: the columns read here are the same on PostgreSQL 15–18 (the
 * schema's capture reads more, see sql/src/30-version-reads.sql); reading counters without texts
 * needs {@code pg_stat_statements(false)} and {@code pg_stat_statements_info}, both 14+.
 * With pg_monitor (pg_read_all_stats) every entry's queryid is visible; without it other roles'
 * entries count in the totals only.
 */
public final class StatementsCollector implements Collector {

    private static final Logger LOG = LoggerFactory.getLogger(StatementsCollector.class);
    private static final String[] LABELS = {"queryid", "datname", "user"};
    private static final long EARLY_TOLERANCE_NANOS = Duration.ofSeconds(1).toNanos();

    static final MetricFamily AVAILABLE = MetricFamily.gauge("pg_stat_statements_available",
            "1 when pg_stat_statements is loaded and created in the database the exporter reads, else 0.");
    static final MetricFamily CALLS = MetricFamily.counter("pg_stat_statements_calls_total",
            "Times the statement was executed (pg_stat_statements.calls), top statements only.", LABELS);
    static final MetricFamily SECONDS = MetricFamily.counter("pg_stat_statements_seconds_total",
            "Time spent executing the statement (pg_stat_statements.total_exec_time), top statements only.", LABELS);
    static final MetricFamily ROWS = MetricFamily.counter("pg_stat_statements_rows_total",
            "Rows retrieved or affected by the statement (pg_stat_statements.rows), top statements only.", LABELS);
    static final MetricFamily BLOCKS_READ = MetricFamily.counter("pg_stat_statements_shared_blocks_read_total",
            "Shared blocks read from disk or the OS cache (pg_stat_statements.shared_blks_read), top statements only.", LABELS);
    static final MetricFamily BLOCKS_HIT = MetricFamily.counter("pg_stat_statements_shared_blocks_hit_total",
            "Shared blocks found in shared buffers (pg_stat_statements.shared_blks_hit), top statements only.", LABELS);
    static final MetricFamily TEMP_WRITTEN = MetricFamily.counter("pg_stat_statements_temp_blocks_written_total",
            "Temp blocks written by sorts and hashes that spilled (pg_stat_statements.temp_blks_written), top statements only.", LABELS);
    static final MetricFamily WAL_BYTES = MetricFamily.counter("pg_stat_statements_wal_bytes_total",
            "WAL generated by the statement (pg_stat_statements.wal_bytes), top statements only.", LABELS);
    static final MetricFamily QUERY_INFO = MetricFamily.info("pg_stat_statements_query_info",
            "A short, sanitised preview of a top statement's text (opt-in: statements.query-preview).",
            "queryid", "datname", "user", "query");
    static final MetricFamily ALL_CALLS = MetricFamily.counter("pg_stat_statements_all_calls_total",
            "Executions of all statements in pg_stat_statements (sum of calls; drops when entries are evicted or reset).");
    static final MetricFamily ALL_SECONDS = MetricFamily.counter("pg_stat_statements_all_seconds_total",
            "Execution time of all statements in pg_stat_statements (sum of total_exec_time).");
    static final MetricFamily ALL_ROWS = MetricFamily.counter("pg_stat_statements_all_rows_total",
            "Rows of all statements in pg_stat_statements (sum of rows).");
    static final MetricFamily ALL_BLOCKS_READ = MetricFamily.counter("pg_stat_statements_all_shared_blocks_read_total",
            "Shared blocks read by all statements in pg_stat_statements.");
    static final MetricFamily ALL_TEMP_WRITTEN = MetricFamily.counter("pg_stat_statements_all_temp_blocks_written_total",
            "Temp blocks written by all statements in pg_stat_statements.");
    static final MetricFamily ALL_WAL_BYTES = MetricFamily.counter("pg_stat_statements_all_wal_bytes_total",
            "WAL generated by all statements in pg_stat_statements.");
    static final MetricFamily ENTRIES = MetricFamily.gauge("pg_stat_statements_entries",
            "Statements pg_stat_statements tracks now (at most pg_stat_statements.max).");
    static final MetricFamily MAX = MetricFamily.gauge("pg_stat_statements_max",
            "pg_stat_statements.max: the most statements tracked before the least used are evicted.");
    static final MetricFamily DEALLOC = MetricFamily.counter("pg_stat_statements_dealloc_total",
            "Times entries were evicted to make room (pg_stat_statements_info.dealloc): their counters are lost.");
    static final MetricFamily RESET = MetricFamily.gauge("pg_stat_statements_stats_reset_timestamp_seconds",
            "When pg_stat_statements was last reset (pg_stat_statements_info.stats_reset, Unix time).");

    // %1$s: the extension's schema, quoted; %2$d: how many ranked statements to return.
    // One pass over the entries: the grouping set () is the totals, computed by the same aggregate as the
    // per-statement sums. Sums are float8: the exporter serves doubles anyway, and sum(bigint) and sum(numeric)
    // keep a numeric state per statement, which made the aggregate cost as much as reading the entries. Names are
    // looked up for the returned rows only, and the totals row always sorts first, so the LIMIT never drops it.
    private static final VersionedSql READ = VersionedSql.of(15, """
            WITH s AS (
              SELECT GROUPING(userid, dbid, queryid) = 7 AS total, userid, dbid, queryid, count(*) AS entries,
                     sum(calls::float8) AS calls, sum(total_exec_time) AS exec_ms, sum(rows::float8) AS rows,
                     sum(shared_blks_read::float8) AS blks_read, sum(shared_blks_hit::float8) AS blks_hit,
                     sum(temp_blks_written::float8) AS temp_written, sum(wal_bytes::float8) AS wal_bytes
                FROM %1$s.pg_stat_statements(false)
               GROUP BY GROUPING SETS ((userid, dbid, queryid), ())
              HAVING GROUPING(userid, dbid, queryid) = 7 OR queryid IS NOT NULL
               ORDER BY total DESC, exec_ms DESC, queryid LIMIT %2$d + 1)
            SELECT s.total, s.queryid::text AS queryid, coalesce(d.datname::text, s.dbid::text) AS datname,
                   coalesce(r.rolname::text, s.userid::text) AS username, s.calls, s.exec_ms, s.rows, s.blks_read,
                   s.blks_hit, s.temp_written, s.wal_bytes, s.entries, i.dealloc,
                   extract(epoch FROM i.stats_reset) AS stats_reset, current_setting('pg_stat_statements.max') AS max
              FROM s LEFT JOIN pg_database d ON d.oid = s.dbid LEFT JOIN pg_roles r ON r.oid = s.userid
              LEFT JOIN %1$s.pg_stat_statements_info i ON s.total""");

    private static final String TEXTS = """
            SELECT p.queryid::text AS queryid, coalesce(d.datname::text, p.dbid::text) AS datname,
                   coalesce(r.rolname::text, p.userid::text) AS username, p.query
              FROM %1$s.pg_stat_statements(true) p
              LEFT JOIN pg_database d ON d.oid = p.dbid LEFT JOIN pg_roles r ON r.oid = p.userid
             WHERE p.queryid = ANY (?::bigint[])""";

    /** A statement's series identity. */
    record Key(String queryid, String datname, String user) {
        String[] labels() {
            return new String[] {queryid, datname, user};
        }
    }

    private final StatementTopK topK;
    private final int previewChars;
    /** The statements with series after the last scrape; overlapping scrapes share one run. */
    private volatile Set<Key> members = Set.of();
    private final Map<Key, String> previews = new ConcurrentHashMap<>();
    private final AtomicBoolean absenceLogged = new AtomicBoolean();
    private final long intervalNanos;
    private final LongSupplier nanoClock;
    /** What the last read wrote, served until it is older than the interval. */
    private volatile Cached cached;
    /** When the scrape that declared the read started: the age of what it reads is counted from there. */
    private volatile long declaredAtNanos;

    private record Cached(MetricSink sink, long readAtNanos, String server) {}

    /**
     * @param top          the most statements with series
     * @param previewChars length of the opt-in query preview; 0 exports no preview (the default)
     * @param interval     how old the served counters may be; zero reads them on every scrape
     */
    public StatementsCollector(int top, int previewChars, Duration interval) {
        this(top, previewChars, interval, System::nanoTime);
    }

    StatementsCollector(int top, int previewChars, Duration interval, LongSupplier nanoClock) {
        this.topK = new StatementTopK(top, 0.1);
        this.previewChars = previewChars;
        this.intervalNanos = interval.toNanos();
        this.nanoClock = nanoClock;
    }

    /**
     * Whether a scrape starting at {@code now} serves the last read. Ages count from scrape start to scrape start,
     * and a scrape up to a tenth of the interval (at most 1 s) early still reads: Prometheus scrapes on a fixed
     * tick, so with an interval that is a multiple of the scrape interval the read falls on every n-th scrape
     * rather than, by milliseconds of jitter or of the read's own duration, on every (n+1)-th.
     */
    private boolean fresh(PgServer server, long now) {
        Cached last = cached;
        return last != null && last.server().equals(identity(server))
                && now - last.readAtNanos() < intervalNanos - Math.min(EARLY_TOLERANCE_NANOS, intervalNanos / 10);
    }

    /** What must not change for the last read to be served: not the pooled connection, the server. */
    private static String identity(PgServer server) {
        return server.versionNum() + "/" + server.inRecovery() + "/" + server.statementsSchema();
    }

    @Override
    public String name() {
        return "statements";
    }

    @Override
    public List<MetricFamily> families() {
        return List.of(AVAILABLE, CALLS, SECONDS, ROWS, BLOCKS_READ, BLOCKS_HIT, TEMP_WRITTEN, WAL_BYTES, QUERY_INFO,
                ALL_CALLS, ALL_SECONDS, ALL_ROWS, ALL_BLOCKS_READ, ALL_TEMP_WRITTEN, ALL_WAL_BYTES, ENTRIES, MAX,
                DEALLOC, RESET);
    }

    @Override
    public List<VersionedSql> statements(PgServer server) {
        long now = nanoClock.getAsLong();
        if (server.statementsSchema() == null || fresh(server, now)) {
            return List.of();
        }
        declaredAtNanos = now;
        return List.of(read(server));
    }

    /** The text for this server's extension schema and the current window; one statement while neither changes. */
    private record Declared(String text, VersionedSql statement) {}

    private volatile Declared declared;

    private VersionedSql read(PgServer server) {
        String text = READ.forServer(server).formatted(quote(server.statementsSchema()), topK.window());
        Declared last = declared;
        if (last == null || !last.text().equals(text)) {
            last = new Declared(text, VersionedSql.of(text));
            declared = last;
        }
        return last.statement();
    }

    private static String quote(String identifier) {
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }

    @Override
    public void collect(StatementResults results, MetricSink sink) throws SQLException {
        PgServer server = results.server();
        if (server.statementsSchema() == null) {
            sink.add(AVAILABLE, false);
            if (absenceLogged.compareAndSet(false, true)) {
                LOG.info("pg_stat_statements is not available in this database: no statement metrics "
                        + "(load it with shared_preload_libraries = 'pg_stat_statements', restart, then CREATE EXTENSION pg_stat_statements)");
            }
            return;
        }
        absenceLogged.set(false);
        // whether this scrape reads was decided once, in statements(): the round trip may have crossed the interval
        if (!results.declared(read(server))) {
            sink.addAll(cached.sink());
            return;
        }
        long startedAt = declaredAtNanos;
        MetricSink read = new MetricSink();
        readInto(results, server, read);
        cached = new Cached(read, startedAt, identity(server));
        sink.addAll(read);
    }

    private void readInto(StatementResults results, PgServer server, MetricSink sink) throws SQLException {
        sink.add(AVAILABLE, true);
        List<StatementTopK.Ranked<Key>> ranked = new ArrayList<>();
        Map<Key, Double[]> counters = new HashMap<>();
        results.rows(read(server), row -> {
            if (Boolean.TRUE.equals(row.bool("total"))) {
                sink.add(ALL_CALLS, row.number("calls"));
                sink.add(ALL_SECONDS, row.millisAsSeconds("exec_ms"));
                sink.add(ALL_ROWS, row.number("rows"));
                sink.add(ALL_BLOCKS_READ, row.number("blks_read"));
                sink.add(ALL_TEMP_WRITTEN, row.number("temp_written"));
                sink.add(ALL_WAL_BYTES, row.number("wal_bytes"));
                sink.add(ENTRIES, row.number("entries"));
                sink.add(DEALLOC, row.number("dealloc"));
                sink.add(RESET, row.number("stats_reset"));
                sink.add(MAX, Double.valueOf(row.text("max")));
                return;
            }
            Key key = new Key(row.text("queryid"), row.text("datname"), row.text("username"));
            Double seconds = row.millisAsSeconds("exec_ms");
            ranked.add(new StatementTopK.Ranked<>(key, seconds == null ? 0 : seconds));
            counters.put(key, new Double[] {row.number("calls"), seconds, row.number("rows"), row.number("blks_read"),
                    row.number("blks_hit"), row.number("temp_written"), row.number("wal_bytes")});
        });
        List<StatementTopK.Ranked<Key>> chosen = topK.select(members, ranked);
        Set<Key> now = new HashSet<>();
        for (StatementTopK.Ranked<Key> r : chosen) {
            Key key = r.key();
            now.add(key);
            Double[] c = counters.get(key);
            sink.add(CALLS, c[0], key.labels());
            sink.add(SECONDS, c[1], key.labels());
            sink.add(ROWS, c[2], key.labels());
            sink.add(BLOCKS_READ, c[3], key.labels());
            sink.add(BLOCKS_HIT, c[4], key.labels());
            sink.add(TEMP_WRITTEN, c[5], key.labels());
            sink.add(WAL_BYTES, c[6], key.labels());
        }
        members = Set.copyOf(now);
        if (previewChars > 0) {
            addPreviews(results, server, now, sink);
        }
    }

    private void addPreviews(StatementResults results, PgServer server, Set<Key> now, MetricSink sink) throws SQLException {
        previews.keySet().retainAll(now);
        List<Long> missing = now.stream().filter(k -> !previews.containsKey(k)).map(k -> Long.valueOf(k.queryid())).toList();
        if (!missing.isEmpty()) {
            results.followUp(VersionedSql.of(TEXTS.formatted(quote(server.statementsSchema()))), row -> {
                Key key = new Key(row.text("queryid"), row.text("datname"), row.text("username"));
                if (now.contains(key)) {
                    previews.put(key, QueryPreview.of(row.text("query"), previewChars));
                }
            }, (Object) missing.stream().map(String::valueOf).toArray(String[]::new));
        }
        for (Key key : now) {
            String preview = previews.get(key);
            if (preview != null) {
                sink.add(QUERY_INFO, 1, key.queryid(), key.datname(), key.user(), preview);
            }
        }
    }
}
