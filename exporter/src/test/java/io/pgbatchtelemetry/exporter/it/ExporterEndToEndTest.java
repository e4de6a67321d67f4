package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import io.pgbatchtelemetry.exporter.collector.CollectorOptions;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.sampler.SamplerFamilies;
import io.pgbatchtelemetry.exporter.scrape.SelfMetrics;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The exporter as users run it, as a pg_monitor-only role, on every supported version: every
 * collector succeeds, the exposition is clean for promtool, and content negotiation, the landing
 * page and the health endpoint answer.
 */
class ExporterEndToEndTest {

    static Stream<Integer> versions() {
        return SharedClusters.versions().stream();
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("versions")
    void everyCollectorSucceedsAsPgMonitorAndTheExpositionIsClean(int version) throws Exception {
        PostgresCluster cluster = SharedClusters.get(version);
        ExporterTestSupport.createMonitoringRole(cluster);
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, Map.of()))) {
            Exposition metrics = ExporterTestSupport.scrape(exporter.port());

            assertEquals(1.0, metrics.value("pg_up"), "pg_up");
            for (String collector : CollectorCatalog.names()) {
                assertEquals(1.0, metrics.value("pg_scrape_collector_success", "collector", collector),
                        "collector " + collector + " on PostgreSQL " + version + "\n" + metrics.text());
                assertNotNull(metrics.value("pg_scrape_collector_duration_seconds", "collector", collector));
            }
            assertEquals(1.0, metrics.value("pg_exporter_build_info", "version", io.pgbatchtelemetry.exporter.BuildVersion.get(),
                    "java_version", System.getProperty("java.version")));
            assertTrue(metrics.value("pg_wal_current_lsn_bytes") > 0, "WAL position read");
            assertEquals(3.0, metrics.value("pg_exporter_pool_max_connections"));

            assertEquals("", ExporterTestSupport.promtoolCheck(metrics.text()), "promtool check metrics must print nothing");
            assertDocumented(metrics);
        }
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource("versions")
    void servesOpenMetricsLandingPageAndHealth(int version) throws Exception {
        PostgresCluster cluster = SharedClusters.get(version);
        ExporterTestSupport.createMonitoringRole(cluster);
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, Map.of("web.telemetry-path", "/custom")))) {
            ExporterTestSupport.Response openMetrics = ExporterTestSupport.get(exporter.port(), "/custom",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8");
            assertEquals(200, openMetrics.status());
            assertTrue(openMetrics.contentType().startsWith("application/openmetrics-text"), openMetrics.contentType());
            assertTrue(openMetrics.body().endsWith("# EOF\n"), "OpenMetrics ends with # EOF");
            assertTrue(openMetrics.body().contains("pg_up 1"), openMetrics.body());

            ExporterTestSupport.Response text = ExporterTestSupport.get(exporter.port(), "/custom", "text/plain");
            assertTrue(text.contentType().startsWith("text/plain"), text.contentType());

            ExporterTestSupport.Response landing = ExporterTestSupport.get(exporter.port(), "/", null);
            assertEquals(200, landing.status());
            assertTrue(landing.body().contains("href=\"/custom\""), landing.body());
            assertTrue(landing.body().contains("href=\"/-/healthy\""), landing.body());

            assertEquals(200, ExporterTestSupport.get(exporter.port(), "/-/healthy", null).status());
            assertEquals(404, ExporterTestSupport.get(exporter.port(), "/nothing-here", null).status());
        }
    }

    /** Every exposed family is declared by a collector or the self metrics (and so is in docs/metrics.md). */
    private static void assertDocumented(Exposition metrics) {
        Set<String> declared = new HashSet<>();
        SelfMetrics.FAMILIES.forEach(f -> declared.add(f.name()));
        SamplerFamilies.FAMILIES.forEach(f -> declared.add(f.name()));
        CollectorCatalog.entries().forEach(e -> e.create(CollectorOptions.UNCACHED).families().stream().map(MetricFamily::name).forEach(declared::add));
        for (String series : metrics.series().keySet()) {
            String name = series.contains("{") ? series.substring(0, series.indexOf('{')) : series;
            assertTrue(declared.contains(name), "undeclared metric " + name);
        }
        assertFalse(declared.isEmpty());
    }
}
