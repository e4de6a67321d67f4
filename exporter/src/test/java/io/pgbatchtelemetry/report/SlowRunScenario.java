package io.pgbatchtelemetry.report;

import io.pgbatchtelemetry.exporter.it.TelemetryTestDb;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Five normal runs of a batch and one slow run ({@link RecordedRuns}), on the shared cluster, once per version and JVM: the
 * batch sorts more than its work_mem in every run (with 200MB in the normal runs it stays in
 * memory; the slow run lowers work_mem to 64kB in its own session, so it spills), then updates a
 * table that, in the slow run only, another session holds locked for a few seconds. That blocking
 * session's query carries markup ({@link #HOSTILE}) which every report must show as text.
 * telemetry.sample() is called every 250 ms while a run is going (as pg_cron's per-second job would).
 */
final class SlowRunScenario {

    public static final String DATABASE = "report_it";
    public static final String RUN_NAME = "nightly_orders";
    public static final String HOSTILE = "<script>alert('pwned')</script>";

    private static final Map<Integer, RecordedRuns> BUILT = new ConcurrentHashMap<>();
    private static final String SORT = "SELECT count(*) FROM (SELECT g, md5(g::text) || md5((g + 1)::text) AS m "
            + "FROM generate_series(1, 700000) g ORDER BY m) s";

    private SlowRunScenario() {
    }

    static synchronized RecordedRuns on(int version) {
        return BUILT.computeIfAbsent(version, v -> {
            try {
                return build(SharedClusters.get(v));
            } catch (Exception e) {
                throw new IllegalStateException("scenario on PostgreSQL " + v + ": " + e.getMessage(), e);
            }
        });
    }

    private static RecordedRuns build(PostgresCluster cluster) throws Exception {
        RecordedRuns.setUp(cluster, DATABASE,
                "DROP TABLE IF EXISTS orders",
                "CREATE TABLE orders (id int PRIMARY KEY, status text)",
                "INSERT INTO orders SELECT g, 'new' FROM generate_series(1, 5000) g",
                "SELECT telemetry.track_table('orders')");
        List<Long> normal = RecordedRuns.normalRuns(() -> run(cluster, "200MB", false));
        long slow = run(cluster, "64kB", true);
        return new RecordedRuns(cluster, DATABASE, normal, slow);
    }

    /** One batch run in its own session; returns its run id. */
    private static long run(PostgresCluster cluster, String workMem, boolean blocked) throws Exception {
        ExecutorService threads = Executors.newFixedThreadPool(2);
        AtomicBoolean running = new AtomicBoolean(true);
        try (Connection batch = cluster.connect(DATABASE); Connection blocker = cluster.connect(DATABASE);
             Statement b = batch.createStatement()) {
            b.execute("SET work_mem = '" + workMem + "'");
            long runId = RecordedRuns.longValue(b, "SELECT telemetry.batch_start('" + RUN_NAME + "')");
            Future<?> sampler = threads.submit(() -> {
                try (Connection c = cluster.connect(DATABASE); Statement s = c.createStatement()) {
                    while (running.get()) {
                        s.execute("SELECT telemetry.sample()");
                        Thread.sleep(250);
                    }
                }
                return null;
            });
            b.execute(SORT);
            if (blocked) {
                try (Statement l = blocker.createStatement()) {
                    blocker.setAutoCommit(false);
                    l.execute("/* " + HOSTILE + " */ LOCK TABLE orders IN EXCLUSIVE MODE");
                    Future<?> update = threads.submit(() -> {
                        b.execute("UPDATE orders SET status = 'shipped' WHERE id <= 1000");
                        return null;
                    });
                    Thread.sleep(3000);
                    blocker.commit();
                    update.get(60, TimeUnit.SECONDS);
                }
            } else {
                b.execute("UPDATE orders SET status = 'shipped' WHERE id <= 1000");
            }
            TelemetryTestDb.flushStats(batch);
            running.set(false);
            sampler.get(30, TimeUnit.SECONDS);
            b.execute("SELECT telemetry.batch_end(" + runId + ")");
            return runId;
        } finally {
            running.set(false);
            threads.shutdownNow();
        }
    }
}
