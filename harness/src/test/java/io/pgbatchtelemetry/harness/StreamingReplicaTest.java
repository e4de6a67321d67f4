package io.pgbatchtelemetry.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A streaming standby of a shared primary: 15 exercises the pg_basebackup path, 17 the SQL backup
 * API + file copy path used for the zonky versions (which carry no pg_basebackup).
 */
class StreamingReplicaTest {

    static Stream<Integer> replicaVersions() {
        return Stream.of(15, 17).filter(SharedClusters.versions()::contains).distinct();
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("replicaVersions")
    void standbyStreamsFromThePrimary(int major) throws Exception {
        PostgresCluster primary = SharedClusters.get(major);
        String name = "replica-" + major;
        String table = "replica_probe_" + major;
        PostgresCluster standby = primary.createStreamingReplica(name);
        Path standbyDir = standby.dataDir().getParent();
        String slot = standby.primarySlotName().orElseThrow();
        try {
            assertEquals("t", standby.queryValue("SELECT pg_is_in_recovery()"));
            assertEquals("streaming", primary.queryValue(
                    "SELECT state FROM pg_stat_replication WHERE application_name = '" + name + "'"));
            assertEquals("t", primary.queryValue(
                    "SELECT active FROM pg_replication_slots WHERE slot_name = '" + slot + "'"));

            primary.execute("CREATE TABLE " + table + " AS SELECT 7 AS replicated");
            awaitValue(standby, "SELECT replicated FROM " + table, "7");

            SQLException readOnly = assertThrows(SQLException.class, () -> standby.execute("CREATE TABLE nope()"));
            assertEquals("25006", readOnly.getSQLState(), readOnly.getMessage());
        } finally {
            standby.close();
            primary.execute("DROP TABLE IF EXISTS " + table);
        }
        assertFalse(Files.exists(standbyDir), "close() deletes the standby's directory");
        assertEquals("0", primary.queryValue(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot + "'"),
                "close() drops the standby's slot so the primary stops retaining WAL for it");
    }

    private static void awaitValue(PostgresCluster cluster, String sql, String expected) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        String last = null;
        while (System.nanoTime() < deadline) {
            try {
                last = cluster.queryValue(sql);
                if (expected.equals(last)) {
                    return;
                }
            } catch (SQLException notYetReplayed) {
                last = notYetReplayed.getMessage();
            }
            Thread.sleep(20);
        }
        fail("standby never showed " + expected + " for " + sql + "; last: " + last);
    }
}
