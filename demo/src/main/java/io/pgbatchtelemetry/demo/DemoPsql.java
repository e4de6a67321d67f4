package io.pgbatchtelemetry.demo;

import io.pgbatchtelemetry.harness.PostgresCluster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Commands that work as printed against the demo's throwaway cluster, as its superuser: psql, and
 * {@code pg-batch-exporter report}. The password goes into files of the demo's own (mode 0600, deleted
 * when the demo stops): a password file for psql (PGPASSFILE) and the same password alone for the
 * exporter's DATA_SOURCE_PASS_FILE, so nothing needs to be typed or exported first.
 */
record DemoPsql(String host, int port, String user, Path passFile, Path passwordFile) {

    static DemoPsql write(PostgresCluster cluster, Path dir) throws IOException {
        Path file = privateFile(dir.resolve("pgpass"));
        // host:port:database:user:password, with ':' and '\' escaped
        Files.writeString(file, String.join(":", cluster.host(), Integer.toString(cluster.port()), "*", escape(cluster.superuser()),
                escape(cluster.superuserPassword())) + "\n");
        Path password = privateFile(dir.resolve("password"));
        Files.writeString(password, cluster.superuserPassword() + "\n");
        return new DemoPsql(cluster.host(), cluster.port(), cluster.superuser(), file, password);
    }

    /** The exporter's connection settings for the same server, user and password as {@link #command}. */
    java.util.Map<String, String> exporterEnvironment() {
        return java.util.Map.of("DATA_SOURCE_NAME", "postgresql://" + user + "@" + host + ":" + port + "/postgres",
                "DATA_SOURCE_PASS_FILE", passwordFile.toString());
    }

    /** {@code DATA_SOURCE_NAME=... DATA_SOURCE_PASS_FILE=... launcher args...}, each word shell-quoted where it needs it. */
    String exporterCommand(java.util.List<String> launcherAndArgs) {
        StringBuilder command = new StringBuilder();
        new java.util.TreeMap<>(exporterEnvironment()).forEach((k, v) -> command.append(k).append('=').append(quote(v)).append(' '));
        return command.append(String.join(" ", launcherAndArgs.stream().map(DemoPsql::quote).toList())).toString();
    }

    static String quote(String word) {
        return word.matches("[A-Za-z0-9_@%+=:,./-]+") ? word : "'" + word.replace("'", "'\\''") + "'";
    }

    private static Path privateFile(Path file) throws IOException {
        Files.deleteIfExists(file);
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        file.toFile().deleteOnExit();
        return file;
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
