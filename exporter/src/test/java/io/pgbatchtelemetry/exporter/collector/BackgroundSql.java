package io.pgbatchtelemetry.exporter.collector;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One statement running on its own connection in its own thread: the session that waits on a
 * lock while the test collects metrics. Closing cancels the statement if it is still waiting.
 */
final class BackgroundSql implements AutoCloseable {

    private final Connection connection;
    private final ExecutorService thread = Executors.newSingleThreadExecutor();
    private final AtomicReference<Statement> running = new AtomicReference<>();
    private final Future<Void> finished;

    BackgroundSql(Connection connection, String sql) {
        this.connection = connection;
        this.finished = thread.submit(() -> {
            try (Statement statement = connection.createStatement()) {
                running.set(statement);
                statement.execute(sql);
            }
            return null;
        });
    }

    /** Waits for the statement to finish after the test released what blocked it; rethrows its error. */
    void awaitFinished() throws Exception {
        finished.get(30, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws SQLException, InterruptedException {
        Statement statement = running.get();
        if (statement != null && !finished.isDone()) {
            statement.cancel(); // still blocked: a failed test must not leave a waiter behind
        }
        thread.shutdown();
        thread.awaitTermination(30, TimeUnit.SECONDS);
        connection.close();
    }
}
