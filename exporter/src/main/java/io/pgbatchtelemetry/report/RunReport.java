package io.pgbatchtelemetry.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The document of {@code telemetry.run_report()} as the renderers read it: sections as small
 * records holding the texts SQL produced. Nothing is computed here beyond picking and ordering;
 * every number and every formatted value comes from the schema, so HTML, Markdown and psql agree.
 */
public final class RunReport {

    /** The {@code format_version} this renderer understands. */
    public static final int FORMAT_VERSION = 1;

    /** Decimals as BigDecimal: a value reads back exactly as SQL wrote it (0.000 stays 0.000). */
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .setNodeFactory(JsonNodeFactory.withExactBigDecimals(true));

    private final JsonNode root;

    private RunReport(JsonNode root) {
        this.root = root;
    }

    public static RunReport parse(String json) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new ReportException("telemetry.run_report() returned something that is not JSON: " + e.getOriginalMessage());
        }
        int version = root.path("format_version").asInt(-1);
        if (version != FORMAT_VERSION) {
            throw new ReportException("telemetry.run_report() has format_version " + version + ", this report command reads "
                    + FORMAT_VERSION + ": use the pg-batch-exporter that matches the installed schema");
        }
        return new RunReport(root);
    }

    public record Cause(int rank, String severity, boolean outsideBaseline, String headline, String evidence, String settings,
                        String recommendation) {}

    public record DurationBar(String label, long runId, String text, double seconds, double max, boolean thisRun) {}

    public record MetricRow(String metric, String label, String unit, String runValue, String runText, String baselineText,
                            String rangeText, String ratio, boolean outside) {}

    /** Headings, a CSS class per column (empty for none) and the cells, row by row. */
    public record Table(List<String> columns, List<String> classes, List<List<String>> rows) {
        public Table(List<String> columns, List<List<String>> rows) {
            this(columns, columns.stream().map(c -> "").toList(), rows);
        }

        public boolean isEmpty() {
            return rows.isEmpty();
        }
    }

    /**
     * A column of the statements and plan-changes tables: its heading, the run_report() keys its cell
     * shows (two keys: the baseline's value and this run's, as "20 → 200"; a missing side is "–") and its CSS class.
     */
    record Column(String label, List<String> keys, String cssClass) {
        String cell(JsonNode row) {
            List<String> values = keys.stream().map(k -> text(row.path(k))).toList();
            if (values.stream().allMatch(String::isEmpty)) {
                return "";
            }
            return values.stream().map(v -> v.isEmpty() ? "–" : v).collect(Collectors.joining(" → "));
        }
    }

    public record Section(boolean available, String reason, String note, Table table) {}

    public record SettingChange(String name, String baseline, String run, String source, String baselineRuns) {}

    public record Finding(int rank, String pattern, String severity, String evidence, String recommendation) {}

    public record Warning(String code, String message) {}

    public String title() {
        return "Run " + run("run_id") + " of " + run("name");
    }

    public String run(String key) {
        return text(root.path("run").path(key));
    }

    public String server(String key) {
        return text(root.path("server").path(key));
    }

    public String generatedAt() {
        return text(root.path("generated_at"));
    }

    public int formatVersion() {
        return root.path("format_version").asInt();
    }

    public String baselineMode() {
        return text(root.path("baseline").path("mode"));
    }

    public boolean baselineUsual() {
        return root.path("baseline").path("usual").asBoolean();
    }

    public List<Long> baselineRunIds() {
        List<Long> ids = new ArrayList<>();
        root.path("baseline").path("runs").forEach(run -> ids.add(run.path("run_id").asLong()));
        return ids;
    }

    public String verdictSummary() {
        return text(root.path("verdict").path("summary"));
    }

    public List<Cause> causes() {
        List<Cause> causes = new ArrayList<>();
        for (JsonNode c : root.path("verdict").path("causes")) {
            causes.add(new Cause(c.path("rank").asInt(), text(c.path("severity")), c.path("outside_baseline").asBoolean(false),
                    text(c.path("headline")), text(c.path("evidence")), text(c.path("settings")), text(c.path("recommendation"))));
        }
        return causes;
    }

    public List<String> alsoOutsideBaseline() {
        List<String> lines = new ArrayList<>();
        root.path("verdict").path("also_outside_baseline").forEach(n -> lines.add(n.asText()));
        return lines;
    }

    public List<Warning> warnings() {
        List<Warning> warnings = new ArrayList<>();
        root.path("warnings").forEach(w -> warnings.add(new Warning(text(w.path("code")), text(w.path("message")))));
        return warnings;
    }

    /** This run and its baseline runs, the longest first, each against the longest. */
    public List<DurationBar> durations() {
        List<DurationBar> bars = new ArrayList<>();
        JsonNode run = root.path("run");
        bars.add(new DurationBar("this run", run.path("run_id").asLong(), text(run.path("duration_text")),
                run.path("duration_s").asDouble(), 0, true));
        for (JsonNode b : root.path("baseline").path("runs")) {
            bars.add(new DurationBar("baseline", b.path("run_id").asLong(), text(b.path("duration_text")),
                    b.path("duration_s").asDouble(), 0, false));
        }
        double max = bars.stream().mapToDouble(DurationBar::seconds).max().orElse(1);
        return bars.stream().map(b -> new DurationBar(b.label(), b.runId(), b.text(), b.seconds(), max, b.thisRun())).toList();
    }

    public String baselineMedianDuration() {
        return text(root.path("baseline").path("duration").path("median_text"));
    }

    public List<MetricRow> metrics() {
        List<MetricRow> rows = new ArrayList<>();
        for (JsonNode m : root.path("metrics")) {
            rows.add(new MetricRow(text(m.path("metric")), text(m.path("label")), text(m.path("unit")), text(m.path("run_value")),
                    text(m.path("run_text")), text(m.path("baseline_text")), text(m.path("baseline_range_text")),
                    m.path("ratio").isNull() ? "" : m.path("ratio").asText() + "x", m.path("outside").asBoolean(false)));
        }
        return rows;
    }

    public Section statements() {
        return section(root.path("statements"), STATEMENT_COLUMNS);
    }

    public Section planChanges() {
        return section(root.path("plan_changes"), PLAN_CHANGE_COLUMNS);
    }

    public Table tables() {
        List<String> columns = List.of("table", "rows_written", "baseline_rows_written_median", "rows_inserted", "rows_updated",
                "rows_deleted", "seq_scans", "baseline_seq_scans_median", "idx_scans", "size_delta_bytes", "dead_tuple_ratio",
                "autovacuum_ran", "autoanalyze_ran");
        List<List<String>> rows = new ArrayList<>();
        for (JsonNode t : root.path("tables")) {
            rows.add(columns.stream().map(c -> text(t.path(c))).toList());
        }
        return new Table(columns, rows);
    }

    public List<SettingChange> settingsChanged() {
        List<SettingChange> changes = new ArrayList<>();
        for (JsonNode s : root.path("settings_changed")) {
            changes.add(new SettingChange(text(s.path("name")), orNotSet(s.path("baseline")), orNotSet(s.path("run")),
                    text(s.path("run_source")), text(s.path("baseline_runs_with_value")) + " of " + text(s.path("baseline_runs"))));
        }
        return changes;
    }

    public List<Finding> findings() {
        List<Finding> findings = new ArrayList<>();
        for (JsonNode f : root.path("findings")) {
            findings.add(new Finding(f.path("rank").asInt(), text(f.path("pattern")), text(f.path("severity")),
                    text(f.path("evidence")), text(f.path("recommendation"))));
        }
        return findings;
    }

    public boolean hasWaitsOverTime() {
        return root.path("waits_over_time").path("classes").size() > 0;
    }

    public boolean hasActivityOverTime() {
        return root.path("activity_over_time").path("t").size() > 0;
    }

    /**
     * The chart data as JSON that is safe inside a {@code <script>} element: {@code <}, {@code >},
     * {@code &} and the JavaScript line separators are written as {@code \\uXXXX} escapes, which
     * JSON allows inside strings and which never occur outside them.
     */
    public String chartDataJson() {
        ObjectNode data = JSON.createObjectNode();
        data.set("waits_over_time", root.path("waits_over_time"));
        data.set("activity_over_time", root.path("activity_over_time"));
        try {
            return scriptSafe(JSON.writeValueAsString(data));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    static String scriptSafe(String json) {
        StringBuilder out = new StringBuilder(json.length() + 16);
        for (int i = 0; i < json.length(); i++) {
            char c = json.charAt(i);
            switch (c) {
                case '<', '>', '&', '\u2028', '\u2029' -> out.append(String.format("\\u%04x", (int) c));
                default -> out.append(c);
            }
        }
        return out.toString();
    }

    private Section section(JsonNode node, List<Column> known) {
        boolean available = "ok".equals(node.path("status").asText());
        String note = node.has("baseline_run_id") ? "compared with baseline run " + text(node.path("baseline_run_id")) : "";
        return new Section(available, text(node.path("reason")), note, rowsOf(node.path("rows"), known));
    }

    /**
     * The columns a DBA reads first in statement_compare_runs() rows (telemetry.statement_comparison),
     * in that order; the plans are in the plan-changes table.
     */
    static final List<Column> STATEMENT_COLUMNS = List.of(
            new Column("#", List.of("rank"), "num"),
            new Column("verdict", List.of("verdict"), "verdict"),
            new Column("share of extra time, %", List.of("share_of_extra_pct"), "num"),
            new Column("extra time, ms", List.of("extra_ms"), "num"),
            new Column("calls, baseline → this run", List.of("baseline_calls", "slow_calls"), "num"),
            new Column("mean ms per call", List.of("baseline_mean_ms", "slow_mean_ms"), "num"),
            new Column("temp blocks written", List.of("baseline_temp_written", "slow_temp_written"), "num"),
            new Column("queryid", List.of("queryid"), "num"),
            new Column("user", List.of("username"), "name"),
            new Column("statement", List.of("query"), "query"));

    /**
     * The plan-changes rows: which statement, where it ranks among the statements (it may be below the
     * top statements shown), and its plan in the baseline run and in this run, one line each.
     */
    static final List<Column> PLAN_CHANGE_COLUMNS = List.of(
            new Column("#", List.of("rank"), "num"),
            new Column("queryid", List.of("queryid"), "num"),
            new Column("statement", List.of("query"), "query"),
            new Column("baseline plan", List.of("baseline_plan"), "plan"),
            new Column("this run's plan", List.of("slow_plan"), "plan"));

    /**
     * Rows of JSON objects as a table: the known columns whose keys the rows have; when fewer than three
     * are there (rows of another shape), every key, in the order they first appear.
     */
    private static Table rowsOf(JsonNode array, List<Column> known) {
        Set<String> keys = new LinkedHashSet<>();
        for (JsonNode row : array) {
            for (Iterator<String> names = row.fieldNames(); names.hasNext(); ) {
                keys.add(names.next());
            }
        }
        List<Column> columns = known.stream().filter(c -> keys.containsAll(c.keys())).toList();
        if (columns.size() < 3) {
            columns = keys.stream().map(k -> new Column(k, List.of(k), "")).toList();
        }
        List<List<String>> rows = new ArrayList<>();
        for (JsonNode row : array) {
            rows.add(columns.stream().map(c -> c.cell(row)).toList());
        }
        return new Table(columns.stream().map(Column::label).toList(), columns.stream().map(Column::cssClass).toList(), rows);
    }

    private static String orNotSet(JsonNode node) {
        return node.isMissingNode() || node.isNull() ? "(not set)" : node.asText();
    }

    private static String text(JsonNode node) {
        if (node.isMissingNode() || node.isNull()) {
            return "";
        }
        return node.isValueNode() ? node.asText() : node.toString();
    }
}
