package io.pgbatchtelemetry.bench;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Our exporter alone, started with the JVM's defaults ({@code java -jar}) and through the launcher (jvm.options),
 * on the same server, scraped sequentially and then in bursts of concurrent scrapes: the JVM options' effect on
 * memory, measured rather than assumed.
 */
final class MemoryVariants {
    private final Repo repo;
    private final String dsn;
    private final Path out;
    private final int sequential;
    private final int bursts;
    private final int burstSize;

    MemoryVariants(Repo repo, String dsn, Path out, int sequential, int bursts, int burstSize) {
        this.repo = repo;
        this.dsn = dsn;
        this.out = out;
        this.sequential = sequential;
        this.bursts = bursts;
        this.burstSize = burstSize;
    }

    List<Map<String, Object>> run(PrintStream report) throws Exception {
        List<Map<String, Object>> rows = new ArrayList<>();
        ExporterBenchmark.log("memory: java -jar (JVM defaults): " + sequential + " sequential scrapes, " + bursts + " bursts of " + burstSize);
        try (ExporterProcess p = ExporterProcess.plainJavaJar(repo, dsn, out.resolve("memory-java-jar.log"))) {
            rows.add(measure("java -jar (JVM defaults)", p));
        }
        ExporterBenchmark.log("memory: exporter/bin/pg-batch-exporter");
        try (ExporterProcess p = ExporterProcess.launcher(repo, dsn, List.of(), "", out.resolve("memory-launcher.log"))) {
            rows.add(measure("exporter/bin/pg-batch-exporter", p));
        }
        StringBuilder text = new StringBuilder(String.format(Locale.ROOT,
                "%n### our exporter's memory by JVM flags (%d sequential scrapes, then %d bursts of %d concurrent, then 50)%n%n",
                sequential, bursts, burstSize));
        text.append("| started as | VmRSS after sequential (MiB) | VmRSS after bursts (MiB) | VmHWM (MiB) | failed scrapes |\n");
        text.append("|---|---:|---:|---:|---:|\n");
        for (Map<String, Object> r : rows) {
            text.append(String.format(Locale.ROOT, "| %s | %.1f | %.1f | %.1f | %d |%n", r.get("variant"),
                    ((Long) r.get("rss_after_sequential_kb")) / 1024.0, ((Long) r.get("rss_after_bursts_kb")) / 1024.0,
                    ((Long) r.get("hwm_kb")) / 1024.0, (Integer) r.get("burst_failures")));
        }
        report.print(text);
        System.out.print(text);
        return rows;
    }

    private Map<String, Object> measure(String title, ExporterProcess p) throws Exception {
        Scraper scraper = p.scraper();
        for (int i = 0; i < sequential; i++) {
            scraper.fresh();
        }
        long afterSequential = ProcFs.status(p.pid(), "VmRSS");
        int failures = 0;
        ExecutorService pool = Executors.newFixedThreadPool(burstSize);
        try {
            for (int b = 0; b < bursts; b++) {
                List<Future<?>> burst = new ArrayList<>();
                for (int i = 0; i < burstSize; i++) {
                    burst.add(pool.submit(() -> new Scraper(title, p.port()).fresh()));
                }
                for (Future<?> f : burst) {
                    try {
                        f.get();
                    } catch (java.util.concurrent.ExecutionException e) {
                        failures++;
                    }
                }
            }
        } finally {
            pool.shutdownNow();
        }
        for (int i = 0; i < 50; i++) {
            scraper.fresh();
        }
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("variant", title);
        row.put("command", String.join(" ", ProcFs.cmdline(p.pid())));
        row.put("rss_after_sequential_kb", afterSequential);
        row.put("rss_after_bursts_kb", ProcFs.status(p.pid(), "VmRSS"));
        row.put("hwm_kb", ProcFs.status(p.pid(), "VmHWM"));
        row.put("burst_failures", failures);
        return row;
    }
}
