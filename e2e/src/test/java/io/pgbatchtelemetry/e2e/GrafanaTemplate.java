package io.pgbatchtelemetry.e2e;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Grafana's interpolation of dashboard variables into a Prometheus query, done the way Grafana 10/11 does it, so
 * that the tests send Prometheus what Grafana would: {@code ${name:regex}} regex-escapes each value (one value
 * as is, several as {@code (a|b)}, a custom "All" value unescaped); {@code $name} and {@code ${name}} use the
 * Prometheus data source's default format (a single-value variable only has backslashes and single quotes escaped,
 * a multi-value one is regex-escaped with doubled backslashes); {@code $__range}, {@code $__range_s},
 * {@code $__range_ms}, {@code $__interval}, {@code $__interval_ms} and {@code $__rate_interval} come from the time
 * range, the interval and the scrape interval. An unknown variable or format fails loudly instead of being left in
 * the query.
 */
final class GrafanaTemplate {

    /** A variable's current value: the selected values, or "All" with its custom all value (null: all the options). */
    record Value(List<String> values, boolean multi, boolean all, String allValue) {

        static Value single(String value) {
            return new Value(List.of(value), false, false, null);
        }

        static Value of(String... values) {
            return new Value(List.of(values), true, false, null);
        }

        /** "All" selected: the custom all value when there is one, else every option. */
        static Value all(String allValue, String... options) {
            return new Value(List.of(options), true, true, allValue);
        }
    }

    /** Grafana's kbn.regexEscape: the characters it escapes with a backslash. */
    private static final Pattern REGEX_SPECIAL = Pattern.compile("[\\\\^$*+?.()|\\[\\]{}/]");
    private static final Pattern VARIABLE = Pattern.compile("\\$\\{(\\w+)(?::(\\w+))?}|\\$(\\w+)");

    private final Map<String, Value> variables;
    private final Map<String, String> builtIns;
    private final Duration interval;
    private final Duration scrapeInterval;

    private GrafanaTemplate(Map<String, Value> variables, Map<String, String> builtIns, Duration interval, Duration scrapeInterval) {
        this.variables = Map.copyOf(variables);
        this.builtIns = Map.copyOf(builtIns);
        this.interval = interval;
        this.scrapeInterval = scrapeInterval;
    }

    /**
     * @param range          the dashboard's (or the panel's own relative) time range
     * @param interval       Grafana's $__interval for the panel (at least the data source's scrape interval)
     * @param scrapeInterval the data source's "scrape interval" setting, for $__rate_interval
     */
    static GrafanaTemplate of(Map<String, Value> variables, Duration range, Duration interval, Duration scrapeInterval) {
        Map<String, String> builtIns = new LinkedHashMap<>();
        putRange(builtIns, range);
        putInterval(builtIns, interval, scrapeInterval);
        return new GrafanaTemplate(variables, builtIns, interval, scrapeInterval);
    }

    /** The same over a panel whose minimum interval ("interval" in its JSON, e.g. 1m) raises $__interval. */
    GrafanaTemplate withMinInterval(Duration minInterval) {
        if (minInterval.compareTo(interval) <= 0) {
            return this;
        }
        Map<String, String> builtIns = new LinkedHashMap<>(this.builtIns);
        putInterval(builtIns, minInterval, scrapeInterval);
        return new GrafanaTemplate(variables, builtIns, minInterval, scrapeInterval);
    }

    private static void putInterval(Map<String, String> builtIns, Duration interval, Duration scrapeInterval) {
        builtIns.put("__interval", promDuration(interval));
        builtIns.put("__interval_ms", Long.toString(interval.toMillis()));
        // Grafana: max($__interval + scrape interval, 4 x scrape interval)
        Duration rate = interval.plus(scrapeInterval);
        Duration fourScrapes = scrapeInterval.multipliedBy(4);
        builtIns.put("__rate_interval", promDuration(rate.compareTo(fourScrapes) > 0 ? rate : fourScrapes));
    }

    /** The same variables over another time range (a panel with its own relative time). */
    GrafanaTemplate withRange(Duration range) {
        Map<String, String> builtIns = new LinkedHashMap<>(this.builtIns);
        putRange(builtIns, range);
        return new GrafanaTemplate(variables, builtIns, interval, scrapeInterval);
    }

    /** Grafana rounds the range to whole seconds for $__range and $__range_s. */
    private static void putRange(Map<String, String> builtIns, Duration range) {
        long seconds = Math.round(range.toMillis() / 1000.0);
        builtIns.put("__range", seconds + "s");
        builtIns.put("__range_s", Long.toString(seconds));
        builtIns.put("__range_ms", Long.toString(range.toMillis()));
    }

    /** The value of a custom or query variable, as Grafana would interpolate {@code $name} (for a panel's relative time). */
    String plain(String name) {
        return interpolate("$" + name);
    }

    String interpolate(String query) {
        Matcher m = VARIABLE.matcher(query);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String name = m.group(1) != null ? m.group(1) : m.group(3);
            String format = m.group(2);
            m.appendReplacement(out, Matcher.quoteReplacement(format(name, format, m.group())));
        }
        m.appendTail(out);
        return out.toString();
    }

    private String format(String name, String format, String token) {
        if (builtIns.containsKey(name)) {
            if (format != null) {
                throw new IllegalArgumentException("format :" + format + " on built-in " + token);
            }
            return builtIns.get(name);
        }
        Value value = variables.get(name);
        if (value == null) {
            throw new IllegalArgumentException("unknown variable " + token + " (known: " + variables.keySet() + ")");
        }
        if (value.all() && value.allValue() != null) {
            return value.allValue(); // Grafana never formats a custom all value
        }
        if (format == null) {
            return prometheusDefault(value);
        }
        if (format.equals("regex")) {
            List<String> escaped = value.values().stream().map(GrafanaTemplate::regexEscape).toList();
            return escaped.size() == 1 ? escaped.get(0) : "(" + String.join("|", escaped) + ")";
        }
        throw new IllegalArgumentException("format :" + format + " of " + token + " is not implemented here");
    }

    /** The Prometheus data source's interpolateQueryExpr. */
    private static String prometheusDefault(Value value) {
        if (!value.multi() && !value.all()) {
            return value.values().get(0).replace("\\", "\\\\").replace("'", "\\\\'");
        }
        List<String> escaped = value.values().stream()
                .map(v -> regexEscape(v).replace("\\", "\\\\")).toList();
        return escaped.size() == 1 ? escaped.get(0) : "(" + String.join("|", escaped) + ")";
    }

    /** A Grafana duration as dashboards write them (15s, 1m, 7d). */
    static Duration parseDuration(String value) {
        Matcher m = Pattern.compile("(\\d+)([smhd])").matcher(value.strip());
        if (!m.matches()) {
            throw new IllegalArgumentException("not a duration: " + value);
        }
        long amount = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
            case "s" -> Duration.ofSeconds(amount);
            case "m" -> Duration.ofMinutes(amount);
            case "h" -> Duration.ofHours(amount);
            default -> Duration.ofDays(amount);
        };
    }

    static String regexEscape(String value) {
        return REGEX_SPECIAL.matcher(value).replaceAll("\\\\$0");
    }

    private static String promDuration(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + "s" : d.toMillis() + "ms";
    }

    @Override
    public String toString() {
        return variables.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue().values()).collect(Collectors.joining(", "))
                + " " + builtIns;
    }
}
