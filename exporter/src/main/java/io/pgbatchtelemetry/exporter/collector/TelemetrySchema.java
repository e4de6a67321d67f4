package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgSession;
import java.sql.SQLException;
import java.util.HashSet;
import java.util.Set;

/**
 * What the telemetry schema of {@code sql/install.sql} looks like in the database the exporter is
 * connected to, read from the catalogs (which every role may read) before a telemetry collector
 * touches the schema itself.
 *
 * <p>The schema is optional: where it is not installed the telemetry collectors export nothing and
 * succeed. "Installed" means a schema named {@code telemetry} holding the relations the collectors
 * read, so that somebody else's schema of the same name is not mistaken for it. An installed schema
 * that this role may not use is a configuration error worth a failing collector, and the message
 * says which grant is missing. Objects added by later versions of the schema (the run totals, the
 * pg_cron health function) are optional, so an exporter newer than the installed schema still works
 * and exports what that schema has. Versions: the catalogs read here are the same on 15–18.
 *
 * @param installed  the schema and its core relations exist
 * @param objects    names of the schema's relations, and of its functions with {@code ()} appended
 */
record TelemetrySchema(boolean installed, Set<String> objects) {

    private static final Set<String> CORE = Set.of("runs", "batch_runs", "tracked_tables", "snapshots", "samples");

    private static final String PROBE = """
            SELECT o.name, has_schema_privilege(n.oid, 'USAGE') AS usable
              FROM pg_namespace n
              JOIN LATERAL (SELECT c.relname::text AS name FROM pg_class c
                             WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v')
                            UNION ALL
                            SELECT p.proname || '()' FROM pg_proc p WHERE p.pronamespace = n.oid) o ON true
             WHERE n.nspname = 'telemetry'""";

    static final TelemetrySchema ABSENT = new TelemetrySchema(false, Set.of());

    /**
     * Reads the catalogs. Throws when the schema is installed but this role lacks USAGE on it:
     * the DBA installed it to be read, and only a grant is missing.
     */
    static TelemetrySchema probe(PgSession session) throws SQLException {
        if (!session.server().telemetrySchemaSeen()) {
            return ABSENT; // the scrape's first statement found no such schema: no statement here
        }
        Set<String> objects = new HashSet<>();
        boolean[] usable = {true}; // the same on every row: it is the schema's privilege
        session.query(PROBE, row -> {
            objects.add(row.text("name"));
            usable[0] = Boolean.TRUE.equals(row.bool("usable"));
        });
        if (!objects.containsAll(CORE)) {
            return ABSENT;
        }
        if (!usable[0]) {
            String[] who = new String[2];
            session.queryOne("SELECT current_user AS role, current_database() AS database", row -> {
                who[0] = row.text("role");
                who[1] = row.text("database");
            });
            throw new SQLException("schema telemetry is installed in database " + who[1] + " but role " + who[0]
                    + " may not read it: GRANT telemetry_reader TO " + who[0]
                    + " (sql/install.sql grants it to pg_monitor; sql/monitoring-role.sql grants it directly)", "42501");
        }
        return new TelemetrySchema(true, Set.copyOf(objects));
    }

    boolean has(String object) {
        return objects.contains(object);
    }
}
