package io.pgbatchtelemetry.harness;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A program the tests or benchmarks start beside PostgreSQL (an exporter, Prometheus, Alertmanager),
 * with stdout and stderr in one log file whose last lines go into failure messages. The JVM option
 * variables of the parent are not inherited, so a child JVM runs with the options its command gives it.
 * {@link #close()} asks it to stop (SIGTERM) and kills it when it has not within ten seconds.
 */
public final class ChildProcess implements AutoCloseable {
    private static final List<String> INHERITED_JVM_OPTIONS = List.of("JAVA_OPTS", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS");

    private final Process process;
    private final Path log;

    private ChildProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /**
     * @param workDir the child's working directory, or null for this process' own
     * @param env     variables set for the child, over the parent's
     */
    public static ChildProcess start(List<String> command, Path workDir, Map<String, String> env, Path log) throws IOException {
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        if (workDir != null) {
            builder.directory(workDir.toFile());
        }
        INHERITED_JVM_OPTIONS.forEach(builder.environment()::remove);
        builder.environment().putAll(env);
        return new ChildProcess(builder.start(), log);
    }

    /** A loopback port that was free a moment ago (another process may still take it first). */
    public static int freeLoopbackPort() {
        return FreePort.find();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public int exitValue() {
        return process.exitValue();
    }

    public long pid() {
        return process.pid();
    }

    public Path log() {
        return log;
    }

    /** The last lines of the log, for a failure message. */
    public String tail(int lines) {
        try {
            List<String> all = Files.readAllLines(log);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
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
}
