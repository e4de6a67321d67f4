package io.pgbatchtelemetry.exporter.scrape;

import io.pgbatchtelemetry.exporter.collector.Collector;
import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.PgSession;
import io.pgbatchtelemetry.exporter.db.VersionedSql;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One pass over the enabled collectors on one borrowed connection.
 *
 * <p>Collectors run one after another in autocommit mode, so a failed query (a timeout, a
 * missing privilege) only loses that collector's samples. The run stops starting collectors once
 * its deadline has passed, and {@link #abandon()} cancels the statement in flight so that a
 * waiter who gave up does not leave a query running on the server.
 */
final class ScrapeRun {

    private final ConnectionPool pool;
    private final PgServer assumed;
    private final List<Collector> collectors;
    private final long deadlineNanos;
    private final long startedNanos = System.nanoTime();
    private final Map<String, CollectorOutcome> finished = new ConcurrentHashMap<>();
    private volatile boolean abandoned;
    private volatile PgSession session;
    private volatile String connectError;

    /** @param assumed what the last scrape found (null before the first): planned for, then checked */
    ScrapeRun(ConnectionPool pool, List<Collector> collectors, Duration timeout, PgServer assumed) {
        this.pool = pool;
        this.assumed = assumed;
        this.collectors = collectors;
        this.deadlineNanos = startedNanos + timeout.toNanos();
    }

    long deadlineNanos() {
        return deadlineNanos;
    }

    boolean overdue() {
        return System.nanoTime() > deadlineNanos;
    }

    /** Runs the collectors; returns the result of a run that was not cut short. */
    ScrapeResult execute() {
        Connection connection = connect();
        if (connection == null) {
            return result(false);
        }
        try (connection; PgSession opened = session) {
            for (Collector collector : collectors) {
                if (abandoned || overdue()) {
                    break;
                }
                finished.put(collector.name(), runOne(collector, opened));
            }
        } catch (SQLException e) {
            // returning a broken connection to the pool: the pool evicts it, the results stand
        }
        return result(true);
    }

    private List<VersionedSql> declaredStatements(PgServer facts) {
        List<VersionedSql> statements = new ArrayList<>();
        for (Collector collector : collectors) {
            if (collector.supports(facts)) {
                statements.addAll(collector.statements(facts));
            }
        }
        return statements;
    }

    /**
     * Borrows a connection, probes the server and prefetches the collectors' statements (one round
     * trip when the server is as the last scrape found it, see {@link PgSession#open}). That round
     * trip is also the liveness check (the pool does not check on borrowing): a pooled connection
     * whose backend was terminated (pg_terminate_backend, a server restart) fails with a connection
     * error, the pool drops it, and the next one is tried, up to every pooled connection and one
     * new one, so dead idle connections never read as "server down".
     */
    private Connection connect() {
        for (int attempt = 1; attempt <= pool.maxSize() + 1; attempt++) {
            Connection connection = null;
            try {
                connection = pool.borrow();
                session = PgSession.open(connection, assumed, this::declaredStatements);
                return connection;
            } catch (SQLException e) {
                connectError = describe(innermost(e));
                closeQuietly(connection);
                if (connection == null || !PgSession.connectionLost(e) || overdue()) {
                    return null;
                }
            }
        }
        return null;
    }

    private static void closeQuietly(Connection connection) {
        if (connection != null) {
            try {
                connection.close();
            } catch (SQLException ignored) {
                // already broken; the pool evicts it
            }
        }
    }

    /** What is known now: used by a waiter whose deadline passed before the run finished. */
    ScrapeResult partial() {
        return result(session != null);
    }

    /** The waiter gave up: stop starting collectors and cancel the query in flight. */
    void abandon() {
        abandoned = true;
        PgSession current = session;
        if (current != null) {
            current.cancelInFlight();
        }
    }

    private CollectorOutcome runOne(Collector collector, PgSession session) {
        long start = System.nanoTime();
        if (!collector.supports(session.server())) {
            // nothing to read on this version (e.g. pg_stat_io before 16): not a failure
            return CollectorOutcome.succeeded(collector.name(), Duration.ofNanos(System.nanoTime() - start), new MetricSink());
        }
        MetricSink sink = new MetricSink();
        try {
            collector.collect(session.resultsOf(collector.statements(session.server())), sink);
            return CollectorOutcome.succeeded(collector.name(), Duration.ofNanos(System.nanoTime() - start), sink);
        } catch (SQLException | RuntimeException e) {
            return CollectorOutcome.failed(collector.name(), Duration.ofNanos(System.nanoTime() - start), describe(e));
        }
    }

    private ScrapeResult result(boolean up) {
        List<CollectorOutcome> outcomes = new ArrayList<>(collectors.size());
        for (Collector collector : collectors) {
            CollectorOutcome outcome = finished.get(collector.name());
            outcomes.add(outcome != null ? outcome
                    : CollectorOutcome.failed(collector.name(), Duration.ZERO, up ? "not run: scrape deadline passed" : "server down"));
        }
        PgSession opened = session;
        return new ScrapeResult(up, opened == null ? null : opened.server(), outcomes, Duration.ofNanos(System.nanoTime() - startedNanos),
                up ? null : (connectError != null ? connectError : "no connection within the scrape deadline"));
    }

    /**
     * HikariCP reports "connection is not available" and keeps the driver's reason as the cause:
     * the deepest SQLException is the driver's own words (host, user, SSL or auth problem).
     */
    private static Exception innermost(SQLException e) {
        SQLException deepest = e;
        for (Throwable t = e.getCause(); t != null && t != t.getCause(); t = t.getCause()) {
            if (t instanceof SQLException sql) {
                deepest = sql;
            }
        }
        return deepest;
    }

    private static String describe(Exception e) {
        if (e instanceof SQLException sql && sql.getSQLState() != null) {
            return "SQLSTATE " + sql.getSQLState() + ": " + firstLine(sql.getMessage());
        }
        return e.getClass().getSimpleName() + ": " + firstLine(e.getMessage());
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "";
        }
        int newline = message.indexOf('\n');
        return newline >= 0 ? message.substring(0, newline) : message;
    }
}
