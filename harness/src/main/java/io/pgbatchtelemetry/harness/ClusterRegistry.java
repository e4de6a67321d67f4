package io.pgbatchtelemetry.harness;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Makes sure no PostgreSQL process outlives the JVM that started it, and no cluster directory
 * outlives its cluster.
 *
 * <p>This is the harness's one piece of JVM-wide state, and it has to be: a JVM shutdown hook is
 * JVM-wide. Three layers:
 * <ol>
 *   <li>{@link PostgresCluster#close()} stops the server and deletes its directory.</li>
 *   <li>A shutdown hook closes every cluster still open at JVM exit (standbys first, in parallel,
 *       with an immediate shutdown because the data is deleted anyway).</li>
 *   <li>A shutdown hook does not run when the JVM is SIGKILLed (a surefire fork timeout, an OOM
 *       killer). So each cluster directory records the JVM's pid in {@code owner.pid}, and a small
 *       {@code sh} watchdog, started once per JVM and deaf to INT/TERM/HUP, waits for the JVM to
 *       disappear and then shuts down and deletes whatever that JVM left. Directories of JVMs that
 *       died with their watchdog are swept when the next JVM registers its first cluster.</li>
 * </ol>
 */
final class ClusterRegistry {

    private static final System.Logger LOG = System.getLogger(ClusterRegistry.class.getName());
    private static final Path CLUSTERS_ROOT = Paths.get(System.getProperty("java.io.tmpdir"), "pgbt-clusters");
    private static final String OWNER_FILE = "owner.pid";
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Set<PostgresCluster> OPEN = ConcurrentHashMap.newKeySet();

    /** Runs in the watchdog: $1 = JVM pid, $2 = clusters root. */
    private static final String WATCHDOG_SCRIPT = """
            trap '' INT TERM HUP
            while kill -0 "$1" 2>/dev/null; do sleep 2; done
            for dir in "$2"/*/; do
              [ "$(cat "${dir}owner.pid" 2>/dev/null)" = "$1" ] || continue
              pid=$(head -n 1 "${dir}data/postmaster.pid" 2>/dev/null)
              if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
                for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
                kill -KILL "$pid" 2>/dev/null
              fi
              rm -rf "$dir"
            done
            """;

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(ClusterRegistry::closeAll, "pgbt-harness-shutdown"));
        sweepOrphans();
        startWatchdog();
    }

    private ClusterRegistry() {
    }

    /** A new, empty directory for one cluster, owned by the server's OS user. */
    static Path newClusterDir(String name) {
        try {
            Files.createDirectories(CLUSTERS_ROOT);
            if (ServerUser.jvmIsRoot() && Files.getOwner(CLUSTERS_ROOT).getName().equals("root")) {
                // other users' JVMs (and the postgres user) may create clusters here too
                Commands.run(List.of("chmod", "1777", CLUSTERS_ROOT.toString()), Map.of(), null, Duration.ofSeconds(10));
            }
            Path dir = CLUSTERS_ROOT.resolve(name + "-" + randomSuffix());
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            Files.writeString(dir.resolve(OWNER_FILE), Long.toString(ProcessHandle.current().pid()));
            ServerUser.giveToServerUser(dir);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a cluster directory under " + CLUSTERS_ROOT, e);
        }
    }

    private static String randomSuffix() {
        byte[] bytes = new byte[4];
        RANDOM.nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    static void register(PostgresCluster cluster) {
        OPEN.add(cluster);
    }

    static void unregister(PostgresCluster cluster) {
        OPEN.remove(cluster);
    }

    private static void closeAll() {
        closeInParallel(OPEN.stream().filter(PostgresCluster::isStandby).toList());
        closeInParallel(List.copyOf(OPEN));
    }

    private static void closeInParallel(List<PostgresCluster> clusters) {
        List<Thread> threads = clusters.stream()
                .map(cluster -> new Thread(() -> closeQuietly(cluster), "pgbt-close-" + cluster.name()))
                .toList();
        threads.forEach(Thread::start);
        for (Thread thread : threads) {
            try {
                thread.join(Duration.ofSeconds(60).toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private static void closeQuietly(PostgresCluster cluster) {
        try {
            cluster.close();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "could not close cluster " + cluster.name() + " at JVM exit", e);
        }
    }

    private static void startWatchdog() {
        try {
            new ProcessBuilder("sh", "-c", WATCHDOG_SCRIPT, "pgbt-watchdog",
                    Long.toString(ProcessHandle.current().pid()), CLUSTERS_ROOT.toString())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.DISCARD)
                    .start();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "no watchdog for this JVM's clusters: " + e.getMessage());
        }
    }

    /** Stops and deletes clusters whose JVM is gone (it was SIGKILLed together with its watchdog). */
    private static void sweepOrphans() {
        if (!Files.isDirectory(CLUSTERS_ROOT)) {
            return;
        }
        try (Stream<Path> dirs = Files.list(CLUSTERS_ROOT)) {
            dirs.filter(dir -> ownerPid(dir).map(pid -> ProcessHandle.of(pid).isEmpty()).orElse(false))
                    .forEach(ClusterRegistry::removeOrphan);
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "could not sweep orphaned clusters in " + CLUSTERS_ROOT, e);
        }
    }

    private static void removeOrphan(Path dir) {
        PostmasterPid.read(dir.resolve("data")).flatMap(ProcessHandle::of).ifPresent(postmaster -> {
            LOG.log(System.Logger.Level.WARNING, "stopping orphaned PostgreSQL " + postmaster.pid() + " in " + dir);
            postmaster.destroyForcibly();
            PostmasterPid.awaitExit(List.of(postmaster), Duration.ofSeconds(10));
        });
        Directories.deleteRecursively(dir);
    }

    private static Optional<Long> ownerPid(Path dir) {
        try {
            return Optional.of(Long.parseLong(Files.readString(dir.resolve(OWNER_FILE), StandardCharsets.UTF_8).trim()));
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }
}
