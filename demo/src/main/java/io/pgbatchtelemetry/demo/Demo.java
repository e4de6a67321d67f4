package io.pgbatchtelemetry.demo;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.config.ConfigException;
import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import io.pgbatchtelemetry.exporter.config.SettingsLoader;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.scenario.SlowBatchScenario;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * {@code scripts/demo.sh}, i.e. {@code java @exporter/bin/jvm.options -jar demo/target/pg-batch-demo.jar}: the product in one command.
 *
 * <p>Starts an embedded PostgreSQL 17 (binaries from Maven Central, inside this jar), runs a
 * small batch workload so the numbers move, and serves the exporter on :9187, connected as a
 * pg_monitor-only role as in production. Ctrl-C stops everything and deletes the cluster.
 */
public final class Demo {

    private static final int PG_VERSION = 17;
    private static final String MONITOR_USER = "pgbt_demo_monitor";

    private Demo() {}

    public static void main(String[] args) throws Exception {
        String listen = ":9187";
        boolean slowBatch = false;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.startsWith("--web.listen-address=")) {
                listen = arg.substring("--web.listen-address=".length());
            } else if (arg.equals("--scenario=slow-batch") || (arg.equals("--scenario") && i + 1 < args.length
                    && args[++i].equals("slow-batch"))) {
                slowBatch = true;
            } else {
                System.out.println("usage: scripts/demo.sh (java @exporter/bin/jvm.options -jar demo/target/pg-batch-demo.jar) [--web.listen-address=HOST:PORT] [--scenario slow-batch]\n"
                        + "  default: a small batch every ~15 s, exporter on :9187\n"
                        + "  --scenario slow-batch: a healthy batch, then lock contention, then a checkpoint storm,\n"
                        + "                         narrated; point a Prometheus with the shipped rules at it");
                System.exit(arg.equals("--help") ? 0 : 2);
            }
        }
        System.setProperty("org.slf4j.simpleLogger.log.com.zaxxer.hikari", "error");

        System.out.println("Starting an embedded PostgreSQL " + PG_VERSION + " ...");
        PostgresCluster cluster = PostgresCluster.builder(PG_VERSION).name("demo")
                .setting("max_wal_size", "64MB")
                .setting("autovacuum_naptime", "10s")
                .setting("track_io_timing", "on")
                .setting("track_wal_io_timing", "on")
                .build();
        cluster.start();
        String password = HexFormat.of().formatHex(new SecureRandom().generateSeed(12));
        try (Connection c = cluster.connect(); Statement s = c.createStatement()) {
            s.execute("CREATE ROLE " + MONITOR_USER + " LOGIN PASSWORD '" + password + "' IN ROLE pg_monitor");
        }

        ExporterSettings settings;
        try {
            settings = new SettingsLoader().load(batchesConfig(),
                    Map.of("DATA_SOURCE_NAME", "postgresql://" + MONITOR_USER + "@" + cluster.host() + ":" + cluster.port() + "/postgres",
                            "DATA_SOURCE_PASS", password),
                    Map.of("web.listen-address", listen));
        } catch (ConfigException e) {
            System.err.println("pg-batch-demo: " + e.getMessage());
            cluster.close();
            System.exit(2);
            return;
        }
        Exporter exporter;
        try {
            exporter = Exporter.start(settings);
        } catch (Exception e) {
            System.err.println("pg-batch-demo: cannot listen on " + listen + ": " + e.getMessage()
                    + " (another exporter running? try --web.listen-address=:9188)");
            cluster.close();
            System.exit(1);
            return;
        }

        BatchWorkload workload = new BatchWorkload(() -> connect(cluster));
        SlowBatchDemo scenario = new SlowBatchDemo(cluster::connect);
        Thread workloadThread = new Thread(slowBatch ? scenario : workload, "demo-workload");
        workloadThread.setDaemon(true);

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("\nStopping: exporter, workload, PostgreSQL; removing " + cluster.dataDir());
            workload.stop();
            scenario.stop();
            exporter.close();
            cluster.close();
            stopped.countDown();
        }, "demo-shutdown"));

        System.out.printf("""

                pg-batch-telemetry demo is running.
                  PostgreSQL %d   127.0.0.1:%d (superuser %s, data in %s)
                  Exporter        http://localhost:%d/metrics   (landing page: http://localhost:%d/)
                  Workload        %s

                Try:  curl -s localhost:%d/metrics | grep -E 'pg_up|temp_bytes|checkpoints_req|pg_locks_current'
                Point a Prometheus at localhost:%d (prometheus/prometheus.yml; docs/diagnose-a-slow-batch.md,
                section "Watch it happen"). Ctrl-C stops and cleans up.
                """, PG_VERSION, cluster.port(), cluster.superuser(), cluster.dataDir(), exporter.port(), exporter.port(),
                slowBatch ? "the slow-batch scenario (below)"
                        : "a batch every ~15 s: bulk insert/update/delete, a sort that spills to\n"
                        + "                  temp files, a checkpoint every other round, and a 3 s row-lock wait.",
                exporter.port(), exporter.port());
        if (slowBatch) {
            System.out.printf("""
                    Scenario slow-batch: batches named in the exporter's config: %s (the batch) and %s (the blocker).
                    It runs once (about 6 minutes): a healthy batch, lock contention, a checkpoint storm.

                    """, SlowBatchScenario.BATCH, SlowBatchScenario.BLOCKER);
        }
        workloadThread.start();
        stopped.await();
    }

    /**
     * The exporter's batch rules for the demo's sessions: the scenario's batch and the report that blocks it
     * (so blocker_class names it), and the default workload's batch.
     */
    private static Path batchesConfig() throws IOException {
        Path config = Files.createTempFile("pg-batch-demo", ".conf");
        config.toFile().deleteOnExit();
        Files.writeString(config, """
                pg-batch-exporter {
                  batches = [
                    { name = "%s", application-name = "^%s$" },
                    { name = "%s", application-name = "^%s$" },
                    { name = "demo-batch", application-name = "^demo-(batch|blocker)$" }
                  ]
                }
                """.formatted(SlowBatchScenario.BATCH, SlowBatchScenario.BATCH, SlowBatchScenario.BLOCKER, SlowBatchScenario.BLOCKER));
        return config;
    }

    private static Connection connect(PostgresCluster cluster) {
        try {
            return cluster.connect();
        } catch (SQLException e) {
            throw new IllegalStateException("demo: cannot connect to the embedded PostgreSQL: " + e.getMessage(), e);
        }
    }
}
