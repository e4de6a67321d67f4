package io.pgbatchtelemetry.demo;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * The SQL half of the demo: the telemetry schema of {@code sql/install.sql} (packed into the demo jar)
 * installed in the demo's database, and the exporter's role made a telemetry_writer so its sampler
 * writes a sample every second while a batch run is open (the demo cluster has no pg_cron).
 *
 * <p>psql is not part of the embedded binaries, so the script goes through JDBC; its only psql
 * meta-command, {@code \set ON_ERROR_STOP 1}, is what a JDBC statement does anyway.
 */
final class DemoSchema {

    static final String INSTALL_SQL = "sql/install.sql";

    private DemoSchema() {}

    static void install(Connection superuser, String exporterRole) throws SQLException {
        try (Statement s = superuser.createStatement()) {
            s.execute(script());
            s.execute("GRANT telemetry_writer TO " + exporterRole);
        }
    }

    /** How many runs make a usual baseline: the schema's config baseline_min_runs. */
    static int baselineMinRuns(Connection connection) throws SQLException {
        try (Statement s = connection.createStatement();
             ResultSet r = s.executeQuery("SELECT telemetry._setting('baseline_min_runs', '3')::int")) {
            r.next();
            return r.getInt(1);
        }
    }

    /** diagnose(run) as text lines, the way psql would show its rows, or the notice when it has no findings. */
    static List<String> diagnose(Connection connection, long runId) throws SQLException {
        List<String> lines = new ArrayList<>();
        try (Statement s = connection.createStatement();
             ResultSet r = s.executeQuery("SELECT rank, pattern, severity, score, evidence FROM telemetry.diagnose(" + runId + ")")) {
            while (r.next()) {
                lines.add(r.getInt(1) + ". " + r.getString(2) + " (" + r.getString(3) + ", score " + r.getBigDecimal(4) + "): "
                        + r.getString(5));
            }
            for (java.sql.SQLWarning w = s.getWarnings(); w != null; w = w.getNextWarning()) {
                lines.add("NOTICE: " + w.getMessage());
            }
        }
        return lines;
    }

    private static String script() {
        try (InputStream in = DemoSchema.class.getResourceAsStream(INSTALL_SQL)) {
            if (in == null) {
                throw new IllegalStateException(INSTALL_SQL + " is missing from the demo jar");
            }
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            return text.replaceAll("(?m)^\\\\set ON_ERROR_STOP 1$", "");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
