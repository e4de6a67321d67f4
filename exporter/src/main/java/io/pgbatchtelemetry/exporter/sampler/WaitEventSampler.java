package io.pgbatchtelemetry.exporter.sampler;

import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import io.prometheus.metrics.model.registry.MultiCollector;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The background wait-event sampler: Active Session History for Prometheus, without an extension.
 *
 * <p>A scrape-time count of pg_stat_activity sees one instant every 15-60 s. This thread reads
 * pg_stat_activity at a fixed rate (default every second) on its own connection and adds, for
 * every active session, the time since the previous sample to a counter per
 * (backend_type, wait_event_type, wait_event), per batch, and per class of lock blocker
 * ({@link WaitTimeAccumulator}, estimator in {@link SampleWeights}). {@code rate()} of those
 * counters is average active sessions, the unit of Oracle ASH and Performance Insights.
 *
 * <p>Scrapes never wait for it: they read the in-memory counters through {@link #metrics()}, a
 * separate MultiCollector, while the sampler talks to PostgreSQL on its own thread and connection.
 * When a sample fails (server down, connection lost, statement timeout) the connection is dropped,
 * {@code pg_sampler_errors_total} grows, and the next attempt waits with exponential backoff
 * ({@link Backoff}); the first success resets it.
 *
 * <p>The {@code pg_wait_sampling} extension is not used even where it is installed: it must be
 * preloaded (a restart) and installed by a superuser, its profile has no application_name, user or
 * blocker (so no batch attribution, no "who blocked my batch"), and resetting it needs more than
 * pg_monitor. Sampling pg_stat_activity gives the same numbers on every server the exporter can
 * read; for the aggregate rates Prometheus shows, a 1 s sample is statistically enough.
 *
 * <p>Where the exporter's role may write to the telemetry schema, each tick also stores a sample
 * there while a batch run is open ({@link OpenRunSampling}), so the schema's diagnosis sees what
 * this thread sees.
 */
public final class WaitEventSampler implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(WaitEventSampler.class);

    private final Duration interval;
    private final SamplerConnection connections;
    private final ActivityQuery query;
    private final WaitTimeAccumulator accumulator;
    private final SamplerHealth health;
    private final SampleWeights weights;
    private final Backoff backoff;
    private final OpenRunSampling openRuns;
    private final CountDownLatch stopping = new CountDownLatch(1);
    private final Thread thread;
    private final int maxSeries;
    private Connection connection;
    private boolean failing;

    public WaitEventSampler(ExporterSettings settings) {
        ExporterSettings.Sampler sampler = settings.sampler();
        this.interval = sampler.interval();
        this.connections = new SamplerConnection(settings.dataSource(), settings.scrape());
        this.query = new ActivityQuery(settings.dataSource().applicationName(), connections.applicationName());
        this.maxSeries = sampler.maxSeries();
        this.accumulator = new WaitTimeAccumulator(settings.batches(), maxSeries);
        this.health = new SamplerHealth(interval);
        this.weights = new SampleWeights(interval);
        this.backoff = new Backoff(interval);
        this.openRuns = new OpenRunSampling(interval);
        this.thread = new Thread(this::run, "wait-event-sampler");
        this.thread.setDaemon(true);
    }

    /** The sampler's metrics, read from memory; register it in the exporter's registry. */
    public MultiCollector metrics() {
        return new SamplerMetrics(accumulator, health, maxSeries);
    }

    public void start() {
        thread.start();
    }

    private void run() {
        TickSchedule ticks = new TickSchedule(interval.toNanos(), System.nanoTime());
        while (true) {
            if (stopped(ticks.due() - System.nanoTime())) {
                break;
            }
            if (sampleOnce()) {
                backoff.reset();
                health.missed(ticks.advancePast(System.nanoTime()));
            } else {
                closeConnection();
                if (stopped(backoff.next().toNanos())) {
                    break;
                }
                ticks.restartAt(System.nanoTime());
            }
        }
        closeConnection();
    }

    /** Waits up to {@code nanos}; true when the sampler is being closed. */
    private boolean stopped(long nanos) {
        try {
            return stopping.await(Math.max(0, nanos), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return true;
        }
    }

    private boolean sampleOnce() {
        try {
            if (connection == null) {
                connection = connections.open();
            }
            long takenAt = System.nanoTime();
            long epochMillis = System.currentTimeMillis();
            List<SessionSample> sessions = query.read(connection);
            long duration = System.nanoTime() - takenAt;
            double weight = weights.sampled(takenAt);
            accumulator.add(sessions, weight);
            health.sampled(weight, duration, epochMillis);
            openRuns.afterSample(connection);
            if (failing) {
                LOG.info("wait-event sampler recovered");
                failing = false;
            }
            return true;
        } catch (SQLException | RuntimeException e) {
            weights.failed();
            accumulator.sampleFailed();
            health.failed();
            if (!failing) {
                // once per outage, not once per attempt; the driver's messages carry no password
                LOG.warn("wait-event sampler failed, backing off (up to {} s): {}", Backoff.CAP.toSeconds(), describe(e));
                failing = true;
            }
            return false;
        }
    }

    private void closeConnection() {
        if (connection != null) {
            try {
                connection.close();
            } catch (SQLException ignored) {
                // already broken: nothing to release
            }
            connection = null;
        }
    }

    /** The first line of the message, and of its cause's (a socket timeout hides behind a generic I/O error). */
    private static String describe(Exception e) {
        String text = firstLine(e);
        if (e.getCause() != null && e.getCause() != e) {
            text += " (" + e.getCause().getClass().getSimpleName() + ": " + firstLine(e.getCause()) + ")";
        }
        return e instanceof SQLException sql && sql.getSQLState() != null ? "SQLSTATE " + sql.getSQLState() + ": " + text : text;
    }

    private static String firstLine(Throwable t) {
        String message = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        int newline = message.indexOf('\n');
        return newline >= 0 ? message.substring(0, newline) : message;
    }

    /**
     * Stops the thread. A sample in flight finishes first (bounded by the statement and socket
     * timeouts); the thread is a daemon, so a hung network can't keep the JVM alive either.
     */
    @Override
    public void close() {
        stopping.countDown();
        try {
            thread.join(Duration.ofSeconds(5).toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
