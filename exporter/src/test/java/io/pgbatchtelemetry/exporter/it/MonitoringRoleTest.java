package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import io.pgbatchtelemetry.exporter.config.SettingsLoader;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code sql/monitoring-role.sql}, run with psql as the README says: the role it makes runs the
 * exporter with every collector succeeding, reads the telemetry history through every read
 * function, and can neither read nor write a user table, signal a backend or read server files.
 */
class MonitoringRoleTest {

    private static final Path SCRIPT = Path.of("..", "sql", "monitoring-role.sql");
    private static final Path TELEMETRY_INSTALL = Path.of("..", "sql", "install.sql");
    private static final Path PSQL = Path.of("/usr/lib/postgresql/15/bin/psql");
    private static final String ROLE = "pgbt_least";
    private static final String PASSWORD = "least-Privilege-7";

    static Stream<Integer> versions() {
        return SharedClusters.versions().stream();
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("versions")
    void theRoleRunsEveryCollectorAndCannotTouchUserData(int version) throws Exception {
        PostgresCluster cluster = SharedClusters.get(version);
        cluster.execute("CREATE TABLE IF NOT EXISTS app_orders (id int PRIMARY KEY, customer text)");
        cluster.execute("INSERT INTO app_orders VALUES (1, 'secret customer') ON CONFLICT DO NOTHING");
        String first = psql(cluster, "postgres", SCRIPT, "-v", "role=" + ROLE);
        String second = psql(cluster, "postgres", SCRIPT, "-v", "role=" + ROLE);
        assertFalse(second.contains("ERROR"), "the script is idempotent:\n" + second);
        if (first.contains("created role")) {
            assertTrue(first.contains("run this script again after sql/install.sql") || first.contains("can read telemetry"), first);
        }
        cluster.execute("ALTER ROLE " + ROLE + " PASSWORD '" + PASSWORD + "'");

        assertEquals("f f f f f 10 on", cluster.queryValue("SELECT concat_ws(' ', rolsuper, rolcreatedb, "
                + "rolcreaterole, rolreplication, rolbypassrls, rolconnlimit, (SELECT split_part(c, '=', 2) FROM unnest(rolconfig) c "
                + "WHERE c LIKE 'default_transaction_read_only=%')) FROM pg_roles WHERE rolname = '" + ROLE + "'"));
        assertEquals("pg_monitor", cluster.queryValue("SELECT string_agg(b.rolname, ',' ORDER BY b.rolname) FROM pg_auth_members m "
                + "JOIN pg_roles b ON b.oid = m.roleid JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = '" + ROLE + "'"),
                "member of pg_monitor only (no telemetry schema in database postgres)");

        Map<String, String> env = Map.of("DATA_SOURCE_NAME", "postgresql://" + ROLE + ":" + PASSWORD + "@127.0.0.1:"
                + cluster.port() + "/postgres");
        try (Exporter exporter = Exporter.start(new SettingsLoader().load(null, env, Map.of("web.listen-address", "127.0.0.1:0")))) {
            Exposition metrics = ExporterTestSupport.scrape(exporter.port());
            assertEquals(1.0, metrics.value("pg_up"));
            for (String collector : CollectorCatalog.names()) {
                assertEquals(1.0, metrics.value("pg_scrape_collector_success", "collector", collector),
                        collector + " as " + ROLE + "\n" + metrics.text());
            }
        }

        try (Connection admin = cluster.connect(); Connection role = cluster.connect(ROLE, PASSWORD, "postgres");
             Statement s = role.createStatement()) {
            String adminPid = pid(admin);
            assertSqlState("42501", s, "SELECT * FROM app_orders", "reading a user table");
            assertSqlState("25006", s, "INSERT INTO app_orders VALUES (2, 'x')", "sessions are read-only by default");
            assertSqlState("25006", s, "CREATE TABLE public.pgbt_evil (id int)", "no DDL in a read-only session");
            // read-only is a default the role may switch off; the privileges hold without it
            s.execute("SET default_transaction_read_only = off");
            assertSqlState("42501", s, "INSERT INTO app_orders VALUES (2, 'x')", "writing a user table");
            assertSqlState("42501", s, "UPDATE app_orders SET customer = 'x'", "updating a user table");
            assertSqlState("42501", s, "TRUNCATE app_orders", "truncating a user table");
            assertSqlState("42501", s, "CREATE TABLE public.pgbt_evil (id int)", "creating in schema public");
            assertSqlState("42501", s, "SELECT pg_read_file('postgresql.conf')", "reading server files");
            assertSqlState("42501", s, "SELECT pg_terminate_backend(" + adminPid + ")", "terminating a superuser's session");
            assertSqlState("42501", s, "SELECT pg_cancel_backend(" + adminPid + ")", "cancelling a superuser's query");
            assertSqlState("42501", s, "CREATE ROLE pgbt_evil", "creating roles");
            // bounds set ON the role: temp_file_limit is superuser-only, so the role cannot raise it
            assertEquals("100MB", value(s, "SHOW temp_file_limit"));
            assertSqlState("42501", s, "SET temp_file_limit = -1", "raising its own temp_file_limit");
            assertSqlState("42501", s, "ALTER ROLE " + ROLE + " SET temp_file_limit = -1", "raising it for the role");
            assertEquals("1min", value(s, "SHOW statement_timeout"));
            assertEquals("1min", value(s, "SHOW idle_in_transaction_session_timeout"));
            // what docs/operations.md says a stolen password can still do: a temporary table in its own session
            s.execute("CREATE TEMP TABLE pgbt_scratch AS SELECT 1 AS x");
            // but it sees every session's query text and wait event, which the sampler needs
            try (ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE usename = 'postgres' AND query <> "
                    + "'<insufficient privilege>'")) {
                rs.next();
            }
        }
    }

    /**
     * Every telemetry read function, called as the role after the schema is installed. Writers
     * (snapshot, sample, track_table, ...) stay out of reach.
     */
    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("versions")
    void theRoleReadsTelemetryThroughEveryReadFunction(int version) throws Exception {
        PostgresCluster cluster = SharedClusters.get(version);
        String database = "pgbt_role_telemetry";
        if (cluster.queryValue("SELECT 1 FROM pg_database WHERE datname = '" + database + "'") == null) {
            cluster.execute("CREATE DATABASE " + database);
        }
        psql(cluster, database, TELEMETRY_INSTALL);
        String granted = psql(cluster, database, SCRIPT, "-v", "role=" + ROLE);
        assertTrue(granted.contains("can read telemetry"), granted);
        cluster.execute("ALTER ROLE " + ROLE + " PASSWORD '" + PASSWORD + "'");

        Timestamp start;
        long run1;
        long run2;
        try (Connection admin = cluster.connect(database); Statement s = admin.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS app_orders (id int PRIMARY KEY, customer text)");
            s.execute("SELECT telemetry.track_table('app_orders')");
            start = timestamp(s, "SELECT now() - interval '1 second'");
            run1 = number(s, "SELECT telemetry.batch_start('nightly')");
            s.execute("INSERT INTO app_orders SELECT g, 'c' || g FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING");
            s.execute("SELECT telemetry.sample()");
            s.execute("SELECT telemetry.batch_end(" + run1 + ")");
            run2 = number(s, "SELECT telemetry.batch_start('nightly')");
            s.execute("UPDATE app_orders SET customer = customer || 'x'");
            s.execute("SELECT telemetry.sample()");
            s.execute("SELECT telemetry.batch_end(" + run2 + ")");
            s.execute("SELECT telemetry.snapshot()");
        }
        Timestamp end;
        try (Connection admin = cluster.connect(database); Statement s = admin.createStatement()) {
            end = timestamp(s, "SELECT now()");
        }

        List<String> failures = new ArrayList<>();
        TreeSet<String> called = new TreeSet<>();
        try (Connection role = cluster.connect(ROLE, PASSWORD, database)) {
            for (ReadFunction function : readFunctions(role)) {
                List<Object> args = new ArrayList<>();
                List<String> placeholders = new ArrayList<>();
                int timestamps = 0;
                int runs = 0;
                for (int i = 0; i < function.argTypes().size(); i++) {
                    String type = function.argTypes().get(i);
                    String name = function.argNames().size() > i ? function.argNames().get(i) : "";
                    placeholders.add("?::" + type);
                    switch (type) {
                        case "timestamp with time zone" -> args.add(timestamps++ % 2 == 0 ? start : end);
                        case "bigint" -> args.add(runs++ % 2 == 0 ? run1 : run2);
                        // a baseline: the other run than the one before it (a run can't be its own baseline)
                        case "bigint[]" -> args.add("{" + (runs % 2 == 0 ? run1 : run2) + "}");
                        case "integer" -> args.add(Integer.parseInt(cluster.queryValue("SHOW server_version_num")));
                        case "text" -> args.add(name.contains("part") ? "wal" : "app_orders");
                        case "interval" -> args.add("1 hour");
                        default -> throw new AssertionError("no test argument for " + type + " in " + function.signature());
                    }
                }
                String sql = "SELECT * FROM telemetry." + function.name() + "(" + String.join(", ", placeholders) + ")";
                try (PreparedStatement call = role.prepareStatement(sql)) {
                    for (int i = 0; i < args.size(); i++) {
                        call.setObject(i + 1, args.get(i));
                    }
                    try (ResultSet rs = call.executeQuery()) {
                        while (rs.next()) {
                            // read every row: a privilege error may surface only while rows are produced
                        }
                    }
                    called.add(function.signature());
                } catch (SQLException e) {
                    if ("P0001".equals(e.getSQLState()) && String.valueOf(e.getMessage()).contains("pg_stat_statements is not loaded")) {
                        // the role ran it and got the schema's own answer: this shared cluster has no pg_stat_statements
                        called.add(function.signature());
                    } else {
                        failures.add(function.signature() + ": SQLSTATE " + e.getSQLState() + " " + e.getMessage());
                    }
                }
            }
            try (Statement s = role.createStatement()) {
                for (String view : names(s, "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'telemetry'::regnamespace "
                        + "AND c.relkind = 'v' AND c.relname !~ '^_' ORDER BY 1")) {
                    try (ResultSet rs = s.executeQuery("SELECT * FROM telemetry." + view)) {
                        while (rs.next()) {
                            // every row, as above
                        }
                        called.add("view " + view);
                    } catch (SQLException e) {
                        failures.add("view " + view + ": SQLSTATE " + e.getSQLState() + " " + e.getMessage());
                    }
                }
                for (String writer : List.of("SELECT telemetry.snapshot()", "SELECT telemetry.sample()",
                        "SELECT telemetry.track_table('app_orders')", "SELECT * FROM telemetry.cleanup()",
                        "SELECT telemetry.batch_start('x')")) {
                    s.execute("SET default_transaction_read_only = off");
                    assertSqlState("42501", s, writer, "a writer function");
                }
                assertSqlState("42501", s, "DELETE FROM telemetry.snapshots", "deleting history");
            }
        }
        assertTrue(failures.isEmpty(), "read functions that failed as " + ROLE + ":\n" + String.join("\n", failures));
        assertTrue(called.stream().anyMatch(f -> f.startsWith("compare(")) && called.stream().anyMatch(f -> f.startsWith("diagnose(")),
                "the main read functions were found and called: " + called);
    }

    private record ReadFunction(String name, String signature, List<String> argTypes, List<String> argNames) {}

    /** Functions of the telemetry API (no leading underscore) that telemetry_reader may execute. */
    private static List<ReadFunction> readFunctions(Connection connection) throws SQLException {
        List<ReadFunction> functions = new ArrayList<>();
        try (Statement s = connection.createStatement(); ResultSet rs = s.executeQuery("""
                SELECT p.proname, p.oid::regprocedure::text,
                       ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, n) ORDER BY n),
                       coalesce(p.proargnames, '{}')
                  FROM pg_proc p
                 WHERE p.pronamespace = 'telemetry'::regnamespace AND p.proname !~ '^_' AND p.prokind = 'f'
                   AND has_function_privilege('telemetry_reader', p.oid, 'EXECUTE')
                 ORDER BY 2""")) {
            while (rs.next()) {
                String signature = rs.getString(2).replaceFirst("^telemetry\\.", "");
                functions.add(new ReadFunction(rs.getString(1), signature,
                        List.of((String[]) rs.getArray(3).getArray()), List.of((String[]) rs.getArray(4).getArray())));
            }
        }
        if (functions.isEmpty()) {
            fail("telemetry_reader may execute no telemetry function");
        }
        return functions;
    }

    private static String pid(Connection connection) throws SQLException {
        try (Statement s = connection.createStatement(); ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static List<String> names(Statement s, String sql) throws SQLException {
        List<String> names = new ArrayList<>();
        try (ResultSet rs = s.executeQuery(sql)) {
            while (rs.next()) {
                names.add(rs.getString(1));
            }
        }
        return names;
    }

    private static Timestamp timestamp(Statement s, String sql) throws SQLException {
        try (ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getTimestamp(1);
        }
    }

    private static String value(Statement s, String sql) throws SQLException {
        try (ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static long number(Statement s, String sql) throws SQLException {
        try (ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static void assertSqlState(String expected, Statement s, String sql, String what) {
        try {
            s.execute(sql);
            fail(what + " should fail with SQLSTATE " + expected + ": " + sql);
        } catch (SQLException e) {
            assertEquals(expected, e.getSQLState(), what + ": " + e.getMessage());
        }
    }

    /** Runs a script with psql as the superuser, as an operator would; returns what psql printed. */
    static String psql(PostgresCluster cluster, String database, Path script, String... extra) throws IOException, InterruptedException {
        Assumptions.assumeTrue(Files.isExecutable(PSQL), "SKIPPED LOUDLY: no psql at " + PSQL + " (Debian package postgresql-client-15)");
        List<String> command = new ArrayList<>(List.of(PSQL.toString(), "-X", "-h", cluster.host(), "-p", Integer.toString(cluster.port()),
                "-U", cluster.superuser(), "-d", database, "-v", "ON_ERROR_STOP=1"));
        command.addAll(List.of(extra));
        command.addAll(List.of("-f", script.toString()));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().put("PGPASSWORD", cluster.superuserPassword());
        builder.environment().put("PGCONNECT_TIMEOUT", "10");
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(120, TimeUnit.SECONDS) || process.exitValue() != 0) {
            process.destroyForcibly();
            fail("psql -f " + script + " failed:\n" + output);
        }
        return output;
    }
}
