package io.pgbatchtelemetry.exporter.it;

import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import io.pgbatchtelemetry.exporter.config.SettingsLoader;
import io.pgbatchtelemetry.harness.PostgresCluster;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * Starts exporters against harness clusters the way users run them: as a non-superuser
 * monitoring role that only has pg_monitor, on a loopback port picked by the OS.
 */
public final class ExporterTestSupport {

    public static final String MONITOR_USER = "pgbt_monitor";
    public static final String MONITOR_PASSWORD = "monitor-Secret-42";

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private ExporterTestSupport() {}

    /** Creates the monitoring role (LOGIN, pg_monitor, nothing else) if it is missing. */
    public static void createMonitoringRole(PostgresCluster cluster) throws SQLException {
        try (Connection c = cluster.connect(); Statement s = c.createStatement()) {
            s.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + MONITOR_USER + "') THEN "
                    + "CREATE ROLE " + MONITOR_USER + " LOGIN PASSWORD '" + MONITOR_PASSWORD + "' IN ROLE pg_monitor; END IF; END $$");
        }
    }

    /**
     * Builds and starts a cluster of the test's own (for tests that stop, crash or reconfigure it)
     * with the monitoring role in place; the caller closes it.
     */
    public static PostgresCluster startOwnCluster(int version, String name) throws SQLException {
        PostgresCluster cluster = PostgresCluster.builder(version).name(name).build();
        cluster.start();
        createMonitoringRole(cluster);
        return cluster;
    }

    /** The newest PostgreSQL version the run covers (PGBT_PG_VERSIONS). */
    public static int newestVersion() {
        java.util.List<Integer> versions = io.pgbatchtelemetry.harness.SharedClusters.versions();
        return versions.get(versions.size() - 1);
    }

    /** Settings for an exporter on 127.0.0.1:0 connecting to {@code cluster} as the monitoring role. */
    public static ExporterSettings settings(PostgresCluster cluster, Map<String, String> flags) {
        return settings(cluster, "postgres", flags);
    }

    /** The same, connecting to {@code database} (where the telemetry schema may be installed). */
    public static ExporterSettings settings(PostgresCluster cluster, String database, Map<String, String> flags) {
        Map<String, String> all = new HashMap<>();
        all.put("web.listen-address", "127.0.0.1:0");
        all.putAll(flags);
        Map<String, String> env = Map.of("DATA_SOURCE_NAME", "postgresql://" + MONITOR_USER + ":" + MONITOR_PASSWORD
                + "@" + cluster.host() + ":" + cluster.port() + "/" + database + "?sslmode=disable");
        return new SettingsLoader().load(null, env, all);
    }

    public record Response(int status, String contentType, String body) {}

    public static Response get(int port, String path, String accept) throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(30));
        if (accept != null) {
            request.header("Accept", accept);
        }
        HttpResponse<String> response = HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        return new Response(response.statusCode(), response.headers().firstValue("Content-Type").orElse(""), response.body());
    }

    public static Exposition scrape(int port) throws IOException, InterruptedException {
        Response response = get(port, "/metrics", null);
        if (response.status() != 200) {
            throw new IOException("scrape answered " + response.status() + ": " + response.body());
        }
        return new Exposition(response.body());
    }

    /** Runs {@code promtool check metrics} on an exposition; returns what it printed (empty when clean). */
    public static String promtoolCheck(String exposition) throws IOException, InterruptedException {
        Process process = new ProcessBuilder("promtool", "check", "metrics").redirectErrorStream(true).start();
        process.getOutputStream().write(exposition.getBytes(StandardCharsets.UTF_8));
        process.getOutputStream().close();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int exit = process.waitFor();
        return exit == 0 ? output : "exit " + exit + ": " + output;
    }
}
