package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.collect;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.serverOf;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class ReplicationCollectorTest {

    private final ReplicationCollector collector = new ReplicationCollector();

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void aPrimaryWithoutReplicasReportsNoReplicaAndItsSlotsRetainWal(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        cluster.execute("CREATE TABLE IF NOT EXISTS replication_wal_source (id int)");
        cluster.execute("SELECT pg_create_physical_replication_slot('replication_test_probe', true)");
        try (Connection exporter = cluster.connect()) {
            MetricSink before = collect(exporter, collector);
            assertEquals(0.0, value(before, ReplicationCollector.IS_REPLICA));
            assertTrue(series(before, ReplicationCollector.REPLAY_LAG_BYTES).isEmpty(), "no replica, no series");
            assertTrue(series(before, ReplicationCollector.WRITE_LAG_SECONDS).isEmpty());
            assertNull(value(before, ReplicationCollector.WAL_RECEIVER_UP), "a primary has no WAL receiver");
            assertNull(value(before, ReplicationCollector.STANDBY_LAG_SECONDS), "standby-only");
            assertEquals(0.0, value(before, ReplicationCollector.SLOT_IS_ACTIVE, "replication_test_probe", "physical"));
            double retainedBefore = value(before, ReplicationCollector.SLOT_RETAINED_WAL_BYTES,
                    "replication_test_probe", "physical");
            assertTrue(retainedBefore >= 0);

            double written = walBytesWrittenBy(exporter,
                    "INSERT INTO replication_wal_source SELECT generate_series(1, 1000)");

            double retainedAfter = value(collect(exporter, collector), ReplicationCollector.SLOT_RETAINED_WAL_BYTES,
                    "replication_test_probe", "physical");
            assertTrue(retainedAfter >= retainedBefore + written,
                    "an unused slot keeps all new WAL: " + retainedBefore + " + " + written + " <= " + retainedAfter);
        } finally {
            cluster.execute("SELECT pg_drop_replication_slot('replication_test_probe')");
        }
    }

    /**
     * One standby of the shared PostgreSQL 17 cluster, walked through its life in order:
     * streaming, replay paused, receiver disconnected. Runs after the version sweep above (JUnit
     * runs a class's own tests before its nested classes), which expects no replica.
     */
    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    @TestMethodOrder(MethodOrderer.OrderAnnotation.class)
    class WithAStreamingReplicaOnPostgres17 {

        private static final int MAJOR = 17;

        private PostgresCluster primary;
        private PostgresCluster standby;
        private Connection onPrimary;
        private Connection onStandby;
        private String[] replica;
        private String[] slot;

        @BeforeAll
        void startStandby() throws Exception {
            Assumptions.assumeTrue(SharedClusters.versions().contains(MAJOR),
                    "SKIPPED: the streaming-replica tests run on PostgreSQL " + MAJOR
                            + ", which PGBT_PG_VERSIONS=" + SharedClusters.versions() + " leaves out");
            primary = SharedClusters.get(MAJOR);
            primary.execute("CREATE TABLE IF NOT EXISTS replication_wal_source (id int)");
            standby = primary.createStreamingReplica("collectors_b_standby");
            onPrimary = primary.connect();
            onStandby = standby.connect();
            replica = Eventually.await("the standby streaming in pg_stat_replication",
                    () -> firstRow(onPrimary, "SELECT coalesce(application_name, ''), coalesce(host(client_addr), '')"
                            + " FROM pg_stat_replication WHERE state = 'streaming'"),
                    row -> row != null);
            slot = firstRow(onPrimary, "SELECT slot_name, slot_type FROM pg_replication_slots WHERE active");
            assertNotNull(slot, "createStreamingReplica streams through a slot");
        }

        @AfterAll
        void stopStandby() throws Exception {
            if (standby == null) {
                return;
            }
            try (Statement statement = onStandby.createStatement()) {
                statement.execute("SELECT pg_wal_replay_resume()");
            } finally {
                onStandby.close();
                onPrimary.close();
                standby.close(); // drops its slot on the primary, which is left as the other tests found it
            }
        }

        @Test
        @Order(1)
        void thePrimaryReportsLagPerReplicaAndTheActiveSlot() throws Exception {
            // An asynchronous standby reports what it replayed only in its next reply (sent for new
            // WAL, or every wal_receiver_status_interval = 10 s): each round writes a little WAL, so
            // the reply to it carries the replay of the round before.
            MetricSink sink = Eventually.await("replay lag time reported for " + String.join("/", replica),
                    () -> {
                        walBytesWrittenBy(onPrimary, "INSERT INTO replication_wal_source VALUES (1)");
                        return collect(onPrimary, collector);
                    },
                    s -> value(s, ReplicationCollector.REPLAY_LAG_SECONDS, replica) != null);

            for (MetricFamily lagSeconds : List.of(ReplicationCollector.WRITE_LAG_SECONDS,
                    ReplicationCollector.FLUSH_LAG_SECONDS, ReplicationCollector.REPLAY_LAG_SECONDS)) {
                assertTrue(value(sink, lagSeconds, replica) >= 0, lagSeconds.name());
            }
            for (MetricFamily lagBytes : List.of(ReplicationCollector.SENT_LAG_BYTES,
                    ReplicationCollector.WRITE_LAG_BYTES, ReplicationCollector.FLUSH_LAG_BYTES,
                    ReplicationCollector.REPLAY_LAG_BYTES)) {
                assertTrue(value(sink, lagBytes, replica) >= 0, lagBytes.name());
            }
            assertEquals(value(sink, ReplicationCollector.REPLAY_LAG_BYTES, replica),
                    value(sink, ReplicationCollector.WAL_LSN_DIFF, replica));
            assertEquals(1.0, value(sink, ReplicationCollector.SLOT_IS_ACTIVE, slot));
            assertTrue(value(sink, ReplicationCollector.SLOT_RETAINED_WAL_BYTES, slot) >= 0);
            assertEquals(0.0, value(sink, ReplicationCollector.IS_REPLICA));
        }

        @Test
        @Order(2)
        void theStandbyReportsItselfStreamingAndItsReceivedAndReplayedPositions() throws Exception {
            MetricSink sink = collect(onStandby, collector);
            assertEquals(1.0, value(sink, ReplicationCollector.IS_REPLICA));
            assertEquals(1.0, value(sink, ReplicationCollector.WAL_RECEIVER_UP));
            assertNotNull(value(sink, ReplicationCollector.WAL_RECEIVER_LAST_MSG));
            assertTrue(value(sink, ReplicationCollector.STANDBY_LAG_SECONDS) >= 0);

            MetricSink wal = collect(onStandby, new WalCollector());
            assertNull(value(wal, WalCollector.CURRENT_LSN), "pg_current_wal_lsn() does not exist on a standby");
            assertTrue(value(wal, WalCollector.RECEIVE_LSN) > 0);
            assertTrue(value(wal, WalCollector.REPLAY_LSN) > 0);
        }

        @Test
        @Order(3)
        void everyCollectorRunsOnTheStandby() throws Exception {
            var server = serverOf(onStandby);
            assertTrue(server.inRecovery());
            for (CollectorCatalog.Entry entry : CollectorCatalog.entries()) {
                var collectorOnStandby = entry.create(CollectorOptions.UNCACHED);
                if (collectorOnStandby.supports(server)) {
                    assertDoesNotThrow(() -> collect(onStandby, collectorOnStandby), entry.name());
                }
            }
        }

        @Test
        @Order(4)
        void walWrittenWhileReplayIsPausedShowsAsReplayLag() throws Exception {
            try (Statement statement = onStandby.createStatement()) {
                statement.execute("SELECT pg_wal_replay_pause()");
            }
            Eventually.await("replay paused", () -> firstRow(onStandby, "SELECT pg_get_wal_replay_pause_state()")[0],
                    "paused"::equals);

            double written = walBytesWrittenBy(onPrimary,
                    "INSERT INTO replication_wal_source SELECT generate_series(1, 1000)");

            // the standby can't report a replay position past where it paused, so at least
            // everything written since is replay lag
            double replayLag = value(collect(onPrimary, collector), ReplicationCollector.REPLAY_LAG_BYTES, replica);
            assertTrue(replayLag >= written, replayLag + " >= " + written);

            // received but not replayed: the standby's own lag turns from 0 into time since the last replayed commit
            double primaryPosition = currentLsn(onPrimary);
            Eventually.await("the standby receiving the new WAL",
                    () -> value(collect(onStandby, new WalCollector()), WalCollector.RECEIVE_LSN),
                    received -> received >= primaryPosition);
            assertTrue(value(collect(onStandby, collector), ReplicationCollector.STANDBY_LAG_SECONDS) > 0);
        }

        @Test
        @Order(5)
        void aSlotWithoutItsStandbyRetainsNewWal() throws Exception {
            // a physical slot advances with what the standby flushed, so a paused replay does not
            // hold WAL back; a disconnected receiver does
            try (Statement statement = onStandby.createStatement()) {
                // a paused startup process never acts on a primary_conninfo change: resume first
                statement.execute("SELECT pg_wal_replay_resume()");
                statement.execute("ALTER SYSTEM SET primary_conninfo = ''");
                statement.execute("SELECT pg_reload_conf()");
            }
            Eventually.await("the standby's WAL receiver stopped",
                    () -> value(collect(onStandby, collector), ReplicationCollector.WAL_RECEIVER_UP),
                    up -> up == 0.0);
            // the walsender leaves pg_stat_replication and releases the slot as it exits, in no fixed order
            MetricSink disconnected = Eventually.await("the slot inactive and the replica gone on the primary",
                    () -> collect(onPrimary, collector),
                    sink -> value(sink, ReplicationCollector.SLOT_IS_ACTIVE, slot) == 0.0
                            && series(sink, ReplicationCollector.REPLAY_LAG_BYTES).isEmpty());
            double retainedBefore = value(disconnected, ReplicationCollector.SLOT_RETAINED_WAL_BYTES, slot);

            double written = walBytesWrittenBy(onPrimary,
                    "INSERT INTO replication_wal_source SELECT generate_series(1, 1000)");

            double retainedAfter = value(collect(onPrimary, collector), ReplicationCollector.SLOT_RETAINED_WAL_BYTES,
                    slot);
            assertTrue(retainedAfter >= retainedBefore + written,
                    retainedBefore + " + " + written + " <= " + retainedAfter);
        }
    }

    private static List<MetricSink.Sample> series(MetricSink sink, MetricFamily family) {
        return sink.samples().getOrDefault(family, List.of());
    }

    /** Runs {@code sql} and returns how far it moved the primary's WAL position, in bytes. */
    private static double walBytesWrittenBy(Connection primary, String sql) throws SQLException {
        double before = currentLsn(primary);
        try (Statement statement = primary.createStatement()) {
            statement.execute(sql);
        }
        double written = currentLsn(primary) - before;
        assertTrue(written > 0, "the workload wrote WAL");
        return written;
    }

    private static double currentLsn(Connection primary) throws SQLException {
        return Double.parseDouble(firstRow(primary, "SELECT pg_current_wal_lsn() - '0/0'")[0]);
    }

    /** The first row as strings, or {@code null} when there is none. */
    private static String[] firstRow(Connection connection, String sql) throws SQLException {
        try (Statement statement = connection.createStatement(); ResultSet row = statement.executeQuery(sql)) {
            if (!row.next()) {
                return null;
            }
            String[] values = new String[row.getMetaData().getColumnCount()];
            for (int i = 0; i < values.length; i++) {
                values[i] = row.getString(i + 1);
            }
            return values;
        }
    }
}
