package io.pgbatchtelemetry.e2e;

import java.io.IOException;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.Yaml;

/**
 * The test's own copies of the shipped configs, changed only where a test must differ: loopback addresses,
 * 1 s scrape and evaluation intervals, Alertmanager's waits at 1 s, the webhook receiver's URL, and the alert
 * rules' {@code for:} durations shortened (to 2 s; 15 s for exporter-health alerts, which must not flap on one
 * slow scrape). Everything else — expressions, thresholds, labels, routes — is what users get.
 */
final class TestStackConfigs {

    static final Duration PATTERN_FOR = Duration.ofSeconds(2);
    static final Duration EXPORTER_HEALTH_FOR = Duration.ofSeconds(15);

    private static final Pattern DURATION = Pattern.compile("(\\d+)(ms|s|m|h)");

    private TestStackConfigs() {}

    /** Copies alerts/*.rules.yml with shortened for: and the recording rules; returns the files. */
    @SuppressWarnings("unchecked")
    static List<Path> writeRules(Path dir) throws IOException {
        Files.createDirectories(dir);
        List<Path> written = new ArrayList<>();
        for (Path source : Repo.alertRuleFiles()) {
            Map<String, Object> rules = RuleFiles.load(source);
            for (Map<String, Object> group : (List<Map<String, Object>>) rules.get("groups")) {
                for (Map<String, Object> rule : (List<Map<String, Object>>) group.get("rules")) {
                    if (rule.get("for") instanceof String forDuration) {
                        Map<String, Object> labels = (Map<String, Object>) rule.get("labels");
                        Duration cap = "exporter".equals(labels.get("pattern")) ? EXPORTER_HEALTH_FOR : PATTERN_FOR;
                        Duration shipped = parse(forDuration);
                        rule.put("for", (shipped.compareTo(cap) < 0 ? shipped : cap).toMillis() + "ms");
                    }
                }
            }
            written.add(dump(rules, dir.resolve(source.getFileName())));
        }
        Path recording = dir.resolve("recording-rules.yml");
        Files.copy(Repo.recordingRules(), recording);
        written.add(recording);
        return written;
    }

    /** prometheus/prometheus.yml with the test's targets, intervals and rule files. */
    @SuppressWarnings("unchecked")
    static Path writePrometheusConfig(Path file, List<String> exporterTargets, int alertmanagerPort, List<Path> ruleFiles)
            throws IOException {
        Map<String, Object> config = RuleFiles.load(Repo.path("prometheus/prometheus.yml"));
        Map<String, Object> global = (Map<String, Object>) config.get("global");
        global.put("scrape_interval", "1s");
        global.put("evaluation_interval", "1s");
        config.put("rule_files", ruleFiles.stream().map(Path::toString).toList());
        Map<String, Object> alertmanager = ((List<Map<String, Object>>) ((Map<String, Object>) config.get("alerting"))
                .get("alertmanagers")).get(0);
        ((List<Map<String, Object>>) alertmanager.get("static_configs")).get(0)
                .put("targets", List.of("127.0.0.1:" + alertmanagerPort));
        Map<String, Object> job = ((List<Map<String, Object>>) config.get("scrape_configs")).get(0);
        job.put("scrape_timeout", "1s");
        ((List<Map<String, Object>>) job.get("static_configs")).get(0).put("targets", exporterTargets);
        return dump(config, file);
    }

    /** prometheus/alertmanager.yml with 1 s waits and every webhook pointing at the test's receiver (path = receiver name). */
    @SuppressWarnings("unchecked")
    static Path writeAlertmanagerConfig(Path file, WebhookReceiver receiver) throws IOException {
        Map<String, Object> config = RuleFiles.load(Repo.path("prometheus/alertmanager.yml"));
        Map<String, Object> route = (Map<String, Object>) config.get("route");
        fastRoute(route);
        for (Map<String, Object> child : (List<Map<String, Object>>) route.getOrDefault("routes", List.of())) {
            fastRoute(child);
        }
        for (Map<String, Object> r : (List<Map<String, Object>>) config.get("receivers")) {
            for (Map<String, Object> webhook : (List<Map<String, Object>>) r.getOrDefault("webhook_configs", List.of())) {
                webhook.put("url", receiver.url("/" + r.get("name")));
            }
        }
        return dump(config, file);
    }

    private static void fastRoute(Map<String, Object> route) {
        route.put("group_wait", "1s");
        route.put("group_interval", "1s");
        route.put("repeat_interval", "1h");
    }

    static Duration parse(String text) {
        Matcher m = DURATION.matcher(text);
        Duration total = Duration.ZERO;
        int end = 0;
        while (m.find()) {
            long n = Long.parseLong(m.group(1));
            total = total.plus(switch (m.group(2)) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                default -> Duration.ofHours(n);
            });
            end = m.end();
        }
        if (end != text.length()) {
            throw new IllegalArgumentException("not a Prometheus duration this test knows: " + text);
        }
        return total;
    }

    private static Path dump(Map<String, Object> yaml, Path file) throws IOException {
        DumperOptions options = new DumperOptions();
        options.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        options.setWidth(4096);
        try (Writer writer = Files.newBufferedWriter(file)) {
            new Yaml(options).dump(yaml, writer);
        }
        return file;
    }
}
