package io.pgbatchtelemetry.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The rules a dashboard of this project follows, checked on its JSON without Grafana. Each rule returns its
 * problems as one line each (empty: the dashboard follows it), so a test can report them all at once.
 * Whether the queries return the right data is the end-to-end tests' job.
 */
final class DashboardLint {

    /** Grafana's default thresholds (green, red at 80): a false alarm on seconds, bytes and settings. */
    private static final String GRAFANA_DEFAULT_RED = "80";
    private static final Pattern VARIABLE_USE = Pattern.compile("\\$\\{(\\w+)(?::(\\w+))?}|\\$(\\w+)");
    private static final Pattern ESCAPED_MATCHER = Pattern.compile("\\w+\\s*[=!]~\\s*`\\$\\{(\\w+):regex}`");
    private static final Pattern RANGE_VARIABLE = Pattern.compile("\\[\\$(\\w+)(?::\\$\\w+)?]");
    private static final Pattern WINDOW = Pattern.compile("\\[([^\\]:]+)(?::([^\\]]+))?]");
    private static final Set<String> ALLOWED_WINDOWS = Set.of("$__rate_interval", "$__interval", "$__range", "$lookback");
    private static final Pattern RECORDED_RATE = Pattern.compile("\\w+:\\w+:(rate|irate|increase)\\d+[smh]");
    private static final Pattern AGGREGATION = Pattern.compile(
            "\\b(sum|min|max|avg|count|group|stddev|stdvar|topk|bottomk|quantile|count_values)\\s*(by|without)?\\s*(\\(([^()]*)\\))?\\s*\\(");
    private static final Pattern LABEL_VALUES = Pattern.compile("label_values\\((.*),\\s*(\\w+)\\)");
    private static final Pattern METRIC_NAME = Pattern.compile(
            "([a-zA-Z_:][a-zA-Z0-9_:]*)?\\s*\\{((?:`[^`]*`|\"(?:[^\"\\\\]|\\\\.)*\"|[^}`\"])*)}");
    private static final Pattern NAME_MATCHER = Pattern.compile("__name__\\s*=~\\s*\"([^\"]*)\"");

    /**
     * Where a label's values come from, by metric name: two metrics may be filtered by one variable only when
     * their values of that label have the same origin. The batch label is the case that matters: the sampler's
     * rule names (pg_batch_*) and the telemetry schema's run names (pg_telemetry_*) are two vocabularies that
     * must be listed from both.
     */
    static final Map<String, Map<Pattern, String>> LABEL_ORIGINS = Map.of(
            "batch", originMap("pg_batch_\\w+|batch_\\w+:pg_batch_\\w+", "the sampler's batch rules",
                    "pg_telemetry_\\w+", "telemetry run names"),
            "run_id", originMap("pg_telemetry_run_\\w+", "telemetry.runs"),
            "baseline_run_id", originMap("pg_telemetry_run_\\w+", "telemetry.runs"),
            "wait_event_type", originMap("pg_wait_event_seconds_total|pg_batch_wait_event_seconds_total", "pg_stat_activity.wait_event_type"));

    /** Labels every series carries (target labels): a variable of them filters any metric. */
    private static final Set<String> TARGET_LABELS = Set.of("job", "instance");

    private DashboardLint() {}

    private static Map<Pattern, String> originMap(String... patternThenOrigin) {
        Map<Pattern, String> map = new LinkedHashMap<>();
        for (int i = 0; i < patternThenOrigin.length; i += 2) {
            map.put(Pattern.compile(patternThenOrigin[i]), patternThenOrigin[i + 1]);
        }
        return map;
    }

    /** Every panel that is not a row has a unit (not Grafana's unit-less "short") and a description. */
    static List<String> unitsAndDescriptions(JsonNode dashboard) {
        List<String> problems = new ArrayList<>();
        for (JsonNode panel : Dashboards.panels(dashboard)) {
            if ("row".equals(panel.path("type").asText())) {
                continue;
            }
            String unit = panel.path("fieldConfig").path("defaults").path("unit").asText("");
            if (unit.isBlank() || unit.equals("short")) {
                problems.add(name(panel) + ": no unit (fieldConfig.defaults.unit is \"" + unit + "\")");
            }
            if (panel.path("description").asText("").isBlank()) {
                problems.add(name(panel) + ": no description saying how to read it");
            }
        }
        return problems;
    }

    /**
     * Wherever a panel colours by value, it says by which thresholds, and they are not Grafana's default red at 80:
     * stat (unless colorMode none), bar gauge and gauge panels, table cells coloured by value, time series with
     * threshold lines.
     */
    static List<String> thresholdsWhereColourIsUsed(JsonNode dashboard) {
        List<String> problems = new ArrayList<>();
        for (JsonNode panel : Dashboards.panels(dashboard)) {
            String type = panel.path("type").asText();
            JsonNode defaults = panel.path("fieldConfig").path("defaults");
            boolean coloursByValue = switch (type) {
                case "stat" -> !"none".equals(panel.path("options").path("colorMode").asText("value"));
                case "bargauge", "gauge" -> true;
                case "timeseries" -> !"off".equals(defaults.path("custom").path("thresholdsStyle").path("mode").asText("off"));
                default -> false;
            };
            if (coloursByValue) {
                String mode = defaults.path("color").path("mode").asText("thresholds");
                if (mode.equals("thresholds")) {
                    checkThresholds(defaults.path("thresholds"), name(panel) + " (defaults)", problems);
                }
            }
            for (JsonNode override : panel.path("fieldConfig").path("overrides")) {
                JsonNode thresholds = null;
                boolean colours = false;
                for (JsonNode property : override.path("properties")) {
                    String id = property.path("id").asText();
                    if (id.equals("thresholds")) {
                        thresholds = property.path("value");
                    } else if (id.equals("color") && "thresholds".equals(property.path("value").path("mode").asText())) {
                        colours = true;
                    } else if (id.equals("custom.cellOptions") && property.path("value").path("type").asText().startsWith("color-")) {
                        colours = true;
                    }
                }
                if (colours) {
                    checkThresholds(thresholds != null ? thresholds : defaults.path("thresholds"),
                            name(panel) + " override " + override.path("matcher").path("options").asText(), problems);
                }
            }
        }
        return problems;
    }

    private static void checkThresholds(JsonNode thresholds, String where, List<String> problems) {
        JsonNode steps = thresholds.path("steps");
        if (steps.isMissingNode() || steps.isEmpty()) {
            problems.add(where + ": colours by value without thresholds (Grafana's default turns it red at 80)");
            return;
        }
        if (steps.size() == 2 && "red".equals(steps.get(1).path("color").asText())
                && GRAFANA_DEFAULT_RED.equals(steps.get(1).path("value").asText())) {
            problems.add(where + ": Grafana's default thresholds (red at 80) mean nothing here");
        }
    }

    /**
     * Every aggregation keeps {@code instance} (and {@code job}), unless the dashboard's instance (and job) variable is
     * single-select: otherwise several servers are silently added together.
     */
    static List<String> aggregationsStayOnOneServer(JsonNode dashboard, List<Dashboards.Query> queries) {
        List<String> problems = new ArrayList<>();
        for (String label : List.of("job", "instance")) {
            JsonNode variable = variable(dashboard, label);
            if (variable == null) {
                problems.add("no " + label + " variable");
                continue;
            }
            if (!variable.path("multi").asBoolean() && !variable.path("includeAll").asBoolean()) {
                continue; // one server at a time: any aggregation stays on it
            }
            for (Dashboards.Query query : queries) {
                Matcher m = AGGREGATION.matcher(query.expr());
                while (m.find()) {
                    String clause = m.group(2);
                    String labels = m.group(4) == null ? "" : m.group(4);
                    boolean keeps = "by".equals(clause) ? List.of(labels.split("\\s*,\\s*")).contains(label)
                            : "without".equals(clause) && !List.of(labels.split("\\s*,\\s*")).contains(label);
                    if (!keeps) {
                        problems.add(query.where() + ": " + m.group().strip() + " drops " + label
                                + " while $" + label + " is multi-select");
                    }
                }
            }
        }
        return problems;
    }

    /**
     * Every dashboard variable in a query is regex-escaped inside a raw string: {@code label=~`${name:regex}`}.
     * Grafana's default format leaves a single-select value unescaped (a batch named "a.b" would also match "aXb"), and
     * in a double-quoted PromQL string the escaped form's backslashes are invalid escapes. Variables holding a duration
     * (custom/interval variables) may only be a range.
     */
    static List<String> variablesAreRegexEscaped(JsonNode dashboard, List<Dashboards.Query> queries) {
        List<String> problems = new ArrayList<>();
        for (Dashboards.Query query : queries) {
            String rest = ESCAPED_MATCHER.matcher(query.expr()).replaceAll("");
            Matcher ranges = RANGE_VARIABLE.matcher(rest);
            while (ranges.find()) {
                JsonNode variable = variable(dashboard, ranges.group(1));
                if (variable != null && !Set.of("custom", "interval").contains(variable.path("type").asText())) {
                    problems.add(query.where() + ": $" + ranges.group(1) + " used as a range but is a " + variable.path("type").asText() + " variable");
                }
            }
            rest = RANGE_VARIABLE.matcher(rest).replaceAll("[]");
            Matcher uses = VARIABLE_USE.matcher(rest);
            while (uses.find()) {
                String name = uses.group(1) != null ? uses.group(1) : uses.group(3);
                if (!name.startsWith("__")) {
                    problems.add(query.where() + ": " + uses.group() + " is not in the form label=~`${" + name + ":regex}`");
                }
            }
        }
        return problems;
    }

    /**
     * A variable that filters a label takes its values from metrics whose values of that label have the same origin
     * as every metric it filters (see {@link #LABEL_ORIGINS}), and it exists.
     */
    static List<String> variableValuesExistInTheMetricsTheyFilter(JsonNode dashboard, List<Dashboards.Query> queries) {
        List<String> problems = new ArrayList<>();
        for (Dashboards.Query query : queries) {
            Matcher selectors = METRIC_NAME.matcher(query.expr());
            while (selectors.find()) {
                Set<String> metrics = metricNames(selectors.group(1), selectors.group(2));
                Matcher m = Pattern.compile("(\\w+)\\s*[=!]~\\s*`\\$\\{(\\w+):regex}`").matcher(selectors.group(2));
                while (m.find()) {
                    String label = m.group(1);
                    JsonNode variable = variable(dashboard, m.group(2));
                    if (variable == null) {
                        problems.add(query.where() + ": filters " + label + " by $" + m.group(2) + ", which the dashboard does not define");
                        continue;
                    }
                    if (TARGET_LABELS.contains(label)) {
                        continue;
                    }
                    Matcher source = LABEL_VALUES.matcher(variable.path("query").path("query").asText(variable.path("query").asText()));
                    if (!source.matches()) {
                        problems.add("$" + m.group(2) + " is not a label_values() variable but filters " + label);
                        continue;
                    }
                    Set<String> sourceOrigins = new LinkedHashSet<>();
                    Matcher sourceSelector = METRIC_NAME.matcher(source.group(1));
                    while (sourceSelector.find()) {
                        for (String metric : metricNames(sourceSelector.group(1), sourceSelector.group(2))) {
                            sourceOrigins.add(origin(source.group(2), metric));
                        }
                    }
                    for (String metric : metrics) {
                        String origin = origin(label, metric);
                        if (!sourceOrigins.contains(origin)) {
                            problems.add(query.where() + ": $" + m.group(2) + " lists " + source.group(2) + " from " + sourceOrigins
                                    + " but filters " + metric + "{" + label + "}, whose values are " + origin);
                        }
                    }
                }
            }
        }
        return problems;
    }

    private static Set<String> metricNames(String name, String matchers) {
        Set<String> names = new LinkedHashSet<>();
        if (name == null || name.equals("by") || name.equals("without")) {
            Matcher m = NAME_MATCHER.matcher(matchers);
            if (m.find()) {
                names.addAll(List.of(m.group(1).split("\\|")));
            }
        } else {
            names.add(name);
        }
        return names;
    }

    private static String origin(String label, String metric) {
        Map<Pattern, String> origins = LABEL_ORIGINS.get(label);
        if (origins == null) {
            return "unknown origin of label " + label + " (add it to DashboardLint.LABEL_ORIGINS)";
        }
        for (Map.Entry<Pattern, String> entry : origins.entrySet()) {
            if (entry.getKey().matcher(metric).matches()) {
                return entry.getValue();
            }
        }
        return "unknown origin of " + metric + "{" + label + "} (add it to DashboardLint.LABEL_ORIGINS)";
    }

    /**
     * The first row is open and every row below it is collapsed, holding its panels, so that a refresh runs only the
     * top row's queries.
     */
    static List<String> rowsBelowTheTopCollapsed(JsonNode dashboard) {
        List<String> problems = new ArrayList<>();
        int rows = 0;
        for (JsonNode panel : dashboard.path("panels")) {
            boolean row = "row".equals(panel.path("type").asText());
            if (row) {
                rows++;
                boolean collapsed = panel.path("collapsed").asBoolean();
                if (rows == 1 && collapsed) {
                    problems.add(name(panel) + ": the top row must be open");
                } else if (rows > 1 && !collapsed) {
                    problems.add(name(panel) + ": a row below the top must be collapsed");
                } else if (rows > 1 && panel.path("panels").isEmpty()) {
                    problems.add(name(panel) + ": a collapsed row holds its panels");
                }
            } else if (rows > 1) {
                problems.add(name(panel) + ": outside any collapsed row, below the top row");
            }
        }
        if (rows == 0) {
            problems.add("no rows");
        }
        return problems;
    }

    /**
     * One rate-window policy: panel queries use Grafana's $__rate_interval for rates, $__interval for per-interval
     * counts (in panels with a minimum interval, so a window holds several scrapes), $__range or $lookback for totals;
     * never a recording rule with a fixed window (its 5m beside a 1m would make two panels of a row disagree).
     */
    static List<String> oneRateWindowPolicy(JsonNode dashboard) {
        List<String> problems = new ArrayList<>();
        for (JsonNode panel : Dashboards.panels(dashboard)) {
            for (JsonNode target : panel.path("targets")) {
                String expr = target.path("expr").asText();
                Matcher windows = WINDOW.matcher(expr);
                while (windows.find()) {
                    if (!ALLOWED_WINDOWS.contains(windows.group(1).strip())
                            || (windows.group(2) != null && !windows.group(2).strip().equals("$__interval"))) {
                        problems.add(name(panel) + " " + target.path("refId").asText() + ": window " + windows.group() + " (allowed: "
                                + ALLOWED_WINDOWS + ", subqueries stepped by $__interval)");
                    }
                    if (windows.group(1).strip().equals("$__interval") && windows.group(2) == null && !panel.hasNonNull("interval")) {
                        problems.add(name(panel) + " " + target.path("refId").asText()
                                + ": a per-$__interval count needs the panel's minimum interval (interval), so a window holds several scrapes");
                    }
                }
                Matcher recorded = RECORDED_RATE.matcher(expr);
                if (recorded.find()) {
                    problems.add(name(panel) + " " + target.path("refId").asText() + ": fixed-window recording rule " + recorded.group());
                }
            }
        }
        return problems;
    }

    static JsonNode variable(JsonNode dashboard, String name) {
        for (JsonNode variable : dashboard.path("templating").path("list")) {
            if (name.equals(variable.path("name").asText())) {
                return variable;
            }
        }
        return null;
    }

    static String name(JsonNode panel) {
        return "panel " + panel.path("id").asInt() + " \"" + panel.path("title").asText() + "\"";
    }
}
