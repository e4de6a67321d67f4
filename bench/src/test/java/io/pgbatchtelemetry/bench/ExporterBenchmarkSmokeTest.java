package io.pgbatchtelemetry.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.pgbatchtelemetry.harness.SharedClusters;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The exporter benchmark's entry point with tiny parameters, so it cannot rot: both exporters measured in both
 * scenarios, the report's tables and the JSON filled with numbers that come from the run (queries and series seen,
 * pg_up 1), and the memory comparison started ours with and without jvm.options. Numbers themselves are not judged.
 */
class ExporterBenchmarkSmokeTest {
    @TempDir
    Path out;

    @Test
    void runsEndToEndWithTinyParameters() throws Exception {
        int pg = SharedClusters.versions().get(SharedClusters.versions().size() - 1);
        ExporterBenchmark.run(new Args(new String[] {"--pg", Integer.toString(pg), "--scrapes", "3", "--warmup", "1",
                "--accounting-scrapes", "2", "--background-seconds", "1", "--tables", "4", "--sessions", "20",
                "--memory-sequential", "2", "--memory-bursts", "1", "--memory-burst-size", "2", "--out", out.toString()},
                ExporterBenchmark.OPTIONS, ExporterBenchmark.FLAGS));
        String report = Files.readString(out.resolve("results.md"));
        assertTrue(report.contains("### empty database (3 scrapes each"), report);
        assertTrue(report.contains("### 4 tables, 20 sessions (3 scrapes each"), report);
        assertTrue(report.contains("| as Prometheus scrapes: p50 (ms) |"), report);
        assertTrue(report.contains("| exporter/bin/pg-batch-exporter |"), report);
        JsonNode results = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertEquals(2, results.get("scenarios").size());
        for (JsonNode scenario : results.get("scenarios")) {
            for (String exporter : new String[] {"ours", "postgres_exporter"}) {
                JsonNode m = scenario.get("exporters").get(exporter);
                assertEquals(1.0, m.get("pg_up").asDouble(), exporter + " pg_up in " + scenario.get("name"));
                assertTrue(m.get("series").asInt() > 100, exporter + " series");
                assertTrue(m.get("p50_ms").asDouble() > 0 && m.get("prometheus_p50_ms").asDouble() > 0, exporter + " latencies");
                assertTrue(m.get("prometheus_wire_bytes").asLong() < m.get("bytes").asLong(), exporter + ": gzip on the kept-alive scrapes");
                assertTrue(m.get("top_statements").size() > 0, exporter + ": pg_stat_statements saw its queries");
                assertTrue(m.get("rss_end_kb").asLong() > 0, exporter + " RSS");
            }
        }
        JsonNode sessions = results.get("session_states");
        assertEquals(1, sessions.get("active").asInt(), "one session in 20 runs a query: " + sessions);
        JsonNode memory = results.get("memory_variants");
        assertEquals(2, memory.size());
        assertTrue(!memory.get(0).get("command").asText().contains("jvm.options"), memory.get(0).toString());
        assertTrue(memory.get(1).get("command").asText().contains("@" + Repo.locate().jvmOptions()), memory.get(1).toString());
        assertTrue(Files.readString(out.resolve("environment.txt")).contains("postgres: PostgreSQL " + pg));
    }
}
