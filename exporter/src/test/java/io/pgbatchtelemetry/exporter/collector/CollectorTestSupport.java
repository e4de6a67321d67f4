package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.PgSession;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;

/** Runs a collector on a test connection, the way a scrape would, and reads back its samples. */
final class CollectorTestSupport {

    private CollectorTestSupport() {}

    /** The server facts a scrape would detect on this connection. */
    static PgServer serverOf(Connection connection) throws SQLException {
        return PgServer.probe(connection);
    }

    /** Runs {@code collector} once on {@code connection} into a fresh sink. */
    static MetricSink collect(Connection connection, Collector collector) throws SQLException {
        MetricSink sink = new MetricSink();
        PgSession session = new PgSession(connection, serverOf(connection));
        collector.collect(session.resultsOf(collector.statements(session.server())), sink);
        return sink;
    }

    /** The value of the sample of {@code family} with exactly these label values, or null when absent. */
    static Double value(MetricSink sink, MetricFamily family, String... labels) {
        List<String> wanted = List.of(labels);
        return sink.samples().getOrDefault(family, List.of()).stream()
                .filter(sample -> sample.labelValues().equals(wanted))
                .map(MetricSink.Sample::value)
                .findFirst()
                .orElse(null);
    }
}
