package io.pgbatchtelemetry.bench;

import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The launcher applies exporter/bin/jvm.options: the running JVM's own flags (jcmd VM.flags) carry every option
 * of the file, JAVA_OPTS still wins over them, and MALLOC_ARENA_MAX=2 is in the JVM's environment.
 */
class LauncherJvmOptionsTest {
    @TempDir
    Path dir;

    @Test
    void theRunningJvmHasEveryOptionOfTheFile() throws Exception {
        Repo repo = Repo.locate();
        Map<String, String> expected = JvmOptionsFile.read(repo.jvmOptions()).expectedVmFlags();
        assertTrue(expected.containsKey("MaxHeapSize") && expected.containsKey("UseSerialGC"), expected.toString());
        try (ExporterProcess exporter = ExporterProcess.launcher(repo, dsn(), List.of(), "", dir.resolve("exporter.log"))) {
            Map<String, String> actual = vmFlags(exporter.pid());
            Map<String, String> differing = new LinkedHashMap<>();
            expected.forEach((flag, value) -> {
                if (!value.equals(actual.get(flag))) {
                    differing.put(flag, "jvm.options " + value + ", running JVM " + actual.get(flag));
                }
            });
            assertTrue(differing.isEmpty(), "the launcher did not apply jvm.options: " + differing);
            assertTrue(ProcFs.cmdline(exporter.pid()).contains("@" + repo.jvmOptions()), ProcFs.cmdline(exporter.pid()).toString());
            String environ = Files.readString(Path.of("/proc", Long.toString(exporter.pid()), "environ")).replace('\0', '\n');
            assertTrue(environ.lines().anyMatch("MALLOC_ARENA_MAX=2"::equals), "MALLOC_ARENA_MAX=2 missing from the JVM's environment");
        }
    }

    @Test
    void javaOptsComeAfterTheFileAndWin() throws Exception {
        Repo repo = Repo.locate();
        try (ExporterProcess exporter = ExporterProcess.launcher(repo, dsn(), List.of(), "-Xmx96m", dir.resolve("exporter.log"))) {
            assertEquals(Long.toString(96L * 1024 * 1024), vmFlags(exporter.pid()).get("MaxHeapSize"));
            assertEquals("true", vmFlags(exporter.pid()).get("UseSerialGC"), "the file's other options stay");
        }
    }

    private static String dsn() {
        PostgresCluster pg = SharedClusters.get(SharedClusters.versions().get(0));
        return "postgresql://" + pg.superuser() + ":" + pg.superuserPassword() + "@127.0.0.1:" + pg.port() + "/postgres?sslmode=disable";
    }

    /** jcmd PID VM.flags: the flags set on the command line or by ergonomics, as name -> value. */
    static Map<String, String> vmFlags(long pid) throws Exception {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), "VM.flags").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
        Map<String, String> flags = new LinkedHashMap<>();
        for (String token : out.split("\\s+")) {
            if (token.startsWith("-XX:+") || token.startsWith("-XX:-")) {
                flags.put(token.substring(5), token.charAt(4) == '+' ? "true" : "false");
            } else if (token.startsWith("-XX:") && token.contains("=")) {
                String[] kv = token.substring(4).split("=", 2);
                flags.put(kv[0], kv[1]);
            }
        }
        assertTrue(flags.containsKey("MaxHeapSize"), "jcmd VM.flags printed no flags: " + out);
        return flags;
    }
}
