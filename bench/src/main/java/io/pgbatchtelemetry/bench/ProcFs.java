package io.pgbatchtelemetry.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What Linux tells about a process in {@code /proc/<pid>}: resident memory (VmRSS, and VmHWM, the peak of its
 * life), threads, CPU time (utime + stime of all its threads) and its command line. The benchmarks read these
 * from outside, so the same numbers come for our JVM, postgres_exporter (Go) and PostgreSQL backends.
 */
public final class ProcFs {
    /** USER_HZ: the unit of utime/stime in /proc/PID/stat; 100 on every Linux the project supports. */
    private static final double CLOCK_TICKS_PER_SECOND = 100.0;

    private ProcFs() {
    }

    /** A field of /proc/PID/status in kB (VmRSS, VmHWM) or as a count (Threads); -1 when the process is gone. */
    public static long status(long pid, String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith(field + ":")) {
                    return Long.parseLong(line.substring(field.length() + 1).trim().split("\\s+")[0]);
                }
            }
            throw new IllegalStateException("/proc/" + pid + "/status has no " + field);
        } catch (IOException e) {
            return -1;
        }
    }

    /** User + system CPU seconds of a process (all threads) so far; 0 when it is gone. */
    public static double cpuSeconds(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) / CLOCK_TICKS_PER_SECOND;
        } catch (IOException e) {
            return 0.0;
        }
    }

    /** The arguments the process was started with (after the launcher's exec: the JVM's own). */
    public static List<String> cmdline(long pid) throws IOException {
        byte[] raw = Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline"));
        List<String> args = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < raw.length; i++) {
            if (raw[i] == 0) {
                args.add(new String(raw, start, i - start, StandardCharsets.UTF_8));
                start = i + 1;
            }
        }
        return args;
    }
}
