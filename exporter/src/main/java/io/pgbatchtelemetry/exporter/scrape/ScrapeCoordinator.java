package io.pgbatchtelemetry.exporter.scrape;

import io.pgbatchtelemetry.exporter.collector.Collector;
import io.pgbatchtelemetry.exporter.db.PgServer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides when PostgreSQL is actually queried, and how long a scrape may wait for it.
 *
 * <p>Scrapes that overlap (two Prometheus replicas, a human with curl) join the run in flight
 * instead of starting their own, so the server sees one set of queries however many clients ask.
 * Every caller waits at most until that run's deadline and then gets what is finished, with the
 * rest reported as failed collectors: {@code /metrics} answers within the deadline even when a
 * collector is stuck behind a lock or the network stalls. A run still stuck past its deadline is
 * abandoned and not joined again.
 */
public final class ScrapeCoordinator implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ScrapeCoordinator.class);
    private static final Duration GRACE = Duration.ofMillis(200);

    private final ConnectionPool pool;
    private final List<Collector> collectors;
    private final Duration timeout;
    private final ExecutorService executor;
    private final ScrapeLog scrapeLog;
    private InFlight inFlight;
    /** What the last scrape that reached the server found; the next one plans its statements for it. */
    private volatile PgServer lastServer;

    private record InFlight(ScrapeRun run, CompletableFuture<ScrapeResult> future) {}

    public ScrapeCoordinator(ConnectionPool pool, List<Collector> collectors, Duration timeout) {
        this(pool, collectors, timeout, "");
    }

    /** @param target the probe target's name for log lines, or empty for the server behind /metrics */
    public ScrapeCoordinator(ConnectionPool pool, List<Collector> collectors, Duration timeout, String target) {
        this.scrapeLog = new ScrapeLog(target);
        this.pool = pool;
        this.collectors = List.copyOf(collectors);
        this.timeout = timeout;
        AtomicInteger threads = new AtomicInteger();
        this.executor = Executors.newCachedThreadPool(r -> {
            Thread thread = new Thread(r, "scrape-" + threads.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        });
    }

    /** Scrapes PostgreSQL, or joins the scrape already running. Never throws. */
    public ScrapeResult scrape() {
        long start = System.nanoTime();
        InFlight current = joinOrStart();
        long waitNanos = current.run().deadlineNanos() + GRACE.toNanos() - System.nanoTime();
        ScrapeResult result;
        try {
            result = current.future().get(Math.max(0, waitNanos), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            // cancelling takes a round trip to the server, the very thing that may be stalled:
            // never on the caller's time (pgjdbc waits up to cancelSignalTimeout for it)
            abandonInBackground(current.run());
            result = current.run().partial();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            result = current.run().partial();
        } catch (ExecutionException e) {
            LOG.error("scrape failed unexpectedly", e.getCause());
            result = current.run().partial();
        }
        result = new ScrapeResult(result.up(), result.server(), result.outcomes(), Duration.ofNanos(System.nanoTime() - start),
                result.downReason());
        if (result.up() && result.server() != null) {
            lastServer = result.server();
        }
        scrapeLog.record(result);
        return result;
    }

    private void abandonInBackground(ScrapeRun run) {
        try {
            executor.execute(run::abandon);
        } catch (java.util.concurrent.RejectedExecutionException closed) {
            // shutting down: the pool closes the connection anyway
        }
    }

    private synchronized InFlight joinOrStart() {
        if (inFlight != null && !inFlight.future().isDone() && !inFlight.run().overdue()) {
            return inFlight;
        }
        ScrapeRun run = new ScrapeRun(pool, collectors, timeout, lastServer);
        inFlight = new InFlight(run, CompletableFuture.supplyAsync(run::execute, executor));
        return inFlight;
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
