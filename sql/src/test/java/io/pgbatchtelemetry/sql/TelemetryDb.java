package io.pgbatchtelemetry.sql;

import io.pgbatchtelemetry.harness.PostgresCluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A database on a test cluster with the telemetry schema installed the way users install it:
 * {@code psql -v ON_ERROR_STOP=1 -f sql/install.sql}. psql comes from the Debian PostgreSQL 15
 * client, which talks to servers 15-18 alike.
 */
final class TelemetryDb {

    private static final Path PSQL = Files.isExecutable(Path.of("/usr/lib/postgresql/15/bin/psql"))
            ? Path.of("/usr/lib/postgresql/15/bin/psql") : Path.of("psql");

    final PostgresCluster cluster;
    final String database;

    private TelemetryDb(PostgresCluster cluster, String database) {
        this.cluster = cluster;
        this.database = database;
    }

    static Path sqlDir() {
        return Path.of(System.getProperty("pgbt.sql.dir", "."));
    }

    /** Creates {@code database} if missing; does not install. */
    static TelemetryDb of(PostgresCluster cluster, String database) throws SQLException {
        try (Connection c = cluster.connect(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT 1 FROM pg_database WHERE datname = '" + database + "'")) {
            if (!r.next()) {
                s.execute("CREATE DATABASE " + database);
            }
        }
        return new TelemetryDb(cluster, database);
    }

    /** Creates the database if needed and runs install.sql; returns psql's output. */
    static TelemetryDb installed(PostgresCluster cluster, String database) throws SQLException {
        TelemetryDb db = of(cluster, database);
        db.install();
        return db;
    }

    String install() {
        return psqlFile(sqlDir().resolve("install.sql"));
    }

    String uninstall() {
        return psqlFile(sqlDir().resolve("uninstall.sql"));
    }

    /** Runs a file with psql -v ON_ERROR_STOP=1; fails with psql's output unless it exits 0. */
    String psqlFile(Path file) {
        PsqlResult result = psql(file);
        if (result.exitCode != 0) {
            throw new AssertionError("psql -f " + file + " exited " + result.exitCode + ":\n" + result.output);
        }
        return result.output;
    }

    record PsqlResult(int exitCode, String output) {
    }

    PsqlResult psql(Path file) {
        List<String> command = new ArrayList<>(List.of(PSQL.toString(), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                "-h", cluster.host(), "-p", Integer.toString(cluster.port()), "-U", cluster.superuser(),
                "-d", database, "-f", file.toAbsolutePath().toString()));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().put("PGPASSWORD", cluster.superuserPassword());
        builder.environment().put("PGCONNECT_TIMEOUT", "10");
        try {
            Process process = builder.start();
            byte[] out = process.getInputStream().readAllBytes();
            if (!process.waitFor(120, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new AssertionError("psql did not finish within 120 s");
            }
            return new PsqlResult(process.exitValue(), new String(out, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new AssertionError("cannot run " + PSQL + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    Connection connect() throws SQLException {
        return cluster.connect(database);
    }

    Connection connect(String user, String password) throws SQLException {
        return cluster.connect(user, password, database);
    }

    /** Runs statements as superuser in this database. */
    void exec(String... sql) throws SQLException {
        try (Connection c = connect()) {
            exec(c, sql);
        }
    }

    /** Runs statements one after the other in {@code c}'s session. */
    static void exec(Connection c, String... sql) throws SQLException {
        try (Statement s = c.createStatement()) {
            for (String q : sql) {
                s.execute(q);
            }
        }
    }

    /** Every row of a query, column label to text, in the query's column order. */
    List<Map<String, String>> rows(String sql) throws SQLException {
        List<Map<String, String>> out = new ArrayList<>();
        try (Connection c = connect(); Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
            while (r.next()) {
                Map<String, String> row = new LinkedHashMap<>();
                for (int i = 1; i <= r.getMetaData().getColumnCount(); i++) {
                    row.put(r.getMetaData().getColumnLabel(i), r.getString(i));
                }
                out.add(row);
            }
        }
        return out;
    }

    /** Notices and warnings a statement raised, one a line. */
    String messages(String sql) throws SQLException {
        StringBuilder out = new StringBuilder();
        try (Connection c = connect(); Statement s = c.createStatement()) {
            s.execute(sql);
            for (SQLWarning w = s.getWarnings(); w != null; w = w.getNextWarning()) {
                out.append(w.getMessage()).append('\n');
            }
        }
        return out.toString();
    }

    /** First column of the first row, or null. */
    String value(String sql) throws SQLException {
        try (Connection c = connect(); Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
            return r.next() ? r.getString(1) : null;
        }
    }

    long count(String sql) throws SQLException {
        String v = value(sql);
        return v == null ? 0 : Long.parseLong(v);
    }

    /** Makes the statistics of {@code c}'s session visible to other sessions now (PG15+). */
    static void flushStats(Connection c) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute("SELECT pg_stat_force_next_flush()");
            s.execute("SELECT 1");
        }
    }

    /** Polls {@code condition} every 100 ms until it is true or {@code seconds} passed. */
    static boolean await(int seconds, Check condition) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            if (condition.holds()) {
                return true;
            }
            Thread.sleep(100);
        }
        return condition.holds();
    }

    @FunctionalInterface
    interface Check {
        boolean holds() throws Exception;
    }
}
