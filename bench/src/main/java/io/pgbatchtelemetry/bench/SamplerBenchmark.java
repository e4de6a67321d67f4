package io.pgbatchtelemetry.bench;

import io.pgbatchtelemetry.harness.PostgresCluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The wait-event sampler's cost ({@code scripts/sampler-benchmark.sh}; method and results in
 * docs/sampler-benchmark.md), on a harness server (any of 15-18; pgbench from Debian's PostgreSQL 15):
 * <ol>
 * <li>pgbench TPS with the exporter off, sampling every 1 s and every 100 ms, interleaved round by round (the order
 * rotates), with the exporter's and the sampler backend's CPU time during each run and the exporter's max RSS;</li>
 * <li>the sampler query's cost (the exporter's own activity-sample.sql) with 10, 200 and 1 000 other sessions
 * (9 in 10 in pg_sleep, 1 in 10 blocked on a row lock): client latency over many pgbench runs (prepared, like JDBC),
 * the probe backend's CPU per run, EXPLAIN ANALYZE execution time; the same for count(*) of pg_stat_activity; and
 * the exporter sampling every 100 ms at 1 000 sessions (RSS, its own sample duration).</li>
 * </ol>
 * The exporter starts through its launcher (jvm.options). Writes summary.md with the raw files next to it.
 */
public final class SamplerBenchmark {
    static final List<String> OPTIONS = List.of("pg", "rounds", "duration", "clients", "scale", "query-runs-seconds",
            "exporter-warmup", "parts", "java-opts", "out", "sessions");
    private static final List<String> NUMBERS = List.of("pg", "rounds", "duration", "clients", "scale", "query-runs-seconds",
            "exporter-warmup");
    private static final String SAMPLER_SQL = "exporter/src/main/resources/io/pgbatchtelemetry/exporter/sampler/activity-sample.sql";
    private static final String MONITOR = "pgbt_bench_monitor";
    private static final String MONITOR_PASSWORD = "sampler-bench";

    private final Args args;
    private final Repo repo;
    private final Path out;
    private final Path work;
    private PostgresCluster pg;
    private Pgbench pgbench;

    private SamplerBenchmark(Args args, Repo repo, Path out, Path work) {
        this.args = args;
        this.repo = repo;
        this.out = out;
        this.work = work;
    }

    public static void main(String[] argv) throws Exception {
        Args args;
        try {
            args = new Args(argv, OPTIONS, List.of()).requireNumbers(NUMBERS, List.of());
        } catch (IllegalArgumentException e) {
            System.err.println("sampler-benchmark: " + e.getMessage());
            System.exit(2);
            return;
        }
        System.out.print(Files.readString(run(args)));
    }

    /** Runs the parts asked for; returns the summary's path. */
    public static Path run(Args args) throws Exception {
        Repo repo = Repo.locate();
        Path out = Path.of(args.string("out", repo.resolve("target/sampler-benchmark/"
                + DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC).format(Instant.now())).toString()));
        Files.createDirectories(out);
        Path work = Files.createTempDirectory("pgbt-sampler-bench");
        try {
            return new SamplerBenchmark(args, repo, out, work).run();
        } finally {
            try (Stream<Path> files = Files.walk(work)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private Path run() throws Exception {
        List<String> parts = List.of(args.string("parts", "tps,query").split(","));
        try (PostgresCluster cluster = PostgresCluster.builder(args.integer("pg", 15)).name("sampler-bench")
                .setting("max_connections", "1100").setting("shared_buffers", "256MB").setting("max_wal_size", "2GB")
                .setting("checkpoint_timeout", "30min").build()) {
            pg = cluster;
            pg.start();
            pg.execute("CREATE ROLE " + MONITOR + " LOGIN PASSWORD '" + MONITOR_PASSWORD + "' IN ROLE pg_monitor");
            // the exporter's slow statements and lock waits go to server.log, kept with the results
            pg.execute("ALTER ROLE " + MONITOR + " SET log_min_duration_statement = 200");
            pg.execute("ALTER ROLE " + MONITOR + " SET log_lock_waits = on");
            pg.execute("CREATE TABLE bench_lock (id int PRIMARY KEY); INSERT INTO bench_lock SELECT generate_series(1, 200)");
            pgbench = new Pgbench(pg);
            log("pgbench -i -s " + args.integer("scale", 10));
            pgbench.initialize(args.integer("scale", 10), work.resolve("pgbench-init.log"));
            List<String> tps = parts.contains("tps") ? tps() : List.of();
            List<String> query = parts.contains("query") ? query() : List.of();
            Files.copy(pg.logFile(), out.resolve("server.log"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            return summary(parts, tps, query, pg.queryValue("SHOW server_version"));
        }
    }

    // ---------------------------------------------------------------- exporter

    private ExporterProcess startExporter(String interval) throws IOException {
        String dsn = "postgresql://" + MONITOR + ":" + MONITOR_PASSWORD + "@127.0.0.1:" + pg.port() + "/postgres?sslmode=disable";
        ExporterProcess exporter = ExporterProcess.launcher(repo, dsn, List.of("--sampler.interval=" + interval, "--log.level=warn"),
                args.string("java-opts", ""), out.resolve("exporter-" + interval + ".log"));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (metric(exporter, "pg_sampler_samples_total") <= 0) {
            if (System.nanoTime() > deadline) {
                exporter.close();
                throw new IllegalStateException("the exporter did not start sampling; see " + exporter.log());
            }
            ExporterProcess.sleep(200);
        }
        return exporter;
    }

    private static double metric(ExporterProcess exporter, String name) {
        return new Exposition(exporter.scraper().fresh().body()).samples(name).getOrDefault("", 0.0);
    }

    private long backendPid(String applicationName) throws SQLException {
        String pid = pg.queryValue("SELECT pid FROM pg_stat_activity WHERE application_name = '" + applicationName + "' LIMIT 1");
        return pid == null ? -1 : Long.parseLong(pid);
    }

    // ---------------------------------------------------------------- 1. TPS, interleaved

    private List<String> tps() throws Exception {
        List<String> lines = new ArrayList<>();
        log("warm-up pgbench run (not counted)");
        runPgbench("warmup");
        List<String> modes = List.of("off", "1s", "100ms");
        for (int round = 1; round <= args.integer("rounds", 3); round++) {
            for (int k = 0; k < 3; k++) {
                String mode = modes.get((k + round - 1) % 3);
                log("round " + round + ": " + mode);
                if (mode.equals("off")) {
                    lines.add(round + " off " + runPgbench("r" + round + "-off") + " - - - - -");
                    continue;
                }
                try (ExporterProcess exporter = startExporter(mode)) {
                    ExporterProcess.sleep(args.integer("exporter-warmup", 5) * 1000L); // JIT and class loading are start-up costs
                    AtomicLong maxRss = new AtomicLong();
                    Thread watcher = new Thread(() -> {
                        while (!Thread.currentThread().isInterrupted()) {
                            maxRss.accumulateAndGet(ProcFs.status(exporter.pid(), "VmRSS"), Math::max);
                            try {
                                Thread.sleep(1000);
                            } catch (InterruptedException e) {
                                return;
                            }
                        }
                    });
                    watcher.start();
                    long backend = backendPid("pg-batch-exporter-sampler");
                    double jvm0 = ProcFs.cpuSeconds(exporter.pid());
                    double be0 = ProcFs.cpuSeconds(backend);
                    long t0 = System.nanoTime();
                    String tps = runPgbench("r" + round + "-" + mode);
                    double seconds = (System.nanoTime() - t0) / 1e9;
                    double jvmCpu = (ProcFs.cpuSeconds(exporter.pid()) - jvm0) * 1000 / seconds;
                    double backendCpu = (ProcFs.cpuSeconds(backend) - be0) * 1000 / seconds;
                    watcher.interrupt();
                    watcher.join();
                    lines.add(String.format(Locale.ROOT, "%d %s %s %d %.0f %s %.2f %.2f", round, mode, tps, maxRss.get(),
                            metric(exporter, "pg_sampler_samples_total"), metric(exporter, "pg_sampler_sample_duration_seconds"), jvmCpu, backendCpu));
                }
            }
        }
        Files.write(out.resolve("tps.txt"), Stream.concat(Stream.of(
                "round mode tps exporter_max_rss_kb samples sample_duration_s exporter_cpu_ms_per_s sampler_backend_cpu_ms_per_s"),
                lines.stream()).toList());
        return lines;
    }

    private String runPgbench(String label) throws Exception {
        pg.execute("CHECKPOINT");
        Path log = out.resolve("pgbench-" + label + ".txt");
        Process p = pgbench.start(List.of("-n", "-M", "prepared", "-c", Integer.toString(args.integer("clients", 4)), "-j", "2",
                "-T", Integer.toString(args.integer("duration", 30))), null, log);
        p.waitFor();
        Matcher m = Pattern.compile("(?m)^tps = ([0-9.]+)").matcher(Files.readString(log));
        if (!m.find()) {
            throw new IllegalStateException("pgbench printed no tps: " + Files.readString(log));
        }
        return m.group(1);
    }

    // ---------------------------------------------------------------- 2. the sampler query's cost

    private List<String> query() throws Exception {
        String samplerSql = Files.readAllLines(repo.resolve(SAMPLER_SQL)).stream().filter(l -> !l.startsWith("--"))
                .collect(Collectors.joining("\n")).replaceFirst("\\?", "'pg-batch-exporter'").replaceFirst("\\?", "'pg-batch-exporter-sampler'");
        Files.writeString(work.resolve("sampler.sql"), samplerSql + "\n;\n");
        Files.writeString(work.resolve("sleep.sql"), "SELECT pg_sleep(3600);\n");
        Files.writeString(work.resolve("wait.sql"), "SELECT id FROM bench_lock WHERE id = 1 + :client_id % 200 FOR UPDATE;\n");
        Files.writeString(work.resolve("baseline.sql"), "SELECT count(*) FROM pg_stat_activity;\n");
        List<String> lines = new ArrayList<>();
        List<Process> load = new ArrayList<>();
        // the holder locks every row of bench_lock and keeps its transaction open
        try (Connection holder = pg.connect()) {
            holder.setAutoCommit(false);
            try (Statement s = holder.createStatement()) {
                s.executeQuery("SELECT count(*) FROM (SELECT id FROM bench_lock FOR UPDATE) s").close();
            }
            for (String n : args.string("sessions", "10,200,1000").split(",")) {
                int sessions = Integer.parseInt(n.trim());
                int waiters = sessions / 10;
                int sleepers = sessions - waiters;
                log("query cost with " + sessions + " sessions (" + sleepers + " in pg_sleep, " + waiters + " blocked on a row lock)");
                load.forEach(Process::destroy);
                load.clear();
                pg.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name IN ('bench_sleep', 'bench_wait')");
                load.add(pgbench.start(List.of("-n", "-c", Integer.toString(sleepers), "-j", "4", "-T", "3600", "-f",
                        work.resolve("sleep.sql").toString()), "bench_sleep", work.resolve("sleepers.log")));
                if (waiters > 0) {
                    load.add(pgbench.start(List.of("-n", "-c", Integer.toString(waiters), "-j", "2", "-T", "3600", "-f",
                            work.resolve("wait.sql").toString()), "bench_wait", work.resolve("waiters.log")));
                }
                awaitSessions(sessions);
                int rows = countRows(samplerSql);
                String sampler = timeQuery(work.resolve("sampler.sql"), "sampler-" + sessions);
                String baseline = timeQuery(work.resolve("baseline.sql"), "baseline-" + sessions);
                String server = explainMedian(samplerSql);
                String exporterRss = "-";
                String exporterDuration = "-";
                if (sessions == 1000) {
                    try (ExporterProcess exporter = startExporter("100ms")) {
                        ExporterProcess.sleep(20_000);
                        exporterRss = Long.toString(ProcFs.status(exporter.pid(), "VmRSS"));
                        exporterDuration = String.format(Locale.ROOT, "%.3f", metric(exporter, "pg_sampler_sample_duration_seconds") * 1000);
                    }
                }
                lines.add(sessions + " " + sampler + " " + server + " " + rows + " " + baseline + " " + exporterRss + " " + exporterDuration);
            }
        } finally {
            load.forEach(Process::destroy);
            pg.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name IN ('bench_sleep', 'bench_wait')");
        }
        Files.write(out.resolve("query.txt"), Stream.concat(Stream.of("sessions client_mean_ms client_p50_ms client_p95_ms client_p99_ms runs "
                + "backend_cpu_ms_per_run server_exec_median_ms rows baseline_mean_ms baseline_p50_ms baseline_p95_ms baseline_p99_ms "
                + "baseline_runs baseline_cpu_ms exporter_rss_kb exporter_sample_duration_ms"), lines.stream()).toList());
        return lines;
    }

    private void awaitSessions(int n) throws SQLException {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        int ready = 0;
        while (System.nanoTime() < deadline) {
            ready = Integer.parseInt(pg.queryValue("SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('bench_sleep','bench_wait') "
                    + "AND wait_event_type IN ('Timeout','Lock')"));
            if (ready >= n) {
                return;
            }
            ExporterProcess.sleep(500);
        }
        throw new IllegalStateException("only " + ready + " of " + n + " sessions started");
    }

    private int countRows(String sql) throws SQLException {
        int rows = 0;
        try (Connection c = pg.connect(); Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
            while (r.next()) {
                rows++;
            }
        }
        return rows;
    }

    /**
     * Times a query file with pgbench over query-runs-seconds (one client, prepared, like JDBC after its fifth execution):
     * "mean p50 p95 p99 runs cpu_ms_per_run", the CPU being the probe backend's within the measured window.
     */
    private String timeQuery(Path file, String label) throws Exception {
        int seconds = args.integer("query-runs-seconds", 10);
        Path logDir = Files.createDirectories(work.resolve("qlog-" + label));
        Process bench = pgbench.start(List.of("-n", "-M", "prepared", "-c", "1", "-j", "1", "-T", Integer.toString(seconds + 2), "-f",
                file.toString(), "-l", "--log-prefix=" + logDir.resolve("qlog")), "bench_probe", out.resolve("query-" + label + ".txt"));
        long probe = -1;
        for (int i = 0; i < 50 && probe < 0; i++) {
            probe = backendPid("bench_probe");
            ExporterProcess.sleep(100);
        }
        ExporterProcess.sleep(1000); // past connection start-up and the first (custom-plan) executions
        double c0 = ProcFs.cpuSeconds(probe);
        long t0 = System.currentTimeMillis() * 1000;
        ExporterProcess.sleep(seconds * 1000L);
        double c1 = ProcFs.cpuSeconds(probe);
        long t1 = System.currentTimeMillis() * 1000;
        bench.waitFor();
        // per-transaction log: client tx latency_us script epoch_s epoch_us
        List<double[]> runs = new ArrayList<>();
        try (Stream<Path> logs = Files.list(logDir)) {
            for (Path log : logs.toList()) {
                for (String line : Files.readAllLines(log)) {
                    String[] f = line.trim().split("\\s+");
                    runs.add(new double[] {Double.parseDouble(f[2]) / 1000.0, Long.parseLong(f[4]) * 1_000_000L + Long.parseLong(f[5])});
                }
            }
        }
        long window = runs.stream().filter(r -> r[1] >= t0 && r[1] <= t1).count();
        List<Double> latencies = runs.stream().map(r -> r[0]).sorted().toList();
        int n = latencies.size();
        return String.format(Locale.ROOT, "%.3f %.3f %.3f %.3f %d %.3f", Stats.mean(latencies), latencies.get((int) (n * 0.50)),
                latencies.get((int) (n * 0.95)), latencies.get((int) (n * 0.99)), n, window == 0 ? Double.NaN : (c1 - c0) * 1000 / window);
    }

    private String explainMedian(String sql) throws SQLException {
        List<Double> times = new ArrayList<>();
        Pattern execution = Pattern.compile("Execution Time: ([0-9.]+) ms");
        try (Connection c = pg.connect(); Statement s = c.createStatement()) {
            for (int i = 0; i < 21; i++) {
                try (ResultSet r = s.executeQuery("EXPLAIN (ANALYZE, TIMING OFF) " + sql)) {
                    while (r.next()) {
                        Matcher m = execution.matcher(r.getString(1));
                        if (m.find()) {
                            times.add(Double.parseDouble(m.group(1)));
                        }
                    }
                }
            }
        }
        return String.format(Locale.ROOT, "%.3f", Stats.percentile(times, 50));
    }

    // ---------------------------------------------------------------- summary

    private Path summary(List<String> parts, List<String> tps, List<String> query, String serverVersion) throws IOException {
        double[] load = Machine.loadAverage();
        StringBuilder s = new StringBuilder();
        s.append("# Sampler benchmark, ").append(DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm'Z'").withZone(ZoneOffset.UTC).format(Instant.now()))
                .append("\n\n");
        s.append(String.format(Locale.ROOT, "PostgreSQL %s, %d cores (%s),%nload average at the end: %.2f %.2f %.2f. pgbench -c %d -j 2 -T %d "
                        + "-M prepared (TPC-B like), scale %d, %d rounds.%n", serverVersion, Runtime.getRuntime().availableProcessors(),
                Machine.facts().get("cpu_model"), load[0], load[1], load[2], args.integer("clients", 4), args.integer("duration", 30),
                args.integer("scale", 10), args.integer("rounds", 3)));
        s.append("Parts: ").append(String.join(",", parts)).append(". Exporter started through exporter/bin/pg-batch-exporter (exporter/bin/jvm.options)")
                .append(args.string("java-opts", "").isBlank() ? "" : ", JAVA_OPTS " + args.string("java-opts", "")).append(".\n\n");
        if (parts.contains("tps")) {
            Map<Integer, Map<String, String[]>> byRound = new TreeMap<>();
            for (String line : tps) {
                String[] f = line.split(" ");
                byRound.computeIfAbsent(Integer.parseInt(f[0]), k -> new TreeMap<>()).put(f[1], f);
            }
            s.append("## TPS\n\n| round | off | sampler 1 s | ratio | sampler 100 ms | ratio |\n|---|---|---|---|---|---|\n");
            double[] sum = new double[3];
            double[] cpu = new double[4];
            for (var e : byRound.entrySet()) {
                double off = Double.parseDouble(e.getValue().get("off")[2]);
                double one = Double.parseDouble(e.getValue().get("1s")[2]);
                double hundred = Double.parseDouble(e.getValue().get("100ms")[2]);
                sum[0] += off;
                sum[1] += one;
                sum[2] += hundred;
                cpu[0] += Double.parseDouble(e.getValue().get("1s")[6]);
                cpu[1] += Double.parseDouble(e.getValue().get("1s")[7]);
                cpu[2] += Double.parseDouble(e.getValue().get("100ms")[6]);
                cpu[3] += Double.parseDouble(e.getValue().get("100ms")[7]);
                s.append(String.format(Locale.ROOT, "| %d | %.1f | %.1f | %.4f | %.1f | %.4f |%n", e.getKey(), off, one, one / off, hundred, hundred / off));
            }
            int r = byRound.size();
            s.append(String.format(Locale.ROOT, "%nmean TPS: off %.1f, 1 s %.1f (ratio %.4f), 100 ms %.1f (ratio %.4f)%n%n", sum[0] / r, sum[1] / r,
                    sum[1] / sum[0], sum[2] / r, sum[2] / sum[0]));
            s.append(String.format(Locale.ROOT, "%nCPU while sampling (ms of CPU per second of wall time, mean over rounds): 1 s: exporter JVM %.2f, "
                    + "sampler backend %.2f; 100 ms: exporter JVM %.2f, sampler backend %.2f%n%n", cpu[0] / r, cpu[1] / r, cpu[2] / r, cpu[3] / r));
            s.append("raw: exporter max RSS during the run (kB), samples taken, last sample duration (s), CPU ms per s:\n\n```\n");
            tps.forEach(l -> s.append(l).append('\n'));
            s.append("```\n\n\n");
        }
        if (parts.contains("query")) {
            s.append("## Sampler query cost\n\n| sessions | rows | sampler query: backend CPU ms per run | client latency mean / p50 / p95 / p99 ms | runs "
                    + "| EXPLAIN ANALYZE execution median ms | pg_stat_activity alone: CPU ms / latency mean / p50 ms | exporter at 100 ms: RSS kB, "
                    + "last sample ms |\n|---|---|---|---|---|---|---|---|\n");
            for (String line : query) {
                String[] f = line.split(" ");
                s.append(String.format("| %s | %s | %s | %s / %s / %s / %s | %s | %s | %s / %s / %s | %s, %s |%n", f[0], f[8], f[6], f[1], f[2], f[3],
                        f[4], f[5], f[7], f[14], f[9], f[10], f[15], f[16]));
            }
        }
        Path summary = out.resolve("summary.md");
        Files.writeString(summary, s);
        return summary;
    }

    private static void log(String message) {
        System.err.println("[" + DateTimeFormatter.ofPattern("HH:mm:ss").withZone(ZoneOffset.UTC).format(Instant.now()) + "] " + message);
    }
}
