package io.pgbatchtelemetry.demo;

import io.pgbatchtelemetry.harness.PostgresCluster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * A psql command that works as printed against the demo's throwaway cluster: the superuser's
 * password goes into a password file of the demo's own (mode 0600, deleted when the demo stops),
 * named by PGPASSFILE in the command, so nothing needs to be typed or exported first.
 */
record DemoPsql(String host, int port, String user, Path passFile) {

    static DemoPsql write(PostgresCluster cluster, Path dir) throws IOException {
        Path file = dir.resolve("pgpass");
        Files.deleteIfExists(file);
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        // host:port:database:user:password, with ':' and '\' escaped
        Files.writeString(file, String.join(":", cluster.host(), Integer.toString(cluster.port()), "*", escape(cluster.superuser()),
                escape(cluster.superuserPassword())) + "\n");
        file.toFile().deleteOnExit();
        return new DemoPsql(cluster.host(), cluster.port(), cluster.superuser(), file);
    }

    /** {@code PGPASSFILE=... psql -h ... -p ... -U ... -d postgres}, plus {@code -c 'sql'} when sql is given. */
    String command(String sql) {
        String base = "PGPASSFILE=" + passFile + " psql -h " + host + " -p " + port + " -U " + user + " -d postgres";
        return sql == null ? base : base + " -c '" + sql.replace("'", "'\\''") + "'";
    }

    private static String escape(String value) {
        return value.replace("\\", "\\\\").replace(":", "\\:");
    }
}
