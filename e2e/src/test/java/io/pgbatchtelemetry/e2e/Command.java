package io.pgbatchtelemetry.e2e;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs a tool (promtool, amtool) to completion with a deadline and keeps what it printed. */
record Command(List<String> argv, int exitCode, String output) {

    static Command run(Path workDir, Duration timeout, String... argv) {
        return run(workDir, timeout, Map.of(), argv);
    }

    /** The same, with extra environment variables (a password for psql stays out of argv and ps). */
    static Command run(Path workDir, Duration timeout, Map<String, String> environment, String... argv) {
        ProcessBuilder builder = new ProcessBuilder(argv).directory(workDir.toFile()).redirectErrorStream(true);
        builder.environment().putAll(environment);
        try {
            Process process = builder.start();
            // Output is small (tool reports); reading after exit can't dead-lock on a full pipe at these sizes,
            // but read concurrently anyway so a chatty tool can't block.
            StringBuilder out = new StringBuilder();
            Thread reader = new Thread(() -> {
                try {
                    out.append(new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
                } catch (IOException ignored) {
                    // the process died; its exit code tells
                }
            });
            reader.start();
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                reader.join(1000);
                return new Command(List.of(argv), -1, "timed out after " + timeout + "\n" + out);
            }
            reader.join(5000);
            return new Command(List.of(argv), process.exitValue(), out.toString());
        } catch (IOException e) {
            return new Command(List.of(argv), -2, "cannot start " + argv[0] + ": " + e.getMessage()
                    + " (installed by scripts/install-deps.sh: prometheus, prometheus-alertmanager)");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Command(List.of(argv), -3, "interrupted");
        }
    }

    boolean succeeded() {
        return exitCode == 0;
    }

    String report() {
        return String.join(" ", argv) + " exited " + exitCode + ":\n" + output;
    }
}
