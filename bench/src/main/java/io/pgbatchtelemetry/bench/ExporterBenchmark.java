package io.pgbatchtelemetry.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * pg-batch-exporter against Debian's postgres_exporter 0.11 on one PostgreSQL server, in one run
 * ({@code scripts/bench-exporter.sh}; method and results in docs/benchmarks.md). The server comes from the harness
 * (any of 15-18), ours starts through its launcher, scrapes go through {@link Scraper}, PostgreSQL is read with
 * pgjdbc. Two scenarios (an empty database; then many tables and client sessions), and per exporter:
 * <ul>
 * <li>scrape latency p50/p90/p99 on a new connection per scrape (text format), the two exporters interleaved
 * round by round (order alternating) so machine load hits both alike, and again as Prometheus scrapes (one
 * kept-alive connection, OpenMetrics preferred, gzip);</li>
 * <li>queries per scrape (pg_stat_statements calls of the monitoring role during M scrapes of that exporter alone),
 * new connections per scrape (log_connections lines), the most backends held, exporter and backend CPU per scrape,
 * all net of what the exporter costs with nobody scraping (our sampler);</li>
 * <li>RSS (VmRSS after every round, at the end, and VmHWM), series and families of one scrape;</li>
 * <li>then our exporter alone with the JVM's defaults and through the launcher (the JVM options' effect).</li>
 * </ul>
 * Writes results.md (printed too), results.json and environment.txt into --out.
 */
public final class ExporterBenchmark {
    static final List<String> OPTIONS = List.of("pg", "scrapes", "out", "ours-args", "warmup", "accounting-scrapes", "pause",
            "background-seconds", "tables", "sessions", "memory-sequential", "memory-bursts", "memory-burst-size");
    static final List<String> FLAGS = List.of("no-memory");

    private final Args args;
    private final Repo repo;
    private final Path out;
    private final PrintStream report;
    private final Map<String, Object> results = new LinkedHashMap<>();
    private final Map<String, Set<String>> previousSeries = new LinkedHashMap<>();
    private BenchServer server;
    private Sessions sessions;
    private Measured ours;
    private Measured theirs;

    /** An exporter under measurement: its process, its scraper, how its sessions are recognised. */
    private record Measured(String label, ExporterProcess process, Scraper scraper, String applicationLike) {
    }

    private ExporterBenchmark(Args args, Repo repo, Path out, PrintStream report) {
        this.args = args;
        this.repo = repo;
        this.out = out;
        this.report = report;
    }

    public static void main(String[] argv) throws Exception {
        Args args;
        try {
            args = new Args(argv, OPTIONS, FLAGS).requireNumbers(OPTIONS.stream().filter(o -> !List.of("out", "ours-args", "pause").contains(o)).toList(), List.of("pause"));
        } catch (IllegalArgumentException e) {
            System.err.println("bench-exporter: " + e.getMessage());
            System.exit(2);
            return;
        }
        run(args);
    }

    /** Runs the whole benchmark; returns the results also written to results.json. */
    public static Map<String, Object> run(Args args) throws Exception {
        Repo repo = Repo.locate();
        Path out = Path.of(args.string("out", repo.resolve("target/bench-exporter").toString()));
        Files.createDirectories(out);
        try (PrintStream report = new PrintStream(Files.newOutputStream(out.resolve("results.md")), true, "UTF-8")) {
            return new ExporterBenchmark(args, repo, out, report).run();
        }
    }

    private Map<String, Object> run() throws Exception {
        int pg = args.integer("pg", 16);
        log("starting PostgreSQL " + pg + " (harness)");
        try (BenchServer started = BenchServer.start(pg, "bench-exporter")) {
            server = started;
            List<String> oursArgs = args.string("ours-args", "").isBlank() ? List.of() : Arrays.asList(args.string("ours-args", "").trim().split("\\s+"));
            try (ExporterProcess oursProcess = ExporterProcess.launcher(repo, server.dsn(), oursArgs, "", out.resolve("ours.log"));
                 ExporterProcess theirsProcess = ExporterProcess.postgresExporter(server.dsn(), out.resolve("theirs.log"));
                 Sessions opened = new Sessions(server)) {
                sessions = opened;
                ours = new Measured("ours", oursProcess, oursProcess.scraper(), "pg-batch-exporter%");
                theirs = new Measured("postgres_exporter", theirsProcess, theirsProcess.scraper(), "");
                log("pg-batch-exporter on :" + oursProcess.port() + " (pid " + oursProcess.pid() + "), postgres_exporter on :"
                        + theirsProcess.port() + " (pid " + theirsProcess.pid() + ")");
                writeEnvironment(oursArgs);
                measure();
            }
        }
        results.put("loadavg_end", Machine.loadAverage());
        Map<String, Object> parameters = new LinkedHashMap<>();
        for (String name : List.of("scrapes", "warmup", "accounting-scrapes", "tables", "sessions", "background-seconds")) {
            parameters.put(name, args.integer(name, defaultOf(name)));
        }
        parameters.put("pause", args.decimal("pause", 0.05));
        results.put("parameters", parameters);
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.resolve("results.json").toFile(), results);
        Files.writeString(out.resolve("environment.txt"), "uptime at end: " + Arrays.toString(Machine.loadAverage()) + "\n",
                java.nio.file.StandardOpenOption.APPEND);
        log("results written to " + out.resolve("results.json"));
        return results;
    }

    private static int defaultOf(String name) {
        return switch (name) {
            case "scrapes" -> 200;
            case "warmup" -> 30;
            case "accounting-scrapes" -> 50;
            case "tables" -> 2000;
            case "sessions" -> 200;
            case "background-seconds" -> 10;
            case "memory-sequential" -> 300;
            case "memory-bursts" -> 3;
            case "memory-burst-size" -> 50;
            default -> throw new IllegalArgumentException(name);
        };
    }

    private int param(String name) {
        return args.integer(name, defaultOf(name));
    }

    private void writeEnvironment(List<String> oursArgs) throws Exception {
        String env = String.join("\n",
                "date: " + java.time.Instant.now(),
                "loadavg: " + Arrays.toString(Machine.loadAverage()),
                "postgres: " + server.scalar("SELECT version()"),
                "java: " + System.getProperty("java.runtime.version"),
                "pg-batch-exporter: " + repo.exporterJar() + " via " + repo.launcher() + " " + String.join(" ", oursArgs),
                "postgres_exporter: " + firstLine(List.of("/usr/bin/prometheus-postgres-exporter", "--version")),
                "git: " + firstLine(List.of("git", "-C", repo.root().toString(), "rev-parse", "--short", "HEAD"))) + "\n";
        Files.writeString(out.resolve("environment.txt"), env);
        System.err.print(env);
    }

    private static String firstLine(List<String> command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String text = new String(p.getInputStream().readAllBytes());
            p.waitFor();
            return text.lines().findFirst().orElse("?");
        } catch (IOException | InterruptedException e) {
            return "?";
        }
    }

    private void measure() throws Exception {
        results.put("machine", Machine.facts());
        results.put("server_version", server.scalar("SELECT version()"));
        results.put("max_connections", server.scalar("SHOW max_connections"));
        results.put("scenarios", new ArrayList<>());
        results.put("series_by_sessions", new ArrayList<>());
        int tables = param("tables");
        int sessionCount = param("sessions");
        seriesSnapshot("empty database, 0 sessions");
        runScenario("empty database");
        createTables(tables);
        sessions.useTables(tables);
        seriesSnapshot(tables + " tables, 0 sessions");
        log("sessions: " + sessions.open(sessionCount / 10));
        seriesSnapshot(tables + " tables, " + sessionCount / 10 + " sessions");
        Map<String, Integer> states = sessions.open(sessionCount);
        log("sessions: " + states);
        results.put("session_states", states);
        seriesSnapshot(tables + " tables, " + sessionCount + " sessions");
        runScenario(tables + " tables, " + sessionCount + " sessions");
        if (!args.flag("no-memory")) {
            results.put("memory_variants", new MemoryVariants(repo, server.dsn(), out, param("memory-sequential"),
                    param("memory-bursts"), param("memory-burst-size")).run(report));
        }
    }

    private void createTables(int count) throws SQLException {
        for (int first = 0; first < count; first += 200) {
            server.execute("DO $$ BEGIN FOR i IN " + first + ".." + (Math.min(first + 200, count) - 1) + " LOOP "
                    + "EXECUTE format('CREATE TABLE bench_t%s (id int PRIMARY KEY, v text)', i); "
                    + "EXECUTE format('INSERT INTO bench_t%s SELECT g, md5(g::text) FROM generate_series(1, 10) g', i); "
                    + "END LOOP; END $$");
        }
    }

    @SuppressWarnings("unchecked")
    private void seriesSnapshot(String situation) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("situation", situation);
        boolean changed = false;
        for (Measured e : List.of(ours, theirs)) {
            Exposition body = new Exposition(e.scraper().fresh().body());
            Set<String> ids = body.seriesIdentities();
            Map<String, Object> counts = new LinkedHashMap<>();
            counts.put("series", body.seriesLines().size());
            counts.put("families", body.families().size());
            Set<String> previous = previousSeries.get(e.label());
            if (previous != null) {
                List<String> appeared = ids.stream().filter(id -> !previous.contains(id)).sorted().toList();
                List<String> went = previous.stream().filter(id -> !ids.contains(id)).sorted().toList();
                counts.put("appeared", appeared);
                counts.put("went", went);
                changed |= !appeared.isEmpty() || !went.isEmpty();
            }
            previousSeries.put(e.label(), ids);
            row.put(e.label(), counts);
        }
        ((List<Object>) results.get("series_by_sessions")).add(row);
        log("series " + situation + ": " + row);
        if (changed) {
            report.println("series changed at '" + situation + "': " + row);
        }
    }

    @SuppressWarnings("unchecked")
    private void runScenario(String name) throws Exception {
        int scrapes = param("scrapes");
        long pauseMs = Math.round(args.decimal("pause", 0.05) * 1000);
        List<Measured> both = List.of(ours, theirs);
        log("scenario " + name + ": warm-up (" + param("warmup") + " scrapes each)");
        for (int i = 0; i < param("warmup"); i++) {
            both.forEach(e -> e.scraper().fresh());
        }

        log("scenario " + name + ": latency, " + scrapes + " rounds interleaved, " + pauseMs + " ms pause");
        Map<String, List<Double>> latencies = Map.of("ours", new ArrayList<>(), "postgres_exporter", new ArrayList<>());
        Map<String, Long> rssMax = new LinkedHashMap<>(Map.of("ours", 0L, "postgres_exporter", 0L));
        Map<String, List<Double>> collectorSeconds = new LinkedHashMap<>();
        List<Double> oursScrapeSeconds = new ArrayList<>();
        List<Double> oursCollectorsSum = new ArrayList<>();
        int oursFailures = 0;
        Map<String, String> lastBody = new LinkedHashMap<>();
        double[] loadBefore = Machine.loadAverage();
        for (int round = 0; round < scrapes; round++) {
            for (Measured e : round % 2 == 0 ? both : List.of(theirs, ours)) {
                Scraper.Scrape scrape = e.scraper().fresh();
                latencies.get(e.label()).add(scrape.seconds());
                lastBody.put(e.label(), scrape.body());
                ExporterProcess.sleep(pauseMs);
            }
            for (Measured e : both) {
                rssMax.merge(e.label(), ProcFs.status(e.process().pid(), "VmRSS"), Math::max);
            }
            Exposition body = new Exposition(lastBody.get("ours"));
            Map<String, Double> durations = body.samples("pg_scrape_collector_duration_seconds");
            durations.forEach((labels, value) -> collectorSeconds.computeIfAbsent(labels, k -> new ArrayList<>()).add(value));
            oursCollectorsSum.add(durations.values().stream().mapToDouble(Double::doubleValue).sum());
            oursScrapeSeconds.add(body.samples("pg_exporter_scrape_duration_seconds").getOrDefault("", Double.NaN));
            oursFailures += (int) body.samples("pg_scrape_collector_success").values().stream().filter(v -> v != 1.0).count();
        }
        double[] loadAfter = Machine.loadAverage();

        log("scenario " + name + ": latency as Prometheus scrapes (kept-alive connection, gzip, OpenMetrics), " + scrapes + " rounds");
        Map<String, List<Double>> asPrometheus = Map.of("ours", new ArrayList<>(), "postgres_exporter", new ArrayList<>());
        Map<String, Long> wireBytes = new LinkedHashMap<>();
        both.forEach(e -> e.scraper().asPrometheus());
        for (int round = 0; round < scrapes; round++) {
            for (Measured e : round % 2 == 0 ? both : List.of(theirs, ours)) {
                Scraper.Scrape scrape = e.scraper().asPrometheus();
                asPrometheus.get(e.label()).add(scrape.seconds());
                wireBytes.put(e.label(), scrape.wireBytes());
                ExporterProcess.sleep(pauseMs);
            }
        }

        Map<String, Object> scenario = new LinkedHashMap<>();
        scenario.put("name", name);
        scenario.put("scrapes", scrapes);
        scenario.put("loadavg_before", loadBefore);
        scenario.put("loadavg_after", loadAfter);
        Map<String, Map<String, Object>> exporters = new LinkedHashMap<>();
        scenario.put("exporters", exporters);
        for (Measured e : both) {
            List<Double> values = latencies.get(e.label());
            Exposition body = new Exposition(lastBody.get(e.label()));
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("p50_ms", Stats.percentile(values, 50) * 1000);
            m.put("p90_ms", Stats.percentile(values, 90) * 1000);
            m.put("p99_ms", Stats.percentile(values, 99) * 1000);
            m.put("mean_ms", Stats.mean(values) * 1000);
            m.put("max_ms", values.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN) * 1000);
            m.put("rss_max_sampled_kb", rssMax.get(e.label()));
            m.put("rss_end_kb", ProcFs.status(e.process().pid(), "VmRSS"));
            m.put("hwm_kb", ProcFs.status(e.process().pid(), "VmHWM"));
            m.put("series", body.seriesLines().size());
            m.put("families", body.families().size());
            m.put("settings_families", body.settingsFamilies().size());
            m.put("diagnostic_families", body.diagnosticFamilies().size());
            m.put("diagnostic_family_names", body.diagnosticFamilies());
            m.put("bytes", lastBody.get(e.label()).getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
            m.put("prometheus_p50_ms", Stats.percentile(asPrometheus.get(e.label()), 50) * 1000);
            m.put("prometheus_p90_ms", Stats.percentile(asPrometheus.get(e.label()), 90) * 1000);
            m.put("prometheus_p99_ms", Stats.percentile(asPrometheus.get(e.label()), 99) * 1000);
            m.put("prometheus_wire_bytes", wireBytes.get(e.label()));
            m.put("pg_up", body.samples("pg_up").get(""));
            exporters.put(e.label(), m);
        }
        scenario.put("ours_collector_failures", oursFailures);

        // Where our wall time goes: HTTP alone (the health endpoint, same server and threads), the scrape of
        // PostgreSQL as the coordinator timed it, and within it the collectors' own time. The same scrape with the
        // exposition cut to one family (the client's name[] filter): all the PostgreSQL work and snapshot building,
        // almost none of the writing. Paced like the latency rounds (the other exporter scraped in between).
        List<Double> health = new ArrayList<>();
        List<Double> oneFamily = new ArrayList<>();
        for (int i = 0; i < Math.min(50, scrapes); i++) {
            health.add(ours.scraper().fresh("/-/healthy").seconds());
            ExporterProcess.sleep(pauseMs);
            theirs.scraper().fresh();
            ExporterProcess.sleep(pauseMs);
            oneFamily.add(ours.scraper().fresh("/metrics?name[]=pg_up").seconds());
            ExporterProcess.sleep(pauseMs);
            theirs.scraper().fresh();
            ExporterProcess.sleep(pauseMs);
        }
        Map<String, Double> breakdown = new LinkedHashMap<>();
        breakdown.put("http_total_p50", Stats.percentile(latencies.get("ours"), 50) * 1000);
        breakdown.put("health_endpoint_p50", Stats.percentile(health, 50) * 1000);
        breakdown.put("one_family_scrape_p50", Stats.percentile(oneFamily, 50) * 1000);
        breakdown.put("coordinator_scrape_p50", Stats.percentile(oursScrapeSeconds, 50) * 1000);
        breakdown.put("collectors_sum_p50", Stats.percentile(oursCollectorsSum, 50) * 1000);
        scenario.put("ours_breakdown_ms", breakdown);
        Map<String, Object> perCollector = new LinkedHashMap<>();
        collectorSeconds.entrySet().stream()
                .sorted((a, b) -> Double.compare(Stats.mean(b.getValue()), Stats.mean(a.getValue())))
                .forEach(entry -> perCollector.put(entry.getKey(), Map.of("mean", Stats.mean(entry.getValue()) * 1000,
                        "p50", Stats.percentile(entry.getValue(), 50) * 1000, "p99", Stats.percentile(entry.getValue(), 99) * 1000)));
        scenario.put("ours_collector_ms", perCollector);
        Exposition theirsBody = new Exposition(lastBody.get("postgres_exporter"));
        scenario.put("theirs_errors", Map.of(
                "pg_exporter_last_scrape_error", theirsBody.samples("pg_exporter_last_scrape_error"),
                "failed_collectors", theirsBody.samples("pg_scrape_collector_success").entrySet().stream()
                        .filter(en -> en.getValue() != 1.0).map(Map.Entry::getKey).toList()));

        Map<String, Object> background = measureBackground(param("background-seconds"));
        scenario.put("between_scrapes", background);
        for (Measured e : both) {
            accountFor(e, name, background, exporters.get(e.label()), pauseMs);
        }
        ((List<Object>) results.get("scenarios")).add(scenario);
        ScenarioReport.print(scenario, report);
    }

    /** Nobody scrapes for {@code seconds}: what do the exporters cost anyway (our sampler)? */
    private Map<String, Object> measureBackground(int seconds) throws Exception {
        log("between scrapes: " + seconds + " s without scrapes");
        server.execute("SELECT pg_stat_statements_reset()");
        ExporterProcess.sleep(200);
        Map<String, Cost> before = Map.of("ours", costSnapshot(ours), "postgres_exporter", costSnapshot(theirs));
        long started = System.nanoTime();
        ExporterProcess.sleep(seconds * 1000L);
        double elapsed = (System.nanoTime() - started) / 1e9;
        ExporterProcess.sleep(300);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("seconds", elapsed);
        result.put("statements", server.topStatements(5));
        boolean first = true;
        for (Measured e : List.of(ours, theirs)) {
            Cost cost = costSince(e, before.get(e.label()));
            if (first) { // the role-wide counters are the same for both
                result.put("role_statements_per_s", cost.statements() / elapsed);
                result.put("role_exec_ms_per_s", cost.execMs() / elapsed);
                first = false;
            }
            result.put(e.label(), Map.of("exporter_cpu_ms_per_s", cost.exporterCpuMs() / elapsed,
                    "backend_cpu_ms_per_s", cost.backendCpuMs() / elapsed, "backends", server.backendPids(e.applicationLike()).size()));
        }
        return result;
    }

    @SuppressWarnings("unchecked")
    private void accountFor(Measured e, String scenarioName, Map<String, Object> background, Map<String, Object> into, long pauseMs)
            throws Exception {
        int scrapes = param("accounting-scrapes");
        log("scenario " + scenarioName + ": accounting for " + e.label() + " alone (" + scrapes + " scrapes)");
        server.execute("SELECT pg_stat_statements_reset()");
        ExporterProcess.sleep(200);
        Cost before = costSnapshot(e);
        long connectionsBefore = server.connectionsLogged();
        int mostBackends = 0;
        long started = System.nanoTime();
        for (int i = 0; i < scrapes; i++) {
            e.scraper().fresh();
            mostBackends = Math.max(mostBackends, server.backendPids(e.applicationLike()).size());
            ExporterProcess.sleep(pauseMs);
        }
        double elapsed = (System.nanoTime() - started) / 1e9;
        ExporterProcess.sleep(300); // let the last backend's statistics reach pg_stat_statements
        Cost cost = costSince(e, before);
        long connections = server.connectionsLogged() - connectionsBefore;
        // What the exporter does between scrapes anyway (our wait-event sampler) is taken out, at the rate
        // measured with nobody scraping, so the numbers are the cost of a scrape.
        Map<String, Object> rate = (Map<String, Object>) background.get(e.label());
        into.put("queries_per_scrape", (cost.statements() - (double) background.get("role_statements_per_s") * elapsed) / scrapes);
        into.put("connections_per_scrape", connections / (double) scrapes);
        into.put("most_backends_held", mostBackends);
        into.put("exporter_cpu_ms_per_scrape", (cost.exporterCpuMs() - (double) rate.get("exporter_cpu_ms_per_s") * elapsed) / scrapes);
        into.put("backend_cpu_ms_per_scrape", (cost.backendCpuMs() - (double) rate.get("backend_cpu_ms_per_s") * elapsed) / scrapes);
        into.put("server_exec_ms_per_scrape", (cost.execMs() - (double) background.get("role_exec_ms_per_s") * elapsed) / scrapes);
        into.put("accounting_seconds", elapsed);
        into.put("top_statements", server.topStatements(25));
    }

    /** Counters at one moment; backends are the exporter's sessions alive then. */
    private record Cost(long statements, double execMs, double exporterCpuMs, double backendCpuMs, Map<Long, Double> backendCpu) {
    }

    private Cost costSnapshot(Measured e) throws SQLException {
        Map<Long, Double> backendCpu = new LinkedHashMap<>();
        for (long pid : server.backendPids(e.applicationLike())) {
            backendCpu.put(pid, ProcFs.cpuSeconds(pid));
        }
        return new Cost(server.statementsOfMonitor(), server.execMsOfMonitor(), ProcFs.cpuSeconds(e.process().pid()) * 1000, 0, backendCpu);
    }

    private Cost costSince(Measured e, Cost before) throws SQLException {
        // backends alive at the end; one opened and closed in between is not seen (none are: see connections)
        double backend = 0;
        for (long pid : server.backendPids(e.applicationLike())) {
            backend += ProcFs.cpuSeconds(pid) - before.backendCpu().getOrDefault(pid, 0.0);
        }
        return new Cost(server.statementsOfMonitor() - before.statements(), server.execMsOfMonitor() - before.execMs(),
                ProcFs.cpuSeconds(e.process().pid()) * 1000 - before.exporterCpuMs(), backend * 1000, Map.of());
    }

    static void log(String message) {
        System.err.println("[bench " + LocalTime.now().format(DateTimeFormatter.ofPattern("HH:mm:ss")) + "] " + message);
    }
}
