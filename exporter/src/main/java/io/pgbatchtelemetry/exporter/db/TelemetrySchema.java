package io.pgbatchtelemetry.exporter.db;

import java.sql.Array;
import java.sql.SQLException;
import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * What the telemetry schema of {@code sql/install.sql} looks like in the database the exporter is
 * connected to, read from the catalogs (which every role may read) by the scrape's first statement
 * ({@link PgServer#PROBE}), once per scrape for every telemetry collector.
 *
 * <p>The schema is optional: where it is not installed the telemetry collectors export nothing and
 * succeed. "Installed" means a schema named {@code telemetry} holding the relations the collectors
 * read, so that somebody else's schema of the same name is not mistaken for it. An installed schema
 * that this role may not use is a configuration error worth a failing collector, and the message
 * says which grant is missing ({@link #requireUsable}). Objects added by later versions of the
 * schema (the run totals, the pg_cron health function, the baseline runs and usual duration) are optional, so an exporter newer than the
 * installed schema still works and exports what that schema has; a function counts only where this
 * role may execute it, so that a statement calling it can travel in the scrape's batch without
 * failing the batch. Only the names listed here are looked up (by the catalogs' name indexes, not a
 * scan of {@code pg_class}): a collector that needs another object adds its name here. Versions: the
 * catalogs read here are the same on 15–18.
 *
 * @param installed the schema and its core relations exist
 * @param usable    this role has USAGE on the schema
 * @param objects   names of the schema's relations listed here, and of its functions listed here
 *                  (with {@code ()} appended) that this role may execute
 * @param role      {@code current_user}, for the message when the schema is not usable
 * @param database  {@code current_database()}, for the same message
 */
public record TelemetrySchema(boolean installed, boolean usable, Set<String> objects, String role, String database) {

    private static final Set<String> CORE = Set.of("runs", "batch_runs", "tracked_tables", "snapshots", "samples");
    private static final Set<String> OPTIONAL_RELATIONS = Set.of("run_totals");
    private static final Set<String> OPTIONAL_FUNCTIONS = Set.of("cron_job_health", "baseline_runs", "run_session_gone", "usual_duration");

    /** The probe's columns for this record: objects (text[], NULL without the schema), usable, role, database. */
    static final String PROBE_COLUMNS = """
            (SELECT ARRAY(SELECT c.relname::text FROM pg_class c
                           WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v') AND c.relname = ANY ('%s')
                          UNION ALL
                          SELECT p.proname || '()' FROM pg_proc p
                           WHERE p.pronamespace = n.oid AND p.proname = ANY ('%s')
                             AND has_function_privilege(p.oid, 'EXECUTE'))
               FROM pg_namespace n WHERE n.nspname = 'telemetry'),
                   has_schema_privilege(to_regnamespace('telemetry'), 'USAGE'), current_user, current_database()"""
            .formatted(arrayLiteral(Stream.concat(CORE.stream(), OPTIONAL_RELATIONS.stream())), arrayLiteral(OPTIONAL_FUNCTIONS.stream()));

    /** No schema named telemetry, or not ours. */
    public static final TelemetrySchema ABSENT = new TelemetrySchema(false, false, Set.of(), "", "");

    public TelemetrySchema {
        objects = Set.copyOf(objects);
    }

    /** From the probe's columns starting at {@code column}: objects, usable, role, database. */
    static TelemetrySchema read(java.sql.ResultSet rs, int column) throws SQLException {
        Array names = rs.getArray(column);
        Set<String> objects = names == null ? Set.of() : Arrays.stream((Object[]) names.getArray())
                .map(String::valueOf).collect(Collectors.toUnmodifiableSet());
        boolean usable = rs.getBoolean(column + 1);
        return new TelemetrySchema(objects.containsAll(CORE), usable, objects, rs.getString(column + 2), rs.getString(column + 3));
    }

    /** Whether the schema is installed and this role may read it: its collectors' statements can be sent. */
    public boolean readable() {
        return installed && usable;
    }

    public boolean has(String object) {
        return objects.contains(object);
    }

    /**
     * Throws when the schema is installed but this role lacks USAGE on it: the DBA installed it to
     * be read, and only a grant is missing.
     */
    public void requireUsable() throws SQLException {
        if (installed && !usable) {
            throw new SQLException("schema telemetry is installed in database " + database + " but role " + role
                    + " may not read it: GRANT telemetry_reader TO " + role
                    + " (sql/install.sql grants it to pg_monitor; sql/monitoring-role.sql grants it directly)", "42501");
        }
    }

    /**
     * The start of a telemetry collector's {@code collect()}: true when there is a schema to read; false when it is
     * not installed (the collector exports nothing and succeeds); throws as {@link #requireUsable()} does when it is
     * installed but this role may not read it.
     */
    public boolean toCollect() throws SQLException {
        requireUsable();
        return installed;
    }

    private static String arrayLiteral(Stream<String> names) {
        return names.sorted().collect(Collectors.joining(",", "{", "}"));
    }
}
