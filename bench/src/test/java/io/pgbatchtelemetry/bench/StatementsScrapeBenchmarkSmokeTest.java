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
 * The statements scrape benchmark's entry point with tiny numbers (300 statements, 12 scrapes, time compressed 50
 * times), so it cannot rot: both exporters scraped, the report and the JSON filled with numbers from the run, the
 * intervals taken from prometheus.yml and reference.conf, some scrapes reading pg_stat_statements and some serving
 * the last read, and the read's own time found in pg_stat_statements. Numbers themselves are not judged.
 */
class StatementsScrapeBenchmarkSmokeTest {
    @TempDir
    Path out;

    @Test
    void runsEndToEndWithTinyNumbers() throws Exception {
        int pg = SharedClusters.versions().get(0);
        StatementsScrapeBenchmark.run(new Args(new String[] {"--pg", Integer.toString(pg), "--statements", "300", "--scrapes", "12",
                "--warmup", "2", "--time-scale", "50", "--out", out.toString()}, StatementsScrapeBenchmark.OPTIONS, java.util.List.of()));
        String report = Files.readString(out.resolve("results.md"));
        assertTrue(report.contains("| with statements | 12 |") && report.contains("| without statements | 12 |"), report);
        assertTrue(report.contains("| p50 extra (ms) |"), report);
        JsonNode results = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertTrue(results.get("entries").asInt() >= 300, "the statements are in pg_stat_statements: " + results.get("entries"));
        assertTrue(results.get("server_version").asText().startsWith(Integer.toString(pg)), results.get("server_version").asText());
        assertTrue(results.get("prometheus_scrape_interval").asText().matches("[1-9][0-9]*ms"), results.toString());
        assertTrue(results.get("statements_interval").asText().matches("[1-9][0-9]*ms"), results.toString());
        int reading = results.get("reading_scrapes").asInt();
        assertTrue(reading >= 1 && reading < 12, "some scrapes read pg_stat_statements, the others serve the last read: " + reading);
        for (String exporter : new String[] {"with_statements", "without_statements"}) {
            JsonNode d = results.get("scrapes").get(exporter);
            assertEquals(12, d.get("n").asInt());
            assertTrue(d.get("client_p50_ms").asDouble() > 0 && d.get("own_p50_ms").asDouble() > 0, exporter + ": " + d);
            assertTrue(d.get("client_max_ms").asDouble() >= d.get("client_p90_ms").asDouble(), exporter + ": " + d);
        }
        JsonNode query = results.get("read_query_in_server");
        assertTrue(query.get("calls").asInt() >= reading && query.get("mean_ms").asDouble() > 0, "the read in pg_stat_statements: " + query);
    }
}
