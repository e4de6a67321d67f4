package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What a scrape costs on the wire: after the first, one round trip to PostgreSQL. The probe travels
 * with every collector's statements in one batch, and the pool hands out its connection without a
 * liveness check of its own, even after more than HikariCP's usual 500 ms of idleness (the scrapes
 * here are 0.6 s apart, as real ones are 15 s apart). Counted at a TCP proxy as what the exporter
 * sends toward the server: a client that waits for each answer sends once per round trip.
 *
 * <p>With the telemetry schema installed as well: the probe reads what of the schema is there once
 * for the three telemetry collectors, and their statements travel in the same batch.
 */
class RoundTripsTest {

    private static final String TELEMETRY_DB = "pgbt_round_trips";

    @ParameterizedTest(name = "telemetry schema installed: {0}")
    @ValueSource(booleans = {false, true})
    void aScrapeIsOneRoundTripAfterTheFirst(boolean withTelemetrySchema) throws Exception {
        PostgresCluster cluster = SharedClusters.get(ExporterTestSupport.newestVersion());
        ExporterTestSupport.createMonitoringRole(cluster);
        String database = "postgres";
        if (withTelemetrySchema) {
            TelemetryTestDb.install(cluster, TELEMETRY_DB);
            database = TELEMETRY_DB;
        }
        try (StallingProxy proxy = new StallingProxy(cluster.host(), cluster.port());
             Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, Map.of(
                     "data-source.url", "postgresql://" + ExporterTestSupport.MONITOR_USER + ":"
                             + ExporterTestSupport.MONITOR_PASSWORD + "@127.0.0.1:" + proxy.port()
                             + "/" + database + "?sslmode=disable",
                     "sampler.enabled", "false", // its own connection would send through the proxy too
                     "scrape.database-size-interval", "1h")))) {
            // the first scrapes probe alone, read the sizes and settings, and let pgjdbc switch to
            // server-prepared statements (after 5 executions)
            for (int i = 0; i < 7; i++) {
                assertEquals(1.0, ExporterTestSupport.scrape(exporter.port()).value("pg_up"));
            }
            for (int i = 1; i <= 3; i++) {
                Thread.sleep(600);
                long before = proxy.upstreamChunks();
                Exposition metrics = ExporterTestSupport.scrape(exporter.port());
                assertEquals(1, proxy.upstreamChunks() - before, "round trips in scrape " + i);
                assertEquals(1.0, metrics.value("pg_up"));
                for (String collector : CollectorCatalog.names()) {
                    assertEquals(1.0, metrics.value("pg_scrape_collector_success", "collector", collector), collector);
                }
                assertEquals(withTelemetrySchema ? 1.0 : 0.0, metrics.value("pg_telemetry_schema_installed"));
                if (withTelemetrySchema) {
                    assertEquals(0.0, metrics.value("pg_telemetry_tracked_tables"), "the telemetry collectors' statements ran");
                }
            }
        }
    }
}
