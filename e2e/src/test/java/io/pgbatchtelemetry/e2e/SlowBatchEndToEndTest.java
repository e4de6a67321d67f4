package io.pgbatchtelemetry.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.config.SettingsLoader;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import io.pgbatchtelemetry.harness.scenario.SlowBatchScenario;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The user's words, proven on loopback with real processes: PostgreSQL (primary + synchronous streaming
 * replica) scraped by two pg-batch-exporters, Prometheus 2.42 evaluating the shipped rules, Alertmanager 0.25
 * routing the shipped way to a webhook this test listens on. The slow-batch scenario (the demo's) runs a
 * healthy batch — nothing may fire — then lock contention, then a checkpoint storm; Alertmanager must deliver
 * the lock and checkpoint alerts. Afterwards every query of both dashboards runs against this Prometheus and
 * must return data (a query reading a metric listed in {@link MetricNamesTest#AWAITED} is reported loudly instead).
 *
 * <p>The primary has the telemetry schema ({@code sql/install.sql}, replicated to the standby like any schema): the
 * batch marks its runs with {@code telemetry.batch_start()}/{@code batch_end()} — the healthy runs, and the run that
 * the lock contention holds up — and a reference table is tracked, so the batch-run and tracked-table panels have
 * data. The tracked table is one the batch only reads: tracking the batch's own table would, with this test's
 * one-second autovacuum naptime, rightly fire PostgresAutovacuumOnTrackedTableDuringBatch during the healthy runs.
 *
 * <p>Only the test's copies of the configs differ from the shipped ones (see {@link TestStackConfigs}).
 * Every wait is bounded. Runs on the newest PostgreSQL of PGBT_PG_VERSIONS (18 by default).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SlowBatchEndToEndTest {

    private static final Duration ALERT_DEADLINE = Duration.ofSeconds(75);
    /** A reference table the batch reads, tracked by the telemetry schema. */
    private static final String TRACKED_TABLE = "e2e_customers";

    @TempDir
    static Path work;

    private PostgresCluster primary;
    private PostgresCluster replica;
    private Exporter primaryExporter;
    private Exporter replicaExporter;
    private WebhookReceiver webhook;
    private LocalServer alertmanager;
    private LocalServer prometheus;
    private PrometheusApi api;
    private SlowBatchScenario scenario;
    private Instant scenarioStart;

    @BeforeAll
    void startStack() throws Exception {
        int version = Collections.max(SharedClusters.versions());
        primary = PostgresCluster.builder(version).name("e2e-primary")
                .setting("track_io_timing", "on")
                .setting("track_wal_io_timing", "on")
                // autovacuum comes by quickly and slowly, so the autovacuum panels have something to show
                .setting("autovacuum_naptime", "1s")
                .setting("autovacuum_vacuum_cost_delay", "20ms")
                .setting("autovacuum_vacuum_cost_limit", "50")
                .build();
        primary.start();
        replica = primary.createStreamingReplica("e2e-replica");
        // commits wait for the replica: the replication row's SyncRep panel has something to show
        primary.setSetting("synchronous_standby_names", "*");
        E2eTelemetry.createMonitoringRole(primary);
        installTelemetry();
        primaryExporter = E2eTelemetry.startExporter(primary, work);
        replicaExporter = E2eTelemetry.startExporter(replica, work);

        webhook = new WebhookReceiver();
        int amPort = LocalServer.freeLoopbackPort();
        Path amConfig = TestStackConfigs.writeAlertmanagerConfig(work.resolve("alertmanager.yml"), webhook);
        Command amCheck = Command.run(work, Duration.ofSeconds(30), "amtool", "check-config", amConfig.toString());
        assertTrue(amCheck.succeeded(), amCheck.report());
        alertmanager = LocalServer.start("alertmanager", work, amPort, List.of("prometheus-alertmanager",
                "--config.file=" + amConfig, "--storage.path=" + Files.createDirectories(work.resolve("am-data")),
                "--web.listen-address=127.0.0.1:" + amPort, "--cluster.listen-address="), Duration.ofSeconds(30));

        List<Path> rules = TestStackConfigs.writeRules(work.resolve("rules"));
        Path promConfig = TestStackConfigs.writePrometheusConfig(work.resolve("prometheus.yml"),
                List.of("127.0.0.1:" + primaryExporter.port(), "127.0.0.1:" + replicaExporter.port()), amPort, rules);
        Command promCheck = Command.run(work, Duration.ofSeconds(30), "promtool", "check", "config", promConfig.toString());
        assertTrue(promCheck.succeeded(), promCheck.report());
        int promPort = LocalServer.freeLoopbackPort();
        prometheus = LocalServer.start("prometheus", work, promPort, List.of("prometheus",
                "--config.file=" + promConfig, "--storage.tsdb.path=" + Files.createDirectories(work.resolve("prom-data")),
                "--web.listen-address=127.0.0.1:" + promPort), Duration.ofSeconds(30));
        api = new PrometheusApi(prometheus.url("/"));

        scenario = new SlowBatchScenario(primary::connect, line -> System.out.println("[slow-batch] " + line));
        scenario.prepare();
        scenarioStart = Instant.now();
    }

    /** sql/install.sql, and a reference table the batch reads, tracked. */
    private void installTelemetry() throws SQLException, IOException {
        E2eTelemetry.install(primary, work);
        try (Connection c = primary.connect(); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE " + TRACKED_TABLE + " (id int PRIMARY KEY, segment text)");
            s.execute("INSERT INTO " + TRACKED_TABLE + " SELECT g, 'segment ' || (g % 10) FROM generate_series(1, 1000) g");
            s.execute("SELECT telemetry.track_table('" + TRACKED_TABLE + "')");
        }
    }

    private long batchStart() throws SQLException {
        return E2eTelemetry.batchStart(primary);
    }

    private void batchEnd(long run) throws SQLException {
        E2eTelemetry.batchEnd(primary, run);
    }

    @AfterAll
    void stopStack() {
        Teardown.closeAll(prometheus, alertmanager, webhook, primaryExporter, replicaExporter, primary, replica);
    }

    @Test
    @Order(1)
    @Timeout(120)
    void aHealthyBatchFiresNothing() throws Exception {
        await("Prometheus scrapes both exporters", Duration.ofSeconds(30),
                () -> count("up{job=\"pg-batch-exporter\"} == 1") == 2);
        // Long enough for every shortened for: (exporter health 15 s) to elapse on a healthy system.
        // A batch run every 5 s, like a steady nightly load.
        Instant healthyUntil = Instant.now().plus(TestStackConfigs.EXPORTER_HEALTH_FOR).plusSeconds(5);
        int runs = 0;
        while (Instant.now().isBefore(healthyUntil) || runs < 2) {
            long run = batchStart();
            Duration took = scenario.healthyBatch();
            batchEnd(run);
            runs++;
            sleep(Duration.ofSeconds(5).minus(took));
        }
        sleep(Duration.ofSeconds(3)); // the last evaluations after the last run
        JsonNode firing = api.query("ALERTS{alertstate=\"firing\"}");
        assertEquals(0, firing.size(), "alerts fired during a healthy batch: " + firing);
        assertEquals(List.of(), webhook.deliveries(), "Alertmanager delivered alerts during a healthy batch");
        assertTrue(count("pg_scrape_collector_success == 0") == 0, "collectors failing: " + api.query("pg_scrape_collector_success == 0"));
    }

    @Test
    @Order(2)
    @Timeout(150)
    void lockContentionIsDeliveredToTheWebhook() throws Exception {
        long run = batchStart(); // the run the contention holds up: open while Prometheus scrapes
        try (SlowBatchScenario.LockContention contention = scenario.startLockContention()) {
            awaitDelivered(Set.of("PostgresBlockedSessions", "PostgresLockWaitAASHigh", "PostgresBatchBlocked"),
                    () -> assertTrue(contention.batchStillWaiting(), "the batch's update stopped waiting: " + contention.failure()));
            assertEquals(1, count("pg_telemetry_batch_running{batch=\"" + SlowBatchScenario.BATCH + "\",instance=\"127.0.0.1:"
                            + primaryExporter.port() + "\"} == 1"),
                    "the open run, seen by the primary's exporter: " + api.query("pg_telemetry_batch_running"));
        } finally {
            batchEnd(run);
        }
        WebhookReceiver.Delivery blocked = delivery("PostgresBatchBlocked");
        assertEquals(SlowBatchScenario.BATCH, blocked.alert().path("labels").path("batch").asText(), blocked.alert().toString());
        assertEquals(SlowBatchScenario.BLOCKER, blocked.alert().path("labels").path("blocker_class").asText(), blocked.alert().toString());
        for (String name : List.of("PostgresBlockedSessions", "PostgresLockWaitAASHigh", "PostgresBatchBlocked")) {
            WebhookReceiver.Delivery d = delivery(name);
            assertEquals("/batch-team-webhook", d.path(), name + " is a warning: the severity route sends it to the batch team");
            assertEquals("docs/diagnose-a-slow-batch.md#lock-contention", d.alert().path("annotations").path("runbook_url").asText());
            assertTrue(d.alert().path("labels").path("instance").asText().endsWith(":" + primaryExporter.port()), d.alert().toString());
        }
    }

    @Test
    @Order(3)
    @Timeout(150)
    void aCheckpointStormIsDeliveredToTheWebhook() throws Exception {
        String requestedTotal = "sum(pg_stat_bgwriter_checkpoints_req_total{instance=\"127.0.0.1:" + primaryExporter.port() + "\"})";
        double before = value(requestedTotal);
        int requested = scenario.forcedCheckpoints(15, Duration.ofMillis(300));
        awaitDelivered(Set.of("PostgresRequestedCheckpoints", "PostgresCheckpointsTooFrequent"), () -> { });
        await("Prometheus counts all " + requested + " requested checkpoints", Duration.ofSeconds(15),
                () -> valueOrNaN(requestedTotal) - before >= requested);
        WebhookReceiver.Delivery d = delivery("PostgresRequestedCheckpoints");
        assertEquals("/batch-team-webhook", d.path());
        assertTrue(d.alert().path("annotations").path("description").asText().contains("requested checkpoints in the last 15 minutes"),
                d.alert().toString());
    }

    @Test
    @Order(4)
    @Timeout(120)
    void everyDashboardQueryReturnsDataFromThisPrometheus() throws Exception {
        // a run that fails, so the failed-run annotation has something to mark
        E2eTelemetry.batchEnd(primary, E2eTelemetry.batchStart(primary), "failed");
        sleep(Duration.ofSeconds(3)); // series born in the last scrape get a second point, so rate() has two
        Instant end = Instant.now();
        Duration range = Duration.between(scenarioStart, end).plusSeconds(60);
        GrafanaTemplate.Value all = GrafanaTemplate.Value.all(".*");
        Map<String, GrafanaTemplate.Value> variables = new LinkedHashMap<>();
        for (String name : List.of("job", "instance", "batch", "run", "baseline", "wait_event_type")) {
            variables.put(name, all);
        }
        variables.put("lookback", GrafanaTemplate.Value.single(range.toSeconds() + "s"));
        // the test's Prometheus scrapes every second; Grafana's $__interval is at least that
        GrafanaTemplate template = GrafanaTemplate.of(variables, range, Duration.ofSeconds(1), Duration.ofSeconds(1));
        List<String> empty = new ArrayList<>();
        List<String> awaitedButPresent = new ArrayList<>();
        List<String> awaited = new ArrayList<>();
        int checked = 0;
        for (Path file : Repo.dashboards()) {
            for (Dashboards.Query query : Dashboards.queries(file)) {
                String promql = query.resolved(query.minInterval() == null ? template
                        : template.withMinInterval(GrafanaTemplate.parseDuration(query.minInterval())));
                // instant queries too as range queries: whether they return data at some time of the scenario, as a
                // panel does for some time range (RunScorecardEndToEndTest evaluates the scorecard at a run's end)
                boolean hasData = query.where().startsWith("variable")
                        ? !api.series(promql, scenarioStart, end).isEmpty()
                        : hasAnyValue(api.queryRange(promql, scenarioStart.minusSeconds(5), end, Duration.ofSeconds(2)));
                String reason = awaitingReason(promql);
                checked++;
                if (reason != null) {
                    (hasData ? awaitedButPresent : awaited).add(query.dashboard() + " / " + query.where() + ": " + reason);
                } else if (!hasData) {
                    empty.add(query.dashboard() + " / " + query.where() + ":\n      " + promql
                            + "\n      (instant query now: " + (query.where().startsWith("variable") ? "-" : api.query(promql)) + ")");
                }
            }
        }
        if (!awaited.isEmpty()) {
            System.err.println("\n*** AWAITING (expected empty, " + awaited.size() + " of " + checked + " dashboard queries) ***\n  "
                    + String.join("\n  ", awaited) + "\n");
        }
        assertTrue(empty.isEmpty(), empty.size() + " of " + checked + " dashboard queries returned no data:\n  " + String.join("\n  ", empty)
                + "\nwait events the sampler saw: " + api.query("sum by (backend_type, wait_event_type, wait_event) (pg_wait_event_seconds_total)"));
        assertTrue(awaitedButPresent.isEmpty(), "these now return data; remove their metrics from MetricNamesTest.AWAITED:\n  " + String.join("\n  ", awaitedButPresent));
        assertTrue(checked > 60, "only " + checked + " queries found in the dashboards");
    }

    /**
     * Why a query is expected to return nothing: it reads a metric that no collector exports yet
     * ({@link MetricNamesTest#AWAITED}, which fails once one does). Null when it must return data.
     */
    private static String awaitingReason(String promql) {
        for (Map.Entry<String, String> entry : MetricNamesTest.AWAITED.entrySet()) {
            if (promql.matches("(?s).*\\b" + entry.getKey() + "\\b.*")) {
                return entry.getKey() + " awaits the " + entry.getValue();
            }
        }
        return null;
    }

    private static boolean hasAnyValue(JsonNode result) {
        for (JsonNode series : result) {
            if (series.path("values").size() > 0 || series.has("value")) {
                return true;
            }
        }
        return false;
    }

    private void awaitDelivered(Set<String> alertnames, Runnable whileWaiting) throws Exception {
        long deadline = System.nanoTime() + ALERT_DEADLINE.toNanos();
        while (System.nanoTime() < deadline) {
            whileWaiting.run();
            Set<String> delivered = webhook.deliveries().stream().filter(d -> "firing".equals(d.status()))
                    .map(WebhookReceiver.Delivery::alertname).collect(Collectors.toCollection(TreeSet::new));
            if (delivered.containsAll(alertnames)) {
                return;
            }
            sleep(Duration.ofMillis(500));
        }
        fail("Alertmanager did not deliver " + alertnames + " within " + ALERT_DEADLINE + "; delivered: "
                + webhook.deliveries().stream().map(d -> d.alertname() + "(" + d.status() + ")").toList()
                + "\nfiring or pending in Prometheus: " + api.query("ALERTS")
                + "\n--- prometheus ---\n" + prometheus.logTail() + "\n--- alertmanager ---\n" + alertmanager.logTail());
    }

    private WebhookReceiver.Delivery delivery(String alertname) {
        return webhook.deliveries().stream().filter(d -> d.alertname().equals(alertname) && "firing".equals(d.status()))
                .findFirst().orElseThrow(() -> new AssertionError(alertname + " was not delivered"));
    }

    private int count(String promql) {
        try {
            return api.query(promql).size();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    private double value(String promql) throws IOException, InterruptedException {
        JsonNode result = api.query(promql);
        assertTrue(result.size() == 1, promql + " -> " + result);
        return Double.parseDouble(result.get(0).path("value").get(1).asText());
    }

    private double valueOrNaN(String promql) {
        try {
            return value(promql);
        } catch (IOException | AssertionError e) {
            return Double.NaN;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Double.NaN;
        }
    }

    private static void await(String what, Duration within, BooleanSupplier condition) {
        long deadline = System.nanoTime() + within.toNanos();
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return;
            }
            sleep(Duration.ofMillis(250));
        }
        fail(what + ": not within " + within);
    }

    private static void sleep(Duration duration) {
        if (duration.isNegative()) {
            return;
        }
        try {
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
