package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.PgSession;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.SQLException;
import java.util.List;

/**
 * Reads one PostgreSQL view or concern and writes its metrics.
 *
 * <p>Implementations keep the SQL for each server version next to the code that maps its
 * columns, and expose the same metric names on every version they support. A collector may
 * throw: the scrape isolates the failure and reports {@code pg_scrape_collector_success 0}.
 */
public interface Collector {

    /** The name used in config ({@code collectors.<name>}) and in the {@code collector} label. */
    String name();

    /** Every family this collector may write, for docs and for tests that check names. */
    List<MetricFamily> families();

    /** Whether the server has anything for this collector to read (e.g. pg_stat_io is 16+). */
    default boolean supports(PgServer server) {
        return true;
    }

    void collect(PgSession session, MetricSink sink) throws SQLException;
}
