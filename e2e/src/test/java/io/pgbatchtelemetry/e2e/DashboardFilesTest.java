package io.pgbatchtelemetry.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The dashboards, checked without Grafana: strict JSON, unique panel ids, every datasource chosen through the
 * dashboard's datasource variable (no hard-coded uid), the template variables and annotations the issue asks
 * for, and one row per diagnostic pattern. Whether the queries return data is SlowBatchEndToEndTest's job.
 */
class DashboardFilesTest {

    private static final List<String> PATTERN_ROWS = List.of("Lock contention", "Buffer/WAL pressure",
            "Checkpoint interference", "Autovacuum interference", "Temp-file spills", "Replication lag");

    @Test
    void bothDashboardsAreThere() {
        List<String> names = Repo.dashboards().stream().map(p -> p.getFileName().toString()).toList();
        assertEquals(List.of("batch-diagnosis.json", "wait-events.json"), names);
    }

    @Test
    void strictJsonWithUniquePanelIdsAndDatasourceByVariable() throws IOException {
        for (Path file : Repo.dashboards()) {
            JsonNode dashboard = Dashboards.parse(file);
            List<String> problems = new ArrayList<>();
            Set<Integer> ids = new HashSet<>();
            for (JsonNode panel : Dashboards.panels(dashboard)) {
                String title = panel.path("title").asText();
                if (!panel.has("id") || !ids.add(panel.path("id").asInt())) {
                    problems.add("panel \"" + title + "\": missing or duplicate id " + panel.path("id"));
                }
                if (!"row".equals(panel.path("type").asText())) {
                    checkDatasource(panel.path("datasource"), "panel \"" + title + "\"", problems);
                    if (panel.path("targets").isEmpty()) {
                        problems.add("panel \"" + title + "\" has no query");
                    }
                    for (JsonNode target : panel.path("targets")) {
                        checkDatasource(target.path("datasource"), "panel \"" + title + "\" target", problems);
                        if (target.path("expr").asText().isBlank()) {
                            problems.add("panel \"" + title + "\" has an empty query");
                        }
                    }
                }
            }
            for (JsonNode annotation : dashboard.path("annotations").path("list")) {
                if (annotation.has("expr")) {
                    checkDatasource(annotation.path("datasource"), "annotation " + annotation.path("name"), problems);
                }
            }
            for (JsonNode variable : dashboard.path("templating").path("list")) {
                if ("query".equals(variable.path("type").asText())) {
                    checkDatasource(variable.path("datasource"), "variable " + variable.path("name"), problems);
                }
            }
            assertTrue(problems.isEmpty(), file.getFileName() + ":\n" + String.join("\n", problems));
            assertTrue(variableNames(dashboard).contains("DS_PROMETHEUS"), file + " has no datasource variable DS_PROMETHEUS");
            String text = Files.readString(file);
            assertFalse(text.contains("\"__inputs\""), "provisioned dashboards must not need an import step: " + file);
        }
    }

    @Test
    void batchDiagnosisHasInstanceAndBatchVariablesAnnotationsAndOneRowPerPattern() throws IOException {
        JsonNode dashboard = Dashboards.parse(Repo.path("grafana/dashboards/batch-diagnosis.json"));
        assertEquals("Batch diagnosis", dashboard.path("title").asText());
        assertTrue(variableNames(dashboard).containsAll(List.of("instance", "batch")), variableNames(dashboard).toString());
        List<String> rows = Dashboards.panels(dashboard).stream()
                .filter(p -> "row".equals(p.path("type").asText())).map(p -> p.path("title").asText()).toList();
        assertEquals("At a glance", rows.get(0), "the top row answers at a glance");
        assertTrue(rows.containsAll(PATTERN_ROWS), "rows " + rows + " must include " + PATTERN_ROWS);
        List<String> annotationExprs = new ArrayList<>();
        dashboard.path("annotations").path("list").forEach(a -> annotationExprs.add(a.path("expr").asText()));
        assertTrue(annotationExprs.stream().anyMatch(e -> e.contains("checkpoints_req_total")), "checkpoint annotation: " + annotationExprs);
        assertTrue(annotationExprs.stream().anyMatch(e -> e.contains("pg_telemetry_batch_running")), "batch-run annotation: " + annotationExprs);
        // one stat per pattern in the top row, driven by the alerts' pattern label
        List<String> patternStats = Dashboards.panels(dashboard).stream()
                .filter(p -> "stat".equals(p.path("type").asText()))
                .filter(p -> p.path("targets").path(0).path("expr").asText().contains("ALERTS{"))
                .map(p -> p.path("title").asText()).toList();
        assertTrue(patternStats.containsAll(PATTERN_ROWS), "pattern stats " + patternStats);
        Set<String> alertPatterns = new HashSet<>();
        RuleFiles.alerts().forEach(a -> alertPatterns.add(a.labels().get("pattern")));
        for (String pattern : alertPatterns) {
            assertTrue(Dashboards.panels(dashboard).stream().anyMatch(p -> p.path("targets").path(0).path("expr").asText()
                    .contains("pattern=\"" + pattern + "\"")), "no top-row stat for alert pattern " + pattern);
        }
    }

    @Test
    void waitEventsDashboardFiltersByBatchAndShowsBlockers() throws IOException {
        JsonNode dashboard = Dashboards.parse(Repo.path("grafana/dashboards/wait-events.json"));
        assertEquals("Wait events (ASH)", dashboard.path("title").asText());
        assertTrue(variableNames(dashboard).containsAll(List.of("instance", "batch")), variableNames(dashboard).toString());
        String all = Files.readString(Repo.path("grafana/dashboards/wait-events.json"));
        assertTrue(all.contains("pg_batch_wait_event_seconds_total{") && all.contains("batch=~\\\"$batch\\\""));
        assertTrue(all.contains("pg_lock_wait_blocked_seconds_total") && all.contains("pg_batch_blocked_seconds_total"));
    }

    @Test
    void provisioningPointsAtTheDashboardsAndPrometheus() throws IOException {
        String dashboards = Files.readString(Repo.path("grafana/provisioning/dashboards/pg-batch-telemetry.yml"));
        assertTrue(dashboards.contains("path: /var/lib/grafana/dashboards"), dashboards);
        String datasource = Files.readString(Repo.path("grafana/provisioning/datasources/prometheus.yml"));
        assertTrue(datasource.contains("type: prometheus") && datasource.contains("url: http://prometheus:9090"), datasource);
    }

    private static void checkDatasource(JsonNode datasource, String where, List<String> problems) {
        String uid = datasource.path("uid").asText("");
        if (!"prometheus".equals(datasource.path("type").asText()) || !uid.equals("${DS_PROMETHEUS}")) {
            problems.add(where + ": datasource must be {type: prometheus, uid: ${DS_PROMETHEUS}}, is " + datasource);
        }
    }

    private static List<String> variableNames(JsonNode dashboard) {
        List<String> names = new ArrayList<>();
        dashboard.path("templating").path("list").forEach(v -> names.add(v.path("name").asText()));
        return names;
    }
}
