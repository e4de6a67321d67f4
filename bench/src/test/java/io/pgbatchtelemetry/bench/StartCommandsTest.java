package io.pgbatchtelemetry.bench;

import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every documented way of starting the exporter takes its JVM options from exporter/bin/jvm.options and from
 * nowhere else: the README and docs, the systemd unit, the scripts, the Dockerfile, docker-compose and the demo.
 * (That the launcher applies the file is {@link LauncherJvmOptionsTest}; that the daemonless image does is
 * ContainerImageTest.)
 */
class StartCommandsTest {
    private static final Repo REPO = Repo.locate();
    /** A java command line that runs one of the project's jars. */
    private static final Pattern JAVA_RUNS_A_JAR = Pattern.compile("\\bjava\\b[^\\n]*-jar\\s+\\S*pg-batch-(exporter|demo)\\.jar");
    private static final Pattern ARGFILE = Pattern.compile("(?:^|\\s|\")@\\S*jvm\\.options\\b");
    /** A JVM option (memory, GC, JIT) given outside the file. */
    private static final Pattern OWN_JVM_OPTION = Pattern.compile("(?:^|\\s|\")-X(?:X:|mx|ms|ss|mn)\\S*");

    @Test
    void everyJavaCommandLineThatRunsTheJarUsesTheOptionsFile() throws IOException {
        List<String> problems = new ArrayList<>();
        for (Path file : documentedFiles()) {
            List<String> lines = Files.readAllLines(file);
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i);
                if (JAVA_RUNS_A_JAR.matcher(line).find()) {
                    if (!ARGFILE.matcher(line).find()) {
                        problems.add(REPO.root().relativize(file) + ":" + (i + 1) + " runs the jar without @.../jvm.options: " + line.trim());
                    }
                    Matcher own = OWN_JVM_OPTION.matcher(line);
                    if (own.find()) {
                        problems.add(REPO.root().relativize(file) + ":" + (i + 1) + " sets " + own.group().trim()
                                + " outside jvm.options: " + line.trim());
                    }
                }
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void theReadmeStartsItThroughTheLauncher() throws IOException {
        String running = section(Files.readString(REPO.resolve("README.md")), "## Running the exporter");
        String firstBlock = running.substring(running.indexOf("```"), running.indexOf("```", running.indexOf("```") + 3));
        assertTrue(firstBlock.lines().anyMatch(l -> l.startsWith("exporter/bin/pg-batch-exporter ")),
                "README's 'Running the exporter' must start exporter/bin/pg-batch-exporter:\n" + firstBlock);
        assertTrue(running.contains("exporter/bin/jvm.options"), "README must say where the JVM options are");
    }

    @Test
    void theSystemdUnitRunsTheLauncherWithTheFileBesideIt() throws IOException {
        String operations = Files.readString(REPO.resolve("docs/operations.md"));
        Matcher exec = Pattern.compile("(?m)^ExecStart=(\\S+)").matcher(operations);
        assertTrue(exec.find(), "docs/operations.md has no systemd unit");
        assertTrue(exec.group(1).endsWith("/bin/pg-batch-exporter"), "ExecStart must run the launcher: " + exec.group(1));
        assertFalse(exec.find(), "one systemd unit expected");
        assertTrue(operations.contains("`jvm.options` from the same folder"), "the unit's section must say jvm.options goes next to the launcher");
    }

    @Test
    void theLauncherReadsTheFileAndSetsNoOptionsOfItsOwn() throws IOException {
        String launcher = Files.readString(REPO.launcher());
        assertTrue(launcher.contains("options=\"$here/jvm.options\""), "the launcher must read jvm.options beside itself");
        assertTrue(launcher.contains("exec \"$java\" \"@$options\" ${JAVA_OPTS:-} -jar"), "the launcher must pass the file first, JAVA_OPTS after");
        List<String> code = launcher.lines().filter(l -> !l.trim().startsWith("#")).toList();
        assertTrue(code.stream().noneMatch(l -> OWN_JVM_OPTION.matcher(l).find()),
                "JVM options belong in jvm.options, not in the launcher: " + code.stream().filter(l -> OWN_JVM_OPTION.matcher(l).find()).toList());
    }

    @Test
    void theDockerfileCopiesTheFileAndItsEntrypointReadsIt() throws IOException {
        Dockerfile docker = Dockerfile.read(REPO.resolve("exporter/Dockerfile"));
        assertEquals("/opt/pg-batch-exporter/jvm.options", docker.copies().get("bin/jvm.options"), "COPY bin/jvm.options");
        assertEquals(List.of("java", "@/opt/pg-batch-exporter/jvm.options", "-jar", "/opt/pg-batch-exporter/pg-batch-exporter.jar"),
                docker.entrypoint());
        assertTrue(docker.cmd().stream().noneMatch(a -> a.startsWith("-X")), docker.cmd().toString());
        assertEquals("2", docker.env().get("MALLOC_ARENA_MAX"));
        assertEquals("65534:65534", docker.user());
        assertEquals(List.of("9187"), docker.exposed());
    }

    @Test
    @SuppressWarnings("unchecked")
    void composeRunsTheDockerfileWithoutOptionsOfItsOwn() throws IOException {
        Map<String, Object> compose = new Yaml().load(Files.readString(REPO.resolve("docker-compose.yml")));
        Map<String, Object> exporter = (Map<String, Object>) ((Map<String, Object>) compose.get("services")).get("exporter");
        Map<String, Object> build = (Map<String, Object>) exporter.get("build");
        assertEquals("exporter", build.get("context"));
        assertTrue(build.get("dockerfile") == null || "Dockerfile".equals(build.get("dockerfile")), build.toString());
        assertFalse(exporter.containsKey("entrypoint"), "compose must not replace the image's entry point (and its JVM options)");
        Object command = exporter.get("command");
        assertTrue(command == null || !String.valueOf(command).contains("-X"), "compose's command must not carry JVM options: " + command);
        Map<String, Object> environment = (Map<String, Object>) exporter.getOrDefault("environment", Map.of());
        for (String variable : List.of("JAVA_OPTS", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS")) {
            assertFalse(environment.containsKey(variable), "compose sets " + variable + ": JVM options belong in exporter/bin/jvm.options");
        }
    }

    @Test
    void theDemoRunsWithTheFile() throws IOException {
        List<String> javaLines = Files.readAllLines(REPO.resolve("scripts/demo.sh")).stream()
                .filter(l -> l.contains("pg-batch-demo.jar") && l.contains("java ")).toList();
        assertEquals(1, javaLines.size(), javaLines.toString());
        assertTrue(javaLines.get(0).contains("java @exporter/bin/jvm.options -jar"), javaLines.get(0));
    }

    private static List<Path> documentedFiles() throws IOException {
        List<Path> files = new ArrayList<>(List.of(REPO.resolve("README.md"), REPO.resolve("exporter/Dockerfile"),
                REPO.resolve("docker-compose.yml"), REPO.launcher()));
        for (String dir : List.of("docs", "scripts", "demo", "exporter/image", "exporter/src/main")) {
            Path root = REPO.resolve(dir);
            if (Files.isDirectory(root)) {
                try (Stream<Path> walk = Files.walk(root)) {
                    walk.filter(Files::isRegularFile).filter(p -> p.toString().matches(".*\\.(md|sh|xml|java|yml|conf)$"))
                            .filter(p -> !p.toString().contains("/target/")).forEach(files::add);
                }
            }
        }
        return files;
    }

    private static String section(String markdown, String heading) {
        int start = markdown.indexOf(heading);
        assertTrue(start >= 0, "no section " + heading);
        int next = markdown.indexOf("\n## ", start + heading.length());
        return markdown.substring(start, next < 0 ? markdown.length() : next);
    }
}
