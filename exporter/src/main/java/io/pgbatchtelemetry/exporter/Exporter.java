package io.pgbatchtelemetry.exporter;

import io.pgbatchtelemetry.exporter.collector.Collector;
import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import io.pgbatchtelemetry.exporter.http.MetricsHttpServer;
import io.pgbatchtelemetry.exporter.sampler.WaitEventSampler;
import io.pgbatchtelemetry.exporter.scrape.ConnectionPool;
import io.pgbatchtelemetry.exporter.scrape.PostgresMultiCollector;
import io.pgbatchtelemetry.exporter.scrape.ScrapeCoordinator;
import io.pgbatchtelemetry.exporter.scrape.SelfMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The running exporter: pool, scrape coordinator, wait-event sampler, registry and HTTP server,
 * wired from settings.
 *
 * <p>{@code Main}, the demo and the tests all start the exporter through here, so they run the
 * same thing. The registry is created here, never the static default, so two exporters in one
 * JVM (tests) don't see each other's metrics. Each server it scrapes — the one behind
 * {@code /metrics} and every {@code /probe} target — gets its own pool, coordinator and registry.
 */
public final class Exporter implements AutoCloseable {

    /** One scraped server: its pool, its coordinator (and so its deadline) and its registry. */
    private record ScrapedServer(ConnectionPool pool, ScrapeCoordinator coordinator, PrometheusRegistry registry) {

        static ScrapedServer open(String target, ExporterSettings.DataSource source, ExporterSettings.Scrape scrape,
                                  List<Collector> collectors, String version) {
            ConnectionPool pool = new ConnectionPool(source, scrape);
            ScrapeCoordinator coordinator = new ScrapeCoordinator(pool, collectors, scrape.timeout(), target);
            PrometheusRegistry registry = new PrometheusRegistry();
            registry.register(new PostgresMultiCollector(coordinator, new SelfMetrics(version, pool)));
            return new ScrapedServer(pool, coordinator, registry);
        }

        void close() {
            coordinator.close();
            pool.close();
        }
    }

    private final List<ScrapedServer> servers;
    private final MetricsHttpServer http;
    private final int shutdownGraceSeconds;
    /** {@code null} when sampler.enabled is false or there is no default server to sample. */
    private final WaitEventSampler sampler;

    private Exporter(List<ScrapedServer> servers, MetricsHttpServer http, int shutdownGraceSeconds, WaitEventSampler sampler) {
        this.servers = servers;
        this.http = http;
        this.shutdownGraceSeconds = shutdownGraceSeconds;
        this.sampler = sampler;
    }

    /** Builds and starts the exporter; the HTTP port is bound when this returns. */
    public static Exporter start(ExporterSettings settings) throws IOException {
        return start(settings, () -> CollectorCatalog.create(settings.collectors(), settings.collectorOptions()));
    }

    /**
     * Starts with the given collectors instead of the configured ones (tests plug in their own).
     * Probe targets share these instances.
     */
    public static Exporter start(ExporterSettings settings, List<Collector> collectors) throws IOException {
        return start(settings, () -> collectors);
    }

    private static Exporter start(ExporterSettings settings, Supplier<List<Collector>> collectors) throws IOException {
        String version = BuildVersion.get();
        List<ScrapedServer> servers = new ArrayList<>();
        WaitEventSampler sampler = null;
        MetricsHttpServer http;
        try {
            PrometheusRegistry main = null;
            if (settings.hasDefaultTarget()) {
                ScrapedServer server = ScrapedServer.open("", settings.dataSource(), settings.scrape(), collectors.get(), version);
                servers.add(server);
                main = server.registry();
                // its own connection and thread; scrapes read its counters from memory and never wait for it
                if (settings.sampler().enabled()) {
                    sampler = new WaitEventSampler(settings);
                    main.register(sampler.metrics());
                }
            }
            // each target its own pool, coordinator and deadline: a stalled server holds only its own
            Map<String, PrometheusRegistry> probes = new LinkedHashMap<>();
            for (ExporterSettings.Target target : settings.targets().values()) {
                ScrapedServer server = ScrapedServer.open(target.name(), target.dataSource(), target.scrape(), collectors.get(), version);
                servers.add(server);
                probes.put(target.name(), server.registry());
            }
            http = new MetricsHttpServer(settings.web(), main, probes, version);
        } catch (IOException | RuntimeException e) {
            if (sampler != null) {
                sampler.close();
            }
            servers.forEach(ScrapedServer::close);
            throw e;
        }
        http.start();
        if (sampler != null) {
            sampler.start();
        }
        return new Exporter(List.copyOf(servers), http, shutdownGraceSeconds(settings), sampler);
    }

    /** Long enough for the slowest scrape in flight to reach its deadline and be written out. */
    private static int shutdownGraceSeconds(ExporterSettings settings) {
        Duration longest = settings.scrape().timeout();
        for (ExporterSettings.Target target : settings.targets().values()) {
            if (target.scrape().timeout().compareTo(longest) > 0) {
                longest = target.scrape().timeout();
            }
        }
        return (int) Math.min(Integer.MAX_VALUE, longest.toSeconds() + 2);
    }

    public int port() {
        return http.port();
    }

    /**
     * Stops accepting requests, lets the scrapes in flight finish (each is bounded by its deadline),
     * then stops the sampler and closes the connections.
     */
    @Override
    public void close() {
        http.stop(shutdownGraceSeconds);
        if (sampler != null) {
            sampler.close();
        }
        servers.forEach(ScrapedServer::close);
    }
}
