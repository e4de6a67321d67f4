package io.pgbatchtelemetry.bench;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Client sessions of an application role held open during a benchmark, as a busy server has them: one in 20 runs
 * a long query (pg_sleep, on a thread of its own), five in 20 sit idle in a transaction holding an AccessShareLock
 * on a table, the rest are idle. Closing terminates them.
 */
public final class Sessions implements AutoCloseable {
    private final BenchServer server;
    private final List<Connection> connections = new ArrayList<>();
    private final ExecutorService running = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "bench-session");
        t.setDaemon(true);
        return t;
    });
    private int tables;

    public Sessions(BenchServer server) {
        this.server = server;
    }

    /** Sessions opened from now on lock one of the benchmark's {@code count} tables instead of pg_class. */
    public void useTables(int count) {
        this.tables = count;
    }

    /** Opens sessions until {@code target} are open; returns their states once pg_stat_activity shows them all. */
    public Map<String, Integer> open(int target) throws SQLException {
        while (connections.size() < target) {
            int i = connections.size();
            Connection c = server.appSession("pgbt-bench-session");
            int kind = i % 20;
            if (kind == 0) {
                running.submit(() -> {
                    try (Statement s = c.createStatement()) {
                        s.execute("SELECT pg_sleep(86400)");
                    } catch (SQLException ended) {
                        // terminated at close
                    }
                });
            } else if (kind <= 5) {
                c.setAutoCommit(false);
                try (Statement s = c.createStatement()) {
                    s.executeQuery("SELECT count(*) FROM " + (tables > 0 ? "bench_t" + (i % tables) : "pg_class")).close();
                }
            }
            connections.add(c);
        }
        int expectedActive = (target + 19) / 20;
        long deadline = System.nanoTime() + 30_000_000_000L;
        Map<String, Integer> states = new LinkedHashMap<>();
        while (System.nanoTime() < deadline) {
            states.clear();
            try (Statement s = server.admin().createStatement(); ResultSet rows = s.executeQuery(
                    "SELECT coalesce(state, ''), count(*) FROM pg_stat_activity WHERE usename = 'bench_app' GROUP BY 1")) {
                while (rows.next()) {
                    states.put(rows.getString(1), rows.getInt(2));
                }
            }
            if (states.values().stream().mapToInt(Integer::intValue).sum() == target && states.getOrDefault("active", 0) == expectedActive) {
                return states;
            }
            ExporterProcess.sleep(100);
        }
        throw new IllegalStateException("sessions did not reach " + target + ": " + states);
    }

    @Override
    public void close() {
        try {
            server.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'bench_app'");
        } catch (SQLException ignored) {
            // closing the connections below ends them too
        }
        for (Connection c : connections) {
            try {
                c.close();
            } catch (SQLException ignored) {
                // already terminated
            }
        }
        running.shutdownNow();
    }
}
