package io.pgbatchtelemetry.bench;

import io.pgbatchtelemetry.harness.PostgresCluster;

import java.io.IOException;
import java.nio.file.Files;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The PostgreSQL server of the exporter benchmark, started by the harness (any of 15-18): pg_stat_statements to
 * count and time what the monitoring role runs, log_connections to count its new connections, and a role that is
 * only a member of pg_monitor, reached with a SCRAM password over loopback TCP by both exporters. The bench reads it
 * through pgjdbc as the superuser ({@link #admin()}).
 */
public final class BenchServer implements AutoCloseable {
    public static final String MONITOR_ROLE = "pgbt_monitor";

    private final PostgresCluster cluster;
    private final String monitorPassword;
    private final Connection admin;
    private final long monitorOid;

    private BenchServer(PostgresCluster cluster, String monitorPassword, Connection admin, long monitorOid) {
        this.cluster = cluster;
        this.monitorPassword = monitorPassword;
        this.admin = admin;
        this.monitorOid = monitorOid;
    }

    public static BenchServer start(int major, String name) throws SQLException {
        return start(major, name, Map.of());
    }

    /** With these postgresql.conf settings over the defaults above (e.g. a larger pg_stat_statements.max). */
    public static BenchServer start(int major, String name, Map<String, String> overrides) throws SQLException {
        PostgresCluster.Builder builder = PostgresCluster.builder(major).name(name)
                .setting("shared_buffers", "128MB")
                .setting("shared_preload_libraries", "pg_stat_statements")
                .setting("pg_stat_statements.track", "top")
                .setting("pg_stat_statements.max", "5000")
                .setting("log_connections", "on")
                .setting("log_min_messages", "log")
                .setting("log_line_prefix", "%m [%p] ");
        overrides.forEach(builder::setting);
        PostgresCluster cluster = builder.build();
        try {
            cluster.start();
            String password = "bench-" + HexFormat.of().formatHex(new SecureRandom().generateSeed(6));
            Connection admin = cluster.connect();
            try (Statement s = admin.createStatement()) {
                s.execute("CREATE EXTENSION pg_stat_statements");
                s.execute("CREATE ROLE " + MONITOR_ROLE + " LOGIN PASSWORD '" + password + "' IN ROLE pg_monitor");
                s.execute("CREATE ROLE bench_app LOGIN PASSWORD '" + password + "'");
                s.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO bench_app");
                s.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO bench_app");
            }
            long oid = Long.parseLong(cluster.queryValue("SELECT oid FROM pg_roles WHERE rolname = '" + MONITOR_ROLE + "'"));
            return new BenchServer(cluster, password, admin, oid);
        } catch (SQLException | RuntimeException e) {
            cluster.close();
            throw e;
        }
    }

    public PostgresCluster cluster() {
        return cluster;
    }

    public Connection admin() {
        return admin;
    }

    /** The exporters' data source: the monitoring role over loopback TCP, as the docs tell users to connect. */
    public String dsn() {
        return "postgresql://" + MONITOR_ROLE + ":" + monitorPassword + "@127.0.0.1:" + cluster.port() + "/postgres?sslmode=disable";
    }

    /** A session as the unprivileged application role (the benchmark's client sessions). */
    public Connection appSession(String applicationName) throws SQLException {
        Connection c = cluster.connect("bench_app", monitorPassword, "postgres");
        try (Statement s = c.createStatement()) {
            s.execute("SET application_name = '" + applicationName + "'");
        }
        return c;
    }

    public String scalar(String sql) throws SQLException {
        try (Statement s = admin.createStatement(); ResultSet rows = s.executeQuery(sql)) {
            return rows.next() ? rows.getString(1) : null;
        }
    }

    public void execute(String sql) throws SQLException {
        try (Statement s = admin.createStatement()) {
            s.execute(sql);
        }
    }

    public long statementsOfMonitor() throws SQLException {
        return Long.parseLong(scalar("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE userid = " + monitorOid));
    }

    public double execMsOfMonitor() throws SQLException {
        return Double.parseDouble(scalar("SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements WHERE userid = " + monitorOid));
    }

    /** The monitoring role's backends whose application_name matches (SQL LIKE). */
    public List<Long> backendPids(String applicationLike) throws SQLException {
        List<Long> pids = new ArrayList<>();
        try (PreparedStatement s = admin.prepareStatement(
                "SELECT pid FROM pg_stat_activity WHERE usename = ? AND coalesce(application_name, '') LIKE ?")) {
            s.setString(1, MONITOR_ROLE);
            s.setString(2, applicationLike);
            try (ResultSet rows = s.executeQuery()) {
                while (rows.next()) {
                    pids.add(rows.getLong(1));
                }
            }
        }
        return pids;
    }

    public List<Map<String, Object>> topStatements(int limit) throws SQLException {
        List<Map<String, Object>> out = new ArrayList<>();
        try (Statement s = admin.createStatement(); ResultSet rows = s.executeQuery(
                "SELECT calls, round(total_exec_time::numeric, 1), left(regexp_replace(query, '\\s+', ' ', 'g'), 90) "
                        + "FROM pg_stat_statements WHERE userid = " + monitorOid + " ORDER BY total_exec_time DESC LIMIT " + limit)) {
            while (rows.next()) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("calls", rows.getLong(1));
                row.put("total_ms", rows.getDouble(2));
                row.put("query", rows.getString(3));
                out.add(row);
            }
        }
        return out;
    }

    /** Lines "connection authorized: user=<monitor role>" that log_connections wrote so far. */
    public long connectionsLogged() throws IOException {
        String needle = "connection authorized: user=" + MONITOR_ROLE + " ";
        try (var lines = Files.lines(cluster.logFile(), java.nio.charset.StandardCharsets.ISO_8859_1)) {
            return lines.filter(line -> line.contains(needle)).count();
        }
    }

    @Override
    public void close() {
        try {
            admin.close();
        } catch (SQLException ignored) {
            // the server is stopped next anyway
        }
        cluster.close();
    }
}
