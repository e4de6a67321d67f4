package io.pgbatchtelemetry.exporter.it;

import io.pgbatchtelemetry.harness.PostgresCluster;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.function.Predicate;

/** Reading the sampler's counters through /metrics and driving sessions for the sampler tests. */
final class SamplerTestSupport {

    static final Duration DEADLINE = Duration.ofSeconds(60);

    private SamplerTestSupport() {}

    /** A counter's value, 0 when the series does not exist yet (a counter starts at 0). */
    static double counter(Exposition metrics, String name, String... labelPairs) {
        Double value = metrics.value(name, labelPairs);
        return value == null ? 0.0 : value;
    }

    static double samples(Exposition metrics) {
        return counter(metrics, "pg_sampler_samples_total");
    }

    /** Scrapes until {@code condition} holds; fails after {@link #DEADLINE}. */
    static Exposition scrapeUntil(int port, String what, Predicate<Exposition> condition) throws Exception {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        Exposition metrics = ExporterTestSupport.scrape(port);
        while (!condition.test(metrics)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("waited " + DEADLINE + " for " + what + "; last scrape:\n" + metrics.text());
            }
            Thread.sleep(50);
            metrics = ExporterTestSupport.scrape(port);
        }
        return metrics;
    }

    /** Scrapes until the sampler has taken {@code more} samples after this call. */
    static Exposition afterMoreSamples(int port, int more) throws Exception {
        double start = samples(ExporterTestSupport.scrape(port));
        return scrapeUntil(port, more + " more samples after " + start, m -> samples(m) >= start + more);
    }

    /** A superuser session whose application_name is {@code applicationName}. */
    static Connection session(PostgresCluster cluster, String applicationName) throws SQLException {
        Connection connection = cluster.connect();
        try (Statement s = connection.createStatement()) {
            s.execute("SET application_name = '" + applicationName + "'");
        }
        return connection;
    }

    /** Polls pg_stat_activity (as superuser) until {@code sql} returns true. */
    static void awaitServer(PostgresCluster cluster, String what, String sql) throws Exception {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        try (Connection c = cluster.connect(); Statement s = c.createStatement()) {
            while (true) {
                try (var rs = s.executeQuery(sql)) {
                    rs.next();
                    if (rs.getBoolean(1)) {
                        return;
                    }
                }
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("waited " + DEADLINE + " for " + what);
                }
                Thread.sleep(20);
            }
        }
    }
}
