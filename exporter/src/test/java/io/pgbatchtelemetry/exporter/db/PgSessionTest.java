package io.pgbatchtelemetry.exporter.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.it.TelemetryTestDb;
import io.pgbatchtelemetry.harness.PostgresCluster;
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

    private static final String TELEMETRY_DB = "pgbt_shared_reads"; // SharedReadsTest installs it too

    private static final VersionedSql NEXT = VersionedSql.of("SELECT nextval('pgbt_session_test') AS n");
    private static final VersionedSql TWO = VersionedSql.of("SELECT 2 AS n");
    private static final VersionedSql THREE = VersionedSql.of("SELECT 3 AS n");
    private static final VersionedSql FAILS = VersionedSql.of("SELECT 1/0 AS n");

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void prefetchedResultsAreServedOnceThenQueriedAgain(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect();
             PgSession session = session(connection)) {
            session.prefetch(List.of(NEXT, TWO, NEXT));
            assertEquals(1.0, number(session, NEXT), "from the prefetch (sent once although listed twice)");
            assertEquals(2.0, number(session, TWO));
            assertEquals(2.0, number(session, NEXT), "served once: the second ask runs the statement");
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void aFailingStatementFailsOnlyItsOwnQuery(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect();
             PgSession session = session(connection)) {
            session.prefetch(List.of(NEXT, FAILS, THREE));
            // the failed batch used up value 1 (sequences ignore rollbacks), so 2 proves a fresh run
            assertEquals(2.0, number(session, NEXT), "nothing kept from a batch that failed");
            SQLException error = assertThrows(SQLException.class, () -> number(session, FAILS));
            assertEquals("22012", error.getSQLState(), "division_by_zero, from running it on its own");
            assertEquals(3.0, number(session, THREE));
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void resultsAreKeptByStatementNotByTextAndACollectorReadsOnlyWhatItDeclared(int major) throws Exception {
        VersionedSql sameTextAsNext = VersionedSql.of("SELECT nextval('pgbt_session_test') AS n");
        try (Connection connection = SharedClusters.get(major).connect();
             PgSession session = session(connection)) {
            session.prefetch(List.of(sameTextAsNext, NEXT));
            StatementResults mine = session.resultsOf(List.of(NEXT));
            double[] value = {Double.NaN};
            mine.one(NEXT, row -> value[0] = row.number("n"));
            assertEquals(2.0, value[0], "NEXT's own result, not the first statement with its text");
            assertEquals(1.0, number(session, sameTextAsNext), "the other statement's result, kept apart");
            IllegalArgumentException undeclared = assertThrows(IllegalArgumentException.class,
                    () -> mine.rows(TWO, row -> { }));
            assertTrue(undeclared.getMessage().contains("not declared"), undeclared.getMessage());
            mine.followUp(TWO, row -> value[0] = row.number("n"));
            assertEquals(2.0, value[0], "a follow-up needs no declaration");
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void openSendsTheProbeWithTheStatementsPlannedForTheLastFacts(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect()) {
            createSequence(connection);
            PgServer facts = PgServer.probe(connection);
            List<PgServer> plannedFor = new ArrayList<>();
            try (PgSession session = open(connection, facts, plannedFor, NEXT, TWO)) {
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
                    actual.settingsGeneration(), actual.statementsSchema(), actual.telemetry());
            List<PgServer> plannedFor = new ArrayList<>();
            try (PgSession session = open(connection, upgradedSince, plannedFor, NEXT, TWO)) {
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
    void theProbeReadsTheTelemetrySchemaAndOpenPlansAgainWhenItAppeared(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        TelemetryTestDb.install(cluster, TELEMETRY_DB);
        try (Connection connection = cluster.connect(TELEMETRY_DB)) {
            createSequence(connection);
            PgServer actual = PgServer.probe(connection);
            assertTrue(actual.telemetry().readable(), "installed, and the superuser may use it: " + actual.telemetry());
            assertTrue(actual.telemetry().has("run_totals") && actual.telemetry().has("cron_job_health()"), actual.telemetry().toString());
            PgServer beforeInstall = new PgServer(actual.versionNum(), actual.inRecovery(), actual.version(),
                    actual.settingsGeneration(), actual.statementsSchema(), TelemetrySchema.ABSENT);
            List<PgServer> plannedFor = new ArrayList<>();
            try (PgSession session = open(connection, beforeInstall, plannedFor, NEXT, TWO)) {
                assertEquals(List.of(beforeInstall, actual), plannedFor, "planned without the schema, then again with it");
                assertEquals(2.0, number(session, NEXT), "served from the second batch (the first used up 1)");
            }
        }
        try (Connection connection = cluster.connect()) {
            assertEquals(TelemetrySchema.ABSENT.installed(), PgServer.probe(connection).telemetry().installed(),
                    "no telemetry schema in database postgres");
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void openDoesNotSendAFailedBatchTwice(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect()) {
            createSequence(connection);
            PgServer facts = PgServer.probe(connection);
            List<PgServer> plannedFor = new ArrayList<>();
            try (PgSession session = open(connection, facts, plannedFor, NEXT, FAILS)) {
                assertEquals(1, plannedFor.size(), "after a failed batch the probe runs alone, nothing is sent again");
                assertEquals(facts.versionNum(), session.server().versionNum());
                assertEquals(2.0, number(session, NEXT), "run on its own (the failed batch used up 1)");
            }
        }
    }

    /** {@link PgSession#open} with {@code statements} announced, recording each server they were planned for. */
    private static PgSession open(Connection connection, PgServer assumed, List<PgServer> plannedFor, VersionedSql... statements)
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

    private static double number(PgSession session, VersionedSql statement) throws SQLException {
        double[] value = {Double.NaN};
        session.queryOne(statement, row -> value[0] = row.number("n"));
        return value[0];
    }
}
