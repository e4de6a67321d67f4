package io.pgbatchtelemetry.exporter.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The connection one scrape borrowed, as collectors see it: run a query, visit its rows.
 *
 * <p>The connection already carries {@code statement_timeout} and {@code lock_timeout} (set at
 * connect time by the pool), so a lock held on a table can't hang a collector for longer than
 * that. The statement in flight is remembered so that the scrape deadline can cancel it.
 *
 * <p>Round trips, not server time, are most of a scrape's cost (docs/benchmarks.md). {@link #prefetch}
 * therefore sends the statements all collectors declared in one round trip, and each collector
 * reads its own from {@link #resultsOf} (the contract is described on {@link StatementResults}).
 * Results are kept by statement instance, never by SQL text. If any of them fails, none is kept and
 * every collector queries on its own as if nothing had been prefetched, so one failing statement
 * still fails only its own collector.
 */
public final class PgSession implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(PgSession.class);

    /** The probe as a statement of the batch {@link #open} sends. */
    private static final VersionedSql PROBE = VersionedSql.of(PgServer.PROBE);

    /** Visits one row. */
    @FunctionalInterface
    public interface RowVisitor {
        void visit(SqlRow row) throws SQLException;
    }

    private final Connection connection;
    private final PgServer server;
    private final AtomicReference<Statement> inFlight = new AtomicReference<>();
    /** Results of {@link #prefetch} not yet asked for, by statement; only the scrape thread touches it. */
    private final Map<VersionedSql, ResultSet> prefetched = new IdentityHashMap<>();
    private Statement prefetchStatement;

    public PgSession(Connection connection, PgServer server) {
        this.connection = connection;
        this.server = server;
    }

    /**
     * Probes the server and prefetches the statements {@code statementsFor} declares for it. With
     * the facts of the last scrape as {@code assumed}, the probe travels in the same round trip as
     * the statements planned for those facts, and they are kept if the server still has the same
     * version, role and telemetry schema ({@link PgServer#samePlanAs}; it has, but for an upgrade, a
     * failover or a schema installed since); without, or when the batch fails, it is two round
     * trips: the probe, then the statements for what it found.
     *
     * @throws SQLException when the probe fails or the connection is lost
     */
    public static PgSession open(Connection connection, PgServer assumed,
                                 Function<PgServer, Collection<VersionedSql>> statementsFor) throws SQLException {
        if (assumed != null) {
            PgSession planned = new PgSession(connection, assumed);
            List<VersionedSql> statements = new ArrayList<>();
            statements.add(PROBE);
            statements.addAll(statementsFor.apply(assumed));
            planned.prefetch(statements);
            ResultSet probe = planned.prefetched.remove(PROBE);
            if (probe == null) {
                // nothing came back: a statement of the batch failed (a lock, a timeout), and sending it
                // again would only wait again; or the probe had nothing to travel with. Probe alone, and
                // every collector queries on its own
                return new PgSession(connection, PgServer.probe(connection));
            }
            PgServer actual;
            try (probe) {
                actual = PgServer.read(probe);
            }
            if (actual.samePlanAs(assumed)) {
                return planned.withServer(actual);
            }
            planned.close(); // planned for another version, role or schema: plan again for this one
            return plannedFor(connection, actual, statementsFor);
        }
        return plannedFor(connection, PgServer.probe(connection), statementsFor);
    }

    private static PgSession plannedFor(Connection connection, PgServer server,
                                        Function<PgServer, Collection<VersionedSql>> statementsFor) throws SQLException {
        PgSession session = new PgSession(connection, server);
        session.prefetch(statementsFor.apply(server));
        return session;
    }

    /** The same connection and prefetched results, with the facts the probe actually returned. */
    private PgSession withServer(PgServer actual) {
        PgSession session = new PgSession(connection, actual);
        session.prefetched.putAll(prefetched);
        session.prefetchStatement = prefetchStatement;
        prefetched.clear();
        prefetchStatement = null;
        return session;
    }

    public PgServer server() {
        return server;
    }

    /** Whether {@code e} means the connection is gone (class 08, or the backend was terminated: 57P). */
    public static boolean connectionLost(SQLException e) {
        String state = e.getSQLState();
        return state != null && (state.startsWith("08") || state.startsWith("57P"));
    }

    /**
     * Runs {@code statements} (parameterless SELECTs, in their text for this server) in one round
     * trip and keeps their results for {@link #resultsOf}. They run in one implicit transaction: an
     * error in any of them (a timeout, a missing privilege) rolls back all, so then nothing is kept
     * and the statements run one by one when asked for. A statement listed twice is sent once and
     * served once. Throws only when the connection itself is lost ({@link #connectionLost}).
     */
    public void prefetch(Collection<VersionedSql> statements) throws SQLException {
        Set<VersionedSql> distinct = Collections.newSetFromMap(new LinkedHashMap<>());
        for (VersionedSql statement : statements) {
            if (!distinct.contains(statement) && statement.supports(server)) {
                distinct.add(statement);
            }
        }
        if (distinct.size() < 2) {
            return; // one statement gains nothing from being sent early
        }
        List<VersionedSql> ordered = List.copyOf(distinct);
        List<String> texts = ordered.stream().map(s -> s.forServer(server)).toList();
        List<ResultSet> results = new ArrayList<>(ordered.size());
        try {
            PreparedStatement statement = connection.prepareStatement(String.join(";\n", texts));
            prefetchStatement = statement;
            inFlight.set(statement);
            boolean isResultSet = statement.execute();
            while (isResultSet || statement.getUpdateCount() != -1) {
                if (isResultSet) {
                    results.add(statement.getResultSet());
                }
                isResultSet = statement.getMoreResults(Statement.KEEP_CURRENT_RESULT);
            }
        } catch (SQLException e) {
            closePrefetched();
            if (connectionLost(e)) {
                throw e; // not a statement's fault: the caller retries on another connection
            }
            LOG.debug("prefetching {} statements failed, each collector queries on its own: {}", ordered.size(), e.getMessage());
            return;
        } finally {
            inFlight.set(null);
        }
        if (results.size() != ordered.size()) {
            closePrefetched(); // not one result set per statement: can't tell which is whose
            return;
        }
        for (int i = 0; i < ordered.size(); i++) {
            prefetched.put(ordered.get(i), results.get(i));
        }
    }

    /**
     * The results one collector may read: those of the statements it {@code declared} for this
     * server, from the prefetch or, where the prefetch did not bring them, run when read.
     */
    public StatementResults resultsOf(Collection<VersionedSql> declared) {
        Set<VersionedSql> mine = Collections.newSetFromMap(new IdentityHashMap<>());
        mine.addAll(declared);
        return new StatementResults() {
            @Override
            public PgServer server() {
                return server;
            }

            @Override
            public boolean declared(VersionedSql statement) {
                return mine.contains(statement);
            }

            @Override
            public void rows(VersionedSql statement, RowVisitor visitor) throws SQLException {
                if (!declared(statement)) {
                    throw new IllegalArgumentException("statement not declared by this collector for PostgreSQL "
                            + server.major() + ": " + statement);
                }
                query(statement, visitor);
            }

            @Override
            public void one(VersionedSql statement, RowVisitor visitor) throws SQLException {
                exactlyOne(statement, visitor, v -> rows(statement, v));
            }

            @Override
            public void followUp(VersionedSql statement, RowVisitor visitor, Object... parameters) throws SQLException {
                run(statement.forServer(server), visitor, parameters);
            }
        };
    }

    /** Visits the rows of {@code statement}: from the prefetch if it brought them, else run now. */
    public void query(VersionedSql statement, RowVisitor visitor) throws SQLException {
        ResultSet ready = prefetched.remove(statement);
        if (ready != null) {
            try (ready) {
                visitRows(ready, visitor);
            }
            return;
        }
        run(statement.forServer(server), visitor);
    }

    /** Like {@link #query}, expecting exactly one row. */
    public void queryOne(VersionedSql statement, RowVisitor visitor) throws SQLException {
        exactlyOne(statement, visitor, v -> query(statement, v));
    }

    @FunctionalInterface
    private interface Visit {
        void run(RowVisitor visitor) throws SQLException;
    }

    private static void exactlyOne(VersionedSql statement, RowVisitor visitor, Visit visit) throws SQLException {
        int[] rows = {0};
        visit.run(row -> {
            rows[0]++;
            visitor.visit(row);
        });
        if (rows[0] != 1) {
            throw new SQLException("expected one row, got " + rows[0] + " from: " + statement);
        }
    }

    private void run(String sql, RowVisitor visitor, Object... parameters) throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement(sql)) {
            for (int i = 0; i < parameters.length; i++) {
                statement.setObject(i + 1, parameters[i]);
            }
            inFlight.set(statement);
            try (ResultSet resultSet = statement.executeQuery()) {
                visitRows(resultSet, visitor);
            } finally {
                inFlight.set(null);
            }
        }
    }

    private static void visitRows(ResultSet resultSet, RowVisitor visitor) throws SQLException {
        SqlRow row = new SqlRow(resultSet);
        while (resultSet.next()) {
            visitor.visit(row);
        }
    }

    /** Cancels the statement in flight, if any (called from the thread enforcing the deadline). */
    public void cancelInFlight() {
        Statement statement = inFlight.get();
        if (statement != null) {
            try {
                statement.cancel();
            } catch (SQLException ignored) {
                // the statement finished or the connection is gone: nothing left to cancel
            }
        }
    }

    /** Closes what {@link #prefetch} kept and nobody asked for. */
    @Override
    public void close() {
        closePrefetched();
    }

    private void closePrefetched() {
        prefetched.clear();
        if (prefetchStatement != null) {
            try {
                prefetchStatement.close(); // closes its result sets too
            } catch (SQLException ignored) {
                // the connection is broken; the pool evicts it
            }
            prefetchStatement = null;
        }
    }
}
