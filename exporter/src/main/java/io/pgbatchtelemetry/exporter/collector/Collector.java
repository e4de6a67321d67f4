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

    /**
     * The parameterless statements {@link #collect} is about to run on this server, so that the
     * scrape can send every collector's statements in one round trip ({@link PgSession#prefetch});
     * {@code collect} still runs them through {@link PgSession#query}, which then answers from
     * memory. Statements that depend on an earlier result are left out and run as usual.
     */
    default List<String> statements(PgServer server) {
        return List.of();
    }

    void collect(PgSession session, MetricSink sink) throws SQLException;
}
