package io.pgbatchtelemetry.demo;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.function.LongConsumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small nightly-batch imitation that moves every number the exporter shows: bulk inserts
 * (WAL, backend writes), an update that leaves dead tuples (autovacuum), a sort bigger than
 * work_mem (temp files), a forced checkpoint, and a short lock conflict between two sessions.
 *
 * <p>Each round is a batch run marked with {@code telemetry.batch_start('demo-batch')} and
 * {@code batch_end()}, as a real batch would be. The round after {@code baselineRounds} normal ones
 * (the schema's baseline_min_runs, so the slow run has a usual baseline) is the slow one: its lock wait
 * lasts {@link #SLOW_LOCK} instead of {@link #LOCK}, and {@code onSlowRun} gets its run id (the demo
 * prints its {@code diagnose()} and writes its report). The baseline rounds follow each other after a
 * short pause, so the slow run comes within a minute or so; later rounds every ~15 s.
 */
final class BatchWorkload implements Runnable {

    private static final Logger LOG = LoggerFactory.getLogger(BatchWorkload.class);

    static final String RUN_NAME = "demo-batch";
    static final Duration LOCK = Duration.ofSeconds(3);
    static final Duration SLOW_LOCK = Duration.ofSeconds(12);

    private final Supplier<Connection> connections;
    private final int slowRound;
    private final LongConsumer onSlowRun;
    private volatile boolean running = true;

    BatchWorkload(Supplier<Connection> connections, int baselineRounds, LongConsumer onSlowRun) {
        this.connections = connections;
        this.slowRound = baselineRounds + 1;
        this.onSlowRun = onSlowRun;
    }

    int slowRound() {
        return slowRound;
    }

    void stop() {
        running = false;
    }

    @Override
    public void run() {
        try (Connection c = connections.get(); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS demo_orders (id bigserial PRIMARY KEY, customer int, amount numeric, note text)");
        } catch (SQLException e) {
            LOG.error("demo: cannot create the demo table: {}", e.getMessage());
            return;
        }
        int round = 0;
        while (running) {
            round++;
            try {
                long run = runOnce(round, round == slowRound ? SLOW_LOCK : LOCK);
                LOG.info("demo: batch round {} done (telemetry run {})", round, run);
                if (round == slowRound) {
                    onSlowRun.accept(run);
                }
                sleep(round < slowRound ? 2_000 : 15_000);
            } catch (SQLException | RuntimeException e) {
                if (running) {
                    LOG.warn("demo: batch round {} failed: {}", round, e.getMessage());
                    sleep(5_000);
                }
            }
        }
    }

    /** One round as one telemetry run; returns its run id. */
    long runOnce(int round, Duration lockWait) throws SQLException {
        try (Connection c = connections.get(); Statement s = c.createStatement()) {
            s.execute("SET application_name = 'demo-batch'");
            s.execute("SET work_mem = '64kB'");   // before batch_start, which records the session's settings
            long run;
            try (ResultSet r = s.executeQuery("SELECT telemetry.batch_start('" + RUN_NAME + "')")) {
                r.next();
                run = r.getLong(1);
            }
            boolean succeeded = false;
            try {
                work(s, round);
                holdALockBriefly(lockWait);
                succeeded = true;
            } finally {
                s.execute("SELECT telemetry.batch_end(" + run + ", '" + (succeeded ? "succeeded" : "failed") + "')");
            }
            return run;
        }
    }

    private static void work(Statement s, int round) throws SQLException {
        s.execute("INSERT INTO demo_orders (customer, amount, note) "
                + "SELECT g % 1000, g * 0.01, repeat('x', 100) FROM generate_series(1, 100000) g");
        s.execute("UPDATE demo_orders SET amount = amount + 1 WHERE id % 5 = 0");
        s.execute("SELECT count(*) FROM (SELECT note, amount FROM demo_orders ORDER BY note, amount DESC) sorted");
        if (round % 2 == 0) {
            s.execute("CHECKPOINT");
        }
        s.execute("DELETE FROM demo_orders WHERE id IN (SELECT id FROM demo_orders ORDER BY id LIMIT 80000)");
    }

    /** One session updates a row and waits; another wants the same row: a real lock wait. */
    private void holdALockBriefly(Duration wait) throws SQLException {
        try (Connection holder = connections.get(); Connection waiter = connections.get()) {
            holder.setAutoCommit(false);
            try (Statement s = holder.createStatement()) {
                s.execute("SET application_name = 'demo-blocker'");
                s.execute("UPDATE demo_orders SET note = 'held' WHERE id = (SELECT max(id) FROM demo_orders)");
            }
            Thread blocked = new Thread(() -> {
                try (Statement s = waiter.createStatement()) {
                    s.execute("SET application_name = 'demo-batch'");
                    s.execute("UPDATE demo_orders SET note = 'waited' WHERE id = (SELECT max(id) FROM demo_orders)");
                } catch (SQLException ignored) {
                    // the demo is stopping
                }
            }, "demo-waiter");
            blocked.start();
            sleep(wait.toMillis());
            holder.commit();
            try {
                blocked.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
