package io.pgbatchtelemetry.exporter.scrape;

import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.util.List;

/**
 * The exporter's own health: is PostgreSQL up, which collectors worked and how long they took,
 * what is running (build info), and how busy the connection pool is.
 *
 * <p>Names follow postgres_exporter ({@code pg_up}, {@code pg_static},
 * {@code pg_scrape_collector_success}) so its dashboards and alerts keep working.
 */
public final class SelfMetrics {

    public static final MetricFamily UP = MetricFamily.gauge("pg_up",
            "Whether PostgreSQL answered the last scrape (1) or not (0).");
    public static final MetricFamily STATIC = MetricFamily.gauge("pg_static",
            "Version of the PostgreSQL server; constant 1.", "short_version", "version");
    public static final MetricFamily BUILD_INFO = MetricFamily.info("pg_exporter_build_info",
            "Version of pg-batch-exporter and the Java runtime running it; constant 1.", "version", "java_version");
    public static final MetricFamily COLLECTOR_SUCCESS = MetricFamily.gauge("pg_scrape_collector_success",
            "Whether the collector succeeded in the last scrape (1) or failed or timed out (0).", "collector");
    public static final MetricFamily COLLECTOR_DURATION = MetricFamily.gauge("pg_scrape_collector_duration_seconds",
            "Time the collector took in the last scrape: reading its rows when its statements came in the scrape's"
                    + " batch (pg_exporter_scrape_duration_seconds includes that round trip), running them otherwise.",
            "collector");
    public static final MetricFamily SCRAPE_DURATION = MetricFamily.gauge("pg_exporter_scrape_duration_seconds",
            "Time the last scrape of PostgreSQL took, as the HTTP request saw it.");
    public static final MetricFamily POOL_ACTIVE = MetricFamily.gauge("pg_exporter_pool_active_connections",
            "Connections of the exporter's pool in use.");
    public static final MetricFamily POOL_IDLE = MetricFamily.gauge("pg_exporter_pool_idle_connections",
            "Connections of the exporter's pool open and idle.");
    public static final MetricFamily POOL_WAITING = MetricFamily.gauge("pg_exporter_pool_pending_threads",
            "Threads waiting for a connection of the exporter's pool.");
    public static final MetricFamily POOL_MAX = MetricFamily.gauge("pg_exporter_pool_max_connections",
            "Largest number of connections the exporter may open.");

    public static final List<MetricFamily> FAMILIES = List.of(UP, STATIC, BUILD_INFO, COLLECTOR_SUCCESS,
            COLLECTOR_DURATION, SCRAPE_DURATION, POOL_ACTIVE, POOL_IDLE, POOL_WAITING, POOL_MAX);

    private final String exporterVersion;
    private final ConnectionPool pool;

    public SelfMetrics(String exporterVersion, ConnectionPool pool) {
        this.exporterVersion = exporterVersion;
        this.pool = pool;
    }

    public void write(ScrapeResult result, MetricSink sink) {
        sink.add(UP, result.up());
        if (result.server() != null) {
            sink.add(STATIC, 1.0, result.server().shortVersion(), result.server().version());
        }
        sink.add(BUILD_INFO, 1.0, exporterVersion, System.getProperty("java.version"));
        for (CollectorOutcome outcome : result.outcomes()) {
            sink.add(COLLECTOR_SUCCESS, outcome.success(), outcome.collector());
            sink.add(COLLECTOR_DURATION, outcome.duration().toNanos() / 1e9, outcome.collector());
        }
        sink.add(SCRAPE_DURATION, result.duration().toNanos() / 1e9);
        ConnectionPool.Stats stats = pool.stats();
        sink.add(POOL_ACTIVE, stats.active());
        sink.add(POOL_IDLE, stats.idle());
        sink.add(POOL_WAITING, stats.waiting());
        sink.add(POOL_MAX, stats.max());
    }
}
