package io.pgbatchtelemetry.e2e;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.yaml.snakeyaml.Yaml;

/** The alerting and recording rules of the repository, parsed, for checks and for the end-to-end copy. */
final class RuleFiles {

    record Alert(Path file, String group, String name, String expr, String forDuration,
                 Map<String, String> labels, Map<String, String> annotations) {}

    record Recording(String name, String expr) {}

    private RuleFiles() {}

    static List<Alert> alerts() {
        List<Alert> alerts = new ArrayList<>();
        for (Path file : Repo.alertRuleFiles()) {
            for (Map<String, Object> group : groups(file)) {
                for (Map<String, Object> rule : rules(group)) {
                    if (rule.containsKey("alert")) {
                        alerts.add(new Alert(file, (String) group.get("name"), (String) rule.get("alert"),
                                (String) rule.get("expr"), (String) rule.get("for"),
                                strings(rule.get("labels")), strings(rule.get("annotations"))));
                    }
                }
            }
        }
        return alerts;
    }

    static List<Recording> recordings() {
        List<Recording> recordings = new ArrayList<>();
        for (Map<String, Object> group : groups(Repo.recordingRules())) {
            for (Map<String, Object> rule : rules(group)) {
                recordings.add(new Recording((String) rule.get("record"), (String) rule.get("expr")));
            }
        }
        return recordings;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> load(Path file) {
        try (Reader reader = Files.newBufferedReader(file)) {
            Object loaded = new Yaml().load(reader);
            if (!(loaded instanceof Map<?, ?> map)) {
                throw new IllegalStateException(file + " is not a YAML mapping");
            }
            return (Map<String, Object>) map;
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> groups(Path file) {
        return (List<Map<String, Object>>) load(file).get("groups");
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> rules(Map<String, Object> group) {
        return (List<Map<String, Object>>) group.get("rules");
    }

    private static Map<String, String> strings(Object map) {
        Map<String, String> result = new LinkedHashMap<>();
        if (map instanceof Map<?, ?> m) {
            m.forEach((k, v) -> result.put(String.valueOf(k), String.valueOf(v)));
        }
        return result;
    }
}
