package io.pgbatchtelemetry.exporter.it;

import io.pgbatchtelemetry.harness.PostgresCluster;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A database of a test cluster with the telemetry schema installed the way users install it
 * ({@code psql -v ON_ERROR_STOP=1 -f sql/install.sql}, as the superuser), for the exporter's
 * telemetry collectors to read. The install runs once per cluster and database in a JVM: it is
 * idempotent, but each run costs about a second of the two shared cores.
 */
public final class TelemetryTestDb {

    public static final Path INSTALL = Path.of("..", "sql", "install.sql");

    private static final Set<String> INSTALLED = ConcurrentHashMap.newKeySet();

    private TelemetryTestDb() {}

    /** Creates {@code database} if missing and installs the schema there (once per JVM). */
    public static void install(PostgresCluster cluster, String database) throws Exception {
        String key = cluster.dataDir() + "/" + database;
        if (INSTALLED.contains(key)) {
            return;
        }
        createDatabase(cluster, database);
        MonitoringRoleTest.psql(cluster, database, INSTALL);
        INSTALLED.add(key);
    }

    /**
     * Makes sure {@code telemetry.baseline_runs(run_id)} exists: the installed schema's own where it has one, else
     * the agreed contract from {@code baseline-runs-contract.sql} (said loudly on stderr), until the schema ships it.
     */
    public static void ensureBaselineRuns(PostgresCluster cluster, String database) throws Exception {
        Double present = number(cluster, database, "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                + "WHERE n.nspname = 'telemetry' AND p.proname = 'baseline_runs'");
        if (present != null && present == 0) {
            System.err.println("*** sql/install.sql has no telemetry.baseline_runs(run_id) yet: the test creates it from "
                    + "exporter/src/test/resources/baseline-runs-contract.sql (the agreed definition) ***");
            try (var in = TelemetryTestDb.class.getResourceAsStream("/baseline-runs-contract.sql")) {
                exec(cluster, database, new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8));
            }
        }
    }

    /** Creates {@code database} if missing, without the schema. */
    public static void createDatabase(PostgresCluster cluster, String database) throws SQLException {
        try (Connection c = cluster.connect(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT 1 FROM pg_database WHERE datname = '" + database + "'")) {
            if (!rs.next()) {
                s.execute("CREATE DATABASE " + database);
            }
        }
    }

    /** Runs statements as the superuser in {@code database}. */
    public static void exec(PostgresCluster cluster, String database, String... sql) throws SQLException {
        try (Connection c = cluster.connect(database); Statement s = c.createStatement()) {
            for (String statement : sql) {
                s.execute(statement);
            }
        }
    }

    /** Waits up to 10 s until the schema sees that run's session has gone (run_session_gone()); false if it never does. */
    public static boolean awaitSessionGone(PostgresCluster cluster, String database, long runId) throws Exception {
        for (int i = 0; i < 100; i++) {
            if (number(cluster, database, "SELECT count(*) FROM telemetry.runs WHERE run_id = " + runId
                    + " AND telemetry.run_session_gone(run_id)").longValue() == 1) {
                return true;
            }
            Thread.sleep(100);
        }
        return false;
    }

    /** The first column of the first row as a double, run as the superuser in {@code database}; null if NULL. */
    public static Double number(PostgresCluster cluster, String database, String sql) throws SQLException {
        try (Connection c = cluster.connect(database); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            if (!rs.next()) {
                throw new SQLException("no row from: " + sql);
            }
            double value = rs.getDouble(1);
            return rs.wasNull() ? null : value;
        }
    }

    /**
     * Makes this session's statistics visible to other sessions now: PostgreSQL 15+ flushes them at
     * most once a second when a session goes idle, unless asked to.
     */
    public static void flushStats(Connection connection) throws SQLException {
        try (Statement s = connection.createStatement()) {
            s.execute("SELECT pg_stat_force_next_flush()");
            s.execute("SELECT 1");
        }
    }
}
