package io.pgbatchtelemetry.exporter.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.pgbatchtelemetry.exporter.it.ExporterTestSupport;
import io.pgbatchtelemetry.exporter.it.TelemetryTestDb;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Each per-version read exists once, in {@code sql/src/reads/}: the text the exporter loads from its
 * classpath for a part and a PostgreSQL major is, character for character, the text the installed
 * schema's {@code telemetry._read()} returns for them (both built from the same file), for every
 * part and every supported major, and absent on both sides where there is none (pg_stat_io on 15).
 */
class SharedReadsTest {

    private static final Path READS = Path.of("..", "sql", "src", "reads");
    private static final String DB = "pgbt_shared_reads";

    @Test
    void theExporterAndTheSchemaReadTheSameTextForEveryPartAndVersion() throws Exception {
        Set<String> parts = new TreeSet<>();
        try (Stream<Path> files = Files.list(READS)) {
            files.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".sql"))
                    .forEach(n -> parts.add(n.substring(0, n.indexOf('.'))));
        }
        assertFalse(parts.isEmpty(), "no reads in " + READS.toAbsolutePath());
        PostgresCluster cluster = SharedClusters.get(ExporterTestSupport.newestVersion());
        TelemetryTestDb.install(cluster, DB);
        try (Connection c = cluster.connect(DB);
             PreparedStatement schema = c.prepareStatement("SELECT telemetry._read(?, ?)")) {
            for (String part : parts) {
                VersionedSql exporter = SharedReads.load(part);
                for (int major = VersionedSql.OLDEST_SUPPORTED; major <= 18; major++) {
                    schema.setString(1, part);
                    schema.setInt(2, major * 10000 + 1);
                    String inSchema;
                    try (ResultSet rs = schema.executeQuery()) {
                        rs.next();
                        inSchema = rs.getString(1);
                    }
                    String inExporter = exporter.supportsMajor(major) ? exporter.forMajor(major) : null;
                    assertEquals(inExporter, inSchema == null ? null : inSchema.strip(), part + " on PostgreSQL " + major);
                }
            }
        }
    }
}
