package io.pgbatchtelemetry.bench;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The source checkout the benchmarks run from: the exporter's launcher, its JVM options and the packaged jar.
 * Found from {@code -Dpgbt.repo.dir} (surefire sets it) or by walking up from the working directory.
 */
public record Repo(Path root) {
    public static Repo locate() {
        String configured = System.getProperty("pgbt.repo.dir");
        Path start = Path.of(configured == null ? "" : configured).toAbsolutePath();
        for (Path dir = start; dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("exporter/bin/pg-batch-exporter")) && Files.isRegularFile(dir.resolve("pom.xml"))) {
                return new Repo(dir);
            }
        }
        throw new IllegalStateException("no pg-batch-telemetry checkout at or above " + start);
    }

    public Path launcher() {
        return root.resolve("exporter/bin/pg-batch-exporter");
    }

    public Path jvmOptions() {
        return root.resolve("exporter/bin/jvm.options");
    }

    /** The shaded jar; an error naming the build command when it has not been built. */
    public Path exporterJar() {
        String configured = System.getenv("PGBT_EXPORTER_JAR");
        Path jar = configured != null && !configured.isBlank() ? Path.of(configured) : root.resolve("exporter/target/pg-batch-exporter.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar + " does not exist (build it: mvn -B -DskipTests package -pl exporter -am)");
        }
        return jar;
    }

    public Path resolve(String relative) {
        return root.resolve(relative);
    }
}
