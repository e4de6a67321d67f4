package io.pgbatchtelemetry.exporter.scrape;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.HikariPoolMXBean;
import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import java.net.ConnectException;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;

/**
 * The exporter's few connections to PostgreSQL (HikariCP, at most 3).
 *
 * <p>Every connection is opened with {@code statement_timeout}, {@code lock_timeout} and
 * {@code application_name} set as startup options, so no collector query can wait behind a
 * batch's lock for long and DBAs can recognise (and exclude) the exporter in pg_stat_activity.
 * The pool starts even when the server is down or the password is wrong
 * ({@code initializationFailTimeout = -1}): a scrape then reports {@code pg_up 0} and the next
 * one tries again. The password goes to the driver as a property, never into the URL that
 * HikariCP may log.
 *
 * <p>A refused connection fails a borrow at once, a silent network only after the connect timeout.
 * HikariCP alone can't tell them apart: its waiter waits for {@code connectionTimeout} while its
 * own thread retries, even when every attempt is refused within a millisecond. So the pool waits
 * in slices of {@value #WAIT_SLICE_MS} ms (HikariCP's minimum) up to the connect timeout, and
 * stops as soon as the latest attempt was refused (the slice's timeout carries it as its cause).
 */
public final class ConnectionPool implements AutoCloseable {

    private static final String ALIVE_BYPASS_PROPERTY = "com.zaxxer.hikari.aliveBypassWindowMs";

    static {
        // A scrape's first round trip is its liveness check: a dead connection fails it and the scrape
        // tries the next one (ScrapeRun). HikariCP's own check, on handing out a connection idle for
        // more than 500 ms, would add a round trip to every scrape at any usual scrape interval.
        // HikariCP reads this system property when it creates a pool (ours, and the sampler's after it);
        // a value the user set with -D wins.
        System.getProperties().putIfAbsent(ALIVE_BYPASS_PROPERTY, String.valueOf(Duration.ofMinutes(10).toMillis()));
    }

    /** Pool gauges for the self metrics. */
    public record Stats(int active, int idle, int waiting, int max) {}

    /** HikariCP's smallest {@code connectionTimeout}: how long a borrow waits before it looks at why. */
    static final long WAIT_SLICE_MS = 250;

    private final HikariDataSource dataSource;
    private final int maxSize;
    private final Duration connectTimeout;

    public ConnectionPool(ExporterSettings.DataSource source, ExporterSettings.Scrape scrape) {
        HikariConfig config = new HikariConfig();
        config.setPoolName("pg-batch-exporter");
        config.setJdbcUrl(source.jdbcUrl());
        if (!source.user().isEmpty()) {
            config.setUsername(source.user());
        }
        if (!source.password().isEmpty()) {
            config.setPassword(source.password());
        }
        config.setMaximumPoolSize(scrape.poolSize());
        config.setMinimumIdle(0);
        config.setInitializationFailTimeout(-1);
        config.setConnectionTimeout(WAIT_SLICE_MS);
        config.setValidationTimeout(WAIT_SLICE_MS);
        config.setIdleTimeout(Duration.ofMinutes(2).toMillis());
        config.setMaxLifetime(Duration.ofMinutes(30).toMillis());
        config.setAutoCommit(true);
        config.setReadOnly(true);
        config.addDataSourceProperty("ApplicationName", source.applicationName());
        config.addDataSourceProperty("options", "-c statement_timeout=" + scrape.statementTimeout().toMillis()
                + " -c lock_timeout=" + scrape.lockTimeout().toMillis()
                + " -c idle_in_transaction_session_timeout=" + Math.max(60_000, scrape.timeout().toMillis() * 2));
        config.addDataSourceProperty("connectTimeout", Math.max(1, source.connectTimeout().toSeconds()));
        // A network stall must not pin a scrape thread forever: the socket gives up a little after the scrape deadline.
        config.addDataSourceProperty("socketTimeout", Math.max(2, scrape.timeout().toSeconds() * 2));
        config.addDataSourceProperty("tcpKeepAlive", true);
        // cancelling a statement past the scrape deadline opens a connection of its own; over a stalled
        // network it must give up soon rather than hold a thread for pgjdbc's default 10 s
        config.addDataSourceProperty("cancelSignalTimeout", 2);
        this.dataSource = new HikariDataSource(config);
        this.maxSize = scrape.poolSize();
        this.connectTimeout = source.connectTimeout();
    }

    /** A pooled connection; fails at once when the server refuses connections, else within the connect timeout. */
    public Connection borrow() throws SQLException {
        long deadline = System.nanoTime() + Math.max(WAIT_SLICE_MS, connectTimeout.toMillis()) * 1_000_000L;
        while (true) {
            try {
                return dataSource.getConnection();
            } catch (SQLTransientConnectionException e) {
                if (refused(e) || System.nanoTime() - deadline >= 0) {
                    throw e;
                }
            }
        }
    }

    /** The pool's latest attempt to connect was refused (nothing listens there): waiting longer can't help. */
    static boolean refused(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof ConnectException) {
                return true;
            }
        }
        return false;
    }

    /** The most connections this pool opens ({@code scrape.pool-size}). */
    public int maxSize() {
        return maxSize;
    }

    public Stats stats() {
        HikariPoolMXBean pool = dataSource.getHikariPoolMXBean();
        if (pool == null) {
            return new Stats(0, 0, 0, maxSize);
        }
        return new Stats(pool.getActiveConnections(), pool.getIdleConnections(), pool.getThreadsAwaitingConnection(), maxSize);
    }

    @Override
    public void close() {
        dataSource.close();
    }
}
