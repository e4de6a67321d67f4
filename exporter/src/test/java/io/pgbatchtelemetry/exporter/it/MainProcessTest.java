package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The exporter as a process: exit status 2 with one line for bad configuration, and a wrong
 * password that is not fatal and never printed.
 */
class MainProcessTest {

    private static final Pattern SERVING = Pattern.compile("serving http://[^:]+:(\\d+)/");

    @TempDir
    Path dir;

    @Test
    void badConfigurationExitsWithStatusTwoAndOneLine() throws Exception {
        Path badHocon = dir.resolve("bad.conf");
        Files.writeString(badHocon, "pg-batch-exporter { scrape { timeout = }\n");
        Path unknownCollector = dir.resolve("unknown.conf");
        Files.writeString(unknownCollector, "pg-batch-exporter.collectors.nosuch = true\n");
        Map<String, String> dsn = Map.of("DATA_SOURCE_NAME", "postgresql://u:Hunter2-Secret@127.0.0.1:1/db");
        List<List<String>> cases = List.of(
                List.of("--config.file=" + badHocon),
                List.of("--config.file=" + unknownCollector),
                List.of("--config.file=" + dir.resolve("missing.conf")),
                List.of("--scrape.timeout=soon"),
                List.of("--scrape.timeout=-5s"),
                List.of("--collector.nosuch"),
                List.of("--data-source.password-file=" + dir.resolve("no-such-secret")),
                List.of("--bogus-flag"));
        for (List<String> args : cases) {
            Result result = run(dsn, args, 30);
            assertEquals(2, result.exit, args + " -> " + result.output);
            String[] lines = result.output.strip().split("\n");
            assertEquals(1, lines.length, args + " prints one line: " + result.output);
            assertTrue(lines[0].startsWith("pg-batch-exporter: "), result.output);
            assertFalse(result.output.contains("Exception"), "no stack trace: " + result.output);
            assertFalse(result.output.contains("Hunter2-Secret"), "no password: " + result.output);
        }
        Result emptyDsn = run(Map.of("DATA_SOURCE_NAME", ""), List.of(), 30);
        assertEquals(2, emptyDsn.exit, emptyDsn.output);
    }

    @Test
    void helpAndVersion() throws Exception {
        Result help = run(Map.of(), List.of("--help"), 30);
        assertEquals(0, help.exit);
        assertTrue(help.output.contains("--web.listen-address"), help.output);
        assertTrue(help.output.contains("PG_EXPORTER_SCRAPE_TIMEOUT"), help.output);
        Result version = run(Map.of(), List.of("--version"), 30);
        assertEquals(0, version.exit);
        assertTrue(version.output.startsWith("pg-batch-exporter "), version.output);
    }

    @Test
    void wrongPasswordIsNotFatalAndNeverLogged() throws Exception {
        PostgresCluster cluster = SharedClusters.get(SharedClusters.versions().get(0));
        ExporterTestSupport.createMonitoringRole(cluster);
        String wrong = "Wrong-Pass-9f3c";
        // Process.destroy() closes the pipes, so the log goes to a file that outlives the process
        Path log = dir.resolve("exporter.log");
        Process process = start(Map.of("DATA_SOURCE_NAME", "postgresql://" + ExporterTestSupport.MONITOR_USER + ":" + wrong
                + "@127.0.0.1:" + cluster.port() + "/postgres"), List.of("--web.listen-address=127.0.0.1:0", "--log.level=debug"), log);
        StringBuilder output = new StringBuilder();
        try {
            int port = -1;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (port < 0 && System.nanoTime() < deadline && process.isAlive()) {
                Matcher m = SERVING.matcher(Files.readString(log));
                if (m.find()) {
                    port = Integer.parseInt(m.group(1));
                } else {
                    Thread.sleep(100);
                }
            }
            assertTrue(port > 0, "exporter started despite the wrong password: " + Files.readString(log));
            for (int i = 0; i < 2; i++) {
                assertEquals(0.0, ExporterTestSupport.scrape(port).value("pg_up"));
            }
            process.destroy();
            process.waitFor(20, TimeUnit.SECONDS);
            output.append(Files.readString(log));
        } finally {
            process.destroyForcibly();
        }
        assertFalse(output.toString().contains(wrong), "password printed:\n" + output);
        assertTrue(output.toString().contains("not reachable"), "the failure is logged:\n" + output);
    }

    private record Result(int exit, String output) {}

    private Result run(Map<String, String> env, List<String> args, int timeoutSeconds) throws IOException, InterruptedException {
        Process process = start(env, args, null);
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("did not exit: " + args);
        }
        return new Result(process.exitValue(), output);
    }

    /** @param log where stdout and stderr go, or {@code null} for a pipe */
    private static Process start(Map<String, String> env, List<String> args, Path log) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "io.pgbatchtelemetry.exporter.Main"));
        command.addAll(args);
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().keySet().removeIf(k -> k.startsWith("DATA_SOURCE") || k.startsWith("PG_EXPORTER"));
        builder.environment().putAll(env);
        if (log != null) {
            builder.redirectOutput(log.toFile());
        }
        return builder.start();
    }
}
