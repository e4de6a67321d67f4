package io.pgbatchtelemetry.exporter.db;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.OffsetDateTime;

/**
 * One row of a collector query, read by column name with SQL NULL kept as Java {@code null}.
 *
 * <p>JDBC's {@code getDouble} turns NULL into 0, which is exactly the fake zero the metric
 * conventions forbid; every read goes through here instead.
 */
public final class SqlRow {

    private final ResultSet resultSet;

    SqlRow(ResultSet resultSet) {
        this.resultSet = resultSet;
    }

    /**
     * Whether this is the first row: a value the statement repeats on every row (a total, a
     * server-wide figure joined to each row) is read from it once.
     */
    public boolean first() throws SQLException {
        return resultSet.getRow() == 1;
    }

    /** A numeric column, or {@code null} when the value is NULL. */
    public Double number(String column) throws SQLException {
        double value = resultSet.getDouble(column);
        return resultSet.wasNull() ? null : value;
    }

    /** A numeric column holding milliseconds, as seconds (the metric base unit). */
    public Double millisAsSeconds(String column) throws SQLException {
        Double millis = number(column);
        return millis == null ? null : millis / 1000.0;
    }

    /** A timestamptz column as Unix time in seconds, or {@code null} when NULL. */
    public Double epochSeconds(String column) throws SQLException {
        OffsetDateTime time = resultSet.getObject(column, OffsetDateTime.class);
        return time == null ? null : time.toEpochSecond() + time.getNano() / 1e9;
    }

    public String text(String column) throws SQLException {
        return resultSet.getString(column);
    }

    public Boolean bool(String column) throws SQLException {
        boolean value = resultSet.getBoolean(column);
        return resultSet.wasNull() ? null : value;
    }

    /** A boolean column as 1/0, or {@code null} when NULL. */
    public Double boolAsNumber(String column) throws SQLException {
        Boolean value = bool(column);
        return value == null ? null : (value ? 1.0 : 0.0);
    }
}
