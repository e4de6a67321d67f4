package io.pgbatchtelemetry.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.harness.ChildProcess;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import io.pgbatchtelemetry.harness.scenario.SlowBatchScenario;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
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
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The morning after, proven with real processes: PostgreSQL with the telemetry schema, pg-batch-exporter, and
 * Prometheus scraping it every second while a batch runs four normal runs and then one held up by a session sitting
 * on a row lock. Then the "Batch diagnosis" board is read the way Grafana would read it for the slow run: its run
 * picker's queries list all the runs, the run's window comes from the picker, the usual runs from the board's
 * {@code $baseline} variable (the schema's {@code telemetry.baseline_runs()}), and the scorecard's own queries,
 * interpolated by {@link GrafanaTemplate} and evaluated as instant queries at the window's end, rank lock contention
 * first and show the normal runs' value beside the slow run's.
 *
 * <p>Runs on the newest PostgreSQL of PGBT_PG_VERSIONS (18 by default). Every wait is bounded.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RunScorecardEndToEndTest {

    private static final String DASHBOARD = "grafana/dashboards/batch-diagnosis.json";
    private static final Duration BLOCKED_FOR = Duration.ofSeconds(12);
    private static final int NORMAL_RUNS = 4;

    @TempDir
    static Path work;

    private PostgresCluster primary;
    private Exporter exporter;
    private LocalServer prometheus;
    private PrometheusApi api;

    @BeforeAll
    void startStack() throws Exception {
        primary = PostgresCluster.builder(Collections.max(SharedClusters.versions())).name("e2e-scorecard")
                .setting("track_io_timing", "on").build();
        primary.start();
        E2eTelemetry.createMonitoringRole(primary);
        E2eTelemetry.install(primary, work);
        exporter = E2eTelemetry.startExporter(primary, work);
        Path promConfig = TestStackConfigs.writePrometheusConfig(work.resolve("prometheus.yml"),
                List.of("127.0.0.1:" + exporter.port()), ChildProcess.freeLoopbackPort(), List.of());
        int promPort = ChildProcess.freeLoopbackPort();
        prometheus = LocalServer.start("prometheus", work, promPort, List.of("prometheus",
                "--config.file=" + promConfig, "--storage.tsdb.path=" + Files.createDirectories(work.resolve("prom-data")),
                "--web.listen-address=127.0.0.1:" + promPort), Duration.ofSeconds(30));
        api = new PrometheusApi(prometheus.url("/"));
    }

    @AfterAll
    void stopStack() {
        Teardown.closeAll(prometheus, exporter, primary);
    }

    @Test
    @Timeout(240)
    void theScorecardOfTheSlowRunRanksLockContentionFirstBesideItsUsualRuns() throws Exception {
        await(Duration.ofSeconds(30), "Prometheus scrapes the exporter", () -> api.query("up == 1").size() == 1);
        SlowBatchScenario scenario = new SlowBatchScenario(primary::connect, line -> System.out.println("[scorecard] " + line));
        scenario.prepare();
        List<Long> normalRuns = new ArrayList<>();
        for (int i = 0; i < NORMAL_RUNS; i++) {
            long run = E2eTelemetry.batchStart(primary);
            scenario.healthyBatch();
            scenario.healthyBatch();
            sleep(Duration.ofSeconds(2)); // the batch's later steps: the run stays open for a few scrapes
            E2eTelemetry.batchEnd(primary, run);
            normalRuns.add(run);
            sleep(Duration.ofSeconds(2));
        }
        long slowRun = E2eTelemetry.batchStart(primary);
        scenario.healthyBatch();
        try (SlowBatchScenario.LockContention contention = scenario.startLockContention()) {
            sleep(BLOCKED_FOR);
            assertTrue(contention.batchStillWaiting(), "the batch's update stopped waiting: " + contention.failure());
        }
        E2eTelemetry.batchEnd(primary, slowRun);
        sleep(Duration.ofSeconds(4)); // the exporter's and Prometheus' last look at the ended run

        JsonNode dashboard = Dashboards.parse(Repo.path(DASHBOARD));
        Instant now = Instant.now();
        Map<String, GrafanaTemplate.Value> variables = new LinkedHashMap<>();
        variables.put("job", GrafanaTemplate.Value.single("pg-batch-exporter"));
        variables.put("instance", GrafanaTemplate.Value.single("127.0.0.1:" + exporter.port()));
        variables.put("batch", GrafanaTemplate.Value.single(SlowBatchScenario.BATCH));
        // the usual runs are looked for within $lookback; with 1 s scrapes (15 s in production) an hour here costs what
        // 15 hours cost there, so the test takes the hour rather than the board's 2d..35d options
        variables.put("lookback", GrafanaTemplate.Value.single("1h"));

        // the run picker, as the board opens (the last hour): its variable and its table list every run
        Instant hourAgo = now.minus(Duration.ofHours(1));
        GrafanaTemplate opening = GrafanaTemplate.of(variables, Duration.ofHours(1), Duration.ofSeconds(4), Duration.ofSeconds(1));
        Set<String> batches = labelValues(dashboard, "batch", opening, hourAgo, now);
        assertTrue(batches.contains(SlowBatchScenario.BATCH), "the batch variable lists " + batches);
        for (String metric : List.of("pg_batch_sessions", "pg_batch_wait_event_seconds_total", "pg_telemetry_batch_running", "pg_telemetry_run_running")) {
            assertTrue(!api.series(metric + "{batch=\"" + SlowBatchScenario.BATCH + "\"}", hourAgo, now).isEmpty(),
                    "one name for the batch: the sampler's rule and the telemetry runs both say " + SlowBatchScenario.BATCH + " (" + metric + ")");
        }
        Set<String> listed = labelValues(dashboard, "run", opening, hourAgo, now);
        Set<String> expectedRuns = new TreeSet<>();
        normalRuns.forEach(r -> expectedRuns.add(Long.toString(r)));
        expectedRuns.add(Long.toString(slowRun));
        assertTrue(listed.containsAll(expectedRuns), "the run variable lists " + listed + ", expected " + expectedRuns);
        JsonNode picker = panel(dashboard, 53);
        GrafanaTemplate pickerTemplate = opening.withRange(GrafanaTemplate.parseDuration(opening.plain(picker.path("timeFrom").asText().substring(1))));
        Map<String, Double> started = byRun(api.query(pickerTemplate.interpolate(expr(picker, "A")), now));
        Map<String, Double> ended = byRun(api.query(pickerTemplate.interpolate(expr(picker, "B")), now));
        assertTrue(started.keySet().containsAll(expectedRuns) && ended.keySet().containsAll(expectedRuns),
                "the Runs table lists both the normal and the slow runs: " + started.keySet() + " / " + ended.keySet());
        Instant from;
        Instant to;
        try (Connection c = primary.connect(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT extract(epoch FROM started_at) * 1000, extract(epoch FROM ended_at) * 1000 "
                     + "FROM telemetry.runs WHERE run_id = " + slowRun)) {
            rs.next();
            assertEquals(rs.getDouble(1), started.get(Long.toString(slowRun)), 1.0, "the link's from= is the run's start");
            assertEquals(rs.getDouble(2), ended.get(Long.toString(slowRun)), 1.0, "the link's to= is the run's end");
            from = Instant.ofEpochMilli(started.get(Long.toString(slowRun)).longValue());
            to = Instant.ofEpochMilli(ended.get(Long.toString(slowRun)).longValue());
        }

        // the link opened: the slow run selected, its window the time range, its usual runs from $baseline
        variables.put("run", GrafanaTemplate.Value.single(Long.toString(slowRun)));
        Duration window = Duration.between(from, to);
        GrafanaTemplate forBaseline = GrafanaTemplate.of(variables, window, Duration.ofSeconds(1), Duration.ofSeconds(1));
        Set<String> baseline = labelValues(dashboard, "baseline", forBaseline, from, to);
        assertEquals(schemaBaseline(slowRun), baseline, "$baseline is exactly telemetry.baseline_runs(" + slowRun + ")");
        assertTrue(normalRuns.stream().map(String::valueOf).toList().containsAll(baseline) && baseline.size() >= 3, baseline.toString());
        variables.put("baseline", GrafanaTemplate.Value.all(null, baseline.toArray(String[]::new)));
        GrafanaTemplate template = GrafanaTemplate.of(variables, window, Duration.ofSeconds(1), Duration.ofSeconds(1));

        long rankingStart = System.nanoTime();
        JsonNode ranking = api.query(template.interpolate(expr(panel(dashboard, 54), "A")), to);
        Duration rankingTook = Duration.ofNanos(System.nanoTime() - rankingStart);
        List<String> ranked = new ArrayList<>();
        ranking.forEach(series -> ranked.add(series.path("metric").path("pattern").asText() + "=" + series.path("value").get(1).asText()));
        assertEquals(6, ranking.size(), "six patterns ranked: " + ranked);
        assertEquals("Lock contention", ranking.get(0).path("metric").path("pattern").asText(), "ranked: " + ranked);
        assertTrue(value(ranking.get(0)) >= 2, "lock contention red (2x its usual or more): " + ranked);

        JsonNode lockTile = tile(dashboard, "Lock contention");
        double runBlocked = single(api.query(template.interpolate(expr(lockTile, "B")), to), "run");
        double usualBlocked = single(api.query(template.interpolate(expr(lockTile, "C")), to), "usual");
        assertTrue(runBlocked >= BLOCKED_FOR.toSeconds() / 2.0 && runBlocked <= BLOCKED_FOR.toSeconds() + 5,
                "the slow run's batch sessions were blocked about " + BLOCKED_FOR.toSeconds() + " s: " + runBlocked);
        assertTrue(usualBlocked < 1, "its usual runs were not blocked: " + usualBlocked);

        JsonNode waitClasses = panel(dashboard, 55);
        Map<String, Double> runByClass = byLabel(api.query(template.interpolate(expr(waitClasses, "A")), to), "wait_event_type");
        Map<String, Double> usualByClass = byLabel(api.query(template.interpolate(expr(waitClasses, "B")), to), "wait_event_type");
        assertTrue(runByClass.getOrDefault("Lock", 0.0) >= BLOCKED_FOR.toSeconds() / 2.0, "session-seconds by wait class, run: " + runByClass);
        assertTrue(!usualByClass.isEmpty() && usualByClass.getOrDefault("Lock", 0.0) < 1,
                "the normal runs beside it, without lock waits: " + usualByClass);
        System.out.println("[scorecard] run " + slowRun + " ranked " + ranked + "; by wait class run " + runByClass + ", usual " + usualByClass
                + "; the ranking query took " + rankingTook.toMillis() + " ms over a " + window.toSeconds() + " s window and a 1h lookback");
    }

    private Set<String> labelValues(JsonNode dashboard, String name, GrafanaTemplate template, Instant start, Instant end) throws Exception {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("label_values\\((.*),\\s*(\\w+)\\)")
                .matcher(DashboardLint.variable(dashboard, name).path("query").path("query").asText());
        assertTrue(m.matches(), "$" + name + " is a label_values() variable");
        Set<String> values = new TreeSet<>();
        for (JsonNode series : api.series(template.interpolate(m.group(1)), start, end)) {
            values.add(series.path(m.group(2)).asText());
        }
        return values;
    }

    private Set<String> schemaBaseline(long run) throws Exception {
        Set<String> ids = new TreeSet<>();
        try (Connection c = primary.connect(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT run_id FROM telemetry.baseline_runs(" + run + ")")) {
            while (rs.next()) {
                ids.add(rs.getString(1));
            }
        }
        return ids;
    }

    private static JsonNode panel(JsonNode dashboard, int id) {
        return Dashboards.panels(dashboard).stream().filter(p -> p.path("id").asInt() == id).findFirst()
                .orElseThrow(() -> new AssertionError("no panel " + id));
    }

    private static JsonNode tile(JsonNode dashboard, String title) {
        return Dashboards.panels(dashboard).stream().filter(p -> "stat".equals(p.path("type").asText()) && title.equals(p.path("title").asText()))
                .findFirst().orElseThrow(() -> new AssertionError("no tile " + title));
    }

    private static String expr(JsonNode panel, String refId) {
        for (JsonNode target : panel.path("targets")) {
            if (refId.equals(target.path("refId").asText())) {
                return target.path("expr").asText();
            }
        }
        throw new AssertionError(DashboardLint.name(panel) + " has no target " + refId);
    }

    private static Map<String, Double> byRun(JsonNode result) {
        return byLabel(result, "run_id");
    }

    private static Map<String, Double> byLabel(JsonNode result, String label) {
        Map<String, Double> values = new LinkedHashMap<>();
        result.forEach(series -> values.put(series.path("metric").path(label).asText(), value(series)));
        return values;
    }

    private static double single(JsonNode result, String what) {
        assertEquals(1, result.size(), what + ": one value, got " + result);
        return value(result.get(0));
    }

    private static double value(JsonNode series) {
        return Double.parseDouble(series.path("value").get(1).asText());
    }

    private interface Check {
        boolean holds() throws Exception;
    }

    private static void await(Duration within, String what, Check check) throws Exception {
        long deadline = System.nanoTime() + within.toNanos();
        while (System.nanoTime() < deadline) {
            if (check.holds()) {
                return;
            }
            sleep(Duration.ofMillis(250));
        }
        fail(what + ": not within " + within);
    }

    private static void sleep(Duration duration) throws InterruptedException {
        Thread.sleep(duration.toMillis());
    }
}
