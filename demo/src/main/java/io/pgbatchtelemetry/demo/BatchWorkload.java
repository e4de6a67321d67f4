package io.pgbatchtelemetry.demo;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small nightly-batch imitation that moves every number the exporter shows: bulk inserts
 * (WAL, backend writes), an update that leaves dead tuples (autovacuum), a per-customer UPDATE that
 * finds its rows through {@link #CUSTOMER_INDEX}, a sort bigger than work_mem (temp files), a forced
 * checkpoint, and a short lock conflict between two sessions.
 *
 * <p>Each round is a batch run marked with {@code telemetry.batch_start('demo-batch')} and
 * {@code batch_end()}, as a real batch would be; right after {@code batch_end()} the batch's own session
 * calls {@code telemetry.capture_plans(run_id)} (the demo's cluster has no pg_cron to do it, and planning
 * runs as the statement's role, which only that session is sure to be). The round after
 * {@code baselineRounds} normal ones (the schema's baseline_min_runs, so the slow run has a usual baseline)
 * is the slow one, with two causes a DBA meets for real: its lock wait lasts {@link #SLOW_LOCK} instead of
 * {@link #LOCK}, and someone dropped {@link #CUSTOMER_INDEX} just before it (put back right after), so the
 * per-customer UPDATE's plan turns from an index scan into a Seq Scan and each call gets slower. The
 * narrator says both as they happen; {@code onSlowRun} gets the run id (the demo prints its
 * {@code diagnose()} and statement comparison and writes its report). The baseline rounds follow each
 * other after a short pause, so the slow run comes within a minute or so; later rounds every ~15 s.
 */
final class BatchWorkload implements Runnable {

    private static final Logger LOG = LoggerFactory.getLogger(BatchWorkload.class);

    static final String RUN_NAME = "demo-batch";
    static final Duration LOCK = Duration.ofSeconds(3);
    static final Duration SLOW_LOCK = Duration.ofSeconds(12);
    static final String CUSTOMER_INDEX = "demo_orders_customer_idx";
    private static final String CREATE_CUSTOMER_INDEX = "CREATE INDEX IF NOT EXISTS " + CUSTOMER_INDEX + " ON demo_orders (customer)";
    /** The statement whose plan the dropped index changes: one call per customer, as a batch settling accounts would. */
    static final String SETTLE = "UPDATE demo_orders SET amount = round(amount * 1.01, 2) WHERE customer = ?";
    static final int CUSTOMERS_SETTLED = 300;

    private final Supplier<Connection> connections;
    private final int slowRound;
    private final LongConsumer onSlowRun;
    private final Consumer<String> narrator;
    private volatile boolean running = true;

    /**
     * @param narrator told, in one line each, what the demo does to the database behind the batch's back
     *                 (the dropped index and its return)
     */
    BatchWorkload(Supplier<Connection> connections, int baselineRounds, LongConsumer onSlowRun, Consumer<String> narrator) {
        this.connections = connections;
        this.slowRound = baselineRounds + 1;
        this.onSlowRun = onSlowRun;
        this.narrator = narrator;
    }

    int slowRound() {
        return slowRound;
    }

    void stop() {
        running = false;
    }

    @Override
    public void run() {
        try {
            createTable();
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

    void createTable() throws SQLException {
        try (Connection c = connections.get(); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS demo_orders (id bigserial PRIMARY KEY, customer int, amount numeric, note text)");
            s.execute(CREATE_CUSTOMER_INDEX);
        }
    }

    /**
     * One round as one telemetry run; returns its run id. The slow round runs without {@link #CUSTOMER_INDEX}:
     * dropped before it starts, created again after its plans are captured, whatever happened in between.
     */
    long runOnce(int round, Duration lockWait) throws SQLException {
        if (round != slowRound) {
            return runAndCapturePlans(round, lockWait);
        }
        execute("DROP INDEX IF EXISTS " + CUSTOMER_INDEX);
        narrator.accept("simulating: someone dropped index " + CUSTOMER_INDEX + " (the batch's per-customer UPDATE used it)"
                + " before round " + round);
        try {
            return runAndCapturePlans(round, lockWait);
        } finally {
            execute(CREATE_CUSTOMER_INDEX);
            narrator.accept("index " + CUSTOMER_INDEX + " is back (round " + round + " ran without it)");
        }
    }

    private void execute(String sql) throws SQLException {
        try (Connection c = connections.get(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    private long runAndCapturePlans(int round, Duration lockWait) throws SQLException {
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
                work(c, s, round);
                holdALockBriefly(lockWait);
                succeeded = true;
            } finally {
                s.execute("SELECT telemetry.batch_end(" + run + ", '" + (succeeded ? "succeeded" : "failed") + "')");
            }
            capturePlans(s, run);
            return run;
        }
    }

    /** What a batch without pg_cron does after batch_end (docs/telemetry-schema.md, Plans); a failure costs the plans only. */
    private static void capturePlans(Statement s, long run) {
        try (ResultSet r = s.executeQuery("SELECT count(*) FILTER (WHERE status = 'captured'), count(*) FROM telemetry.capture_plans(" + run + ")")) {
            r.next();
            LOG.info("demo: plans of telemetry run {}: {} of {} statements captured", run, r.getLong(1), r.getLong(2));
        } catch (SQLException e) {
            LOG.warn("demo: capture_plans({}) failed: {}", run, e.getMessage());
        }
    }

    private static void work(Connection c, Statement s, int round) throws SQLException {
        s.execute("INSERT INTO demo_orders (customer, amount, note) "
                + "SELECT g % 1000, g * 0.01, repeat('x', 100) FROM generate_series(1, 100000) g");
        s.execute("UPDATE demo_orders SET amount = amount + 1 WHERE id % 5 = 0");
        try (PreparedStatement settle = c.prepareStatement(SETTLE)) {
            for (int customer = 0; customer < CUSTOMERS_SETTLED; customer++) {
                settle.setInt(1, customer);
                settle.executeUpdate();
            }
        }
        s.execute("SELECT count(*) FROM (SELECT note, amount FROM demo_orders ORDER BY note, amount DESC) sorted");
        if (round % 2 == 0) {
            s.execute("CHECKPOINT");
        }
        s.execute("DELETE FROM demo_orders WHERE id IN (SELECT id FROM demo_orders ORDER BY id LIMIT 80000)");
    }

    /** One session locks a row and waits; the batch wants to update the same row: a real lock wait. */
    private void holdALockBriefly(Duration wait) throws SQLException {
        try (Connection holder = connections.get(); Connection waiter = connections.get()) {
            holder.setAutoCommit(false);
            try (Statement s = holder.createStatement()) {
                s.execute("SET application_name = 'demo-blocker'");
                // a statement of its own, so that the waiter's and the blocker's queryids differ as they do in life
                s.execute("SELECT id, amount FROM demo_orders WHERE id = (SELECT max(id) FROM demo_orders) FOR UPDATE");
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
