package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.serverOf;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.execute;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.queryDouble;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.db.PgSession;
import io.pgbatchtelemetry.exporter.db.VersionedSql;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.PostgresCluster;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The statements collector's read against a server with pg_stat_statements loaded (a private cluster per
 * version, track = all so that nested entries exist): the totals equal sums over every entry of
 * pg_stat_statements, each top statement's counters are the sums over its top-level and nested entries, the
 * series stay at statements.top with over a thousand statements; and when the read runs: on every n-th scrape
 * when the interval is n scrape intervals, counted from scrape start, decided once per scrape.
 *
 * <p>The monitoring role is a pg_monitor member with {@code pg_stat_statements.track = none}, so that the
 * collector's read and the checks do not change the counters they compare.
 */
class StatementsCollectorTest {

    private static final String VERSIONS = "io.pgbatchtelemetry.harness.SharedClusters#versionsArguments";
    private static final String ROLE = "stmt_collector_monitor";
    private static final String PASSWORD = "stmt-collector-monitor";

    private static PostgresCluster withStatements(int version) throws SQLException {
        PostgresCluster cluster = PostgresCluster.builder(version).name("stmt-collector")
                .setting("shared_preload_libraries", "pg_stat_statements")
                .setting("pg_stat_statements.max", "10000").setting("pg_stat_statements.track", "all").build();
        cluster.start();
        cluster.execute("CREATE EXTENSION pg_stat_statements");
        cluster.execute("CREATE ROLE " + ROLE + " LOGIN PASSWORD '" + PASSWORD + "' IN ROLE pg_monitor");
        cluster.execute("ALTER ROLE " + ROLE + " SET pg_stat_statements.track = 'none'");
        return cluster;
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource(VERSIONS)
    void totalsAreSumsOverEveryEntryAndSeriesStayBounded(int version) throws Exception {
        try (PostgresCluster cluster = withStatements(version)) {
            try (Connection app = cluster.connect()) {
                // 1,024 distinct statements, run nested: (1+1+...) * (1*1*...)
                execute(app, "DO $$ DECLARE r int; BEGIN FOR a IN 1..32 LOOP FOR b IN 1..32 LOOP "
                        + "EXECUTE 'SELECT (1' || repeat('+1', a) || ') * (1' || repeat('*1', b) || ')' INTO r; "
                        + "END LOOP; END LOOP; END $$");
                // WAL, shared block reads and a temp spill, so that every total has something to add up
                execute(app, "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g",
                        "SET work_mem = '64kB'", "SELECT count(DISTINCT v) FROM (SELECT v FROM t ORDER BY v) s", "RESET work_mem");
                // one statement at top level and nested: two entries, one statement with one series
                execute(app, "SELECT pg_sleep(0.03)", "DO $$ BEGIN PERFORM pg_sleep(0.03); END $$");
            }
            try (Connection monitor = cluster.connect(ROLE, PASSWORD, "postgres")) {
                assertEquals(2.0, queryDouble(monitor, "SELECT count(*) FROM pg_stat_statements "
                        + "WHERE query = 'SELECT pg_sleep($1)'"), "the sleep is tracked at top level and nested");
                StatementsCollector collector = new StatementsCollector(5, 0, Duration.ZERO);
                MetricSink sink = CollectorTestSupport.collect(monitor, collector);

                try (Statement s = monitor.createStatement(); ResultSet sums = s.executeQuery(
                        "SELECT sum(calls), sum(total_exec_time) / 1000, sum(rows), sum(shared_blks_read), sum(temp_blks_written), "
                                + "sum(wal_bytes), count(*) FROM pg_stat_statements(false)")) {
                    sums.next();
                    assertTrue(sums.getDouble(1) > 1024 && sums.getDouble(4) > 0 && sums.getDouble(5) > 0 && sums.getDouble(6) > 0,
                            "the workload left something in every summed column");
                    assertEquals(sums.getDouble(1), value(sink, StatementsCollector.ALL_CALLS));
                    assertEquals(sums.getDouble(2), value(sink, StatementsCollector.ALL_SECONDS), sums.getDouble(2) * 1e-12);
                    assertEquals(sums.getDouble(3), value(sink, StatementsCollector.ALL_ROWS));
                    assertEquals(sums.getDouble(4), value(sink, StatementsCollector.ALL_BLOCKS_READ));
                    assertEquals(sums.getDouble(5), value(sink, StatementsCollector.ALL_TEMP_WRITTEN));
                    assertEquals(sums.getDouble(6), value(sink, StatementsCollector.ALL_WAL_BYTES));
                    assertEquals(sums.getDouble(7), value(sink, StatementsCollector.ENTRIES));
                }
                assertEquals(10000.0, value(sink, StatementsCollector.MAX));
                assertEquals(0.0, value(sink, StatementsCollector.DEALLOC));

                // the first read has no members to keep: exactly the five statements with the most time, summed per statement
                Map<List<String>, double[]> expected = new HashMap<>();
                try (Statement s = monitor.createStatement(); ResultSet top = s.executeQuery(
                        "SELECT queryid::text, d.datname, r.rolname, sum(calls), sum(total_exec_time) / 1000, sum(rows), "
                                + "sum(shared_blks_read), sum(shared_blks_hit), sum(temp_blks_written), sum(wal_bytes) "
                                + "FROM pg_stat_statements(false) p JOIN pg_database d ON d.oid = p.dbid JOIN pg_roles r ON r.oid = p.userid "
                                + "GROUP BY 1, 2, 3 ORDER BY sum(total_exec_time) DESC LIMIT 5")) {
                    while (top.next()) {
                        double[] counters = new double[7];
                        for (int i = 0; i < 7; i++) {
                            counters[i] = top.getDouble(4 + i);
                        }
                        expected.put(List.of(top.getString(1), top.getString(2), top.getString(3)), counters);
                    }
                }
                List<MetricSink.Sample> calls = sink.samples().get(StatementsCollector.CALLS);
                assertEquals(5, calls.size(), "bounded at statements.top with 1,000+ statements");
                for (MetricSink.Sample sample : calls) {
                    double[] c = expected.get(sample.labelValues());
                    assertTrue(c != null, sample.labelValues() + " is not among the five slowest: " + expected.keySet());
                    String[] labels = sample.labelValues().toArray(String[]::new);
                    assertEquals(c[0], sample.value());
                    assertEquals(c[1], value(sink, StatementsCollector.SECONDS, labels), c[1] * 1e-12);
                    assertEquals(c[2], value(sink, StatementsCollector.ROWS, labels));
                    assertEquals(c[3], value(sink, StatementsCollector.BLOCKS_READ, labels));
                    assertEquals(c[4], value(sink, StatementsCollector.BLOCKS_HIT, labels));
                    assertEquals(c[5], value(sink, StatementsCollector.TEMP_WRITTEN, labels));
                    assertEquals(c[6], value(sink, StatementsCollector.WAL_BYTES, labels));
                }
                String sleepId = cluster.queryValue("SELECT DISTINCT queryid FROM pg_stat_statements WHERE query = 'SELECT pg_sleep($1)'");
                assertEquals(2.0, value(sink, StatementsCollector.CALLS, sleepId, "postgres", cluster.superuser()),
                        "top-level and nested calls in one series");
            }
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource(VERSIONS)
    void readsOnEveryNthScrapeCountedFromScrapeStart(int version) throws Exception {
        try (PostgresCluster cluster = withStatements(version);
             Connection app = cluster.connect();
             Connection monitor = cluster.connect(ROLE, PASSWORD, "postgres")) {
            AtomicLong clock = new AtomicLong();
            StatementsCollector collector = new StatementsCollector(20, 0, Duration.ofSeconds(60), clock::get);
            long scrape = Duration.ofSeconds(15).toNanos();
            long roundTrip = Duration.ofMillis(300).toNanos();
            List<Boolean> reads = new ArrayList<>();
            List<Double> allCalls = new ArrayList<>();
            for (int i = 0; i <= 8; i++) {
                execute(app, "SELECT " + i + " AS scrape_" + i); // the counters move between every two scrapes
                // Prometheus' ticks are exact, the HTTP path is not: scrape 4 arrives 5 ms early
                clock.set(i * scrape - (i == 4 ? Duration.ofMillis(5).toNanos() : 0));
                MetricSink sink = scrape(monitor, collector, clock, roundTrip, reads);
                allCalls.add(value(sink, StatementsCollector.ALL_CALLS));
            }
            assertEquals(List.of(true, false, false, false, true, false, false, false, true), reads,
                    "a 60 s interval at 15 s scrapes reads on every 4th scrape, though each read takes a round trip");
            for (int i = 1; i <= 8; i++) {
                if (reads.get(i)) {
                    assertNotEquals(allCalls.get(i - 1), allCalls.get(i), "scrape " + i + " read the counters anew");
                } else {
                    assertEquals(allCalls.get(i - 1), allCalls.get(i), "scrape " + i + " serves the last read");
                }
            }

            // a scrape that declares no read serves the last one, even when its round trip ends past the interval
            clock.set(8 * scrape + Duration.ofSeconds(58).toNanos());
            MetricSink late = scrape(monitor, collector, clock, Duration.ofSeconds(3).toNanos(), reads);
            assertEquals(false, reads.get(reads.size() - 1));
            assertEquals(allCalls.get(8), value(late, StatementsCollector.ALL_CALLS));
        }
    }

    /** One scrape as the scrape runs it: declare, the round trip (the clock moves), collect. */
    private static MetricSink scrape(Connection monitor, StatementsCollector collector, AtomicLong clock, long roundTrip,
                                     List<Boolean> reads) throws SQLException {
        PgSession session = new PgSession(monitor, serverOf(monitor));
        List<VersionedSql> declared = collector.statements(session.server());
        reads.add(!declared.isEmpty());
        clock.addAndGet(roundTrip);
        MetricSink sink = new MetricSink();
        collector.collect(session.resultsOf(declared), sink);
        return sink;
    }
}
