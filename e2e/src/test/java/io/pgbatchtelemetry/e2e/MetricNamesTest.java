package io.pgbatchtelemetry.e2e;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import io.pgbatchtelemetry.exporter.collector.CollectorOptions;
import io.pgbatchtelemetry.exporter.sampler.SamplerFamilies;
import io.pgbatchtelemetry.exporter.scrape.SelfMetrics;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Every metric that an alert, a recording rule or a dashboard reads is one the exporter exports — by the
 * families its collectors, its self metrics and its sampler declare — so renaming a metric can't silently
 * blind an alert or empty a panel. Metrics that no collector exports yet are listed in {@link #AWAITED}.
 */
class MetricNamesTest {

    /**
     * Metrics the rules and dashboards expect from collectors not written yet, with the collector that will
     * export them. Empty: the telemetry-aware collectors (issue 4) export the last ones that were listed here.
     */
    static final Map<String, String> AWAITED = Map.of();

    /** Series Prometheus makes itself. */
    private static final Set<String> PROMETHEUS_OWN = Set.of("up", "ALERTS", "ALERTS_FOR_STATE");

    private static final Pattern TEMPLATE_QUERY = Pattern.compile("printf \"([^\"]*)\"");
    private static final Pattern METRIC = Pattern.compile("\\b((?:pg_|instance|batch|datname)[a-zA-Z0-9_:]*)\\b\\s*(?=[{\\[)\\s]|$)");

    @Test
    void everyMetricTheRulesAndDashboardsReadIsExported() throws IOException {
        Set<String> exported = new TreeSet<>();
        CollectorCatalog.entries().forEach(e -> e.create(CollectorOptions.UNCACHED).families().forEach(f -> exported.add(f.name())));
        SelfMetrics.FAMILIES.forEach(f -> exported.add(f.name()));
        SamplerFamilies.FAMILIES.forEach(f -> exported.add(f.name()));
        Set<String> recorded = new TreeSet<>();
        RuleFiles.recordings().forEach(r -> recorded.add(r.name()));

        List<String> unknown = new ArrayList<>();
        for (RuleFiles.Recording recording : RuleFiles.recordings()) {
            check("recording rule " + recording.name(), recording.expr(), exported, recorded, unknown);
        }
        for (RuleFiles.Alert alert : RuleFiles.alerts()) {
            check("alert " + alert.name(), alert.expr(), exported, recorded, unknown);
            // descriptions query metrics too: {{ with printf "pg_settings_...{...}" ... | query }}
            Matcher queries = TEMPLATE_QUERY.matcher(alert.annotations().getOrDefault("description", ""));
            while (queries.find()) {
                check("alert " + alert.name() + " description", queries.group(1), exported, recorded, unknown);
            }
        }
        for (Path dashboard : Repo.dashboards()) {
            for (Dashboards.Query query : Dashboards.queries(dashboard)) {
                check(query.dashboard() + " / " + query.where(), query.expr(), exported, recorded, unknown);
            }
        }
        assertTrue(unknown.isEmpty(), "read but not exported by any collector (renamed? misspelt?):\n  " + String.join("\n  ", unknown));
    }

    @Test
    void awaitedMetricsAreReallyNotExportedYet() {
        Set<String> exported = new TreeSet<>();
        CollectorCatalog.entries().forEach(e -> e.create(CollectorOptions.UNCACHED).families().forEach(f -> exported.add(f.name())));
        List<String> stale = AWAITED.keySet().stream().filter(exported::contains).toList();
        assertTrue(stale.isEmpty(), "now exported, remove from AWAITED: " + stale);
    }

    private static void check(String where, String text, Set<String> exported, Set<String> recorded, List<String> unknown) {
        Matcher m = METRIC.matcher(text);
        while (m.find()) {
            String name = m.group(1);
            if (name.contains(":")) {
                if (!recorded.contains(name)) {
                    unknown.add(where + ": recording rule " + name + " is not in prometheus/recording-rules.yml");
                }
            } else if (name.startsWith("pg_") && !exported.contains(name) && !AWAITED.containsKey(name) && !PROMETHEUS_OWN.contains(name)) {
                unknown.add(where + ": " + name);
            }
        }
    }

}
