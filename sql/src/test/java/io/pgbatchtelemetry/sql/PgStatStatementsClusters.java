package io.pgbatchtelemetry.sql;

import io.pgbatchtelemetry.harness.PostgresCluster;

import java.sql.SQLException;
import java.util.HashMap;
import java.util.Map;

/**
 * One private cluster per PostgreSQL version (15-18) with {@code pg_stat_statements} in
 * {@code shared_preload_libraries}, for the test classes about statement evidence. The shared clusters
 * ({@code SharedClusters}) cannot load it: the library needs a server start, and the tests of what
 * works without it use them. A test class owns one instance, names its clusters, adds the postmaster
 * settings it needs (a small {@code pg_stat_statements.max} to cause eviction, a small
 * {@code shared_buffers} to make scans read) and closes it after its last test, so one class's
 * server-wide changes (a {@code pg_stat_statements_reset()}, a crash) never reach another class, and
 * only one class's clusters run at a time. Within a class each test uses its own database.
 * Clusters start on first use, so a run narrowed to some versions starts only those.
 */
final class PgStatStatementsClusters implements AutoCloseable {

    private final String name;
    private final Map<String, String> settings;
    private final Map<Integer, PostgresCluster> clusters = new HashMap<>();

    /** {@code settings} are added after {@code shared_preload_libraries = 'pg_stat_statements'}. */
    PgStatStatementsClusters(String name, Map<String, String> settings) {
        this.name = name;
        this.settings = Map.copyOf(settings);
    }

    PgStatStatementsClusters(String name) {
        this(name, Map.of());
    }

    /** The running cluster of this version, built and started on first use. */
    synchronized PostgresCluster cluster(int major) {
        return clusters.computeIfAbsent(major, v -> {
            PostgresCluster.Builder builder = PostgresCluster.builder(v).name(name)
                    .setting("shared_preload_libraries", "pg_stat_statements");
            settings.forEach(builder::setting);
            PostgresCluster cluster = builder.build();
            cluster.start();
            return cluster;
        });
    }

    /** {@code database} on this version's cluster, created if missing, with install.sql run. */
    TelemetryDb installed(int major, String database) throws SQLException {
        return TelemetryDb.installed(cluster(major), database);
    }

    @Override
    public synchronized void close() {
        clusters.values().forEach(PostgresCluster::close);
        clusters.clear();
    }
}
