package io.pgbatchtelemetry.report;

import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.Properties;

/**
 * Reads one run's report document from {@code telemetry.run_report(run_id, baseline)} over one
 * read-only connection made from the exporter's data-source settings. Everything the report shows
 * is computed by that function; this class only finds the run and says clearly what is missing.
 *
 * <p>PostgreSQL 15-18 (the schema's versions). The connection has a statement and a lock timeout,
 * so a report can be taken next to a production batch without queueing behind it.
 */
public final class ReportSource {

    private static final int STATEMENT_TIMEOUT_MS = 120_000;

    private final ExporterSettings.DataSource dataSource;

    public ReportSource(ExporterSettings.DataSource dataSource) {
        this.dataSource = dataSource;
    }

    /** The report document (JSON text) of {@code runId}, or of the latest run named {@code name}. */
    public String fetch(Long runId, String name, List<Long> baseline) {
        try (Connection connection = connect()) {
            requireSchema(connection);
            long run = runId != null ? requireRun(connection, runId) : latestRun(connection, name);
            try (PreparedStatement statement = connection.prepareStatement("SELECT telemetry.run_report(?, ?)::text")) {
                statement.setLong(1, run);
                if (baseline == null) {
                    statement.setNull(2, java.sql.Types.ARRAY);
                } else {
                    Array ids = connection.createArrayOf("bigint", baseline.toArray());
                    statement.setArray(2, ids);
                }
                try (ResultSet rs = statement.executeQuery()) {
                    rs.next();
                    return rs.getString(1);
                }
            }
        } catch (SQLException e) {
            throw new ReportException(describe(e));
        }
    }

    private Connection connect() throws SQLException {
        Properties properties = new Properties();
        if (!dataSource.user().isEmpty()) {
            properties.setProperty("user", dataSource.user());
        }
        if (!dataSource.password().isEmpty()) {
            properties.setProperty("password", dataSource.password());
        }
        properties.setProperty("ApplicationName", dataSource.applicationName() + " report");
        properties.setProperty("connectTimeout", Long.toString(Math.max(1, dataSource.connectTimeout().toSeconds())));
        properties.setProperty("options", "-c statement_timeout=" + STATEMENT_TIMEOUT_MS + " -c lock_timeout=5000");
        try {
            // not read-only: for a run still going, compare() may take the closing snapshot itself (when the role may)
            return DriverManager.getConnection(dataSource.jdbcUrl(), properties);
        } catch (SQLException e) {
            throw new ReportException("cannot connect to " + dataSource.jdbcUrl() + ": " + firstLine(e.getMessage()));
        }
    }

    private static void requireSchema(Connection connection) throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement(
                "SELECT to_regnamespace('telemetry') IS NOT NULL, "
                        + "to_regprocedure('telemetry.run_report(bigint,bigint[])') IS NOT NULL, current_database()");
             ResultSet rs = statement.executeQuery()) {
            rs.next();
            if (!rs.getBoolean(1)) {
                throw new ReportException("database " + rs.getString(3) + " has no telemetry schema: install it with "
                        + "psql -v ON_ERROR_STOP=1 -f sql/install.sql (or connect to the database where it is installed)");
            }
            if (!rs.getBoolean(2)) {
                throw new ReportException("the telemetry schema in database " + rs.getString(3)
                        + " has no run_report(): upgrade it by running sql/install.sql again (data is kept)");
            }
        }
    }

    private static long requireRun(Connection connection, long runId) throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement("SELECT 1 FROM telemetry.runs WHERE run_id = ?")) {
            statement.setLong(1, runId);
            try (ResultSet rs = statement.executeQuery()) {
                if (!rs.next()) {
                    throw new ReportException("run " + runId + " does not exist (SELECT * FROM telemetry.batch_runs lists the runs)");
                }
                return runId;
            }
        }
    }

    private static long latestRun(Connection connection, String name) throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement(
                "SELECT run_id FROM telemetry.runs WHERE name = ? ORDER BY started_at DESC, run_id DESC LIMIT 1")) {
            statement.setString(1, name);
            try (ResultSet rs = statement.executeQuery()) {
                if (!rs.next()) {
                    throw new ReportException("no run named '" + name + "' (SELECT DISTINCT name FROM telemetry.runs lists the names)");
                }
                return rs.getLong(1);
            }
        }
    }

    /** The server's own message, one line, without pgjdbc's "Where:" context. */
    private static String describe(SQLException e) {
        String message = firstLine(e.getMessage());
        if ("42501".equals(e.getSQLState())) {
            return message + " (the report needs telemetry_reader or pg_monitor)";
        }
        return message.startsWith("ERROR: ") ? message.substring("ERROR: ".length()) : message;
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "unknown error";
        }
        int newline = message.indexOf('\n');
        return (newline >= 0 ? message.substring(0, newline) : message).strip();
    }
}
