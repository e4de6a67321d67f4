package io.pgbatchtelemetry.harness.scenario;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * The "slow batch" story in three acts, played against a real server: a healthy batch run, then the batch
 * blocked by an ad-hoc report holding a row lock, then a checkpoint storm (CHECKPOINT between bulk writes).
 *
 * <p>The demo ({@code --scenario slow-batch}) and the end-to-end test (e2e: Prometheus and Alertmanager must
 * deliver the lock and checkpoint alerts) run this same class, so what a user watches is what is tested. It
 * lives in the harness because both depend on it and neither may depend on the other.
 *
 * <p>The batch's sessions carry {@code application_name} {@value #BATCH} and the report's {@value #BLOCKER},
 * so the exporter's batch rules can name both. Every step is short and bounded; the caller decides how long
 * each act lasts. Works on PostgreSQL 15–18 (plain SQL; CHECKPOINT needs a superuser or pg_checkpoint).
 */
public final class SlowBatchScenario {

    /** application_name of the batch's sessions. */
    public static final String BATCH = "nightly-load";
    /** application_name of the session that blocks the batch. */
    public static final String BLOCKER = "ad-hoc-report";
    /** The batch's table. */
    public static final String TABLE = "scenario_orders";

    /** Opens a connection that may write and run CHECKPOINT. */
    @FunctionalInterface
    public interface Connections {
        Connection open() throws SQLException;
    }

    private final Connections connections;
    private final Consumer<String> narrator;

    public SlowBatchScenario(Connections connections, Consumer<String> narrator) {
        this.connections = connections;
        this.narrator = narrator;
    }

    /** Creates the batch's table (idempotent). */
    public void prepare() throws SQLException {
        try (Connection c = connections.open(); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS " + TABLE
                    + " (id bigserial PRIMARY KEY, customer int NOT NULL, amount numeric NOT NULL, note text)");
        }
    }

    /**
     * One healthy run: 40 small committed inserts (WAL flushes), an update of a third of the rows (dead
     * tuples, so autovacuum comes by after the run) and a sort a little larger than a 64kB work_mem (a small
     * temp-file spill). No manual VACUUM: it would queue behind autovacuum's lock and look like contention.
     *
     * @return how long the run took
     */
    public Duration healthyBatch() throws SQLException {
        long start = System.nanoTime();
        narrator.accept("healthy batch: 40 committed inserts of 500 rows into " + TABLE);
        try (Connection c = connections.open(); Statement s = c.createStatement()) {
            s.execute("SET application_name = '" + BATCH + "'");
            long before;
            try (var rs = s.executeQuery("SELECT coalesce(max(id), 0) FROM " + TABLE)) {
                rs.next();
                before = rs.getLong(1);
            }
            for (int i = 0; i < 40; i++) {
                s.execute("INSERT INTO " + TABLE + " (customer, amount, note) "
                        + "SELECT g % 1000, g * 0.01, repeat('x', 80) FROM generate_series(1, 500) g");
            }
            narrator.accept("healthy batch: updating a third of the rows (dead tuples for autovacuum)");
            // only this run's rows, so a run costs the same however often it ran before
            s.execute("UPDATE " + TABLE + " SET amount = amount + 1 WHERE id > " + before + " AND id % 3 = 0");
            narrator.accept("healthy batch: a report sort with work_mem = 64kB (a small temp-file spill)");
            s.execute("SET work_mem = '64kB'");
            s.execute("SELECT count(*) FROM (SELECT note, amount FROM " + TABLE + " WHERE id > " + before
                    + " ORDER BY note, amount DESC) sorted");
            s.execute("RESET work_mem");
        }
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        narrator.accept("healthy batch done in " + took.toMillis() + " ms");
        return took;
    }

    /**
     * Starts lock contention: the report session updates one of the batch's rows and stays idle in
     * transaction; the batch's next update of that row waits for it. Close the result to end it (the report
     * rolls back and the batch's update goes through).
     */
    public LockContention startLockContention() throws SQLException {
        narrator.accept("lock contention: '" + BLOCKER + "' updates a row of " + TABLE + " and stays idle in transaction");
        Connection report = connections.open();
        Connection batch = null;
        try {
            report.setAutoCommit(false);
            long rowId;
            try (Statement s = report.createStatement()) {
                s.execute("SET application_name = '" + BLOCKER + "'");
                try (var rs = s.executeQuery("UPDATE " + TABLE + " SET note = 'under review' "
                        + "WHERE id = (SELECT min(id) FROM " + TABLE + ") RETURNING id")) {
                    if (!rs.next()) {
                        throw new SQLException("lock contention: " + TABLE + " is empty; run healthyBatch() first");
                    }
                    rowId = rs.getLong(1);
                }
            }
            batch = connections.open();
            try (Statement s = batch.createStatement()) {
                s.execute("SET application_name = '" + BATCH + "'");
            }
            narrator.accept("lock contention: '" + BATCH + "' now updates the same row and waits");
            return new LockContention(report, batch, rowId, narrator);
        } catch (SQLException | RuntimeException e) {
            closeQuietly(batch);
            closeQuietly(report);
            throw e;
        }
    }

    /**
     * A checkpoint storm: {@code rounds} times a bulk insert of 20000 rows followed by CHECKPOINT, with
     * {@code pause} between rounds. Each one is a requested checkpoint, exactly what a too small
     * max_wal_size does to a batch.
     *
     * @return the number of checkpoints requested
     */
    public int forcedCheckpoints(int rounds, Duration pause) throws SQLException {
        narrator.accept("checkpoint storm: " + rounds + " x (bulk insert + CHECKPOINT), every " + pause.toMillis() + " ms");
        try (Connection c = connections.open(); Statement s = c.createStatement()) {
            s.execute("SET application_name = '" + BATCH + "'");
            for (int i = 1; i <= rounds; i++) {
                s.execute("INSERT INTO " + TABLE + " (customer, amount, note) "
                        + "SELECT g % 1000, g * 0.01, repeat('y', 80) FROM generate_series(1, 20000) g");
                s.execute("CHECKPOINT");
                if (i % 5 == 0 || i == rounds) {
                    narrator.accept("checkpoint storm: " + i + " checkpoints requested");
                }
                sleep(pause);
            }
        }
        return rounds;
    }

    /** A report session holding a row lock and the batch session waiting for it. */
    public static final class LockContention implements AutoCloseable {

        private final Connection report;
        private final Connection batch;
        private final Thread waiter;
        private final Consumer<String> narrator;
        private volatile SQLException failure;

        private LockContention(Connection report, Connection batch, long rowId, Consumer<String> narrator) {
            this.report = report;
            this.batch = batch;
            this.narrator = narrator;
            this.waiter = new Thread(() -> {
                try (Statement s = batch.createStatement()) {
                    s.execute("UPDATE " + TABLE + " SET amount = amount + 1 WHERE id = " + rowId);
                } catch (SQLException e) {
                    failure = e;
                }
            }, "slow-batch-blocked-update");
            waiter.setDaemon(true);
            waiter.start();
        }

        /** Whether the batch's update is still waiting (it should be until {@link #close()}). */
        public boolean batchStillWaiting() {
            return waiter.isAlive();
        }

        /** Why the batch's update ended early, if it did. */
        public SQLException failure() {
            return failure;
        }

        /** The report rolls back; the batch's update completes; both sessions close. */
        @Override
        public void close() {
            narrator.accept("lock contention: '" + BLOCKER + "' rolls back, the batch's update goes through");
            try {
                report.rollback();
            } catch (SQLException e) {
                narrator.accept("lock contention: rollback failed (" + e.getMessage() + "); closing the report session");
            }
            closeQuietly(report);
            try {
                waiter.join(Duration.ofSeconds(10).toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            closeQuietly(batch);
        }
    }

    private static void closeQuietly(Connection connection) {
        if (connection != null) {
            try {
                connection.close();
            } catch (SQLException ignored) {
                // closing after the work is done: nothing left to save
            }
        }
    }

    private static void sleep(Duration pause) {
        try {
            Thread.sleep(pause.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
