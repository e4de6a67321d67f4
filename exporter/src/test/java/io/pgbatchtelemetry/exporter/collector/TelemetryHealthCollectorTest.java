package io.pgbatchtelemetry.exporter.collector;

import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.collect;
import static io.pgbatchtelemetry.exporter.collector.CollectorTestSupport.value;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.it.ExporterTestSupport;
import io.pgbatchtelemetry.exporter.it.TelemetryTestDb;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The schema's own health as the monitoring role reads it, and what every telemetry collector does
 * where the schema is not there (nothing, successfully), where a schema of the same name belongs to
 * somebody else (the same), and where it is installed but this role may not read it (fail, naming
 * the grant). The pg_cron job metrics need pg_cron: {@link TelemetryCronAndAutovacuumTest}.
 */
class TelemetryHealthCollectorTest {

    private static final String DB = "pgbt_tele_health";
    private static final String FOREIGN_DB = "pgbt_tele_foreign";
    private static final String STATS_ONLY_ROLE = "pgbt_tele_stats_only";
    private static final String STATS_ONLY_PASSWORD = "stats-Only-9";

    private final TelemetryHealthCollector health = new TelemetryHealthCollector();

    private static List<Collector> telemetryCollectors() {
        return List.of(new TelemetryBatchesCollector(), new TelemetryTablesCollector(), new TelemetryHealthCollector());
    }

    @AfterAll
    static void dropRole() throws SQLException {
        for (int major : SharedClusters.versions()) {
            SharedClusters.get(major).execute("DROP ROLE IF EXISTS " + STATS_ONLY_ROLE);
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void agesAreAbsentBeforeTheFirstCollectionAndSmallAfterIt(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        TelemetryTestDb.install(cluster, DB);
        ExporterTestSupport.createMonitoringRole(cluster);
        TelemetryTestDb.exec(cluster, DB, "TRUNCATE telemetry.snapshots, telemetry.samples CASCADE");
        try (Connection monitor = cluster.connect(ExporterTestSupport.MONITOR_USER, ExporterTestSupport.MONITOR_PASSWORD, DB)) {
            MetricSink empty = collect(monitor, health);
            assertEquals(1.0, value(empty, TelemetryHealthCollector.INSTALLED));
            assertNull(value(empty, TelemetryHealthCollector.SNAPSHOT_AGE), "no snapshot yet: absent, not 0");
            assertNull(value(empty, TelemetryHealthCollector.SAMPLE_AGE));

            double before = TelemetryTestDb.number(cluster, DB, "SELECT extract(epoch FROM now())");
            TelemetryTestDb.exec(cluster, DB, "SELECT telemetry.snapshot()", "SELECT telemetry.sample()");
            MetricSink fresh = collect(monitor, health);
            double elapsed = TelemetryTestDb.number(cluster, DB, "SELECT extract(epoch FROM now())") - before;
            for (MetricFamily age : List.of(TelemetryHealthCollector.SNAPSHOT_AGE, TelemetryHealthCollector.SAMPLE_AGE)) {
                double seconds = value(fresh, age);
                assertTrue(seconds >= 0 && seconds <= elapsed,
                        age.name() + " = " + seconds + " s, but the collection happened within " + elapsed + " s");
            }
            assertTrue(fresh.samples().getOrDefault(TelemetryHealthCollector.CRON_JOB_ACTIVE, List.of()).isEmpty(),
                    "no pg_cron jobs in this database: no job series");
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void withoutTheSchemaOrWithSomebodyElsesTelemetrySchemaNothingIsExported(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        ExporterTestSupport.createMonitoringRole(cluster);
        TelemetryTestDb.createDatabase(cluster, FOREIGN_DB);
        TelemetryTestDb.exec(cluster, FOREIGN_DB, "CREATE SCHEMA IF NOT EXISTS telemetry",
                "CREATE TABLE IF NOT EXISTS telemetry.runs (id int)",
                "GRANT USAGE ON SCHEMA telemetry TO pg_monitor");
        for (String database : List.of("postgres", FOREIGN_DB)) {
            try (Connection monitor = cluster.connect(ExporterTestSupport.MONITOR_USER, ExporterTestSupport.MONITOR_PASSWORD, database)) {
                for (Collector collector : telemetryCollectors()) {
                    MetricSink sink = collect(monitor, collector);
                    Map<MetricFamily, List<MetricSink.Sample>> samples = sink.samples();
                    List<String> exported = new ArrayList<>();
                    samples.forEach((family, list) -> list.forEach(s -> exported.add(family.name() + s.labelValues() + "=" + s.value())));
                    List<String> expected = collector instanceof TelemetryHealthCollector
                            ? List.of(TelemetryHealthCollector.INSTALLED.name() + "[]=0.0") : List.of();
                    assertEquals(expected, exported, collector.name() + " in database " + database);
                }
            }
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("io.pgbatchtelemetry.harness.SharedClusters#versionsArguments")
    void anInstalledSchemaThisRoleMayNotReadFailsNamingTheGrant(int major) throws Exception {
        PostgresCluster cluster = SharedClusters.get(major);
        TelemetryTestDb.install(cluster, DB);
        // sees every session's statistics, but is not pg_monitor, so telemetry_reader does not reach it
        cluster.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + STATS_ONLY_ROLE + "') THEN "
                + "CREATE ROLE " + STATS_ONLY_ROLE + " LOGIN PASSWORD '" + STATS_ONLY_PASSWORD + "' IN ROLE pg_read_all_stats; END IF; END $$");
        try (Connection statsOnly = cluster.connect(STATS_ONLY_ROLE, STATS_ONLY_PASSWORD, DB)) {
            for (Collector collector : telemetryCollectors()) {
                SQLException e = assertThrows(SQLException.class, () -> collect(statsOnly, collector), collector.name());
                assertTrue(e.getMessage().contains("GRANT telemetry_reader TO " + STATS_ONLY_ROLE), e.getMessage());
            }
        }
    }
}
