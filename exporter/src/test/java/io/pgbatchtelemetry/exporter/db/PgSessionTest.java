package io.pgbatchtelemetry.exporter.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link PgSession#prefetch} and {@link PgSession#open}: statements sent together are served from
 * memory once, a failing statement among them costs nothing but its own query, and the probe rides
 * along with the statements planned for the last scrape's facts. A temporary sequence tells the two apart:
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

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void openSendsTheProbeWithTheStatementsPlannedForTheLastFacts(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect()) {
            createSequence(connection);
            PgServer facts = PgServer.probe(connection);
            List<PgServer> plannedFor = new ArrayList<>();
            try (PgSession session = open(connection, facts, plannedFor, NEXT, "SELECT 2 AS n")) {
                assertEquals(List.of(facts), plannedFor, "planned once, for the facts of the last scrape");
                assertEquals(facts.versionNum(), session.server().versionNum());
                assertEquals(1.0, number(session, NEXT), "prefetched with the probe");
                assertEquals(2.0, number(session, NEXT));
            }
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void openPlansAgainWhenTheServerIsNotWhatTheLastScrapeFound(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect()) {
            createSequence(connection);
            PgServer actual = PgServer.probe(connection);
            PgServer upgradedSince = new PgServer(actual.versionNum() - 10000, actual.inRecovery(), actual.version(),
                    actual.telemetrySchemaSeen(), actual.settingsGeneration(), actual.statementsSchema());
            List<PgServer> plannedFor = new ArrayList<>();
            try (PgSession session = open(connection, upgradedSince, plannedFor, NEXT, "SELECT 2 AS n")) {
                assertEquals(List.of(upgradedSince.versionNum(), actual.versionNum()),
                        plannedFor.stream().map(PgServer::versionNum).toList(),
                        "planned for the old facts, then again for what the probe found");
                assertEquals(actual.versionNum(), session.server().versionNum());
                assertEquals(2.0, number(session, NEXT), "served from the second batch (the first used up 1)");
            }
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void openDoesNotSendAFailedBatchTwice(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect()) {
            createSequence(connection);
            PgServer facts = PgServer.probe(connection);
            List<PgServer> plannedFor = new ArrayList<>();
            try (PgSession session = open(connection, facts, plannedFor, NEXT, "SELECT 1/0 AS n")) {
                assertEquals(1, plannedFor.size(), "after a failed batch the probe runs alone, nothing is sent again");
                assertEquals(facts.versionNum(), session.server().versionNum());
                assertEquals(2.0, number(session, NEXT), "run on its own (the failed batch used up 1)");
            }
        }
    }

    /** {@link PgSession#open} with {@code statements} announced, recording each server they were planned for. */
    private static PgSession open(Connection connection, PgServer assumed, List<PgServer> plannedFor, String... statements)
            throws SQLException {
        return PgSession.open(connection, assumed, server -> {
            plannedFor.add(server);
            return List.of(statements);
        });
    }

    private static PgSession session(Connection connection) throws SQLException {
        createSequence(connection);
        return new PgSession(connection, PgServer.probe(connection));
    }

    private static void createSequence(Connection connection) throws SQLException {
        try (Statement statement = connection.createStatement()) {
            statement.execute("CREATE TEMPORARY SEQUENCE pgbt_session_test");
        }
    }

    private static double number(PgSession session, String sql) throws SQLException {
        double[] value = {Double.NaN};
        session.queryOne(sql, row -> value[0] = row.number("n"));
        return value[0];
    }
}
