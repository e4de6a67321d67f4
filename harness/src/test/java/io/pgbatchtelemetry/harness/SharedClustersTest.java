package io.pgbatchtelemetry.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.SQLException;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every configured version starts, is the version asked for, and is configured as the harness promises. */
class SharedClustersTest {

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void startsTheRequestedMajorVersion(int major) throws SQLException {
        PostgresCluster pg = SharedClusters.get(major);

        assertEquals(major, Integer.parseInt(pg.queryValue("SELECT current_setting('server_version_num')")) / 10000);
        assertEquals(major, pg.majorVersion());
        assertSame(pg, SharedClusters.get(major), "one cluster per version per JVM");
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void isConfiguredForTelemetryTests(int major) throws SQLException {
        PostgresCluster pg = SharedClusters.get(major);

        assertEquals("on", pg.queryValue("SHOW track_io_timing"));
        assertEquals("on", pg.queryValue("SHOW track_wal_io_timing"));
        assertEquals("on", pg.queryValue("SHOW fsync"), "checkpoint and WAL timings must be real");
        assertEquals("300", pg.queryValue("SHOW max_connections"));
        assertEquals("127.0.0.1", pg.queryValue("SHOW listen_addresses"));
        assertEquals(Integer.toString(pg.port()), pg.queryValue("SHOW port"));
        assertEquals("shared-pg" + major, pg.queryValue("SHOW cluster_name"));
        assertEquals("UTF8", pg.queryValue("SHOW server_encoding"));
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void tcpNeedsTheRightPassword(int major) throws SQLException {
        PostgresCluster pg = SharedClusters.get(major);

        try (Connection ok = pg.connect(pg.superuser(), pg.superuserPassword(), "postgres")) {
            assertTrue(ok.isValid(5));
        }
        SQLException refused = assertThrows(SQLException.class,
                () -> pg.connect(pg.superuser(), pg.superuserPassword() + "x", "postgres").close());
        assertEquals("28P01", refused.getSQLState(), "invalid_password: " + refused.getMessage());
    }

    @Test
    void pg15HasPgCronRunningInDatabasePostgres() throws SQLException {
        Assumptions.assumeTrue(SharedClusters.versions().contains(15),
                "PGBT_PG_VERSIONS excludes 15, the only version with pg_cron here");
        PostgresCluster pg = SharedClusters.get(15);

        assertEquals("pg_cron", pg.queryValue("SHOW shared_preload_libraries"));
        assertEquals("postgres", pg.queryValue("SHOW cron.database_name"));
        assertEquals("1", pg.queryValue("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'"));
        // jobs run in background workers: pg_cron's libpq connection would need the scram password.
        // That a job really fires on this cluster is shown by the sql module's PgCronTest (a minute's wait).
        assertEquals("on", pg.queryValue("SHOW cron.use_background_workers"));
        assertTrue(Integer.parseInt(pg.queryValue("SHOW max_worker_processes")) >= 16, "room for job workers");
    }
}
