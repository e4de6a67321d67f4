package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.StatementResults;
import io.pgbatchtelemetry.exporter.db.VersionedSql;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.SQLException;
import java.util.List;

/**
 * Reads one PostgreSQL view or concern and writes its metrics.
 *
 * <p>How a collector reads (the scrape's statement contract, see {@link StatementResults}):
 * <ol>
 *   <li>Keep each statement as a {@link VersionedSql} constant, its text for each server version
 *       side by side, every version returning the same column aliases (reads shared with the
 *       telemetry schema come from {@code sql/src/reads/} through
 *       {@link io.pgbatchtelemetry.exporter.db.SharedReads}).</li>
 *   <li>Declare, in {@link #statements}, the constants it will read on this server. The scrape
 *       sends every collector's declared statements with its probe in one round trip.</li>
 *   <li>In {@link #collect}, read each declared statement's rows with
 *       {@link StatementResults#rows}/{@link StatementResults#one}, passing the same constant. A
 *       statement that was not declared can't be read that way; one that depends on an earlier
 *       result (a size read only now and then, a statement with parameters) goes through
 *       {@link StatementResults#followUp} and costs a round trip of its own.</li>
 * </ol>
 * The facts of the probe ({@link PgServer}: version, standby or not, the telemetry schema as this
 * role sees it, the settings generation) are in {@link StatementResults#server()}; nothing needs to
 * ask for them again. A collector may throw: the scrape isolates the failure and reports
 * {@code pg_scrape_collector_success 0}. It exposes the same metric names on every version it
 * supports.
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
     * The statements {@link #collect} reads on this server with {@link StatementResults#rows} or
     * {@link StatementResults#one}, so that the scrape can send every collector's statements in
     * one round trip. Asked for once per scrape before {@code collect}, with the same server facts.
     */
    default List<VersionedSql> statements(PgServer server) {
        return List.of();
    }

    /** Reads the results of its {@link #statements} and writes its samples into {@code sink}. */
    void collect(StatementResults results, MetricSink sink) throws SQLException;
}
