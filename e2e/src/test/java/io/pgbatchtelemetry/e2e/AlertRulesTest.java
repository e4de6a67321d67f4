package io.pgbatchtelemetry.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The shipped rules and configs pass Prometheus' and Alertmanager's own checkers, every alert's promtool unit
 * tests pass, and every alert has what an operator needs (severity, summary, description, a runbook anchor
 * that exists) and a test series that fires it next to one that must not.
 */
class AlertRulesTest {

    private static final Duration TOOL_TIMEOUT = Duration.ofSeconds(60);
    private static final Set<String> SEVERITIES = Set.of("critical", "warning", "info");
    private static final String RUNBOOK = "docs/diagnose-a-slow-batch.md";
    private static final Pattern LABEL = Pattern.compile("(\\w+)=\"([^\"]*)\"");

    @Test
    void promtoolChecksEveryRuleFile() {
        List<String> argv = new ArrayList<>(List.of("promtool", "check", "rules"));
        Repo.alertRuleFiles().forEach(f -> argv.add(f.toString()));
        argv.add(Repo.recordingRules().toString());
        Command check = Command.run(Repo.root(), TOOL_TIMEOUT, argv.toArray(String[]::new));
        assertTrue(check.succeeded(), check.report());
    }

    /** alerts/ holds rule files only, so the obvious command checks all of it. */
    @Test
    void everyYamlFileInAlertsIsARuleFile() throws IOException {
        List<String> argv = new ArrayList<>(List.of("promtool", "check", "rules"));
        try (var files = Files.list(Repo.path("alerts"))) {
            files.filter(f -> f.toString().endsWith(".yml")).sorted().forEach(f -> argv.add(f.toString()));
        }
        assertEquals(Repo.alertRuleFiles().size() + 3, argv.size(), "every alerts/*.yml is an alerts/*.rules.yml: " + argv);
        Command check = Command.run(Repo.root(), TOOL_TIMEOUT, argv.toArray(String[]::new));
        assertTrue(check.succeeded(), check.report());
    }

    /**
     * Rules must work under any job name and keep two environments with one instance name apart: no rule names a
     * job, and no join lists the labels to match on (`on (job, instance)`), which would drop the cluster label.
     */
    @Test
    void noRuleNamesAJobOrJoinsOnAFixedLabelList() {
        List<String> problems = new ArrayList<>();
        for (RuleFiles.Alert alert : RuleFiles.alerts()) {
            if (alert.expr().matches("(?s).*\\bjob\\s*=.*")) {
                problems.add(alert.name() + " names a job: " + alert.expr());
            }
            if (alert.expr().matches("(?s).*\\bon\\s*\\(.*")) {
                problems.add(alert.name() + " joins on a fixed label list: " + alert.expr());
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    /**
     * The severity policy of docs/alerts.md: every alert is listed there with its severity, and only the alerts the
     * policy names page (critical).
     */
    @Test
    void everyAlertIsDocumentedWithItsSeverityAndOnlyThePolicysAlertsPage() throws IOException {
        String doc = Files.readString(Repo.path("docs/alerts.md"));
        List<String> problems = new ArrayList<>();
        for (RuleFiles.Alert alert : RuleFiles.alerts()) {
            String severity = alert.labels().get("severity");
            if (!doc.matches("(?s).*\\|[^\\n]*`" + alert.name() + "`[^\\n]*\\b" + severity + "\\b.*")) {
                problems.add(alert.name() + " (" + severity + ") is not in a docs/alerts.md table row with its severity");
            }
        }
        Set<String> paging = new TreeSet<>();
        RuleFiles.alerts().stream().filter(a -> "critical".equals(a.labels().get("severity"))).forEach(a -> paging.add(a.name()));
        assertEquals(new TreeSet<>(List.of("PostgresBatchBlocked", "PostgresBatchRunSlow", "PostgresDown",
                "PostgresReplicationSlotNearWalLoss")), paging, "the alerts that page");
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void promtoolUnitTestsPass() {
        List<String> argv = new ArrayList<>(List.of("promtool", "test", "rules"));
        Repo.alertTestFiles().forEach(f -> argv.add(Repo.root().relativize(f).toString()));
        assertTrue(argv.size() > 3, "no alerts/tests/*.test.yml found");
        Command test = Command.run(Repo.root(), TOOL_TIMEOUT, argv.toArray(String[]::new));
        assertTrue(test.succeeded(), test.report());
        assertTrue(!test.output().contains("FAILED"), test.report());
    }

    @Test
    void promtoolChecksThePrometheusConfigAndFindsEveryRuleFile() {
        Command check = Command.run(Repo.root(), TOOL_TIMEOUT, "promtool", "check", "config", "prometheus/prometheus.yml");
        assertTrue(check.succeeded(), check.report());
        int ruleFiles = Repo.alertRuleFiles().size() + 1;
        assertTrue(check.output().contains("SUCCESS: " + ruleFiles + " rule files found"),
                "prometheus.yml must load recording-rules.yml and all " + (ruleFiles - 1) + " alerts/*.rules.yml:\n"
                        + check.report());
    }

    @Test
    void amtoolChecksTheAlertmanagerConfigAndRoutesBySeverity() {
        Command check = Command.run(Repo.root(), TOOL_TIMEOUT, "amtool", "check-config", "prometheus/alertmanager.yml");
        assertTrue(check.succeeded(), check.report());
        Map<String, String> expectedReceiver = Map.of(
                "critical", "on-call-webhook", "warning", "batch-team-webhook", "info", "batch-team-webhook");
        expectedReceiver.forEach((severity, receiver) -> {
            Command route = Command.run(Repo.root(), TOOL_TIMEOUT, "amtool", "config", "routes", "test",
                    "--config.file=prometheus/alertmanager.yml", "alertname=PostgresRequestedCheckpoints", "severity=" + severity);
            assertTrue(route.succeeded(), route.report());
            // amtool prints a warning about --alertmanager.url before the answer; the receiver is the last line
            String[] lines = route.output().strip().split("\n");
            assertEquals(receiver, lines[lines.length - 1].strip(), "severity " + severity + " routes to\n" + route.report());
        });
    }

    /**
     * One notification per incident (grouped by cluster and pattern), and inhibitions that name alerts which exist: a
     * renamed alert must not silently end an inhibition.
     */
    @Test
    @SuppressWarnings("unchecked")
    void alertmanagerGroupsByClusterAndPatternAndInhibitsOnlyExistingAlerts() {
        Map<String, Object> config = RuleFiles.load(Repo.path("prometheus/alertmanager.yml"));
        assertEquals(List.of("cluster", "pattern"), ((Map<String, Object>) config.get("route")).get("group_by"));
        Set<String> names = new TreeSet<>();
        RuleFiles.alerts().forEach(a -> names.add(a.name()));
        List<String> problems = new ArrayList<>();
        Pattern matcher = Pattern.compile("alertname(=~|=|!~|!=)\"([^\"]*)\"");
        List<Map<String, Object>> inhibitions = (List<Map<String, Object>>) config.get("inhibit_rules");
        assertTrue(inhibitions.size() >= 6, "inhibitions for the obvious pairs: " + inhibitions);
        for (Map<String, Object> rule : inhibitions) {
            for (String side : List.of("source_matchers", "target_matchers")) {
                for (String m : (List<String>) rule.get(side)) {
                    Matcher found = matcher.matcher(m);
                    if (found.matches() && found.group(1).startsWith("=")) {
                        Pattern alertnames = Pattern.compile(found.group(2));
                        if (names.stream().noneMatch(n -> alertnames.matcher(n).matches())) {
                            problems.add(side + " " + m + " matches no alert of alerts/*.rules.yml");
                        }
                    }
                }
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void everyAlertHasSeveritySummaryDescriptionAndAnExistingRunbookAnchor() throws IOException {
        Set<String> anchors = markdownAnchors(Repo.path(RUNBOOK));
        List<RuleFiles.Alert> alerts = RuleFiles.alerts();
        assertTrue(alerts.size() >= 35, "expected the issue's alerts, found " + alerts.size());
        List<String> problems = new ArrayList<>();
        Set<String> names = new LinkedHashSet<>();
        for (RuleFiles.Alert alert : alerts) {
            String where = alert.name() + " (" + alert.file().getFileName() + ")";
            // one name may come at two severities (warning, then critical), never twice at one
            if (!names.add(alert.name() + "/" + alert.labels().get("severity"))) {
                problems.add(where + ": duplicate alert name and severity");
            }
            if (!SEVERITIES.contains(alert.labels().get("severity"))) {
                problems.add(where + ": severity must be one of " + SEVERITIES + ", is " + alert.labels().get("severity"));
            }
            if (alert.labels().get("pattern") == null) {
                problems.add(where + ": no pattern label");
            }
            for (String annotation : List.of("summary", "description", "runbook_url")) {
                if (alert.annotations().getOrDefault(annotation, "").isBlank()) {
                    problems.add(where + ": no " + annotation);
                }
            }
            if (!alert.annotations().getOrDefault("description", "").contains("{{")) {
                problems.add(where + ": the description shows no value or label");
            }
            String runbook = alert.annotations().getOrDefault("runbook_url", "");
            if (!runbook.startsWith(RUNBOOK + "#") || !anchors.contains(runbook.substring(RUNBOOK.length() + 1))) {
                problems.add(where + ": runbook_url " + runbook + " is not a section of " + RUNBOOK + " " + anchors);
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void theIssuesAlertsAreAllThere() {
        Set<String> names = new TreeSet<>();
        RuleFiles.alerts().forEach(a -> names.add(a.name()));
        for (String required : List.of("PostgresRequestedCheckpoints", "PostgresCheckpointWriteTimeHigh",
                "PostgresBlockedSessions", "PostgresLockWaitAASHigh",
                "PostgresLockWaitLong", "PostgresDeadlocks", "PostgresTempFileSpillRateHigh",
                "PostgresBackendsWritingBuffers", "PostgresReplicaReplayLagHigh", "PostgresReplicationSlotRetainedWalHigh",
                "PostgresAutovacuumOnTrackedTableDuringBatch", "PostgresBatchRunSlow", "PostgresExporterDown",
                "PostgresDown", "PostgresExporterCollectorFailing", "PostgresTimingTrackingOff",
                // data exported for batch owners
                "PostgresBatchRunFailed", "PostgresTelemetrySnapshotsStopped", "PostgresTelemetryCronJobFailing",
                "PostgresIdleInTransactionDuringBatch", "PostgresReplicationSlotInactive", "PostgresReplicationSlotNearWalLoss",
                "PostgresConnectionsNearMax", "PostgresExporterTargetMissing", "PostgresAutovacuumBlocksBatch")) {
            assertTrue(names.contains(required), required + " missing from alerts/*.rules.yml: " + names);
        }
    }

    /**
     * promtool compares the complete list of alerts at each eval time, so a test group whose input has a series
     * that no expected alert covers proves that series must not fire.
     */
    @Test
    void everyAlertHasAUnitTestThatFiresItNextToASeriesThatMustNot() {
        Map<String, Boolean> firesWithQuietNeighbour = new LinkedHashMap<>();
        RuleFiles.alerts().forEach(a -> firesWithQuietNeighbour.put(a.name(), false));
        for (Path file : Repo.alertTestFiles()) {
            for (Map<String, Object> group : list(RuleFiles.load(file).get("tests"))) {
                List<Map<String, String>> series = new ArrayList<>();
                for (Map<String, Object> input : list(group.get("input_series"))) {
                    series.add(labels((String) input.get("series")));
                }
                for (Map<String, Object> check : list(group.get("alert_rule_test"))) {
                    List<Map<String, Object>> expected = list(check.get("exp_alerts"));
                    if (expected.isEmpty()) {
                        continue;
                    }
                    List<Map<String, String>> firing = expected.stream().map(e -> strings(e.get("exp_labels"))).toList();
                    boolean quietNeighbour = series.stream().anyMatch(s -> firing.stream().noneMatch(f -> covers(f, s)));
                    String alertname = (String) check.get("alertname");
                    if (quietNeighbour && firesWithQuietNeighbour.containsKey(alertname)) {
                        firesWithQuietNeighbour.put(alertname, true);
                    }
                }
            }
        }
        List<String> untested = firesWithQuietNeighbour.entrySet().stream().filter(e -> !e.getValue()).map(Map.Entry::getKey).toList();
        assertTrue(untested.isEmpty(), "alerts without a promtool test that fires them next to a series that must not: " + untested);
    }

    /** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
    static Set<String> markdownAnchors(Path markdown) throws IOException {
        Set<String> anchors = new LinkedHashSet<>();
        for (String line : Files.readAllLines(markdown)) {
            Matcher heading = Pattern.compile("^#{1,6}\\s+(.*?)\\s*$").matcher(line);
            if (heading.matches()) {
                anchors.add(heading.group(1).toLowerCase().replaceAll("[^\\p{L}\\p{N} _-]", "").replace(' ', '-'));
            }
        }
        if (anchors.isEmpty()) {
            fail(markdown + " has no headings");
        }
        return anchors;
    }

    private static boolean covers(Map<String, String> alertLabels, Map<String, String> seriesLabels) {
        return seriesLabels.entrySet().stream()
                .allMatch(l -> !alertLabels.containsKey(l.getKey()) || alertLabels.get(l.getKey()).equals(l.getValue()));
    }

    private static Map<String, String> labels(String series) {
        Map<String, String> labels = new LinkedHashMap<>();
        Matcher m = LABEL.matcher(series);
        while (m.find()) {
            labels.put(m.group(1), m.group(2));
        }
        return labels;
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> list(Object value) {
        return value == null ? List.of() : (List<Map<String, Object>>) value;
    }

    private static Map<String, String> strings(Object map) {
        Map<String, String> result = new LinkedHashMap<>();
        if (map instanceof Map<?, ?> m) {
            m.forEach((k, v) -> result.put(String.valueOf(k), String.valueOf(v)));
        }
        return result;
    }
}
