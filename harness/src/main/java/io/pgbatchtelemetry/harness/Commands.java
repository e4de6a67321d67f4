package io.pgbatchtelemetry.harness;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs an external tool to completion and returns what it printed.
 *
 * <p>Output goes to a temporary file rather than a pipe: {@code pg_ctl start} leaves a postmaster
 * running, and any child that inherited a pipe would keep the read side open forever. The
 * inherited {@code PG*} variables are removed so a developer's {@code PGPORT} or {@code PGDATA}
 * can never redirect a tool to the wrong server.
 */
final class Commands {

    /** What a finished tool printed (stdout and stderr interleaved) and its exit code. */
    record Result(int exitCode, String output) {
        boolean succeeded() {
            return exitCode == 0;
        }
    }

    private Commands() {
    }

    /** Runs the command and throws with its output when it exits non-zero. */
    static Result run(List<String> command, Map<String, String> env, Path workDir, Duration timeout) {
        Result result = runAllowingFailure(command, env, workDir, timeout);
        if (!result.succeeded()) {
            throw new HarnessException(describe(command) + " exited with " + result.exitCode() + ":\n"
                    + result.output());
        }
        return result;
    }

    static Result runAllowingFailure(List<String> command, Map<String, String> env, Path workDir,
                                     Duration timeout) {
        Path output = null;
        try {
            output = Files.createTempFile("pgbt-cmd-", ".out");
            ProcessBuilder builder = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(output.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            if (workDir != null) {
                builder.directory(workDir.toFile());
            }
            builder.environment().keySet().removeIf(name -> name.startsWith("PG"));
            builder.environment().putAll(env);
            Process process = builder.start();
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                throw new HarnessException(describe(command) + " did not finish within " + timeout + ":\n"
                        + Files.readString(output, StandardCharsets.UTF_8));
            }
            return new Result(process.exitValue(), Files.readString(output, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new HarnessException("could not run " + describe(command) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HarnessException("interrupted while running " + describe(command), e);
        } finally {
            deleteQuietly(output);
        }
    }

    private static String describe(List<String> command) {
        return String.join(" ", command);
    }

    private static void deleteQuietly(Path path) {
        if (path != null) {
            try {
                Files.deleteIfExists(path);
            } catch (IOException ignored) {
                // a leftover temp file in java.io.tmpdir is harmless
            }
        }
    }
}
