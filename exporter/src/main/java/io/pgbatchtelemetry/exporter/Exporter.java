package io.pgbatchtelemetry.exporter;

import io.pgbatchtelemetry.exporter.collector.Collector;
import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import io.pgbatchtelemetry.exporter.db.ConnectionPool;
import io.pgbatchtelemetry.exporter.http.MetricsHttpServer;
import io.pgbatchtelemetry.exporter.sampler.WaitEventSampler;
import io.pgbatchtelemetry.exporter.scrape.PostgresMultiCollector;
import io.pgbatchtelemetry.exporter.scrape.ScrapeCoordinator;
import io.pgbatchtelemetry.exporter.scrape.SelfMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.util.List;

/**
 * The running exporter: pool, scrape coordinator, wait-event sampler, registry and HTTP server,
 * wired from settings.
 *
 * <p>{@code Main}, the demo and the tests all start the exporter through here, so they run the
 * same thing. The registry is created here, never the static default, so two exporters in one
 * JVM (tests) don't see each other's metrics.
 */
public final class Exporter implements AutoCloseable {

    private final ConnectionPool pool;
    private final ScrapeCoordinator coordinator;
    private final MetricsHttpServer http;
    /** {@code null} when sampler.enabled is false. */
    private final WaitEventSampler sampler;

    private Exporter(ConnectionPool pool, ScrapeCoordinator coordinator, MetricsHttpServer http, WaitEventSampler sampler) {
        this.pool = pool;
        this.coordinator = coordinator;
        this.http = http;
        this.sampler = sampler;
    }

    /** Builds and starts the exporter; the HTTP port is bound when this returns. */
    public static Exporter start(ExporterSettings settings) throws IOException {
        return start(settings, CollectorCatalog.create(settings.collectors()));
    }

    /** Starts with the given collectors instead of the configured ones (tests plug in their own). */
    public static Exporter start(ExporterSettings settings, List<Collector> collectors) throws IOException {
        String version = BuildVersion.get();
        ConnectionPool pool = new ConnectionPool(settings.dataSource(), settings.scrape());
        ScrapeCoordinator coordinator = new ScrapeCoordinator(pool, collectors, settings.scrape().timeout());
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(new PostgresMultiCollector(coordinator, new SelfMetrics(version, pool)));
        // its own connection and thread; scrapes read its counters from memory and never wait for it
        WaitEventSampler sampler = settings.sampler().enabled() ? new WaitEventSampler(settings) : null;
        if (sampler != null) {
            registry.register(sampler.metrics());
        }
        MetricsHttpServer http;
        try {
            http = new MetricsHttpServer(settings.web(), registry, version);
        } catch (IOException | RuntimeException e) {
            coordinator.close();
            pool.close();
            throw e;
        }
        http.start();
        if (sampler != null) {
            sampler.start();
        }
        return new Exporter(pool, coordinator, http, sampler);
    }

    public int port() {
        return http.port();
    }

    /** Stops serving (letting a scrape in flight finish), then stops the sampler and closes the connections. */
    @Override
    public void close() {
        http.stop(2);
        if (sampler != null) {
            sampler.close();
        }
        coordinator.close();
        pool.close();
    }
}
