package io.pgbatchtelemetry.e2e;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The Grafana dashboards of grafana/dashboards, parsed strictly, and every PromQL query they run. */
final class Dashboards {

    /**
     * A query of a dashboard: where it sits (for messages), its PromQL, whether Grafana runs it as an instant query,
     * the panel's own relative time ({@code timeFrom}, e.g. {@code $lookback}; null: the dashboard's range) and its
     * minimum interval ({@code interval}, e.g. {@code 1m}; null: none).
     */
    record Query(String dashboard, String where, String expr, boolean instant, String timeFrom, String minInterval) {

        Query(String dashboard, String where, String expr) {
            this(dashboard, where, expr, false, null, null);
        }

        /** The query as Grafana would send it, with the dashboard's variables interpolated by {@code template}. */
        String resolved(GrafanaTemplate template) {
            return template.interpolate(expr);
        }
    }

    private static final ObjectMapper STRICT = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private Dashboards() {}

    /** The strict parser, for tests that lint a dashboard written inline. */
    static ObjectMapper strictMapper() {
        return STRICT;
    }

    static JsonNode parse(Path file) throws IOException {
        return STRICT.readTree(file.toFile());
    }

    /** Panels at any depth (rows may hold collapsed panels). */
    static List<JsonNode> panels(JsonNode dashboard) {
        List<JsonNode> all = new ArrayList<>();
        collect(dashboard.path("panels"), all);
        return all;
    }

    private static void collect(JsonNode panels, List<JsonNode> into) {
        for (JsonNode panel : panels) {
            into.add(panel);
            collect(panel.path("panels"), into);
        }
    }

    /** Panel targets, annotation queries and variable queries. */
    static List<Query> queries(Path file) throws IOException {
        JsonNode dashboard = parse(file);
        String name = dashboard.path("title").asText(file.getFileName().toString());
        List<Query> queries = new ArrayList<>();
        for (JsonNode panel : panels(dashboard)) {
            for (JsonNode target : panel.path("targets")) {
                queries.add(new Query(name, "panel " + panel.path("id").asInt() + " \"" + panel.path("title").asText() + "\" "
                        + target.path("refId").asText(), target.path("expr").asText(), target.path("instant").asBoolean(false),
                        panel.hasNonNull("timeFrom") ? panel.path("timeFrom").asText() : null,
                        panel.hasNonNull("interval") ? panel.path("interval").asText() : null));
            }
        }
        for (JsonNode annotation : dashboard.path("annotations").path("list")) {
            if (annotation.has("expr")) {
                queries.add(new Query(name, "annotation \"" + annotation.path("name").asText() + "\"", annotation.path("expr").asText()));
            }
        }
        for (JsonNode variable : dashboard.path("templating").path("list")) {
            if ("query".equals(variable.path("type").asText())) {
                Matcher labelValues = Pattern.compile("label_values\\((.*),\\s*\\w+\\)")
                        .matcher(variable.path("query").path("query").asText(variable.path("query").asText()));
                if (labelValues.matches()) {
                    // label_values(selector, label) is Grafana's; Prometheus answers the selector itself
                    queries.add(new Query(name, "variable $" + variable.path("name").asText(), labelValues.group(1)));
                }
            }
        }
        return queries;
    }
}
