package io.pgbatchtelemetry.exporter.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * What a scrape learns about the server, and about the session it borrowed, in its first
 * statement: the version (to pick the SQL that matches that version's views), whether it is a
 * standby (where {@code pg_current_wal_lsn()} fails and the receive/replay positions are the ones
 * that matter), whether a telemetry schema may be there, and which settings the session sees.
 *
 * <p>Facts that several collectors would otherwise each ask for travel in this one round trip:
 * with the telemetry schema absent the three telemetry collectors run no statement at all, and
 * the settings collector reads {@code pg_settings} (its costliest small statement, ~1 ms) only
 * when {@link #settingsGeneration} changes. Versions: every function read here exists on 15–18.
 *
 * @param versionNum          {@code server_version_num}, e.g. 170007
 * @param inRecovery          {@code pg_is_in_recovery()}
 * @param version             {@code version()} text, for pg_static
 * @param telemetrySchemaSeen a schema named {@code telemetry} exists (whether it is ours, and
 *                            readable, is for the telemetry collectors to find out)
 * @param settingsGeneration  {@code pg_backend_pid()} and {@code pg_conf_load_time()}: changes
 *                            whenever the settings this session sees may have changed (a reload
 *                            re-reads the configuration files, a new connection starts from
 *                            role and database defaults)
 * @param statementsSchema    the schema of the pg_stat_statements extension in this database when
 *                            its library is loaded (it defines {@code pg_stat_statements.max}), else
 *                            null: the statements collector then runs no statement
 */
public record PgServer(int versionNum, boolean inRecovery, String version, boolean telemetrySchemaSeen,
                       String settingsGeneration, String statementsSchema) {

    /** The probe's text; {@link PgSession#open} may send it in one batch with the collectors' statements. */
    static final String PROBE = """
            SELECT current_setting('server_version_num')::int, pg_is_in_recovery(), version(),
                   to_regnamespace('telemetry') IS NOT NULL,
                   pg_backend_pid() || '@' || pg_conf_load_time(),
                   (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                     WHERE e.extname = 'pg_stat_statements'
                       AND current_setting('pg_stat_statements.max', true) IS NOT NULL)""";

    /** Runs the probe on {@code connection}; a dead connection fails here, before any collector. */
    public static PgServer probe(Connection connection) throws SQLException {
        // prepared, so that the server plans it once per connection instead of on every scrape
        try (PreparedStatement statement = connection.prepareStatement(PROBE);
             ResultSet rs = statement.executeQuery()) {
            return read(rs);
        }
    }

    /** The facts from the probe's result. */
    static PgServer read(ResultSet rs) throws SQLException {
        if (!rs.next()) {
            throw new SQLException("the probe returned no row");
        }
        return new PgServer(rs.getInt(1), rs.getBoolean(2), rs.getString(3), rs.getBoolean(4), rs.getString(5),
                rs.getString(6));
    }

    public int major() {
        return versionNum / 10000;
    }

    /** "17.7" from 170007. */
    public String shortVersion() {
        return major() + "." + (versionNum % 10000);
    }

    public boolean atLeast(int major) {
        return major() >= major;
    }
}
