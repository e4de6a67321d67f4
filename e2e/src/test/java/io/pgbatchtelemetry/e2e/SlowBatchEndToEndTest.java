package io.pgbatchtelemetry.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.config.SettingsLoader;
import io.pgbatchtelemetry.harness.ChildProcess;
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
 * routing and grouping the shipped way to a webhook this test listens on. One stack serves every scenario: a
 * healthy night (bulk load with COPY and CREATE TABLE AS plus the demo's batch, on default settings with timing
 * tracking off) fires no warning or critical alert; a lock-blocked batch and a checkpoint storm each reach the
 * webhook as one notification group naming the pattern (and the standby's restartpoints fire nothing). Afterwards
 * every query of both dashboards runs against this Prometheus and must return data (a query reading a metric listed
 * in {@link MetricNamesTest#AWAITED} is reported loudly instead).
 *
 * <p>The primary has the telemetry schema ({@code sql/install.sql}, replicated to the standby like any schema): each
 * run is marked with {@code telemetry.batch_start()}/{@code batch_end()} from a control session that stays connected
 * while the work runs — the healthy runs, and the run that the lock contention holds up — and a reference table is
 * tracked, so the batch-run and tracked-table panels have data. The tracked table is one the batch only reads.
 *
 * <p>Only the test's copies of the configs differ from the shipped ones (see {@link TestStackConfigs}).
 * Every wait is bounded. Runs on the newest PostgreSQL of PGBT_PG_VERSIONS (18 by default).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SlowBatchEndToEndTest {

    /** PostgresBlockedSessions needs a lock wait over 60 s (its shipped threshold) plus its shortened for:. */
    private static final Duration ALERT_DEADLINE = Duration.ofSeconds(100);
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
        // Default settings (timing tracking off, default shared_buffers, wal_buffers and max_wal_size), except that
        // autovacuum comes by quickly and slowly, so the autovacuum panels have something to show
        primary = PostgresCluster.builder(version).name("e2e-primary")
                .setting("autovacuum_naptime", "1s")
                .setting("autovacuum_vacuum_cost_delay", "20ms")
                .setting("autovacuum_vacuum_cost_limit", "50")
                // statement evidence: install.sql creates the extension, so the Top statements row has data
                .setting("shared_preload_libraries", "pg_stat_statements")
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
        int amPort = ChildProcess.freeLoopbackPort();
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
        int promPort = ChildProcess.freeLoopbackPort();
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

    /**
     * A batch run in the telemetry schema, marked the way an orchestrator's control session does: batch_start() and
     * batch_end() in one session that stays connected while the work runs in others. Closing it without
     * {@link #end()} drops the session, as a crashed job would.
     */
    private final class Run implements AutoCloseable {
        private final Connection session;
        private final long id;

        Run() throws SQLException {
            session = primary.connect();
            try (Statement s = session.createStatement();
                 ResultSet rs = s.executeQuery("SELECT telemetry.batch_start('" + SlowBatchScenario.BATCH + "')")) {
                rs.next();
                id = rs.getLong(1);
            }
        }

        void end() throws SQLException {
            try (Statement s = session.createStatement()) {
                s.execute("SELECT telemetry.batch_end(" + id + ")");
            }
        }

        @Override
        public void close() throws SQLException {
            session.close();
        }
    }

    /**
     * The bulk-load part of a healthy night: COPY of a million rows (about 75 MB, far beyond the 16 MB bulk-write ring
     * and a default shared_buffers' worth of writes) into a fresh table, then CREATE TABLE AS copies and summarises it.
     * Both write through PostgreSQL's bulk-write ring, by design, not through shared buffers' normal path.
     */
    private void bulkLoad() throws SQLException, IOException {
        try (Connection c = primary.connect(); Statement s = c.createStatement()) {
            s.execute("SET application_name = '" + SlowBatchScenario.BATCH + "'");
            s.execute("DROP TABLE IF EXISTS e2e_staging, e2e_copy, e2e_summary");
            s.execute("CREATE TABLE e2e_staging (id int, customer int, amount numeric, note text)");
            c.unwrap(org.postgresql.PGConnection.class).getCopyAPI().copyIn("COPY e2e_staging FROM STDIN", new GeneratedRows(1_000_000));
            s.execute("CREATE TABLE e2e_copy AS SELECT * FROM e2e_staging");
            s.execute("CREATE TABLE e2e_summary AS SELECT customer, sum(amount) AS amount, count(*) AS orders, max(note) AS note "
                    + "FROM e2e_staging GROUP BY customer");
        }
    }

    /** COPY text rows made as they are read, so a million of them need no memory. */
    private static final class GeneratedRows extends java.io.Reader {
        private final int rows;
        private int next = 1;
        private String line = "";
        private int position;

        GeneratedRows(int rows) {
            this.rows = rows;
        }

        @Override
        public int read(char[] buffer, int offset, int length) {
            if (position == line.length()) {
                if (next > rows) {
                    return -1;
                }
                line = next + "\t" + next % 1000 + "\t" + next * 0.01 + "\tbulk row " + next + "\n";
                next++;
                position = 0;
            }
            int n = Math.min(length, line.length() - position);
            line.getChars(position, position + n, buffer, offset);
            position += n;
            return n;
        }

        @Override
        public void close() {
        }
    }

    @AfterAll
    void stopStack() {
        Teardown.closeAll(prometheus, alertmanager, webhook, primaryExporter, replicaExporter, primary, replica);
    }

    @Test
    @Order(1)
    @Timeout(150)
    void aHealthyNightFiresNoWarningOrCritical() throws Exception {
        await("Prometheus scrapes both exporters", Duration.ofSeconds(30),
                () -> count("up{job=\"pg-batch-exporter\"} == 1") == 2);
        // Long enough for every shortened for: (exporter health 15 s) to elapse on a healthy system.
        // A batch run every 5 s, like a steady nightly load: a bulk load (COPY, CREATE TABLE AS) and the scenario's
        // inserts, update and small sort, with a synchronous standby and timing tracking off.
        Instant healthyUntil = Instant.now().plus(TestStackConfigs.EXPORTER_HEALTH_FOR).plusSeconds(5);
        int runs = 0;
        while (Instant.now().isBefore(healthyUntil) || runs < 2) {
            long start = System.nanoTime();
            try (Run run = new Run()) {
                if (runs == 0) {
                    bulkLoad();
                }
                scenario.healthyBatch();
                run.end();
            }
            runs++;
            sleep(Duration.ofSeconds(5).minus(Duration.ofNanos(System.nanoTime() - start)));
        }
        sleep(Duration.ofSeconds(3)); // the last evaluations after the last run
        JsonNode firing = api.query("ALERTS{alertstate=\"firing\", severity=~\"warning|critical\"}");
        assertEquals(0, firing.size(), "warning or critical alerts fired during a healthy night: " + firing);
        assertEquals(List.of(), webhook.deliveries().stream().filter(d -> !"info".equals(d.alert().path("labels").path("severity").asText())).toList(),
                "Alertmanager delivered warning or critical alerts during a healthy night");
        assertTrue(count("pg_scrape_collector_success == 0") == 0, "collectors failing: " + api.query("pg_scrape_collector_success == 0"));
        assertTrue(count("pg_telemetry_batch_runs_finished_total{state=\"succeeded\"} >= " + runs) >= 1,
                "every run ended succeeded: " + api.query("pg_telemetry_batch_runs_finished_total"));
    }

    @Test
    @Order(2)
    @Timeout(180)
    void lockContentionIsDeliveredToTheWebhook() throws Exception {
        // the run the contention holds up: open while Prometheus scrapes. PostgresBlockedSessions needs a wait over a
        // minute, so this scenario takes that long.
        try (Run run = new Run()) {
            try (SlowBatchScenario.LockContention contention = scenario.startLockContention()) {
                awaitDelivered(Set.of("PostgresBlockedSessions", "PostgresBatchBlocked"),
                        () -> assertTrue(contention.batchStillWaiting(), "the batch's update stopped waiting: " + contention.failure()));
                assertEquals(1, count("pg_telemetry_batch_running{batch=\"" + SlowBatchScenario.BATCH + "\",instance=\"127.0.0.1:"
                                + primaryExporter.port() + "\"} == 1"),
                        "the open run, seen by the primary's exporter: " + api.query("pg_telemetry_batch_running"));
            }
            run.end();
        }
        WebhookReceiver.Delivery blocked = delivery("PostgresBatchBlocked");
        assertEquals(SlowBatchScenario.BATCH, blocked.alert().path("labels").path("batch").asText(), blocked.alert().toString());
        assertTrue(blocked.alert().path("annotations").path("description").asText().contains(SlowBatchScenario.BLOCKER),
                "the description names the blocker's class: " + blocked.alert());
        assertOneNotificationGroup("locks");
        for (String name : List.of("PostgresBlockedSessions", "PostgresBatchBlocked")) {
            WebhookReceiver.Delivery d = delivery(name);
            assertEquals("/batch-team-webhook", d.path(), name + " is a warning: the severity route sends it to the batch team");
            assertEquals("docs/diagnose-a-slow-batch.md#lock-contention", d.alert().path("annotations").path("runbook_url").asText());
            assertTrue(d.alert().path("labels").path("instance").asText().endsWith(":" + primaryExporter.port()), d.alert().toString());
        }
    }

    /**
     * Every firing alert of the pattern reached the batch team in one notification group (one groupKey, grouped by
     * cluster and pattern), however many alerts and instances took part; a receiver that also got some (the on-call,
     * for a critical one) got them in one group too.
     */
    private void assertOneNotificationGroup(String pattern) {
        List<WebhookReceiver.Delivery> ofPattern = webhook.deliveries().stream()
                .filter(d -> "firing".equals(d.status()) && pattern.equals(d.alert().path("labels").path("pattern").asText())).toList();
        Map<String, Set<String>> groupsByReceiver = ofPattern.stream().collect(Collectors.groupingBy(WebhookReceiver.Delivery::path,
                Collectors.mapping(WebhookReceiver.Delivery::groupKey, Collectors.toCollection(TreeSet::new))));
        assertTrue(groupsByReceiver.containsKey("/batch-team-webhook"), "the batch team hears of the " + pattern + " incident: " + groupsByReceiver);
        groupsByReceiver.forEach((receiver, groups) -> assertEquals(1, groups.size(), "one notification group for the " + pattern
                + " incident at " + receiver + ": " + groups + " " + ofPattern.stream().map(d -> d.alertname() + "@" + d.path()).toList()));
        for (WebhookReceiver.Delivery d : ofPattern) {
            assertEquals(pattern, d.groupLabels().path("pattern").asText(), "the group names the pattern: " + d.groupLabels());
            assertEquals("demo", d.groupLabels().path("cluster").asText(), "and the cluster: " + d.groupLabels());
        }
    }

    @Test
    @Order(3)
    @Timeout(150)
    void aCheckpointStormIsDeliveredToTheWebhook() throws Exception {
        String requestedTotal = "sum(pg_stat_bgwriter_checkpoints_req_total{instance=\"127.0.0.1:" + primaryExporter.port() + "\"})";
        double before = value(requestedTotal);
        int requested = scenario.forcedCheckpoints(15, Duration.ofMillis(300));
        awaitDelivered(Set.of("PostgresRequestedCheckpoints"), () -> { });
        await("Prometheus counts all " + requested + " requested checkpoints", Duration.ofSeconds(15),
                () -> valueOrNaN(requestedTotal) - before >= requested);
        WebhookReceiver.Delivery d = delivery("PostgresRequestedCheckpoints");
        assertEquals("/batch-team-webhook", d.path());
        assertTrue(d.alert().path("annotations").path("description").asText().contains("requested checkpoints in the last 15 minutes"),
                d.alert().toString());
        sleep(Duration.ofSeconds(3)); // the standby's restartpoints have had the same time to fire, and must not
        assertEquals(0, count("ALERTS{pattern=\"checkpoint\", instance=\"127.0.0.1:" + replicaExporter.port() + "\"}"),
                "the standby's restartpoints follow the primary's checkpoints: no checkpoint alert from it "
                        + api.query("ALERTS{pattern=\"checkpoint\"}"));
        assertOneNotificationGroup("checkpoint");
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
