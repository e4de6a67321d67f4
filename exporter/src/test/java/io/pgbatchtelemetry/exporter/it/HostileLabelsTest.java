package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.collector.Collector;
import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import io.pgbatchtelemetry.exporter.collector.CollectorOptions;
import io.pgbatchtelemetry.harness.PostgresCluster;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Catalog names are user input: database, role, table and application names with quotes,
 * backslashes, newlines, emoji, label-syntax look-alikes and overlong names must come out of the
 * exporter correctly escaped, read back to exactly what PostgreSQL stores, and leave
 * {@code promtool check metrics} silent.
 *
 * <p>PostgreSQL limits names to NAMEDATALEN - 1 = 63 bytes and truncates longer ones (cutting at a
 * character boundary, so 100 two-byte characters become 31): the 200-character names asked for
 * are created, and the test expects the truncated names PostgreSQL actually keeps.
 */
class HostileLabelsTest {

    static final List<String> HOSTILE = List.of(
            "quote\"db",
            "back\\slash\\n-not-a-newline",
            "new\nline",
            "tab\there",
            "emoji \uD83D\uDC18 db",
            "it's {a=\"b\"}, c=d",
            "} pg_up 0\n# HELP injected",
            "long_" + "a".repeat(195),
            "\u00e9".repeat(100));
    private static final String PASSWORD = "hostile-Pa55";
    private static PostgresCluster cluster;

    @BeforeAll
    static void createHostileNames() throws Exception {
        cluster = ExporterTestSupport.startOwnCluster(ExporterTestSupport.newestVersion(), "hostile");
        try (Connection c = cluster.connect(); Statement s = c.createStatement()) {
            for (String name : HOSTILE) {
                s.execute("CREATE DATABASE " + identifier(name));
                s.execute("CREATE ROLE " + identifier(name) + " LOGIN PASSWORD '" + PASSWORD + "'");
                s.execute("CREATE TABLE " + identifier(name) + " (id int)");
                s.execute("INSERT INTO " + identifier(name) + " VALUES (1)");
            }
            s.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + ExporterTestSupport.MONITOR_USER);
        }
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void hostileNamesAreEscapedAndReadBackExactly() throws Exception {
        List<String> stored = storedNames("SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1', 'telemetry_hostile')");
        assertEquals(HOSTILE.size(), stored.size(), "every hostile database exists: " + stored);
        assertTrue(stored.contains("long_" + "a".repeat(58)), "a 200-character name is kept as its first 63 bytes");
        assertTrue(stored.contains("\u00e9".repeat(31)), "100 two-byte characters are cut at a character boundary: 31 (62 bytes)");
        for (String name : stored) {
            assertTrue(name.getBytes(StandardCharsets.UTF_8).length <= 63, name);
        }

        List<Collector> collectors = new ArrayList<>(CollectorCatalog.create(CollectorCatalog.names(), CollectorOptions.UNCACHED));
        collectors.add(new SqlTestCollector("database", "SELECT datname, 1 AS n FROM pg_database", "datname"));
        collectors.add(new SqlTestCollector("session", "SELECT usename, application_name, count(*) AS n FROM pg_stat_activity "
                + "WHERE backend_type = 'client backend' GROUP BY 1, 2", "usename", "application_name"));
        collectors.add(new SqlTestCollector("table", "SELECT schemaname, relname, 1 AS n FROM pg_stat_user_tables",
                "schemaname", "relname"));

        List<Connection> sessions = new ArrayList<>();
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, Map.of()), collectors)) {
            for (String role : storedNames("SELECT rolname FROM pg_roles WHERE rolcanlogin AND rolname NOT IN ('postgres', '"
                    + ExporterTestSupport.MONITOR_USER + "')")) {
                Properties properties = new Properties();
                properties.setProperty("user", role);
                properties.setProperty("password", PASSWORD);
                properties.setProperty("ApplicationName", role);
                sessions.add(java.sql.DriverManager.getConnection(cluster.jdbcUrl("postgres"), properties));
            }
            ExporterTestSupport.Response response = ExporterTestSupport.get(exporter.port(), "/metrics", "text/plain");
            assertEquals(200, response.status());
            String text = response.body();
            assertEquals("", ExporterTestSupport.promtoolCheck(text), "promtool check metrics must print nothing");
            Exposition metrics = new Exposition(text);
            assertEquals(1.0, metrics.value("pg_up"));

            for (String name : stored) {
                assertEquals(1.0, metrics.value("pgbt_test_database", "datname", name), "database " + printable(name));
                assertEquals(1.0, metrics.value("pgbt_test_table", "schemaname", "public", "relname", name), "table " + printable(name));
            }
            // PostgreSQL itself replaces non-printable and non-ASCII characters of application_name with '?':
            // what matters is that the exporter passes on exactly what the server reports
            List<String[]> activity = new ArrayList<>();
            try (Connection c = cluster.connect(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(
                    "SELECT DISTINCT usename, application_name FROM pg_stat_activity WHERE backend_type = 'client backend' "
                            + "AND usename NOT IN ('postgres', '" + ExporterTestSupport.MONITOR_USER + "')")) {
                while (rs.next()) {
                    activity.add(new String[] {rs.getString(1), rs.getString(2)});
                }
            }
            assertEquals(HOSTILE.size(), activity.size(), "one session per hostile role");
            for (String[] session : activity) {
                assertEquals(1.0, metrics.value("pgbt_test_session", "usename", session[0], "application_name", session[1]),
                        "session of " + printable(session[0]) + " / " + printable(session[1]));
            }
            // the escapes themselves, as the text format defines them
            assertTrue(text.contains("datname=\"quote\\\"db\""), "quote escaped");
            assertTrue(text.contains("datname=\"back\\\\slash\\\\n-not-a-newline\""), "backslash escaped");
            assertTrue(text.contains("datname=\"new\\nline\""), "newline escaped");
            assertTrue(text.contains("datname=\"emoji \uD83D\uDC18 db\""), "UTF-8 passes through");
            for (String line : text.split("\n")) {
                assertTrue(!line.startsWith("# HELP injected"), "a name cannot inject exposition lines");
            }

            ExporterTestSupport.Response openMetrics = ExporterTestSupport.get(exporter.port(), "/metrics",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8");
            assertEquals(200, openMetrics.status());
            assertTrue(openMetrics.body().contains("datname=\"new\\nline\""), "OpenMetrics escapes the same way");
            assertTrue(openMetrics.body().endsWith("# EOF\n"));
        } finally {
            for (Connection session : sessions) {
                session.close();
            }
        }
    }

    /** A table name that looks like SQL, given to telemetry.track_table, is a name and nothing else. */
    @Test
    void sqlLookingTableNamesAreTreatedAsNames() throws Exception {
        Path install = Path.of("..", "sql", "install.sql");
        String database = "telemetry_hostile";
        cluster.execute("CREATE DATABASE " + database);
        MonitoringRoleTest.psql(cluster, database, install);
        String sqlLooking = "x'); DROP TABLE victim; --";
        try (Connection c = cluster.connect(database); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE victim (id int)");
            s.execute("CREATE TABLE " + identifier(sqlLooking) + " (id int)");
            try (PreparedStatement track = c.prepareStatement("SELECT telemetry.track_table(?)")) {
                track.setString(1, sqlLooking);
                try (ResultSet rs = track.executeQuery()) {
                    rs.next();
                    assertTrue(rs.getString(1).startsWith("tracking "), rs.getString(1));
                }
                track.setString(1, "victim; DROP TABLE victim");
                try {
                    track.executeQuery().close();
                    throw new AssertionError("a name that does not exist must be refused");
                } catch (SQLException expected) {
                    assertTrue(expected.getMessage().contains("does not exist"), expected.getMessage());
                }
            }
            assertEquals("2", value(c, "SELECT count(*) FROM pg_class WHERE relname IN ('victim', "
                    + literal(sqlLooking) + ")"), "both tables are still there");
            assertEquals(sqlLooking, value(c, "SELECT relname FROM telemetry.tracked_tables"));
        }
    }

    private static String value(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    private static List<String> storedNames(String sql) throws SQLException {
        List<String> names = new ArrayList<>();
        try (Connection c = cluster.connect(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            while (rs.next()) {
                names.add(rs.getString(1));
            }
        }
        return names;
    }

    static String identifier(String name) {
        return "\"" + name.replace("\"", "\"\"") + "\"";
    }

    private static String literal(String text) {
        return "'" + text.replace("'", "''") + "'";
    }

    private static String printable(String name) {
        return name.replace("\n", "\\n").replace("\t", "\\t");
    }
}
