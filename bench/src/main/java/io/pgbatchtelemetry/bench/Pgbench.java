package io.pgbatchtelemetry.bench;

import io.pgbatchtelemetry.harness.PostgresCluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * pgbench, the load generator of the soak and the sampler benchmark, run as a client of a harness cluster over
 * loopback TCP as its superuser. The client comes from Debian's PostgreSQL 15 packages (the zonky 16-18 archives have
 * none); pgbench 15 drives 16, 17 and 18 servers as well.
 */
public final class Pgbench {
    public static final Path BINARY = Path.of("/usr/lib/postgresql/15/bin/pgbench");

    private final PostgresCluster cluster;

    public Pgbench(PostgresCluster cluster) {
        if (!Files.isExecutable(BINARY)) {
            throw new IllegalStateException(BINARY + " is missing (scripts/install-deps.sh installs postgresql-15)");
        }
        this.cluster = cluster;
    }

    /** pgbench -i -q -s scale: the TPC-B-like tables. */
    public void initialize(int scale, Path log) throws IOException, InterruptedException {
        Process p = start(List.of("-i", "-q", "-s", Integer.toString(scale)), null, log);
        if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) {
            throw new IllegalStateException("pgbench -i failed: " + Files.readString(log));
        }
    }

    /** Starts pgbench with the given arguments (then host, port, user, database); the caller waits or stops it. */
    public Process start(List<String> args, String applicationName, Path log) throws IOException {
        List<String> command = new ArrayList<>(List.of(BINARY.toString()));
        command.addAll(args);
        command.addAll(List.of("-h", cluster.host(), "-p", Integer.toString(cluster.port()), "-U", cluster.superuser(), "postgres"));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().keySet().removeIf(k -> k.startsWith("PG"));
        builder.environment().put("PGPASSWORD", cluster.superuserPassword());
        if (applicationName != null) {
            builder.environment().put("PGAPPNAME", applicationName);
        }
        return builder.start();
    }
}
