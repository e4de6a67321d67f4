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

    public PgServer server() {
        return server;
    }

    /**
     * Runs {@code statements} (parameterless SELECTs) in one round trip and keeps their results
     * for {@link #query}. They run in one implicit transaction: an error in any of them (a
     * timeout, a missing privilege) rolls back all, so then nothing is kept and the statements run
     * one by one when asked for. Duplicates are sent once and served once.
     */
    public void prefetch(Collection<String> statements) {
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
            LOG.debug("prefetching {} statements failed, each collector queries on its own: {}", distinct.size(), e.getMessage());
            closePrefetched();
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
