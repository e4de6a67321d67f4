package io.pgbatchtelemetry.exporter.db;

import java.sql.SQLException;

/**
 * What one collector gets from its scrape: the results of the statements it declared, and a way to
 * run the few statements that could not be declared.
 *
 * <p>The contract of a scrape: a collector declares, in {@code Collector.statements(server)}, the
 * statements ({@link VersionedSql} instances) it will read on that server; the scrape sends every
 * collector's declared statements with its probe in one round trip, and the collector then reads
 * each result here, by the same instance. A declared statement whose batch failed (one statement
 * of the batch hit a lock or a timeout) is run again on its own when read, so one failing
 * statement fails only its own collector. Reading a statement that was not declared is a
 * programming error ({@link IllegalArgumentException}): it would silently cost a round trip of its
 * own on every scrape. A statement whose text or whether it runs depends on an earlier result
 * (a size read only now and then, a follow-up with parameters) goes through {@link #followUp}.
 */
public interface StatementResults {

    /** The facts of this scrape's probe: version, role, telemetry schema, settings generation. */
    PgServer server();

    /** Whether the collector declared {@code statement} for this scrape (a collector that reads only now and then asks). */
    boolean declared(VersionedSql statement);

    /** Visits every row of a declared statement. */
    void rows(VersionedSql declared, PgSession.RowVisitor visitor) throws SQLException;

    /** Visits the one row of a declared statement; fails when it returned none or several. */
    void one(VersionedSql declared, PgSession.RowVisitor visitor) throws SQLException;

    /** Runs a statement that could not be declared (it depends on an earlier result) and visits its rows. */
    void followUp(VersionedSql statement, PgSession.RowVisitor visitor, Object... parameters) throws SQLException;
}
