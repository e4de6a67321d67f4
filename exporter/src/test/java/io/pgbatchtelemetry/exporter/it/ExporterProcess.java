package io.pgbatchtelemetry.exporter.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The exporter's {@code Main} in a JVM of its own, as operators run it: its environment is only
 * what the test gives (no inherited {@code DATA_SOURCE_*} or {@code PG_EXPORTER_*}), and its
 * output goes to a log file that outlives the process, so a test can read everything it printed.
 */
public final class ExporterProcess implements AutoCloseable {

    private static final Pattern SERVING = Pattern.compile("serving https?://[^:]+:(\\d+)/");

    private final Process process;
    private final Path log;

    private ExporterProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /** Starts {@code Main} with these environment variables and arguments; output goes to {@code log}. */
    public static ExporterProcess start(Map<String, String> env, List<String> args, Path log) throws IOException {
        return start(env, args, log, List.of());
    }

    /** The same with JVM flags of the test's (after the defaults, so e.g. an -Xmx here wins). */
    public static ExporterProcess start(Map<String, String> env, List<String> args, Path log, List<String> jvmFlags) throws IOException {
        return new ExporterProcess(builder(env, args, jvmFlags).redirectOutput(log.toFile()).start(), log);
    }

    /**
     * The heap flags of exporter/bin/jvm.options (-Xms, -Xmx, -XX:+ExitOnOutOfMemoryError), which the
     * launcher and the image start the exporter with, so that a test of memory bounds runs with what
     * operators run; fails if they moved.
     */
    public static List<String> launcherHeapFlags() throws IOException {
        List<String> flags = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("bin", "jvm.options"))) {
            String option = line.strip();
            if (option.matches("-Xm[sx]\\d+[kmgKMG]") || option.equals("-XX:+ExitOnOutOfMemoryError")) {
                flags.add(option);
            }
        }
        if (flags.stream().noneMatch(f -> f.startsWith("-Xmx"))) {
            throw new AssertionError("no -Xmx in exporter/bin/jvm.options: update launcherHeapFlags() to where the heap flags are now");
        }
        return flags;
    }

    /** Runs {@code Main} to its exit; returns the exit status and everything it printed. */
    public static Result run(Map<String, String> env, List<String> args) throws IOException, InterruptedException {
        Process process = builder(env, args).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("did not exit: " + args);
        }
        return new Result(process.exitValue(), output);
    }

    public record Result(int exit, String output) {}

    private static ProcessBuilder builder(Map<String, String> env, List<String> args) {
        return builder(env, args, List.of());
    }

    private static ProcessBuilder builder(Map<String, String> env, List<String> args, List<String> jvmFlags) {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx64m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"));
        command.addAll(jvmFlags);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), "io.pgbatchtelemetry.exporter.Main"));
        command.addAll(args);
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().keySet().removeIf(k -> k.startsWith("DATA_SOURCE") || k.startsWith("PG_EXPORTER"));
        builder.environment().putAll(env);
        return builder;
    }

    /** Waits for the "serving" line and returns the port it names. */
    public int awaitPort() throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline && process.isAlive()) {
            Matcher m = SERVING.matcher(Files.readString(log));
            if (m.find()) {
                return Integer.parseInt(m.group(1));
            }
            Thread.sleep(50);
        }
        throw new AssertionError("exporter did not start serving:\n" + Files.readString(log));
    }

    public Process process() {
        return process;
    }

    public String output() throws IOException {
        return Files.readString(log);
    }

    /** SIGTERM, as systemd and Kubernetes stop a service; returns the exit status. */
    public int terminate(long timeoutSeconds) throws InterruptedException {
        process.destroy();
        if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            throw new AssertionError("exporter did not stop within " + timeoutSeconds + " s of SIGTERM");
        }
        return process.exitValue();
    }

    @Override
    public void close() {
        process.destroyForcibly();
    }
}
