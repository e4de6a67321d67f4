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
 * <p>Starts an embedded PostgreSQL 17 (binaries from Maven Central, inside this jar) with
 * pg_stat_statements preloaded, runs a small batch workload so the numbers move, and serves the exporter
 * on :9187, connected as a pg_monitor-only role as in production. For the workload's slow run it prints
 * diagnose() and the statements that took the extra time (with their plans), and writes the run's report.
 * PostgreSQL 17 is pinned: generic plans of parameterised statements need 16+. Ctrl-C stops everything
 * and deletes the cluster.
 */
public final class Demo {

    static final int PG_VERSION = 17;
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
        PostgresCluster cluster = cluster("demo").build();
        cluster.start();
        String password = HexFormat.of().formatHex(new SecureRandom().generateSeed(12));
        int baselineRounds;
        try (Connection c = cluster.connect(); Statement s = c.createStatement()) {
            s.execute("CREATE ROLE " + MONITOR_USER + " LOGIN PASSWORD '" + password + "' IN ROLE pg_monitor");
            DemoSchema.install(c, MONITOR_USER);
            baselineRounds = DemoSchema.baselineMinRuns(c);
        }
        Path demoDir = Files.createTempDirectory("pg-batch-demo");
        DemoPsql psql = DemoPsql.write(cluster, demoDir);
        DemoReport reports = new DemoReport(Files.createDirectories(demoDir.resolve("reports")), psql);

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

        BatchWorkload workload = new BatchWorkload(() -> connect(cluster), baselineRounds, run -> {
            printDiagnosis(cluster, psql, run);
            printReport(reports, run);
        }, line -> System.out.println("\n[demo] " + line + "\n"));
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
                  psql            %s
                  Exporter        http://localhost:%d/metrics   (landing page: http://localhost:%d/)
                  Workload        %s

                Try:  curl -s localhost:%d/metrics | grep -E 'pg_up|temp_bytes|checkpoints_req|pg_locks_current'
                      %s
                Point a Prometheus at localhost:%d (prometheus/prometheus.yml; docs/diagnose-a-slow-batch.md,
                section "Watch it happen"). Ctrl-C stops and cleans up.
                """, PG_VERSION, cluster.port(), cluster.superuser(), cluster.dataDir(), psql.command(null),
                exporter.port(), exporter.port(),
                slowBatch ? "the slow-batch scenario (below)"
                        : "batch runs ('" + BatchWorkload.RUN_NAME + "', telemetry.batch_start/batch_end, then\n"
                        + "                  capture_plans): bulk insert/update/delete, a per-customer UPDATE through index\n"
                        + "                  " + BatchWorkload.CUSTOMER_INDEX + ", a sort that spills to temp files, a checkpoint every\n"
                        + "                  other round, a " + BatchWorkload.LOCK.toSeconds() + " s row-lock wait. " + baselineRounds
                        + " normal rounds make the baseline (baseline_min_runs);\n"
                        + "                  round " + workload.slowRound() + " waits " + BatchWorkload.SLOW_LOCK.toSeconds()
                        + " s and runs without the index (dropped before it, put back after):\n"
                        + "                  its diagnosis and its statements against the baseline (plans included) are printed\n"
                        + "                  and its report (HTML and Markdown) written to " + reports.directory() + ".\n"
                        + "                  Then a round every ~15 s.",
                exporter.port(), psql.command("SELECT run_id, state, duration, duration_vs_avg FROM telemetry.batch_runs"), exporter.port());
        if (slowBatch) {
            System.out.printf("""
                    Scenario slow-batch: batches named in the exporter's config: %s (the batch) and %s (the blocker).
                    It runs once (about 6 minutes): a healthy batch, lock contention, a checkpoint storm.

                    """, SlowBatchScenario.BATCH, SlowBatchScenario.BLOCKER);
        }
        workloadThread.start();
        stopped.await();
    }

    /** The demo's server, as its tests start it too. */
    static PostgresCluster.Builder cluster(String name) {
        return PostgresCluster.builder(PG_VERSION).name(name)
                .setting("max_wal_size", "64MB")
                .setting("autovacuum_naptime", "10s")
                .setting("track_io_timing", "on")
                .setting("track_wal_io_timing", "on")
                // statement evidence; the telemetry schema's install creates the extension when the library is loaded
                .setting("shared_preload_libraries", "pg_stat_statements");
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

    /** The slow round's diagnose() and statement comparison, as the telemetry schema inside the demo's PostgreSQL has them. */
    static void printDiagnosis(PostgresCluster cluster, DemoPsql psql, long run) {
        System.out.println(slowRunText(cluster, psql, run));
    }

    /** What {@link #printDiagnosis} prints: findings, then the statements that took the extra time, each with the psql to run it. */
    static String slowRunText(PostgresCluster cluster, DemoPsql psql, long run) {
        StringBuilder out = new StringBuilder("\nThe slow batch: telemetry run " + run + ". Its diagnosis, from inside PostgreSQL:\n");
        try (Connection c = cluster.connect()) {
            for (String line : DemoSchema.diagnose(c, run)) {
                out.append("  ").append(line).append('\n');
            }
        } catch (SQLException e) {
            out.append("  (diagnose failed: ").append(e.getMessage()).append(")\n");
        }
        out.append("Run it yourself:\n  ").append(psql.command("SELECT * FROM telemetry.diagnose(" + run + ")")).append('\n');
        try (Connection c = cluster.connect()) {
            DemoStatements.Baseline baseline = DemoStatements.reportBaseline(c, run);
            if (baseline.runId() == null) {
                out.append("Its statements: unavailable (").append(baseline.unavailable()).append(")\n");
            } else {
                out.append("Its statements against baseline run ").append(baseline.runId())
                        .append(" (the report's), the most extra time first:\n");
                for (String line : DemoStatements.compare(c, baseline.runId(), run)) {
                    out.append("  ").append(line).append('\n');
                }
                out.append("Run it yourself:\n  ").append(psql.command("SELECT rank, verdict, share_of_extra_pct, baseline_mean_ms, slow_mean_ms,"
                        + " baseline_plan, slow_plan, query FROM telemetry.statement_compare_runs(" + baseline.runId() + ", " + run + ") LIMIT "
                        + DemoStatements.TOP)).append('\n');
            }
        } catch (SQLException e) {
            out.append("  (statement_compare_runs failed: ").append(e.getMessage()).append(")\n");
        }
        return out.toString();
    }

    /** The slow round's report, written by the report subcommand, and the command that writes it again. */
    static void printReport(DemoReport reports, long run) {
        StringBuilder out = new StringBuilder("Its report, against its baseline runs (kept when the demo stops):\n");
        try {
            DemoReport.Written written = reports.write(run);
            written.messages().forEach(line -> out.append("  ").append(line).append('\n'));
            out.append("Write it again (while the demo runs):\n  ").append(written.command()).append('\n');
        } catch (RuntimeException e) {
            out.append("  (the report failed: ").append(e.getMessage()).append(")\n");
        }
        System.out.println(out);
    }

    private static Connection connect(PostgresCluster cluster) {
        try {
            return cluster.connect();
        } catch (SQLException e) {
            throw new IllegalStateException("demo: cannot connect to the embedded PostgreSQL: " + e.getMessage(), e);
        }
    }
}
