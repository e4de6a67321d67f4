package io.pgbatchtelemetry.harness;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * The postmaster's pid as recorded on the first line of {@code <data dir>/postmaster.pid}, and
 * waiting for processes to be gone. A pid file can be stale (after a crash, or a pid reused by an
 * unrelated process), so "running" means the recorded pid is alive and is a postgres executable.
 */
final class PostmasterPid {

    private static final Duration POLL = Duration.ofMillis(20);

    private PostmasterPid() {
    }

    static Path file(Path dataDir) {
        return dataDir.resolve("postmaster.pid");
    }

    static Optional<Long> read(Path dataDir) {
        try {
            List<String> lines = Files.readAllLines(file(dataDir), StandardCharsets.UTF_8);
            return lines.isEmpty() ? Optional.empty() : Optional.of(Long.parseLong(lines.get(0).trim()));
        } catch (IOException | NumberFormatException e) { // absent, or being written by a starting server
            return Optional.empty();
        }
    }

    /** The live postmaster of this data directory, if there is one. */
    static Optional<ProcessHandle> live(Path dataDir) {
        return read(dataDir).flatMap(ProcessHandle::of)
                .filter(process -> !isGone(process))
                .filter(process -> process.info().command().map(c -> c.endsWith("postgres")).orElse(true));
    }

    /**
     * Whether the process has exited. A killed process stays a zombie until its parent reaps it,
     * and a postmaster started by pg_ctl has been re-parented to PID 1, which in some containers
     * reaps only every few seconds; {@link ProcessHandle#isAlive()} counts zombies as alive (and so
     * would a new postmaster checking the old pid file). A zombie holds no shared memory or ports.
     */
    static boolean isGone(ProcessHandle process) {
        if (!process.isAlive()) {
            return true;
        }
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(process.pid()), "stat"));
            char state = stat.charAt(stat.lastIndexOf(')') + 2);
            return state == 'Z' || state == 'X';
        } catch (IOException | RuntimeException e) {
            return !process.isAlive();
        }
    }

    /** True when every process has exited within the timeout. */
    static boolean awaitExit(List<ProcessHandle> processes, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!processes.stream().allMatch(PostmasterPid::isGone)) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            try {
                Thread.sleep(POLL.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }
}
