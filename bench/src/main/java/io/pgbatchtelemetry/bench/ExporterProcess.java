package io.pgbatchtelemetry.bench;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * An exporter running as its own process, as users run it: ours through {@code exporter/bin/pg-batch-exporter}
 * (which reads {@code exporter/bin/jvm.options}), or with a given command (JVM defaults, postgres_exporter). It
 * listens on a free loopback port; {@link #close()} stops it (SIGTERM, then SIGKILL).
 */
public final class ExporterProcess implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);

    private final String name;
    private final Process process;
    private final int port;
    private final Path log;

    private ExporterProcess(String name, Process process, int port, Path log) {
        this.name = name;
        this.process = process;
        this.port = port;
        this.log = log;
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
        int port = freePort();
        List<String> full = new ArrayList<>(command);
        full.add(listenFlag + port);
        ProcessBuilder builder = new ProcessBuilder(full).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().remove("JAVA_OPTS");
        builder.environment().remove("JAVA_TOOL_OPTIONS");
        builder.environment().remove("JDK_JAVA_OPTIONS");
        builder.environment().putAll(env);
        ExporterProcess started = new ExporterProcess(name, builder.start(), port, log);
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
        return log;
    }

    public Scraper scraper() {
        return new Scraper(name, port);
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public String tail() {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
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
