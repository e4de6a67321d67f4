package io.pgbatchtelemetry.bench;

import io.pgbatchtelemetry.harness.ChildProcess;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * An exporter running as its own process, as users run it: ours through {@code exporter/bin/pg-batch-exporter}
 * (which reads {@code exporter/bin/jvm.options}), or with a given command (JVM defaults, postgres_exporter). It
 * listens on a free loopback port; {@link #close()} stops it (SIGTERM, then SIGKILL).
 */
public final class ExporterProcess implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);

    private final String name;
    private final ChildProcess process;
    private final int port;

    private ExporterProcess(String name, ChildProcess process, int port) {
        this.name = name;
        this.process = process;
        this.port = port;
    }

    /** Our exporter through its launcher; {@code javaOpts} becomes JAVA_OPTS (empty: none). */
    public static ExporterProcess launcher(Repo repo, String dsn, List<String> args, String javaOpts, Path log) throws IOException {
        List<String> command = new ArrayList<>(List.of(repo.launcher().toString()));
        command.addAll(args);
        return start("pg-batch-exporter", command, "--web.listen-address=127.0.0.1:",
                Map.of("DATA_SOURCE_NAME", dsn, "PGBT_EXPORTER_JAR", repo.exporterJar().toString(), "JAVA_OPTS", javaOpts), log);
    }

    /** Our exporter as {@code java -jar}, with the JVM's defaults: what the launcher's options are measured against. */
    public static ExporterProcess plainJavaJar(Repo repo, String dsn, Path log) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return start("java -jar", List.of(java, "-jar", repo.exporterJar().toString()), "--web.listen-address=127.0.0.1:",
                Map.of("DATA_SOURCE_NAME", dsn), log);
    }

    /** Debian's prometheus-postgres-exporter (0.11), package defaults. */
    public static ExporterProcess postgresExporter(String dsn, Path log) throws IOException {
        String binary = "/usr/bin/prometheus-postgres-exporter";
        if (!Files.isExecutable(Path.of(binary))) {
            throw new IllegalStateException(binary + " is missing (scripts/install-deps.sh installs prometheus-postgres-exporter)");
        }
        return start("postgres_exporter", List.of(binary, "--log.level=warn"), "--web.listen-address=127.0.0.1:",
                Map.of("DATA_SOURCE_NAME", dsn), log);
    }

    private static ExporterProcess start(String name, List<String> command, String listenFlag, Map<String, String> env, Path log)
            throws IOException {
        int port = ChildProcess.freeLoopbackPort();
        List<String> full = new ArrayList<>(command);
        full.add(listenFlag + port);
        ExporterProcess started = new ExporterProcess(name, ChildProcess.start(full, null, env, log), port);
        try {
            started.awaitHealthy();
        } catch (RuntimeException e) {
            started.close();
            throw e;
        }
        return started;
    }

    private void awaitHealthy() {
        Scraper probe = new Scraper(name, port);
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (true) {
            try {
                probe.fresh("/metrics");
                return;
            } catch (RuntimeException e) {
                if (!process.isAlive()) {
                    throw new IllegalStateException(name + " exited with " + process.exitValue() + ": " + tail());
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException(name + " did not answer on :" + port + " within " + START_TIMEOUT + ": " + tail());
                }
                sleep(200);
            }
        }
    }

    public String name() {
        return name;
    }

    public int port() {
        return port;
    }

    /** The process' pid: the launcher execs java, so for ours this is the JVM. */
    public long pid() {
        return process.pid();
    }

    public Path log() {
        return process.log();
    }

    public Scraper scraper() {
        return new Scraper(name, port);
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public String tail() {
        return process.tail(20);
    }

    @Override
    public void close() {
        process.close();
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
