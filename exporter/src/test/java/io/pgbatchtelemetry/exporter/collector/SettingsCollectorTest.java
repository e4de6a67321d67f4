package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.collect;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.collectUntil;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.execute;
import static io.pgbatchtelemetry.exporter.collector.StatsTestSql.queryDouble;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class SettingsCollectorTest {

    private final SettingsCollector collector = new SettingsCollector();

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void alterSystemAndReloadShowsInBaseUnits(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        try (Connection connection = cluster.connect()) {
            try {
                cluster.setSetting("max_wal_size", "1536MB");
                cluster.setSetting("checkpoint_timeout", "7min");
                // the reload reaches this session by signal, between two of its statements
                MetricSink sink = collectUntil(connection, collector,
                        s -> Double.valueOf(1536.0 * 1024 * 1024).equals(
                                value(s, SettingsCollector.familyOf("max_wal_size")))
                                && Double.valueOf(420).equals(value(s, SettingsCollector.familyOf("checkpoint_timeout"))),
                        "max_wal_size 1536MB and checkpoint_timeout 7min after the reload");
                assertEquals(1610612736.0, value(sink, SettingsCollector.familyOf("max_wal_size")));
                assertEquals("pg_settings_max_wal_size_bytes", SettingsCollector.familyOf("max_wal_size").name());
                assertEquals("pg_settings_checkpoint_timeout_seconds",
                        SettingsCollector.familyOf("checkpoint_timeout").name());
            } finally {
                // The harness configures its clusters in an included file, never with ALTER SYSTEM, so
                // RESET puts the shared cluster back exactly as it was; wait so the next test sees it.
                execute(connection, "ALTER SYSTEM RESET max_wal_size", "ALTER SYSTEM RESET checkpoint_timeout",
                        "SELECT pg_reload_conf()");
                collectUntil(connection, collector,
                        s -> !Double.valueOf(420).equals(value(s, SettingsCollector.familyOf("checkpoint_timeout")))
                                && !Double.valueOf(1536.0 * 1024 * 1024).equals(
                                        value(s, SettingsCollector.familyOf("max_wal_size"))),
                        "the shared cluster's own max_wal_size and checkpoint_timeout back after RESET");
            }
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void sessionSettingsBooleansAndTheSynchronousCommitEnum(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect()) {
            MetricSink defaults = collect(connection, collector);
            assertEquals(1.0, value(defaults, SettingsCollector.familyOf("track_io_timing")),
                    "the shared clusters run with track_io_timing on");
            assertEquals(-1.0, value(defaults, SettingsCollector.familyOf("autovacuum_work_mem")),
                    "-1 (use maintenance_work_mem) is kept, not converted to -1024 bytes");

            execute(connection, "SET work_mem = '3MB'", "SET deadlock_timeout = '250ms'",
                    "SET track_io_timing = off", "SET synchronous_commit = 'local'");
            // same backend, no reload: pg_settings is not read again, the samples read last are served
            MetricSink cached = collect(connection, collector);
            assertEquals(value(defaults, SettingsCollector.familyOf("work_mem")),
                    value(cached, SettingsCollector.familyOf("work_mem")), "work_mem as read before the SET");
            assertTrue(collector.statements(CollectorTestSupport.serverOf(connection)).isEmpty(),
                    "nothing to prefetch while the settings generation is unchanged");
            // a collector that has read nothing yet reads what this session sees now
            MetricSink sink = collect(connection, new SettingsCollector());
            assertEquals(3.0 * 1024 * 1024, value(sink, SettingsCollector.familyOf("work_mem")));
            assertEquals(0.25, value(sink, SettingsCollector.familyOf("deadlock_timeout")), 1e-12);
            assertEquals(0.0, value(sink, SettingsCollector.familyOf("track_io_timing")));
            assertEquals(List.of(new MetricSink.Sample(List.of("local"), 1.0)),
                    sink.samples().get(SettingsCollector.SYNCHRONOUS_COMMIT), "one series, labelled with the value");
        }
    }

    /** Cross-checks every tracked setting against PostgreSQL's own parsing of its display value. */
    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void everyTrackedSettingExistsAndMatchesPostgresOwnUnitConversion(int major) throws Exception {
        try (Connection connection = SharedClusters.get(major).connect()) {
            MetricSink sink = collect(connection, collector);
            for (String name : SettingsCollector.trackedNames()) {
                Double exported = value(sink, SettingsCollector.familyOf(name));
                assertNotNull(exported, name + " is exported on PostgreSQL " + major + " (same unit dimension)");
                assertEquals(expected(connection, name), exported, 1e-9, name);
            }
        }
    }

    private static double expected(Connection connection, String name) throws SQLException {
        String family = SettingsCollector.familyOf(name).name();
        String shown = "current_setting('" + name + "')";
        String sql;
        if (family.endsWith("_bytes")) {
            sql = "SELECT CASE WHEN " + shown + " = '-1' THEN -1 ELSE pg_size_bytes(" + shown + ") END";
        } else if (family.endsWith("_seconds")) {
            sql = "SELECT CASE WHEN " + shown + " = '-1' THEN -1 ELSE extract(epoch FROM " + shown + "::interval) END";
        } else {
            sql = "SELECT CASE " + shown + " WHEN 'on' THEN 1 WHEN 'off' THEN 0 ELSE " + shown + "::float8 END";
        }
        return queryDouble(connection, sql);
    }
}
