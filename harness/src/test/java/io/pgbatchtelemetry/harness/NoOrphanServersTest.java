package io.pgbatchtelemetry.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * No PostgreSQL server outlives the JVM that started it: neither when the JVM exits without closing
 * its clusters (shutdown hook) nor when it is SIGKILLed, as surefire does to a fork that times out
 * (the watchdog). Each case runs a separate JVM ({@link OrphanProbe}).
 */
class NoOrphanServersTest {

    private static final int VERSION = TestVersions.preferring(15);

    @Test
    void jvmExitWithoutCloseStopsAndDeletesItsClusters() throws Exception {
        Process probe = startProbe("exit");
        String[] started = readStartedLine(probe);

        assertTrue(probe.waitFor(60, TimeUnit.SECONDS), "probe JVM should exit");
        assertEquals(0, probe.exitValue());

        // the shutdown hook ran before the JVM was gone: nothing to wait for
        assertGone(Long.parseLong(started[1]), Paths.get(started[0]), Duration.ZERO);
    }

    @Test
    void sigkilledJvmStillLeavesNoServerBehind() throws Exception {
        Process probe = startProbe("hang");
        String[] started = readStartedLine(probe);
        long postmaster = Long.parseLong(started[1]);
        assertFalse(PostmasterPid.isGone(ProcessHandle.of(postmaster).orElseThrow()), "server runs before the kill");

        probe.destroyForcibly().waitFor(); // SIGKILL: no shutdown hook runs

        // the watchdog polls every 2 s, then gives the server up to 10 s to shut down
        assertGone(postmaster, Paths.get(started[0]), Duration.ofSeconds(30));
    }

    private static Process startProbe(String mode) throws Exception {
        String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new ArrayList<>(List.of(java, "-cp", classpath()));
        String binaries = System.getProperty(BinariesLocator.BINARIES_DIR_PROPERTY);
        if (binaries != null) {
            command.add("-D" + BinariesLocator.BINARIES_DIR_PROPERTY + "=" + binaries);
        }
        command.addAll(List.of(OrphanProbe.class.getName(), mode, Integer.toString(VERSION)));
        return new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    /** Test classes, harness classes and pgjdbc: surefire's own class path is a manifest-only jar. */
    private static String classpath() throws Exception {
        return Stream.of(OrphanProbe.class, PostgresCluster.class, org.postgresql.Driver.class)
                .map(type -> {
                    try {
                        return Paths.get(type.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
                    } catch (java.net.URISyntaxException e) {
                        throw new IllegalStateException(e);
                    }
                })
                .distinct()
                .collect(Collectors.joining(File.pathSeparator));
    }

    private static String[] readStartedLine(Process probe) throws Exception {
        BufferedReader out = new BufferedReader(new InputStreamReader(probe.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        assertNotNull(line, "the probe JVM died before its cluster started");
        String[] started = line.trim().split(" ");
        assertTrue(Files.isDirectory(Paths.get(started[0])), "probe's cluster directory exists: " + line);
        return started;
    }

    private static void assertGone(long postmasterPid, Path clusterDir, Duration within) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        while (true) {
            boolean serverGone = ProcessHandle.of(postmasterPid).map(PostmasterPid::isGone).orElse(true);
            boolean dirGone = !Files.exists(clusterDir);
            if (serverGone && dirGone) {
                return;
            }
            if (System.nanoTime() > deadline) {
                assertTrue(serverGone, "postmaster " + postmasterPid + " outlived its JVM");
                assertTrue(dirGone, clusterDir + " outlived its JVM");
            }
            Thread.sleep(50);
        }
    }
}
