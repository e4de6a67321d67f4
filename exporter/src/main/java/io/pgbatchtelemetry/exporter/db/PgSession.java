package io.pgbatchtelemetry.exporter.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The connection one scrape borrowed, as collectors see it: run a query, visit its rows.
 *
 * <p>The connection already carries {@code statement_timeout} and {@code lock_timeout} (set at
 * connect time by the pool), so a lock held on a table can't hang a collector for longer than
 * that. The statement in flight is remembered so that the scrape deadline can cancel it.
 */
public final class PgSession {

    /** Visits one row. */
    @FunctionalInterface
    public interface RowVisitor {
        void visit(SqlRow row) throws SQLException;
    }

    private final Connection connection;
    private final PgServer server;
    private final AtomicReference<Statement> inFlight = new AtomicReference<>();

    public PgSession(Connection connection, PgServer server) {
        this.connection = connection;
        this.server = server;
    }

    public PgServer server() {
        return server;
    }

    /** Runs {@code sql} with the given parameters and visits every row. */
    public void query(String sql, RowVisitor visitor, Object... parameters) throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement(sql)) {
            for (int i = 0; i < parameters.length; i++) {
                statement.setObject(i + 1, parameters[i]);
            }
            inFlight.set(statement);
            try (ResultSet resultSet = statement.executeQuery()) {
                SqlRow row = new SqlRow(resultSet);
                while (resultSet.next()) {
                    visitor.visit(row);
                }
            } finally {
                inFlight.set(null);
            }
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
}
