package io.pgbatchtelemetry.demo;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small nightly-batch imitation that moves every number the exporter shows: bulk inserts
 * (WAL, backend writes), an update that leaves dead tuples (autovacuum), a sort bigger than
 * work_mem (temp files), a forced checkpoint, and a short lock conflict between two sessions.
 */
final class BatchWorkload implements Runnable {

    private static final Logger LOG = LoggerFactory.getLogger(BatchWorkload.class);

    private final Supplier<Connection> connections;
    private volatile boolean running = true;

    BatchWorkload(Supplier<Connection> connections) {
        this.connections = connections;
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
                runOnce(round);
                LOG.info("demo: batch round {} done", round);
                sleep(15_000);
            } catch (SQLException | RuntimeException e) {
                if (running) {
                    LOG.warn("demo: batch round {} failed: {}", round, e.getMessage());
                    sleep(5_000);
                }
            }
        }
    }

    private void runOnce(int round) throws SQLException {
        try (Connection c = connections.get(); Statement s = c.createStatement()) {
            s.execute("SET application_name = 'demo-batch'");
            s.execute("INSERT INTO demo_orders (customer, amount, note) "
                    + "SELECT g % 1000, g * 0.01, repeat('x', 100) FROM generate_series(1, 100000) g");
            s.execute("UPDATE demo_orders SET amount = amount + 1 WHERE id % 5 = 0");
            s.execute("SET work_mem = '64kB'");
            s.execute("SELECT count(*) FROM (SELECT note, amount FROM demo_orders ORDER BY note, amount DESC) sorted");
            s.execute("RESET work_mem");
            if (round % 2 == 0) {
                s.execute("CHECKPOINT");
            }
            s.execute("DELETE FROM demo_orders WHERE id IN (SELECT id FROM demo_orders ORDER BY id LIMIT 80000)");
        }
        holdALockBriefly();
    }

    /** One session updates a row and waits; another wants the same row: a real lock wait. */
    private void holdALockBriefly() throws SQLException {
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
            sleep(3_000);
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
