package io.pgbatchtelemetry.bench;

import io.pgbatchtelemetry.harness.SharedClusters;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The soak's entry point with tiny parameters (so it cannot rot), and its verdict on samples made up for the purpose. */
class SoakTest {
    @TempDir
    Path dir;

    @Test
    void runsEndToEndWithTinyParameters() throws Exception {
        Path csv = dir.resolve("soak.csv");
        Soak.Verdict verdict = Soak.run(new Args(new String[] {"--pg", Integer.toString(SharedClusters.versions().get(0)),
                "--seconds", "8", "--sample-every", "1", "--pgbench-rate", "20", "--pgbench-scale", "1", "--out", csv.toString()},
                Soak.OPTIONS, List.of()));
        List<String> lines = Files.readAllLines(csv);
        assertEquals("elapsed_s,rss_kib,threads,scrapes,failed_scrapes,last_scrape_s", lines.get(0));
        assertTrue(lines.size() >= 4, "a sample per second: " + lines);
        String[] last = lines.get(lines.size() - 1).split(",");
        assertTrue(Long.parseLong(last[1]) > 10_000, "RSS of a JVM in KiB: " + lines);
        assertEquals("0", last[4], "no failed scrape (pg_up 1 each time): " + lines);
        assertTrue(verdict.summary().contains("RSS after warm-up") && verdict.summary().contains("pgbench tps = "), verdict.summary());
    }

    @Test
    void judgesGrowthThreadsAndFailures() {
        List<Soak.Sample> flat = List.of(sample(0, 50_000, 25, 0), sample(10, 60_000, 28, 0), sample(20, 61_000, 28, 0),
                sample(30, 60_500, 28, 0), sample(40, 61_500, 29, 0));
        assertTrue(Soak.judge(flat, Path.of("x.csv"), "").flat());
        List<Soak.Sample> growing = List.of(sample(0, 50_000, 25, 0), sample(10, 60_000, 28, 0), sample(20, 65_000, 28, 0),
                sample(30, 68_000, 28, 0), sample(40, 70_000, 28, 0));
        assertFalse(Soak.judge(growing, Path.of("x.csv"), "").flat(), "+16.7 % after warm-up");
        List<Soak.Sample> threads = List.of(sample(0, 50_000, 25, 0), sample(10, 60_000, 28, 0), sample(20, 60_000, 30, 0),
                sample(30, 60_000, 31, 0), sample(40, 60_000, 31, 0));
        assertFalse(Soak.judge(threads, Path.of("x.csv"), "").flat(), "3 threads more");
        List<Soak.Sample> failing = List.of(sample(0, 50_000, 25, 0), sample(10, 60_000, 28, 0), sample(20, 60_000, 28, 1));
        assertFalse(Soak.judge(failing, Path.of("x.csv"), "").flat(), "a failed scrape");
        assertFalse(Soak.judge(failing.subList(0, 2), Path.of("x.csv"), "").flat(), "too few samples");
    }

    private static Soak.Sample sample(long elapsed, long rss, long threads, long failed) {
        return new Soak.Sample(elapsed, rss, threads, elapsed, failed, 0.01);
    }
}
