package io.pgbatchtelemetry.harness;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * One running cluster per PostgreSQL major version, shared by every test class in a JVM, started
 * on first use and closed at JVM exit ({@link ClusterRegistry}). Starting a cluster costs about a
 * second of the two cores these machines have; sharing it is what keeps suites fast.
 *
 * <p>PostgreSQL 15 has pg_cron preloaded (its jobs run in background workers: no password needed);
 * all have {@code track_io_timing} and {@code track_wal_io_timing} on and
 * {@code max_connections = 300}. Tests must leave a shared
 * cluster as they found it: use their own database, role or table names; a test that crashes,
 * restarts or reconfigures the server builds its own {@link PostgresCluster}. A shared cluster that
 * a test stopped anyway is started again by the next {@link #get(int)}.
 *
 * <p>Parameterized tests over the configured versions:
 * <pre>{@code
 * @ParameterizedTest
 * @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
 * void works(int major) { PostgresCluster pg = SharedClusters.get(major); ... }
 * }</pre>
 */
public final class SharedClusters {

    /** Which versions to test, e.g. {@code 15,17}; the system property wins over the environment variable. */
    public static final String VERSIONS_ENV = "PGBT_PG_VERSIONS";
    public static final String VERSIONS_PROPERTY = "pgbt.pg.versions";
    public static final List<Integer> ALL_VERSIONS = List.of(15, 16, 17, 18);

    private static final Map<Integer, PostgresCluster> CLUSTERS = new ConcurrentHashMap<>();

    private SharedClusters() {
    }

    /** The running shared cluster of this major version, started on first use. */
    public static PostgresCluster get(int major) {
        synchronized (SharedClusters.class) {
            PostgresCluster cluster = CLUSTERS.get(major);
            if (cluster == null) {
                cluster = PostgresCluster.builder(major)
                        .name("shared-pg" + major)
                        .preloadPgCron(major == 15)
                        .build();
                CLUSTERS.put(major, cluster);
            }
            cluster.start();
            return cluster;
        }
    }

    /** From {@value #VERSIONS_PROPERTY} or {@value #VERSIONS_ENV} (comma-separated), default 15,16,17,18. */
    public static List<Integer> versions() {
        String configured = System.getProperty(VERSIONS_PROPERTY, System.getenv(VERSIONS_ENV));
        if (configured == null || configured.isBlank()) {
            return ALL_VERSIONS;
        }
        List<Integer> versions = Arrays.stream(configured.split("[,\\s]+"))
                .filter(s -> !s.isBlank())
                .map(String::trim)
                .map(SharedClusters::parseVersion)
                .distinct()
                .toList();
        if (versions.isEmpty()) {
            throw new IllegalArgumentException(VERSIONS_ENV + " names no version: '" + configured + "'");
        }
        return versions;
    }

    /** {@link #versions()} for JUnit's {@code @MethodSource} (no JUnit dependency needed here). */
    public static Stream<Integer> versionsArguments() {
        return versions().stream();
    }

    private static int parseVersion(String text) {
        int major;
        try {
            major = Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(VERSIONS_ENV + ": '" + text + "' is not a PostgreSQL major version");
        }
        if (!ALL_VERSIONS.contains(major)) {
            throw new IllegalArgumentException(VERSIONS_ENV + ": PostgreSQL " + major + " is not supported; use "
                    + ALL_VERSIONS);
        }
        return major;
    }
}
