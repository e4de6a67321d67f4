package io.pgbatchtelemetry.e2e;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Paths of the repository's operations files, found from the test's working directory (the e2e module),
 * so the checks read the files a user gets, not copies.
 */
final class Repo {

    private Repo() {}

    static Path root() {
        Path dir = Path.of("").toAbsolutePath();
        for (Path p = dir; p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("alerts")) && Files.isRegularFile(p.resolve("pom.xml"))
                    && Files.isDirectory(p.resolve("exporter"))) {
                return p;
            }
        }
        throw new IllegalStateException("no repository root (with alerts/, exporter/, pom.xml) above " + dir);
    }

    static Path path(String relative) {
        return root().resolve(relative);
    }

    /** alerts/*.rules.yml, sorted. */
    static List<Path> alertRuleFiles() {
        return list(path("alerts"), ".rules.yml");
    }

    /** alerts/tests/*.test.yml, sorted. */
    static List<Path> alertTestFiles() {
        return list(path("alerts/tests"), ".test.yml");
    }

    static Path recordingRules() {
        return path("prometheus/recording-rules.yml");
    }

    static List<Path> dashboards() {
        return list(path("grafana/dashboards"), ".json");
    }

    private static List<Path> list(Path dir, String suffix) {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> f.getFileName().toString().endsWith(suffix)).sorted().toList();
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }
}
