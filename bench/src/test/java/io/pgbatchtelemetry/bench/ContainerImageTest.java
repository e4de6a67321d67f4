package io.pgbatchtelemetry.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.pgbatchtelemetry.harness.ChildProcess;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The daemonless container image: builds it once through the `image` profile (Jib, FROM scratch, exporter/image),
 * then reads the tarball as a container runtime would (manifest.json, config.json, the layers in order) and checks
 * how it starts against exporter/Dockerfile (entry point with jvm.options, command, user, port, environment) and
 * what it holds (the one jvm.options file, the jar, a runtime). Then it runs the image: the layers unpacked into a
 * root file system, the entry point started there in a mount and PID namespace of its own with /proc mounted,
 * as user 65534, with the image's environment only, against a harness server: the same steps as `docker run`
 * without the network namespace and cgroup limits.
 */
class ContainerImageTest {
    private static final Repo REPO = Repo.locate();
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path work;
    private static Path rootfs;
    private static JsonNode config;

    @BeforeAll
    static void buildAndUnpackTheImage() throws Exception {
        Path tar = REPO.resolve("exporter/image/target/pg-batch-exporter-image.tar");
        List<Path> inputs = List.of(REPO.exporterJar(), REPO.jvmOptions(), REPO.resolve("exporter/image/pom.xml"),
                REPO.resolve("exporter/image/stage-rootfs.sh"));
        if (!isNewerThanAll(tar, inputs)) {
            Files.deleteIfExists(tar);
            run(REPO.root(), List.of("mvn", "-B", "-ntp", "-q", "-Pimage", "-pl", "exporter/image", "package"), 15);
        }
        assertTrue(Files.isRegularFile(tar), "the image profile did not write " + tar);
        Path unpacked = Files.createDirectories(work.resolve("image"));
        run(unpacked, List.of("tar", "-xf", tar.toString()), 2);
        JsonNode manifest = JSON.readTree(unpacked.resolve("manifest.json").toFile()).get(0);
        config = JSON.readTree(unpacked.resolve(manifest.get("Config").asText()).toFile());
        rootfs = Files.createDirectories(work.resolve("rootfs"));
        for (JsonNode layer : manifest.get("Layers")) {
            run(rootfs, List.of("tar", "--warning=no-unknown-keyword", "-xzf", unpacked.resolve(layer.asText()).toString()), 2);
        }
    }

    @Test
    void itStartsAsTheDockerfileSays() throws IOException {
        Dockerfile docker = Dockerfile.read(REPO.resolve("exporter/Dockerfile"));
        JsonNode c = config.get("config");
        assertEquals(docker.entrypoint(), strings(c.get("Entrypoint")), "entry point");
        assertEquals(List.of("java", "@/opt/pg-batch-exporter/jvm.options", "-jar", "/opt/pg-batch-exporter/pg-batch-exporter.jar"),
                strings(c.get("Entrypoint")));
        assertEquals(docker.cmd(), strings(c.get("Cmd")), "command");
        assertEquals(docker.user(), c.get("User").asText(), "user");
        assertTrue(!c.get("User").asText().startsWith("0") && !c.get("User").asText().startsWith("root"), "non-root user");
        List<String> ports = new ArrayList<>();
        c.get("ExposedPorts").fieldNames().forEachRemaining(ports::add);
        assertEquals(docker.exposed().stream().map(p -> p + "/tcp").toList(), ports, "exposed ports");
        Map<String, String> env = env();
        docker.env().forEach((k, v) -> assertEquals(v, env.get(k), "ENV " + k));
        assertEquals("linux", config.get("os").asText());
        assertEquals("amd64", config.get("architecture").asText());
    }

    @Test
    void itHoldsTheOneOptionsFileTheJarAndARuntime() throws IOException {
        assertArrayEquals(Files.readAllBytes(REPO.jvmOptions()), Files.readAllBytes(rootfs.resolve("opt/pg-batch-exporter/jvm.options")),
                "the image's jvm.options must be exporter/bin/jvm.options");
        assertArrayEquals(Files.readAllBytes(REPO.exporterJar()), Files.readAllBytes(rootfs.resolve("opt/pg-batch-exporter/pg-batch-exporter.jar")));
        String javaOnPath = env().get("PATH").split(":")[0] + "/java";
        assertTrue(Files.isExecutable(rootfs.resolve(javaOnPath.substring(1))), javaOnPath + " must be executable");
        assertTrue(Files.isRegularFile(rootfs.resolve("lib64/ld-linux-x86-64.so.2")), "the dynamic loader");
        assertTrue(Files.readString(rootfs.resolve("etc/passwd")).contains(":65534:65534:"), "user 65534 in /etc/passwd");
    }

    @Test
    void itRunsAsUser65534WithTheOptionsFileAndServesMetrics() throws Exception {
        boolean root = "root".equals(System.getProperty("user.name"));
        boolean unshare = Files.isExecutable(Path.of("/usr/bin/unshare")) && Files.isExecutable(Path.of("/usr/sbin/chroot"));
        if (!root || !unshare) {
            System.err.println("ContainerImageTest: NOT running the image: it needs root and unshare/chroot (root=" + root
                    + ", unshare+chroot=" + unshare + "); only its configuration and contents were checked");
        }
        assumeTrue(root && unshare, "running the image needs root and unshare/chroot");
        PostgresCluster pg = SharedClusters.get(SharedClusters.versions().get(0));
        int port = ChildProcess.freeLoopbackPort();
        Files.createDirectories(rootfs.resolve("proc"));
        List<String> command = new ArrayList<>(List.of("/usr/bin/unshare", "--mount", "--pid", "--kill-child", "--mount-proc=" + rootfs.resolve("proc"),
                "/usr/sbin/chroot", "--userspec=65534:65534", rootfs.toString()));
        command.addAll(strings(config.get("config").get("Entrypoint")));
        command.add("--web.listen-address=127.0.0.1:" + port); // as `docker run IMAGE ARGS` replaces CMD
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(work.resolve("container.log").toFile());
        builder.environment().clear();
        builder.environment().putAll(env());
        builder.environment().put("DATA_SOURCE_NAME", "postgresql://" + pg.superuser() + ":" + pg.superuserPassword() + "@127.0.0.1:"
                + pg.port() + "/postgres?sslmode=disable");
        Process container = builder.start();
        try {
            Scraper scraper = new Scraper("image", port);
            // pg_up 1 once the exporter in the image reached PostgreSQL (the first scrape may come before its pool has
            // a connection on a loaded machine)
            double up = -1;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (up != 1.0) {
                try {
                    up = new Exposition(scraper.fresh().body()).samples("pg_up").getOrDefault("", -1.0);
                } catch (RuntimeException e) {
                    assertTrue(container.isAlive(), "the image's entry point exited: " + Files.readString(work.resolve("container.log")));
                }
                assertTrue(up == 1.0 || System.nanoTime() < deadline, "no pg_up 1 from the image within 90 s (last: " + up
                        + "); its log:\n" + Files.readString(work.resolve("container.log")));
                if (up != 1.0) {
                    ExporterProcess.sleep(500);
                }
            }
            ProcessHandle jvm = container.toHandle().descendants()
                    .filter(p -> p.info().command().map(c -> c.endsWith("/java")).orElse(false)).findFirst()
                    .orElseThrow(() -> new AssertionError("no java process under the container"));
            List<String> cmdline = ProcFs.cmdline(jvm.pid());
            assertEquals(strings(config.get("config").get("Entrypoint")), cmdline.subList(0, 4), "the JVM runs the entry point");
            String status = Files.readString(Path.of("/proc", Long.toString(jvm.pid()), "status"));
            assertTrue(status.lines().anyMatch(l -> l.matches("Uid:\\s+65534\\s+65534\\s+65534\\s+65534")), "runs as 65534:\n" + status);
            Map<String, String> expected = JvmOptionsFile.read(REPO.jvmOptions()).expectedVmFlags();
            Map<String, String> actual = LauncherJvmOptionsTest.vmFlags(jvm.pid());
            expected.forEach((flag, value) -> assertEquals(value, actual.get(flag), "the image's JVM must apply jvm.options: " + flag));
        } finally {
            container.toHandle().descendants().forEach(ProcessHandle::destroy);
            container.destroy();
            if (!container.waitFor(20, TimeUnit.SECONDS)) {
                container.destroyForcibly();
            }
        }
    }

    /** The tarball is current: built after the jar, the options file and the image's build files last changed. */
    private static boolean isNewerThanAll(Path tar, List<Path> inputs) throws IOException {
        if (!Files.isRegularFile(tar)) {
            return false;
        }
        for (Path input : inputs) {
            if (Files.getLastModifiedTime(input).compareTo(Files.getLastModifiedTime(tar)) >= 0) {
                return false;
            }
        }
        return true;
    }

    private static Map<String, String> env() {
        Map<String, String> env = new LinkedHashMap<>();
        for (JsonNode e : config.get("config").get("Env")) {
            String[] kv = e.asText().split("=", 2);
            env.put(kv[0], kv[1]);
        }
        return env;
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    private static void run(Path dir, List<String> command, int minutes) throws Exception {
        Path log = Files.createTempFile(work, "cmd", ".log");
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(minutes, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " did not finish within " + minutes + " min: " + Files.readString(log));
        }
        assertEquals(0, p.exitValue(), String.join(" ", command) + ":\n" + Files.readString(log));
    }
}
