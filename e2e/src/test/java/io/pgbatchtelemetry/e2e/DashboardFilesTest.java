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
 * for, one row per diagnostic pattern, and the lint rules of {@link DashboardLint}. Whether the queries return data is
 * SlowBatchEndToEndTest's job; whether the scorecard ranks the right pattern is RunScorecardEndToEndTest's.
 */
@SuppressWarnings("unchecked")
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

    /** The lint rules of {@link DashboardLint}, all of them on both dashboards, every problem reported at once. */
    @Test
    void bothDashboardsFollowTheLintRules() throws IOException {
        List<String> problems = new ArrayList<>();
        for (Path file : Repo.dashboards()) {
            JsonNode dashboard = Dashboards.parse(file);
            List<Dashboards.Query> queries = Dashboards.queries(file);
            List<String> found = new ArrayList<>();
            found.addAll(DashboardLint.unitsAndDescriptions(dashboard));
            found.addAll(DashboardLint.thresholdsWhereColourIsUsed(dashboard));
            found.addAll(DashboardLint.aggregationsStayOnOneServer(dashboard, queries));
            found.addAll(DashboardLint.variablesAreRegexEscaped(dashboard, queries));
            found.addAll(DashboardLint.variableValuesExistInTheMetricsTheyFilter(dashboard, queries));
            found.addAll(DashboardLint.rowsBelowTheTopCollapsed(dashboard));
            found.addAll(DashboardLint.oneRateWindowPolicy(dashboard));
            found.forEach(problem -> problems.add(file.getFileName() + ": " + problem));
        }
        assertTrue(problems.isEmpty(), problems.size() + " lint problems:\n  " + String.join("\n  ", problems));
    }

    /** The lint rules catch what they are for: each one on a small dashboard that breaks it. */
    @Test
    void theLintRulesCatchWhatTheyAreFor() throws IOException {
        JsonNode bad = Dashboards.strictMapper().readTree("""
                {"templating": {"list": [
                   {"type": "query", "name": "job", "multi": false, "includeAll": false, "query": {"query": "label_values(pg_up, job)"}},
                   {"type": "query", "name": "instance", "multi": true, "includeAll": true, "query": {"query": "label_values(pg_up, instance)"}},
                   {"type": "query", "name": "batch", "query": {"query": "label_values(pg_batch_sessions, batch)"}}]},
                 "panels": [
                   {"type": "row", "id": 1, "title": "top", "collapsed": false},
                   {"type": "stat", "id": 2, "title": "no unit", "options": {"colorMode": "background"},
                    "fieldConfig": {"defaults": {"thresholds": {"steps": [{"color": "green", "value": null}, {"color": "red", "value": 80}]}}},
                    "targets": [{"refId": "A", "expr": "sum(pg_telemetry_batch_running{batch=~\\"$batch\\"})"}]},
                   {"type": "timeseries", "id": 3, "title": "ok", "description": "d", "fieldConfig": {"defaults": {"unit": "s"}},
                    "targets": [{"refId": "A", "expr": "sum by (instance) (instance:pg_wal_bytes:rate1m{batch=~`${batch:regex}`}) + rate(x[5m])"}]},
                   {"type": "row", "id": 4, "title": "second", "collapsed": false}]}""");
        List<Dashboards.Query> queries = List.of(
                new Dashboards.Query("bad", "panel 2", "sum(pg_telemetry_batch_running{batch=~\"$batch\"})"),
                new Dashboards.Query("bad", "panel 3", "sum by (instance) (pg_telemetry_batch_running{batch=~`${batch:regex}`})"));
        assertEquals(2, DashboardLint.unitsAndDescriptions(bad).size(), "panel 2 lacks unit and description");
        assertEquals(1, DashboardLint.thresholdsWhereColourIsUsed(bad).size(), "panel 2 has Grafana's default thresholds");
        assertEquals(List.of("panel 2: sum( drops instance while $instance is multi-select"), DashboardLint.aggregationsStayOnOneServer(bad, queries));
        assertEquals(1, DashboardLint.variablesAreRegexEscaped(bad, queries).size(), "panel 2 uses $batch unescaped");
        assertEquals(1, DashboardLint.variableValuesExistInTheMetricsTheyFilter(bad, queries).size(),
                "panel 3 filters telemetry run names by a variable listing the sampler's rule names");
        assertEquals(1, DashboardLint.rowsBelowTheTopCollapsed(bad).size(), "row 4 is open");
        assertEquals(2, DashboardLint.oneRateWindowPolicy(bad).size(), "panel 3: a fixed-window recording rule and a [5m] window");
    }

    @Test
    void batchDiagnosisTopRowIsTheRunScorecard() throws IOException {
        JsonNode dashboard = Dashboards.parse(Repo.path("grafana/dashboards/batch-diagnosis.json"));
        assertEquals("Batch diagnosis", dashboard.path("title").asText());
        assertTrue(variableNames(dashboard).containsAll(List.of("job", "instance", "batch", "run", "baseline", "lookback")),
                variableNames(dashboard).toString());
        for (String single : List.of("job", "instance", "batch", "run")) {
            JsonNode variable = DashboardLint.variable(dashboard, single);
            assertFalse(variable.path("multi").asBoolean() || variable.path("includeAll").asBoolean(), "$" + single + " is single-select");
        }
        assertTrue(DashboardLint.variable(dashboard, "baseline").path("query").path("query").asText().startsWith("label_values(pg_telemetry_run_baseline{"),
                "the usual runs are the schema's telemetry.baseline_runs(), as exported");
        List<JsonNode> top = new ArrayList<>();
        for (JsonNode panel : dashboard.path("panels")) {
            if ("row".equals(panel.path("type").asText()) && !top.isEmpty()) {
                break;
            }
            top.add(panel);
        }
        assertTrue(top.get(0).path("title").asText().startsWith("At a glance"), "the top row answers at a glance");
        List<String> rows = Dashboards.panels(dashboard).stream()
                .filter(p -> "row".equals(p.path("type").asText())).map(p -> p.path("title").asText()).toList();
        assertTrue(rows.containsAll(PATTERN_ROWS), "rows " + rows + " must include " + PATTERN_ROWS);
        for (String pattern : PATTERN_ROWS) {
            JsonNode tile = top.stream().filter(p -> "stat".equals(p.path("type").asText()) && pattern.equals(p.path("title").asText()))
                    .findFirst().orElseThrow(() -> new AssertionError("no scorecard tile for " + pattern));
            List<String> exprs = new ArrayList<>();
            tile.path("targets").forEach(t -> exprs.add(t.path("expr").asText()));
            assertEquals(3, exprs.size(), pattern + ": ratio, run, usual");
            assertTrue(exprs.get(1).contains("run_id=~`${run:regex}`") && exprs.get(2).contains("run_id=~`${baseline:regex}`"),
                    pattern + " compares the run with its usual runs: " + exprs);
            assertTrue(tile.toString().contains("ALERTS") == false, pattern + " no longer shows what fires at the end of the range");
            String link = tile.path("links").path(0).path("url").asText();
            java.util.regex.Matcher viewPanel = java.util.regex.Pattern.compile("viewPanel=(\\d+)").matcher(link);
            assertTrue(viewPanel.find(), pattern + " links to its row's panels: " + link);
            JsonNode row = Dashboards.panels(dashboard).stream().filter(p -> "row".equals(p.path("type").asText())
                    && pattern.equals(p.path("title").asText())).findFirst().orElseThrow();
            boolean inRow = false;
            for (JsonNode panel : row.path("panels")) {
                inRow |= panel.path("id").asText().equals(viewPanel.group(1));
            }
            assertTrue(inRow, pattern + "'s link opens panel " + viewPanel.group(1) + ", which is not in its row");
        }
        JsonNode runs = top.stream().filter(p -> "table".equals(p.path("type").asText()) && p.path("title").asText().startsWith("Runs of"))
                .findFirst().orElseThrow(() -> new AssertionError("no run picker table in the top row"));
        String runLink = runs.toString();
        assertTrue(runLink.contains("var-run=${__data.fields.run_id.numeric}") && runLink.contains("from=${__data.fields.started.numeric}")
                && runLink.contains("to=${__data.fields.ended.numeric}"), "a run links to its window: " + runLink);
        JsonNode renames = runs.path("transformations").findValue("renameByName");
        assertEquals("started", renames.path("Value #A").asText(), "the link's from= reads the column named started");
        assertEquals("ended", renames.path("Value #B").asText(), "the link's to= reads the column named ended");
        assertTrue(runs.path("targets").path(0).path("expr").asText().contains("pg_telemetry_run_start_timestamp_seconds")
                && runs.path("targets").path(1).path("expr").asText().contains("pg_telemetry_run_end_timestamp_seconds"), "started/ended in ms");
        for (JsonNode panel : top) {
            if (panel.path("title").asText().contains("average active sessions by wait class")) {
                assertTrue(panel.toString().contains("/d/pgbt-wait-events/wait-events?") && panel.toString().contains("var-wait_event_type=${__field.labels.wait_event_type}"),
                        DashboardLint.name(panel) + " links to the wait-events board with the class selected");
            }
        }
    }

    @Test
    void annotationsMarkRequestedCheckpointsAndRunsOnBothBoards() throws IOException {
        Set<String> names = null;
        for (Path file : Repo.dashboards()) {
            JsonNode dashboard = Dashboards.parse(file);
            Set<String> here = new HashSet<>();
            for (JsonNode annotation : dashboard.path("annotations").path("list")) {
                String expr = annotation.path("expr").asText();
                assertFalse(expr.contains("checkpoints_timed"), file + ": timed checkpoints come every checkpoint_timeout: noise");
                if (!expr.isEmpty()) {
                    here.add(annotation.path("name").asText());
                }
            }
            assertTrue(here.containsAll(List.of("Requested checkpoints", "Batch runs", "Runs succeeded", "Runs failed")), file + ": " + here);
            here.remove("Alerts");
            if (names != null) {
                assertEquals(names, here, "the same annotations on both boards");
            }
            names = here;
        }
    }

    @Test
    void waitEventsDashboardFiltersByBatchAndShowsBlockers() throws IOException {
        JsonNode dashboard = Dashboards.parse(Repo.path("grafana/dashboards/wait-events.json"));
        assertEquals("Wait events (ASH)", dashboard.path("title").asText());
        assertTrue(variableNames(dashboard).containsAll(List.of("job", "instance", "batch", "wait_event_type")), variableNames(dashboard).toString());
        String all = Files.readString(Repo.path("grafana/dashboards/wait-events.json"));
        assertTrue(all.contains("pg_batch_wait_event_seconds_total{") && all.contains("batch=~`${batch:regex}`"));
        assertTrue(all.contains("pg_lock_wait_blocked_seconds_total") && all.contains("pg_batch_blocked_seconds_total"));
    }

    @Test
    void provisioningPointsAtTheDashboardsAndPrometheusAndKeepsTheFilesAuthoritative() throws IOException {
        String dashboards = Files.readString(Repo.path("grafana/provisioning/dashboards/pg-batch-telemetry.yml"));
        assertTrue(dashboards.contains("path: /var/lib/grafana/dashboards"), dashboards);
        java.util.Map<String, Object> provider = ((List<java.util.Map<String, Object>>) RuleFiles.load(
                Repo.path("grafana/provisioning/dashboards/pg-batch-telemetry.yml")).get("providers")).get(0);
        assertEquals(Boolean.FALSE, provider.get("allowUiUpdates"), "a UI edit would be lost at the next reload");
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
