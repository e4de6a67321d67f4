package io.pgbatchtelemetry.exporter.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
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
 * <p>Round trips, not server time, are most of a scrape's cost (~0.4 ms each on a 2-vCPU VM even
 * for {@code SELECT 1}; more across a network). {@link #prefetch} therefore sends the statements
 * all collectors announced in one round trip, and {@link #query} serves each of them from those
 * results. If any of them fails, none is kept and every collector queries on its own as if
 * nothing had been prefetched, so one failing statement still fails only its own collector.
 */
public final class PgSession implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(PgSession.class);

    /** Visits one row. */
    @FunctionalInterface
    public interface RowVisitor {
        void visit(SqlRow row) throws SQLException;
    }

    private final Connection connection;
    private final PgServer server;
    private final AtomicReference<Statement> inFlight = new AtomicReference<>();
    /** Results of {@link #prefetch} not yet asked for, by statement text; only the scrape thread touches it. */
    private final Map<String, ResultSet> prefetched = new HashMap<>();
    private Statement prefetchStatement;

    public PgSession(Connection connection, PgServer server) {
        this.connection = connection;
        this.server = server;
    }

    /**
     * Probes the server and prefetches the statements {@code statementsFor} announces for it. With
     * the facts of the last scrape as {@code assumed}, the probe travels in the same round trip as
     * the statements planned for those facts, and they are kept if the server still has the same
     * version and role (they are, but for an upgrade or a failover); without, or when the batch
     * fails, it is two round trips: the probe, then the statements for what it found.
     *
     * @throws SQLException when the probe fails or the connection is lost
     */
    public static PgSession open(Connection connection, PgServer assumed,
                                 Function<PgServer, Collection<String>> statementsFor) throws SQLException {
        if (assumed != null) {
            PgSession planned = new PgSession(connection, assumed);
            List<String> statements = new ArrayList<>();
            statements.add(PgServer.PROBE);
            statements.addAll(statementsFor.apply(assumed));
            planned.prefetch(statements);
            ResultSet probe = planned.prefetched.remove(PgServer.PROBE);
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
            if (actual.versionNum() == assumed.versionNum() && actual.inRecovery() == assumed.inRecovery()) {
                return planned.withServer(actual);
            }
            planned.close(); // planned for another version or role: plan again for this one
            return plannedFor(connection, actual, statementsFor);
        }
        return plannedFor(connection, PgServer.probe(connection), statementsFor);
    }

    private static PgSession plannedFor(Connection connection, PgServer server,
                                        Function<PgServer, Collection<String>> statementsFor) throws SQLException {
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
     * Runs {@code statements} (parameterless SELECTs) in one round trip and keeps their results
     * for {@link #query}. They run in one implicit transaction: an error in any of them (a
     * timeout, a missing privilege) rolls back all, so then nothing is kept and the statements run
     * one by one when asked for. Duplicates are sent once and served once. Throws only when the
     * connection itself is lost ({@link #connectionLost}).
     */
    public void prefetch(Collection<String> statements) throws SQLException {
        List<String> distinct = List.copyOf(new LinkedHashSet<>(statements));
        if (distinct.size() < 2) {
            return; // one statement gains nothing from being sent early
        }
        List<ResultSet> results = new ArrayList<>(distinct.size());
        try {
            PreparedStatement statement = connection.prepareStatement(String.join(";\n", distinct));
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
            LOG.debug("prefetching {} statements failed, each collector queries on its own: {}", distinct.size(), e.getMessage());
            return;
        } finally {
            inFlight.set(null);
        }
        if (results.size() != distinct.size()) {
            closePrefetched(); // not one result set per statement: can't tell which is whose
            return;
        }
        for (int i = 0; i < distinct.size(); i++) {
            prefetched.put(distinct.get(i), results.get(i));
        }
    }

    /** Runs {@code sql} with the given parameters and visits every row. */
    public void query(String sql, RowVisitor visitor, Object... parameters) throws SQLException {
        ResultSet ready = parameters.length == 0 ? prefetched.remove(sql) : null;
        if (ready != null) {
            try (ready) {
                visitRows(ready, visitor);
            }
            return;
        }
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

    /** Runs {@code sql}, expecting exactly one row, and visits it. */
    public void queryOne(String sql, RowVisitor visitor, Object... parameters) throws SQLException {
        int[] rows = {0};
        query(sql, row -> {
            rows[0]++;
            visitor.visit(row);
        }, parameters);
        if (rows[0] != 1) {
            throw new SQLException("expected one row, got " + rows[0] + " from: " + sql);
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
