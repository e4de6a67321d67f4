package io.pgbatchtelemetry.bench;

import io.pgbatchtelemetry.harness.SharedClusters;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The schema benchmark's entry point with 8 sessions instead of 200, so it cannot rot: every line printed, with numbers. */
class SqlBenchmarkSmokeTest {
    @Test
    void printsEveryMeasurement() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        SqlBenchmark.run(new Args(new String[] {"--pg", Integer.toString(SharedClusters.versions().get(0)), "--sessions", "8"},
                SqlBenchmark.OPTIONS, java.util.List.of()), new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String output = bytes.toString(StandardCharsets.UTF_8);
        Map<String, String> lines = output.lines().filter(l -> !l.startsWith("history_")).collect(Collectors.toMap(
                l -> l.split(" ", 2)[0], l -> l.split(" ", 2)[1]));
        for (String name : new String[] {"sample_ms_8_sessions", "snapshot_ms_100_tables", "snapshot_ms_100_tables_new_session",
                "compare_ms_1h_window", "compare_ms_7d_window", "table_compare_ms_1h_window", "wait_summary_ms_1h_window",
                "diagnose_ms_1h_window", "deltas_view_ms_7d"}) {
            assertTrue(lines.getOrDefault(name, "").matches("[0-9.]+ cpu ([0-9.]+|n/a)"), name + " in:\n" + output);
        }
        assertTrue(Integer.parseInt(output.lines().filter(l -> l.startsWith("history_")).findFirst().orElseThrow().split(" ")[1]) > 2016,
                "2016 snapshots of history plus the benchmark's own: " + output);
        assertTrue(Long.parseLong(lines.get("bytes_per_sample")) > 0 && Long.parseLong(lines.get("schema_bytes_7d")) > 1_000_000, output);
    }
}
