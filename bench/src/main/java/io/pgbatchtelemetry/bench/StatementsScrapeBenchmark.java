package io.pgbatchtelemetry.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the statements collector adds to a scrape ({@code scripts/bench-statements-scrape.sh}; method and results in
 * docs/statements-benchmark.md). A harness server (any of 15-18) with pg_stat_statements preloaded
 * ({@code max = 10000}) holds N distinct statements (default 5,000) run by an application role; two of our exporters
 * start through the launcher (its JVM options), one with the statements collector and one with
 * {@code --no-collector.statements}, and both are scraped as Prometheus scrapes (kept-alive connection, OpenMetrics,
 * gzip) on a fixed tick, interleaved, the order alternating. The tick is Prometheus' default scrape interval (read
 * from prometheus/prometheus.yml) and the collector's statements.interval is its default (read from the exporter's
 * reference.conf), both divided by --time-scale so a run takes minutes while the ratio of the two, which decides how
 * many scrapes read pg_stat_statements, stays the default one.
 *
 * <p>Per exporter: scrape duration p50/p90/max measured client-side (to the last byte) and by the exporter itself
 * ({@code pg_exporter_scrape_duration_seconds}); the difference and ratio of the p50s and p90s against the peer without
 * the collector; which scrapes read pg_stat_statements (the totals moved) and what those cost; the read's own
 * execution time inside the server (pg_stat_statements' entry for it: calls, mean, min, max). Writes results.md
 * (printed too) and results.json into --out.
 */
public final class StatementsScrapeBenchmark {
    static final List<String> OPTIONS = List.of("pg", "statements", "scrapes", "warmup", "time-scale", "scrape-interval",
            "statements-interval", "out");
    private static final Pattern DURATION = Pattern.compile("([0-9]+(?:\\.[0-9]+)?)\\s*(ms|s|m|h)");

    private final Args args;
    private final Repo repo;
    private final Path out;
    private final Map<String, Object> results = new LinkedHashMap<>();

    /** One measured scrape of one exporter. */
    private record Sample(double clientMs, double ownMs, Double collectorMs, Double allCalls) {
    }

    private StatementsScrapeBenchmark(Args args, Repo repo, Path out) {
        this.args = args;
        this.repo = repo;
        this.out = out;
    }

    public static void main(String[] argv) throws Exception {
        Args args;
        try {
            args = new Args(argv, OPTIONS, List.of()).requireNumbers(List.of("pg", "statements", "scrapes", "warmup"),
                    List.of("time-scale"));
        } catch (IllegalArgumentException e) {
            System.err.println("bench-statements-scrape: " + e.getMessage());
            System.exit(2);
            return;
        }
        run(args);
    }

    /** Runs the benchmark; returns the results also written to results.json. */
    public static Map<String, Object> run(Args args) throws Exception {
        Repo repo = Repo.locate();
        Path out = Path.of(args.string("out", repo.resolve("target/bench-statements-scrape").toString()));
        Files.createDirectories(out);
        return new StatementsScrapeBenchmark(args, repo, out).run();
    }

    private Map<String, Object> run() throws Exception {
        int pg = args.integer("pg", 15);
        int statements = args.integer("statements", 5000);
        int scrapes = args.integer("scrapes", 200);
        int warmup = args.integer("warmup", 20);
        double scale = args.decimal("time-scale", 10);
        Duration prometheusInterval = duration(args.string("scrape-interval", null), "prometheus/prometheus.yml",
                Pattern.compile("(?m)^global:\\s*\\n(?:\\s+.*\\n|\\s*#.*\\n)*?\\s+scrape_interval:\\s*(\\S+)"));
        Duration statementsInterval = duration(args.string("statements-interval", null), "exporter/src/main/resources/reference.conf",
                Pattern.compile("(?s)\\n\\s*statements\\s*\\{.*?\\n\\s*interval\\s*=\\s*(\\S+)"));
        Duration tick = scaled(prometheusInterval, scale);
        Duration readEvery = scaled(statementsInterval, scale);
        results.put("machine", Machine.facts());
        results.put("git", git("rev-parse", "--short", "HEAD") + (git("status", "--porcelain", "--untracked-files=no").isBlank() ? "" : " (modified)"));
        results.put("prometheus_scrape_interval", Durations.text(prometheusInterval));
        results.put("statements_interval", Durations.text(statementsInterval));
        results.put("time_scale", scale);
        results.put("scrape_tick", Durations.text(tick));
        results.put("statements_interval_run", Durations.text(readEvery));

        log("starting PostgreSQL " + pg + " (harness), pg_stat_statements.max = 10000");
        try (BenchServer server = BenchServer.start(pg, "bench-stmt-scrape", Map.of("pg_stat_statements.max", "10000"))) {
            results.put("server_version", server.scalar("SHOW server_version"));
            fill(server, statements);
            results.put("entries", Long.parseLong(server.scalar("SELECT count(*) FROM pg_stat_statements")));
            log(results.get("entries") + " entries in pg_stat_statements; exporters with statements.interval "
                    + Durations.text(readEvery) + ", scraped every " + Durations.text(tick));
            try (ExporterProcess with = ExporterProcess.launcher(repo, server.dsn(),
                    List.of("--statements.interval=" + Durations.text(readEvery)), "", out.resolve("with-statements.log"));
                 ExporterProcess without = ExporterProcess.launcher(repo, server.dsn(),
                         List.of("--no-collector.statements"), "", out.resolve("without-statements.log"))) {
                List<List<Sample>> measured = scrape(with.scraper(), without.scraper(), tick, warmup, scrapes);
                summarise(measured.get(0), measured.get(1), server);
            }
        }
        results.put("loadavg_end", Machine.loadAverage());
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.resolve("results.json").toFile(), results);
        String report = report();
        Files.writeString(out.resolve("results.md"), report);
        System.out.print(report);
        return results;
    }

    /** N distinct statements, each run once at top level by the application role: (1+1+...) * (1*1*...). */
    private static void fill(BenchServer server, int statements) throws SQLException {
        int side = (int) Math.ceil(Math.sqrt(statements));
        try (Connection app = server.appSession("bench_statements"); Statement s = app.createStatement()) {
            for (int i = 0; i < statements; i++) {
                s.execute("SELECT (1" + "+1".repeat(i / side + 1) + ") * (1" + "*1".repeat(i % side + 1) + ")");
            }
        }
    }

    /** Warm-up ticks, then the measured ones: both exporters scraped on each tick, the order alternating. */
    private static List<List<Sample>> scrape(Scraper with, Scraper without, Duration tick, int warmup, int scrapes) {
        List<Sample> withSamples = new ArrayList<>();
        List<Sample> withoutSamples = new ArrayList<>();
        long start = System.nanoTime();
        for (int i = 0; i < warmup + scrapes; i++) {
            long due = start + i * tick.toNanos();
            long wait = due - System.nanoTime();
            if (wait > 1_000_000) {
                ExporterProcess.sleep(wait / 1_000_000);
            }
            boolean withFirst = i % 2 == 0;
            Sample a = sample(withFirst ? with : without);
            Sample b = sample(withFirst ? without : with);
            if (i >= warmup) {
                withSamples.add(withFirst ? a : b);
                withoutSamples.add(withFirst ? b : a);
            }
        }
        return List.of(withSamples, withoutSamples);
    }

    private static Sample sample(Scraper scraper) {
        Scraper.Scrape scrape = scraper.asPrometheus();
        Exposition e = new Exposition(scrape.body());
        Double own = e.samples("pg_exporter_scrape_duration_seconds").get("");
        if (own == null || !Double.valueOf(1).equals(e.samples("pg_up").get(""))) {
            throw new IllegalStateException("scrape of :" + scraper.port() + " without pg_up 1 or its scrape duration");
        }
        Double collector = e.samples("pg_scrape_collector_duration_seconds").get("{collector=\"statements\"}");
        return new Sample(scrape.seconds() * 1000, own * 1000, collector == null ? null : collector * 1000,
                e.samples("pg_stat_statements_all_calls_total").get(""));
    }

    private void summarise(List<Sample> with, List<Sample> without, BenchServer server) throws SQLException {
        // a scrape read pg_stat_statements when the totals it serves moved (the peer's queries move them between
        // any two scrapes); the first one read by definition
        List<Sample> reading = new ArrayList<>();
        List<Sample> serving = new ArrayList<>();
        for (int i = 0; i < with.size(); i++) {
            Double calls = with.get(i).allCalls();
            if (calls == null) {
                throw new IllegalStateException("the exporter with the statements collector served no pg_stat_statements totals");
            }
            (i == 0 || !calls.equals(with.get(i - 1).allCalls()) ? reading : serving).add(with.get(i));
        }
        Map<String, Object> exporters = new LinkedHashMap<>();
        exporters.put("with_statements", distribution(with));
        exporters.put("without_statements", distribution(without));
        exporters.put("with_statements_reading_scrapes", distribution(reading));
        exporters.put("with_statements_serving_scrapes", distribution(serving));
        results.put("scrapes", exporters);
        results.put("reading_scrapes", reading.size());
        results.put("measured_scrapes", with.size());
        Map<String, Object> extra = new LinkedHashMap<>();
        for (String measure : List.of("client", "own")) {
            for (int p : new int[] {50, 90}) {
                double a = percentile(with, measure, p);
                double b = percentile(without, measure, p);
                extra.put(measure + "_p" + p + "_extra_ms", round(a - b));
                extra.put(measure + "_p" + p + "_ratio", round(Stats.ratio(a, b)));
            }
            extra.put(measure + "_reading_p50_extra_ms", round(percentile(reading, measure, 50) - percentile(without, measure, 50)));
        }
        results.put("extra", extra);
        results.put("collector_ms_reading_scrapes", round(Stats.percentile(reading.stream().map(Sample::collectorMs).toList(), 50)));
        Map<String, Object> query = new LinkedHashMap<>();
        try (Statement s = server.admin().createStatement(); var rows = s.executeQuery(
                "SELECT calls, mean_exec_time, min_exec_time, max_exec_time FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
                        + "WHERE r.rolname = '" + BenchServer.MONITOR_ROLE + "' AND s.query LIKE '%pg_stat_statements($%' AND s.query LIKE '%pg_stat_statements_info%' "
                        + "ORDER BY calls DESC LIMIT 1")) {
            if (rows.next()) {
                query.put("calls", rows.getLong(1));
                query.put("mean_ms", round(rows.getDouble(2)));
                query.put("min_ms", round(rows.getDouble(3)));
                query.put("max_ms", round(rows.getDouble(4)));
            }
        }
        results.put("read_query_in_server", query);
        results.put("monitoring_role_top_statements", server.topStatements(8));
    }

    private static Map<String, Object> distribution(List<Sample> samples) {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("n", samples.size());
        if (samples.isEmpty()) {
            return d;
        }
        for (String measure : List.of("client", "own")) {
            d.put(measure + "_p50_ms", round(percentile(samples, measure, 50)));
            d.put(measure + "_p90_ms", round(percentile(samples, measure, 90)));
            d.put(measure + "_max_ms", round(percentile(samples, measure, 100)));
        }
        return d;
    }

    private static double percentile(List<Sample> samples, String measure, double p) {
        return Stats.percentile(samples.stream().map(s -> measure.equals("client") ? s.clientMs() : s.ownMs()).toList(), p);
    }

    @SuppressWarnings("unchecked")
    private String report() {
        StringBuilder r = new StringBuilder();
        Map<String, Object> scrapes = (Map<String, Object>) results.get("scrapes");
        Map<String, Object> extra = (Map<String, Object>) results.get("extra");
        Map<String, Object> query = (Map<String, Object>) results.get("read_query_in_server");
        r.append(String.format(Locale.ROOT, "# Statements collector: cost per scrape (%s, %s)%n%n", Instant.now(), results.get("git")));
        r.append(String.format(Locale.ROOT, "PostgreSQL %s, %s entries in pg_stat_statements; load average at start %s, at end %s.%n",
                results.get("server_version"), results.get("entries"), load(((Map<String, Object>) results.get("machine")).get("loadavg_start")),
                load(results.get("loadavg_end"))));
        r.append(String.format(Locale.ROOT, "Prometheus' scrape interval %s and statements.interval %s, both divided by %s: a scrape every %s, "
                        + "pg_stat_statements read at most every %s. %s of %s measured scrapes read it.%n%n",
                results.get("prometheus_scrape_interval"), results.get("statements_interval"), results.get("time_scale"),
                results.get("scrape_tick"), results.get("statements_interval_run"), results.get("reading_scrapes"), results.get("measured_scrapes")));
        r.append("| scrapes (ms) | n | client p50 | client p90 | client max | exporter's own p50 | own p90 | own max |\n");
        r.append("|---|---|---|---|---|---|---|---|\n");
        for (String name : List.of("with_statements", "without_statements", "with_statements_reading_scrapes", "with_statements_serving_scrapes")) {
            Map<String, Object> d = (Map<String, Object>) scrapes.get(name);
            r.append("| ").append(name.replace('_', ' ')).append(" | ").append(d.get("n"));
            for (String key : List.of("client_p50_ms", "client_p90_ms", "client_max_ms", "own_p50_ms", "own_p90_ms", "own_max_ms")) {
                r.append(" | ").append(d.getOrDefault(key, "—"));
            }
            r.append(" |\n");
        }
        r.append(String.format(Locale.ROOT, "%n| with against without | client | exporter's own |%n|---|---|---|%n"));
        r.append(String.format(Locale.ROOT, "| p50 extra (ms) | %s | %s |%n", extra.get("client_p50_extra_ms"), extra.get("own_p50_extra_ms")));
        r.append(String.format(Locale.ROOT, "| p50 ratio | %s | %s |%n", extra.get("client_p50_ratio"), extra.get("own_p50_ratio")));
        r.append(String.format(Locale.ROOT, "| p90 extra (ms) | %s | %s |%n", extra.get("client_p90_extra_ms"), extra.get("own_p90_extra_ms")));
        r.append(String.format(Locale.ROOT, "| p90 ratio | %s | %s |%n", extra.get("client_p90_ratio"), extra.get("own_p90_ratio")));
        r.append(String.format(Locale.ROOT, "| a reading scrape's p50 extra (ms) | %s | %s |%n", extra.get("client_reading_p50_extra_ms"),
                extra.get("own_reading_p50_extra_ms")));
        r.append(String.format(Locale.ROOT, "%nThe read inside the server (pg_stat_statements of the monitoring role): %s calls, mean %s ms, "
                        + "min %s ms, max %s ms; the statements collector's own duration on reading scrapes, p50 %s ms.%n",
                query.get("calls"), query.get("mean_ms"), query.get("min_ms"), query.get("max_ms"), results.get("collector_ms_reading_scrapes")));
        return r.toString();
    }

    private static String load(Object loadavg) {
        double[] l = (double[]) loadavg;
        return String.format(Locale.ROOT, "%.2f %.2f %.2f", l[0], l[1], l[2]);
    }

    /** The option's duration, or the one the file sets (the pattern's first group). */
    private Duration duration(String option, String file, Pattern inFile) throws IOException {
        if (option != null) {
            return Durations.parse(option, "option");
        }
        Matcher m = inFile.matcher(Files.readString(repo.resolve(file)));
        if (!m.find()) {
            throw new IllegalStateException(file + ": no interval found where the benchmark expects it; pass it as an option");
        }
        return Durations.parse(m.group(1), file);
    }

    private static Duration scaled(Duration d, double scale) {
        if (!(scale >= 1)) {
            throw new IllegalArgumentException("--time-scale must be 1 or more, not " + scale);
        }
        return Duration.ofNanos(Math.round(d.toNanos() / scale));
    }

    private String git(String... command) {
        List<String> full = new ArrayList<>(List.of("git", "-C", repo.root().toString()));
        full.addAll(List.of(command));
        try {
            Process p = new ProcessBuilder(full).redirectErrorStream(true).start();
            String text = new String(p.getInputStream().readAllBytes()).trim();
            return p.waitFor() == 0 ? text : "?";
        } catch (IOException | InterruptedException e) {
            return "?";
        }
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }

    private static void log(String message) {
        System.err.println("[" + java.time.LocalTime.now().withNano(0) + "] " + message);
    }

    /** Durations as the configs write them: 15s, 500ms, 1m. */
    static final class Durations {
        private Durations() {
        }

        static Duration parse(String text, String where) {
            Matcher m = DURATION.matcher(text.trim());
            if (!m.matches()) {
                throw new IllegalArgumentException(where + ": '" + text + "' is not a duration such as 15s, 500ms or 1m");
            }
            double n = Double.parseDouble(m.group(1));
            double nanosPerUnit = switch (m.group(2)) {
                case "ms" -> 1e6;
                case "s" -> 1e9;
                case "m" -> 60e9;
                default -> 3600e9;
            };
            return Duration.ofNanos(Math.round(n * nanosPerUnit));
        }

        /** Milliseconds, so that a scaled interval stays exact: the exporter's flags take "6000ms". */
        static String text(Duration d) {
            return d.toMillis() + "ms";
        }
    }
}
