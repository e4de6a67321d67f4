package io.pgbatchtelemetry.bench;

import io.pgbatchtelemetry.harness.SharedClusters;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The sampler benchmark's entry point with tiny parameters (one round of 2 s per mode, 10 sessions), so it cannot rot. */
class SamplerBenchmarkSmokeTest {
    @TempDir
    Path out;

    @Test
    void runsBothPartsWithTinyParameters() throws Exception {
        Path summary = SamplerBenchmark.run(new Args(new String[] {"--pg", Integer.toString(SharedClusters.versions().get(0)),
                "--rounds", "1", "--duration", "2", "--scale", "1", "--query-runs-seconds", "2", "--exporter-warmup", "1",
                "--sessions", "10", "--out", out.toString()}, SamplerBenchmark.OPTIONS, List.of()));
        String text = Files.readString(summary);
        assertTrue(text.contains("## TPS") && text.contains("mean TPS: off ") && text.contains("## Sampler query cost"), text);
        List<String> tps = Files.readAllLines(out.resolve("tps.txt"));
        assertEquals(4, tps.size(), "a header and three modes: " + tps);
        for (String line : tps.subList(1, 4)) {
            String[] f = line.split(" ");
            assertTrue(Double.parseDouble(f[2]) > 0, "TPS: " + line);
            if (!f[1].equals("off")) {
                assertTrue(Long.parseLong(f[3]) > 10_000 && Double.parseDouble(f[4]) > 0, "the exporter sampled, RSS in kB: " + line);
            }
        }
        List<String> query = Files.readAllLines(out.resolve("query.txt"));
        assertEquals(2, query.size(), query.toString());
        String[] f = query.get(1).split(" ");
        assertEquals("10", f[0]);
        assertTrue(Integer.parseInt(f[5]) > 10 && Integer.parseInt(f[8]) >= 10, "many timed runs; the sampler sees the 10 sessions: " + query);
    }
}
