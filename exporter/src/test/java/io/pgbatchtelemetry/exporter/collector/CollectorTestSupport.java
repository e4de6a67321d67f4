package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.PgSession;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;

/** Runs a collector once on a real connection and reads single values back from its sink. */
final class CollectorTestSupport {

    private CollectorTestSupport() {}

    /** One collect, as a scrape would run it. */
    static MetricSink collect(Connection connection, Collector collector) throws SQLException {
        MetricSink sink = new MetricSink();
        collector.collect(new PgSession(connection, serverOf(connection)), sink);
        return sink;
    }

    /** The value of the series with exactly these label values, or {@code null} when absent. */
    static Double value(MetricSink sink, MetricFamily family, String... labels) {
        List<String> wanted = List.of(labels);
        return sink.samples().getOrDefault(family, List.of()).stream()
                .filter(sample -> sample.labelValues().equals(wanted))
                .map(MetricSink.Sample::value)
                .findFirst()
                .orElse(null);
    }

    static PgServer serverOf(Connection connection) throws SQLException {
        try (Statement statement = connection.createStatement();
             ResultSet row = statement.executeQuery(
                     "SELECT current_setting('server_version_num')::int, pg_is_in_recovery(), version()")) {
            row.next();
            return new PgServer(row.getInt(1), row.getBoolean(2), row.getString(3));
        }
    }
}
