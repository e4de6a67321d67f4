package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Configuration input an operator gets wrong, through the real {@code Main} in its own JVM: a
 * password file that never ends, a DSN with a broken percent escape, a password file others can
 * read, and the warning about passwords on the command line.
 */
class ConfigInputTest {

    private static final String SECRET = "Hunter2-Secret";

    @TempDir
    Path dir;

    @Test
    void endlessPasswordFileAndBadPercentEscapeExitTwoWithOneLine() throws Exception {
        Path big = Files.writeString(dir.resolve("big-secret"), SECRET + "\n" + "x".repeat(5000));
        List<Map<String, String>> cases = List.of(
                Map.of("DATA_SOURCE_NAME", "postgresql://u@127.0.0.1:1/db", "DATA_SOURCE_PASS_FILE", "/dev/zero"),
                Map.of("DATA_SOURCE_NAME", "postgresql://u@127.0.0.1:1/db", "DATA_SOURCE_PASS_FILE", big.toString()),
                Map.of("DATA_SOURCE_NAME", "postgresql://u:" + SECRET + "%zz@127.0.0.1:1/db"),
                Map.of("DATA_SOURCE_NAME", "postgresql://u:" + SECRET + "@127.0.0.1:1/db?application_name=a%2"));
        for (Map<String, String> env : cases) {
            ExporterProcess.Result result = ExporterProcess.run(env, List.of("--web.listen-address=127.0.0.1:0"));
            assertEquals(2, result.exit(), env + " -> " + result.output());
            String[] lines = result.output().strip().split("\n");
            assertEquals(1, lines.length, "one line: " + result.output());
            assertFalse(result.output().contains("Exception"), "no stack trace: " + result.output());
            assertFalse(result.output().contains(SECRET), "no password: " + result.output());
        }
        ExporterProcess.Result zero = ExporterProcess.run(cases.get(0), List.of("--web.listen-address=127.0.0.1:0"));
        assertTrue(zero.output().contains("/dev/zero is larger than 4 KiB"), zero.output());
        ExporterProcess.Result percent = ExporterProcess.run(cases.get(2), List.of("--web.listen-address=127.0.0.1:0"));
        assertTrue(percent.output().contains("percent-encoding"), percent.output());
    }

    @Test
    void aPasswordFileOthersCanReadWorksWithOneWarning() throws Exception {
        PostgresCluster cluster = SharedClusters.get(SharedClusters.versions().get(0));
        ExporterTestSupport.createMonitoringRole(cluster);
        Path secret = Files.writeString(dir.resolve("monitor-password"), ExporterTestSupport.MONITOR_PASSWORD + "\n");
        Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-r--r--"));
        try (ExporterProcess process = ExporterProcess.start(Map.of(
                "DATA_SOURCE_NAME", "postgresql://" + ExporterTestSupport.MONITOR_USER + "@" + cluster.host() + ":" + cluster.port()
                        + "/postgres?sslmode=disable", "DATA_SOURCE_PASS_FILE", secret.toString()),
                List.of("--web.listen-address=127.0.0.1:0"), dir.resolve("exporter.log"))) {
            int port = process.awaitPort();
            assertEquals(1.0, ExporterTestSupport.scrape(port).value("pg_up"), "the password was read and used");
            String output = process.output();
            List<String> warnings = output.lines().filter(l -> l.contains(secret.toString())).toList();
            assertEquals(1, warnings.size(), output);
            assertTrue(warnings.get(0).contains("readable by every user") && warnings.get(0).contains("chmod 600"), warnings.get(0));
            assertFalse(output.contains(ExporterTestSupport.MONITOR_PASSWORD), "never the password: " + output);
        }
        Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-------"));
        try (ExporterProcess process = ExporterProcess.start(Map.of(
                "DATA_SOURCE_NAME", "postgresql://" + ExporterTestSupport.MONITOR_USER + "@" + cluster.host() + ":" + cluster.port()
                        + "/postgres?sslmode=disable", "DATA_SOURCE_PASS_FILE", secret.toString()),
                List.of("--web.listen-address=127.0.0.1:0"), dir.resolve("exporter-0600.log"))) {
            process.awaitPort();
            assertFalse(process.output().contains(secret.toString()), "mode 0600: no warning\n" + process.output());
        }
    }

    @Test
    void helpSaysAPasswordFlagShowsInTheProcessList() throws Exception {
        ExporterProcess.Result help = ExporterProcess.run(Map.of(), List.of("--help"));
        assertEquals(0, help.exit());
        assertTrue(help.output().contains("visible to every local user in the process list"), help.output());
        assertTrue(help.output().contains("prefer --data-source.password-file"), help.output());
    }
}
