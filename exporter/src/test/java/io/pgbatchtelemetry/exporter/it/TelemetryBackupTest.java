package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The backup and restore procedure of docs/operations.md, run as written: {@code pg_dump -n
 * telemetry -Fc}, {@code pg_restore} into an empty database and over a dropped schema, then
 * {@code install.sql} again. History survives, and the analysis functions answer on the restored
 * copy. Runs on PostgreSQL 15, the one version whose pg_dump this machine has (pg_dump refuses a
 * newer server; zonky's 16-18 archives hold no client tools).
 */
class TelemetryBackupTest {

    private static final Path INSTALL = Path.of("..", "sql", "install.sql");
    private static final Path BIN = Path.of("/usr/lib/postgresql/15/bin");

    @TempDir
    Path dir;

    @Test
    void dumpAndRestoreTheTelemetrySchema() throws Exception {
        Assumptions.assumeTrue(SharedClusters.versions().contains(15) && Files.isExecutable(BIN.resolve("pg_dump")),
                "SKIPPED LOUDLY: needs PostgreSQL 15 in PGBT_PG_VERSIONS and Debian's pg_dump 15 at " + BIN);
        PostgresCluster cluster = SharedClusters.get(15);
        for (String db : List.of("pgbt_backup_src", "pgbt_backup_dst")) {
            cluster.execute("DROP DATABASE IF EXISTS " + db);
            cluster.execute("CREATE DATABASE " + db);
        }
        MonitoringRoleTest.psql(cluster, "pgbt_backup_src", INSTALL);
        try (Connection c = cluster.connect("pgbt_backup_src"); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE orders (id int)");
            s.execute("SELECT telemetry.track_table('orders')");
            s.execute("SELECT telemetry.batch_end(telemetry.batch_start('nightly'))");
            s.execute("INSERT INTO orders SELECT generate_series(1, 1000)");
            s.execute("SELECT telemetry.snapshot()");
        }
        String before = counts(cluster, "pgbt_backup_src");
        assertTrue(!before.startsWith("0 "), "there is history to back up: " + before);

        Path dump = dir.resolve("telemetry.dump");
        run(cluster, "pg_dump", "-d", "pgbt_backup_src", "-n", "telemetry", "-Fc", "-f", dump.toString());

        // into an empty database (a new server, a copy for analysis), then install.sql again
        run(cluster, "pg_restore", "-d", "pgbt_backup_dst", "--exit-on-error", dump.toString());
        MonitoringRoleTest.psql(cluster, "pgbt_backup_dst", INSTALL);
        assertEquals(before, counts(cluster, "pgbt_backup_dst"), "snapshots, samples, runs and tracked tables restored");

        // over a lost schema, in place
        try (Connection c = cluster.connect("pgbt_backup_src"); Statement s = c.createStatement()) {
            s.execute("DROP SCHEMA telemetry CASCADE");
        }
        run(cluster, "pg_restore", "-d", "pgbt_backup_src", "--exit-on-error", dump.toString());
        MonitoringRoleTest.psql(cluster, "pgbt_backup_src", INSTALL);
        assertEquals(before, counts(cluster, "pgbt_backup_src"));

        // the restored history answers questions: the batch run's window compares
        try (Connection c = cluster.connect("pgbt_backup_dst"); Statement s = c.createStatement()) {
            try (var rs = s.executeQuery("SELECT count(*) FROM telemetry.compare_runs(1, 1)")) {
                rs.next();
                assertTrue(rs.getInt(1) > 0, "compare_runs on the restored copy");
            }
        }
    }

    private static String counts(PostgresCluster cluster, String database) throws Exception {
        try (Connection c = cluster.connect(database); Statement s = c.createStatement();
             var rs = s.executeQuery("SELECT (SELECT count(*) FROM telemetry.snapshots) || ' ' || (SELECT count(*) FROM telemetry.samples)"
                     + " || ' ' || (SELECT count(*) FROM telemetry.runs) || ' ' || (SELECT count(*) FROM telemetry.tracked_tables)")) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static void run(PostgresCluster cluster, String tool, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(BIN.resolve(tool).toString(), "-h", cluster.host(),
                "-p", Integer.toString(cluster.port()), "-U", cluster.superuser()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().put("PGPASSWORD", cluster.superuserPassword());
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(120, TimeUnit.SECONDS) || process.exitValue() != 0) {
            process.destroyForcibly();
            fail(tool + " " + String.join(" ", args) + " failed:\n" + output);
        }
    }
}
