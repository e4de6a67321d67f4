package io.pgbatchtelemetry.bench;

import io.pgbatchtelemetry.harness.PostgresCluster;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The soak run ({@code scripts/soak.sh}; docs/operations.md#soak): pgbench load on a harness server plus one scrape
 * per interval for a while, through the launcher (jvm.options), while the exporter's RSS and thread count are
 * sampled. Writes a CSV, prints a summary and judges it: FLAT when, after the first fifth (warm-up: JIT, class
 * loading, pool filling), RSS grew at most 15 %, threads at most 2, and no scrape failed; exit 1 otherwise.
 */
public final class Soak {
    static final List<String> OPTIONS = List.of("pg", "seconds", "scrape-interval", "sample-every", "pgbench-clients", "pgbench-rate",
            "pgbench-scale", "java-opts", "out");

    /** One RSS/threads sample. */
    record Sample(long elapsedSeconds, long rssKib, long threads, long scrapes, long failed, double lastScrapeSeconds) {
    }

    /** The judgement of a soak's samples. */
    record Verdict(boolean flat, String summary) {
    }

    public static void main(String[] argv) throws Exception {
        Args args;
        try {
            args = new Args(argv, OPTIONS, List.of()).requireNumbers(OPTIONS.stream().filter(o -> !List.of("out", "java-opts").contains(o)).toList(), List.of());
        } catch (IllegalArgumentException e) {
            System.err.println("soak: " + e.getMessage());
            System.exit(2);
            return;
        }
        Verdict verdict = run(args);
        System.out.print(verdict.summary());
        System.exit(verdict.flat() ? 0 : 1);
    }

    public static Verdict run(Args args) throws Exception {
        Repo repo = Repo.locate();
        int seconds = args.integer("seconds", 600);
        int scrapeInterval = args.integer("scrape-interval", 1);
        int sampleEvery = args.integer("sample-every", 10);
        Path csv = Path.of(args.string("out", repo.resolve("target/soak-"
                + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + ".csv").toString()));
        Files.createDirectories(csv.toAbsolutePath().getParent());
        Path work = Files.createTempDirectory("pgbt-soak");
        try (PostgresCluster pg = PostgresCluster.builder(args.integer("pg", 15)).name("soak").build()) {
            pg.start();
            String password = "soak-only";
            pg.execute("CREATE ROLE pgbt_monitor LOGIN PASSWORD '" + password + "' IN ROLE pg_monitor");
            Pgbench pgbench = new Pgbench(pg);
            pgbench.initialize(args.integer("pgbench-scale", 10), work.resolve("pgbench-init.log"));
            String dsn = "postgresql://pgbt_monitor:" + password + "@127.0.0.1:" + pg.port() + "/postgres";
            String javaOpts = args.string("java-opts", "");
            log("PostgreSQL " + pg.majorVersion() + " on 127.0.0.1:" + pg.port() + "; exporter via " + repo.launcher() + " (JAVA_OPTS=" + javaOpts + ")");
            try (ExporterProcess exporter = ExporterProcess.launcher(repo, dsn, List.of(), javaOpts, work.resolve("exporter.log"))) {
                log("load: pgbench -c " + args.integer("pgbench-clients", 4) + " --rate " + args.integer("pgbench-rate", 200) + " for "
                        + seconds + "s; one scrape every " + scrapeInterval + "s");
                Process load = pgbench.start(List.of("-c", Integer.toString(args.integer("pgbench-clients", 4)), "-j", "2", "-R",
                        Integer.toString(args.integer("pgbench-rate", 200)), "-T", Integer.toString(seconds), "-n"), null, work.resolve("pgbench.log"));
                List<Sample> samples;
                try {
                    samples = scrapeAndSample(exporter, seconds, scrapeInterval, sampleEvery, csv);
                    load.waitFor(60, TimeUnit.SECONDS);
                } finally {
                    load.destroy();
                }
                Matcher tps = Pattern.compile("tps = ([0-9.]+)").matcher(Files.readString(work.resolve("pgbench.log")));
                String lastTps = "";
                while (tps.find()) {
                    lastTps = "tps = " + tps.group(1);
                }
                return judge(samples, csv, lastTps);
            }
        } finally {
            try (var files = Files.walk(work)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static List<Sample> scrapeAndSample(ExporterProcess exporter, int seconds, int interval, int sampleEvery, Path csv)
            throws IOException {
        List<Sample> samples = new ArrayList<>();
        Scraper scraper = exporter.scraper();
        long scrapes = 0;
        long failed = 0;
        double lastScrape = 0;
        long start = System.nanoTime();
        long nextSample = 0;
        try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(csv))) {
            out.println("elapsed_s,rss_kib,threads,scrapes,failed_scrapes,last_scrape_s");
            while (true) {
                long elapsed = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
                if (elapsed >= seconds) {
                    break;
                }
                if (!exporter.isAlive()) {
                    throw new IllegalStateException("the exporter died: " + exporter.tail());
                }
                try {
                    Scraper.Scrape scrape = scraper.fresh();
                    lastScrape = scrape.seconds();
                    if (new Exposition(scrape.body()).samples("pg_up").getOrDefault("", 0.0) != 1.0) {
                        failed++;
                    }
                } catch (RuntimeException e) {
                    failed++;
                }
                scrapes++;
                if (elapsed >= nextSample) {
                    Sample s = new Sample(elapsed, ProcFs.status(exporter.pid(), "VmRSS"), ProcFs.status(exporter.pid(), "Threads"),
                            scrapes, failed, lastScrape);
                    samples.add(s);
                    out.printf(Locale.ROOT, "%d,%d,%d,%d,%d,%.6f%n", s.elapsedSeconds(), s.rssKib(), s.threads(), s.scrapes(), s.failed(),
                            s.lastScrapeSeconds());
                    out.flush();
                    nextSample += sampleEvery;
                }
                ExporterProcess.sleep(interval * 1000L);
            }
        }
        return samples;
    }

    /** Flat after warm-up (the first fifth of the samples): RSS +15 % at most, threads +2 at most, no failed scrape. */
    static Verdict judge(List<Sample> samples, Path csv, String tps) {
        if (samples.size() < 3) {
            return new Verdict(false, "too few samples (" + samples.size() + "); run longer\n");
        }
        int w = samples.size() / 5;
        Sample warm = samples.get(w);
        Sample end = samples.get(samples.size() - 1);
        List<Sample> after = samples.subList(w, samples.size());
        long minRss = after.stream().mapToLong(Sample::rssKib).min().orElseThrow();
        long maxRss = after.stream().mapToLong(Sample::rssKib).max().orElseThrow();
        long minThreads = after.stream().mapToLong(Sample::threads).min().orElseThrow();
        long maxThreads = after.stream().mapToLong(Sample::threads).max().orElseThrow();
        double growth = (end.rssKib() - warm.rssKib()) * 100.0 / warm.rssKib();
        boolean flat = growth <= 15 && end.threads() <= warm.threads() + 2 && end.failed() == 0;
        String summary = String.format(Locale.ROOT, """
                soak summary (%s)
                  duration            %d s, %d scrapes, %d failed; pgbench %s
                  RSS start           %.1f MiB (first sample)
                  RSS after warm-up   %.1f MiB at %d s
                  RSS min/max/end     %.1f / %.1f / %.1f MiB (end vs warm-up %+.1f%%)
                  threads min/max/end %d / %d / %d (after warm-up)
                  verdict             %s
                """, csv, end.elapsedSeconds(), end.scrapes(), end.failed(), tps, samples.get(0).rssKib() / 1024.0, warm.rssKib() / 1024.0,
                warm.elapsedSeconds(), minRss / 1024.0, maxRss / 1024.0, end.rssKib() / 1024.0, growth, minThreads, maxThreads, end.threads(),
                flat ? "FLAT" : "GROWING or FAILING");
        return new Verdict(flat, summary);
    }

    private static void log(String message) {
        System.err.println(LocalTime.now().format(DateTimeFormatter.ofPattern("HH:mm:ss")) + " soak: " + message);
    }
}
