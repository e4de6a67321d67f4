package io.pgbatchtelemetry.exporter.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * What a scrape learns about the server, and about the session it borrowed, in its first
 * statement: the version (to pick the SQL that matches that version's views), whether it is a
 * standby (where {@code pg_current_wal_lsn()} fails and the receive/replay positions are the ones
 * that matter), what of the telemetry schema is there, and which settings the session sees.
 *
 * <p>Facts that several collectors would otherwise each ask for travel in this one round trip:
 * the telemetry collectors share one look at the schema (with the schema absent they run no
 * statement at all), and the settings collector reads {@code pg_settings} (its costliest small
 * statement) only when {@link #settingsGeneration} changes. Versions: every function read here
 * exists on 15–18.
 *
 * @param versionNum          {@code server_version_num}, e.g. 170007
 * @param inRecovery          {@code pg_is_in_recovery()}
 * @param version             {@code version()} text, for pg_static
 * @param settingsGeneration  {@code pg_backend_pid()} and {@code pg_conf_load_time()}: changes
 *                            whenever the settings this session sees may have changed (a reload
 *                            re-reads the configuration files, a new connection starts from
 *                            role and database defaults)
 * @param statementsSchema    the schema of the pg_stat_statements extension in this database when
 *                            its library is loaded (it defines {@code pg_stat_statements.max}), else
 *                            null: the statements collector then runs no statement
 * @param telemetry           the telemetry schema as this session sees it
 */
public record PgServer(int versionNum, boolean inRecovery, String version, String settingsGeneration,
                       String statementsSchema, TelemetrySchema telemetry) {

    /** The probe's text; {@link PgSession#open} may send it in one batch with the collectors' statements. */
    static final String PROBE = """
            SELECT current_setting('server_version_num')::int, pg_is_in_recovery(), version(),
                   pg_backend_pid() || '@' || pg_conf_load_time(),
                   (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                     WHERE e.extname = 'pg_stat_statements'
                       AND current_setting('pg_stat_statements.max', true) IS NOT NULL),
                   """ + TelemetrySchema.PROBE_COLUMNS;

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
        return new PgServer(rs.getInt(1), rs.getBoolean(2), rs.getString(3), rs.getString(4), rs.getString(5),
                TelemetrySchema.read(rs, 6));
    }

    /**
     * Whether statements planned for {@code other} are the ones to run here: the same version, role,
     * pg_stat_statements and telemetry schema (the settings generation only decides whether settings
     * are read again, and the settings collector checks that itself).
     */
    public boolean samePlanAs(PgServer other) {
        return versionNum == other.versionNum && inRecovery == other.inRecovery
                && java.util.Objects.equals(statementsSchema, other.statementsSchema) && telemetry.equals(other.telemetry);
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
