package io.pgbatchtelemetry.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Stop, start, restart, crash and reconfiguration on a private cluster (these would disturb the
 * shared ones). One version is enough: the lifecycle is pg_ctl's, the same on 15-18.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PostgresClusterLifecycleTest {

    private PostgresCluster pg;

    @BeforeAll
    void startPrivateCluster() {
        pg = PostgresCluster.builder(TestVersions.preferring(16))
                .name("lifecycle")
                .setting("statement_timeout", "5min")
                .build();
        pg.start();
    }

    @AfterAll
    void closeDeletesTheClusterDirectory() {
        Path clusterDir = pg.dataDir().getParent();
        assertTrue(Files.isDirectory(clusterDir));
        pg.close();
        assertFalse(pg.isRunning());
        assertFalse(Files.exists(clusterDir), clusterDir + " must be deleted by close()");
    }

    @Test
    void builderSettingsReachTheServer() throws SQLException {
        assertEquals("5min", pg.queryValue("SHOW statement_timeout"));
        assertEquals("lifecycle", pg.queryValue("SHOW cluster_name"));
        assertEquals(pg.dataDir().toString(), pg.queryValue("SHOW unix_socket_directories"));
    }

    @Test
    void crashLosesOnlyUncommittedWorkAndStartRecovers() throws SQLException {
        pg.execute("CREATE TABLE crash_probe(note text); INSERT INTO crash_probe VALUES ('committed')");
        String startedBefore = pg.queryValue("SELECT pg_postmaster_start_time()");
        Connection inFlight = pg.connect();
        try (Statement statement = inFlight.createStatement()) {
            inFlight.setAutoCommit(false);
            statement.execute("INSERT INTO crash_probe VALUES ('in flight')");

            pg.crash();

            assertFalse(pg.isRunning());
            assertThrows(SQLException.class, () -> statement.execute("SELECT 1"), "the session died with the server");
        } finally {
            inFlight.close();
        }

        pg.start();

        assertEquals("committed", pg.queryValue("SELECT string_agg(note, ',') FROM crash_probe"));
        assertNotEquals(startedBefore, pg.queryValue("SELECT pg_postmaster_start_time()"));
        pg.execute("DROP TABLE crash_probe");
    }

    @Test
    void stopThenStartKeepsDataAndPort() throws SQLException {
        pg.execute("CREATE TABLE stop_probe AS SELECT 42 AS answer");
        int port = pg.port();

        pg.stop();

        assertFalse(pg.isRunning());
        assertThrows(SQLException.class, () -> pg.connect().close());

        pg.start();

        assertEquals(port, pg.port());
        assertEquals("42", pg.queryValue("SELECT answer FROM stop_probe"));
        pg.execute("DROP TABLE stop_probe");
    }

    @Test
    void setSettingReloadsOrAsksForRestart() throws SQLException {
        assertFalse(pg.setSetting("work_mem", "64kB"), "work_mem needs no restart");
        assertEquals("64kB", pg.queryValue("SHOW work_mem"));

        assertTrue(pg.setSetting("max_locks_per_transaction", "128"), "a postmaster setting needs a restart");
        assertEquals("64", pg.queryValue("SHOW max_locks_per_transaction"));
        pg.restart();
        assertEquals("128", pg.queryValue("SHOW max_locks_per_transaction"));

        pg.execute("ALTER SYSTEM RESET ALL");
        pg.restart();
        assertEquals("4MB", pg.queryValue("SHOW work_mem"));
    }

    @Test
    void pgCronIsRefusedWhereItIsNotInstalled() {
        int major = TestVersions.preferring(16);
        if (major == 15) {
            assertTrue(PgBinaries.forMajor(15).hasLibrary("pg_cron"));
            return;
        }
        HarnessException refused = assertThrows(HarnessException.class,
                () -> PostgresCluster.builder(major).preloadPgCron(true).build());
        assertTrue(refused.getMessage().contains("pg_cron is not available for PostgreSQL " + major),
                refused.getMessage());
    }
}
