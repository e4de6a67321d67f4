package io.pgbatchtelemetry.e2e;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.config.SettingsLoader;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The checkpoint alerts are correct on PostgreSQL 15–18 (postgres_exporter's silently never fires on 17+):
 * on every version, the exporter is scraped before and after three CHECKPOINTs, and the real numbers it
 * reported become a promtool test of the shipped checkpoint rules, in which PostgresRequestedCheckpoints must
 * fire for every version and PostgresCheckpointMetricsMissing for none. The full Prometheus/Alertmanager path
 * is SlowBatchEndToEndTest's, on the newest version.
 */
class CheckpointAlertsOnEveryVersionTest {

    private static final String USER = "pgbt_e2e_versions";
    private static final String PASSWORD = "e2e-Versions-5";
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path work;

    @Test
    void requestedCheckpointAlertFiresOnEveryVersionFromRealExporterNumbers() throws Exception {
        StringBuilder series = new StringBuilder();
        StringBuilder firing = new StringBuilder();
        List<String> moved = new ArrayList<>();
        for (int version : SharedClusters.versions()) {
            PostgresCluster cluster = SharedClusters.get(version);
            try (Connection c = cluster.connect(); Statement s = c.createStatement()) {
                s.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + USER + "') THEN "
                        + "CREATE ROLE " + USER + " LOGIN PASSWORD '" + PASSWORD + "' IN ROLE pg_monitor; END IF; END $$");
            }
            try (Exporter exporter = Exporter.start(new SettingsLoader().load(null,
                    Map.of("DATA_SOURCE_NAME", "postgresql://" + USER + ":" + PASSWORD + "@" + cluster.host() + ":" + cluster.port()
                            + "/postgres?sslmode=disable"),
                    Map.of("web.listen-address", "127.0.0.1:0", "sampler.enabled", "false")))) {
                String before = scrape(exporter.port());
                for (int i = 0; i < 3; i++) {
                    cluster.execute("CHECKPOINT");
                }
                String after = scrape(exporter.port());
                String instance = "pg" + version;
                double req0 = value(before, "pg_stat_bgwriter_checkpoints_req_total");
                double req1 = value(after, "pg_stat_bgwriter_checkpoints_req_total");
                moved.add(instance + ": requested " + req0 + " -> " + req1);
                assertTrue(req1 - req0 >= 3, instance + ": three CHECKPOINTs must count as requested checkpoints: " + req0 + " -> " + req1);
                // 6 scrapes a minute apart before the checkpoints, 11 after: the shipped 15-minute window sees them, and
                // the shipped for: (5m) has elapsed at 13m
                appendSeries(series, "pg_stat_bgwriter_checkpoints_req_total", instance, req0, req1);
                appendSeries(series, "pg_stat_bgwriter_checkpoints_timed_total", instance,
                        value(before, "pg_stat_bgwriter_checkpoints_timed_total"), value(after, "pg_stat_bgwriter_checkpoints_timed_total"));
                appendSeries(series, "pg_settings_max_wal_size_bytes", instance,
                        value(before, "pg_settings_max_wal_size_bytes"), value(after, "pg_settings_max_wal_size_bytes"));
                appendSeries(series, "pg_settings_checkpoint_timeout_seconds", instance,
                        value(before, "pg_settings_checkpoint_timeout_seconds"), value(after, "pg_settings_checkpoint_timeout_seconds"));
                appendSeries(series, "pg_up", instance, value(before, "pg_up"), value(after, "pg_up"));
                // a primary: the checkpoint alerts skip standbys, whose restartpoints count in the same counters
                appendSeries(series, "pg_replication_is_replica", instance,
                        value(before, "pg_replication_is_replica"), value(after, "pg_replication_is_replica"));
                firing.append("          - labels: '{instance=\"").append(instance).append("\"}'\n            value: 1\n");
            }
        }
        Path test = work.resolve("checkpoints-every-version.test.yml");
        Files.writeString(test, """
                rule_files:
                  - %s
                evaluation_interval: 1m
                tests:
                  - interval: 1m
                    input_series:
                %s
                    promql_expr_test:
                      - expr: count by (instance) (ALERTS{alertname="PostgresRequestedCheckpoints", alertstate="firing"})
                        eval_time: 13m
                        exp_samples:
                %s
                      - expr: ALERTS{alertname="PostgresCheckpointMetricsMissing"}
                        eval_time: 16m
                        exp_samples: []
                """.formatted(Repo.path("alerts/checkpoints.rules.yml"), series, firing));
        Command promtool = Command.run(work, Duration.ofSeconds(60), "promtool", "test", "rules", test.toString());
        assertTrue(promtool.succeeded(), "the shipped checkpoint rules on the exporter's real numbers (" + moved + "):\n"
                + promtool.report() + "\n" + Files.readString(test));
    }

    private static void appendSeries(StringBuilder out, String metric, String instance, double before, double after) {
        out.append("          - series: '").append(metric).append("{job=\"pg-batch-exporter\",instance=\"").append(instance)
                .append("\"}'\n            values: '").append(format(before)).append("x5 ").append(format(after)).append("x10'\n");
    }

    private static String format(double value) {
        return value == Math.rint(value) ? String.valueOf((long) value) : String.valueOf(value);
    }

    private static double value(String exposition, String unlabelledMetric) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(unlabelledMetric) + "\\s+(\\S+)").matcher(exposition);
        if (!m.find()) {
            throw new AssertionError(unlabelledMetric + " missing from the exposition");
        }
        return Double.parseDouble(m.group(1));
    }

    private static String scrape(int port) throws IOException, InterruptedException {
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IOException("scrape answered " + response.statusCode());
        }
        return response.body();
    }
}
