package io.pgbatchtelemetry.exporter.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link PgSession#prefetch}: statements sent together are served from memory once, and a failing
 * statement among them costs nothing but its own query. A temporary sequence tells the two apart:
 * {@code nextval} moves on every execution, prefetched or not, rolled back or not.
 */
class PgSessionTest {

    private static final String NEXT = "SELECT nextval('pgbt_session_test') AS n";

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void prefetchedResultsAreServedOnceThenQueriedAgain(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect();
             PgSession session = session(connection)) {
            session.prefetch(List.of(NEXT, "SELECT 2 AS n", NEXT));
            assertEquals(1.0, number(session, NEXT), "from the prefetch (sent once although listed twice)");
            assertEquals(2.0, number(session, "SELECT 2 AS n"));
            assertEquals(2.0, number(session, NEXT), "served once: the second ask runs the statement");
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void aFailingStatementFailsOnlyItsOwnQuery(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect();
             PgSession session = session(connection)) {
            session.prefetch(List.of(NEXT, "SELECT 1/0 AS n", "SELECT 3 AS n"));
            // the failed batch used up value 1 (sequences ignore rollbacks), so 2 proves a fresh run
            assertEquals(2.0, number(session, NEXT), "nothing kept from a batch that failed");
            SQLException error = assertThrows(SQLException.class, () -> number(session, "SELECT 1/0 AS n"));
            assertEquals("22012", error.getSQLState(), "division_by_zero, from running it on its own");
            assertEquals(3.0, number(session, "SELECT 3 AS n"));
        }
    }

    private static PgSession session(Connection connection) throws SQLException {
        try (Statement statement = connection.createStatement()) {
            statement.execute("CREATE TEMPORARY SEQUENCE pgbt_session_test");
        }
        return new PgSession(connection, PgServer.probe(connection));
    }

    private static double number(PgSession session, String sql) throws SQLException {
        double[] value = {Double.NaN};
        session.queryOne(sql, row -> value[0] = row.number("n"));
        return value[0];
    }
}
