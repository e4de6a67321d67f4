package io.pgbatchtelemetry.exporter.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** sampler { } and batches = [ ] : binding and validation, with the key in every message. */
class SamplerSettingsTest {

    private static final Map<String, String> DSN = Map.of("DATA_SOURCE_NAME", "postgresql://mon:pw@127.0.0.1:5432/postgres");

    @TempDir
    Path dir;

    private final SettingsLoader loader = new SettingsLoader();

    @Test
    void defaults() {
        ExporterSettings settings = loader.load(null, DSN, Map.of());
        assertEquals(new ExporterSettings.Sampler(true, Duration.ofSeconds(1), 500), settings.sampler());
        assertEquals(List.of(), settings.batches());
    }

    @Test
    void intervalBoundsAreEnforcedWithTheKeyInTheMessage() {
        assertEquals(Duration.ofMillis(100), loader.load(null, DSN, Map.of("sampler.interval", "100ms")).sampler().interval());
        assertEquals(Duration.ofSeconds(60), loader.load(null, DSN, Map.of("sampler.interval", "1m")).sampler().interval());
        for (String bad : List.of("99ms", "61s", "0s")) {
            ConfigException e = assertThrows(ConfigException.class, () -> loader.load(null, DSN, Map.of("sampler.interval", bad)));
            assertTrue(e.getMessage().startsWith("pg-batch-exporter.sampler.interval: must be"), e.getMessage());
        }
        ConfigException e = assertThrows(ConfigException.class, () -> loader.load(null, DSN, Map.of("sampler.max-series", "10")));
        assertTrue(e.getMessage().startsWith("pg-batch-exporter.sampler.max-series: must be between 100 and"), e.getMessage());
    }

    @Test
    void environmentVariablesFollowTheKeyPath() {
        Map<String, String> env = new HashMap<>(DSN);
        env.put("PG_EXPORTER_SAMPLER_ENABLED", "false");
        env.put("PG_EXPORTER_SAMPLER_INTERVAL", "250ms");
        env.put("PG_EXPORTER_SAMPLER_MAX_SERIES", "1000");
        env.put("PG_EXPORTER_BATCHES", "[{name = nightly_etl, application-name = \"^etl_\"}, {name = billing, user = bill}]");
        ExporterSettings settings = loader.load(null, env, Map.of());
        assertEquals(new ExporterSettings.Sampler(false, Duration.ofMillis(250), 1000), settings.sampler());
        assertEquals(2, settings.batches().size());
        assertEquals("^etl_", settings.batches().get(0).applicationName().pattern());
        assertEquals("bill", settings.batches().get(1).user());
        assertNull(settings.batches().get(1).applicationName());
    }

    @Test
    void batchesFromAFileInOrder() throws IOException {
        Path file = write("""
                pg-batch-exporter.batches = [
                  { name = "nightly_etl", application-name = "^etl_.*", user = "etl", database = "dw" }
                  { name = "reports", database = "dw" }
                ]
                """);
        List<ExporterSettings.BatchRule> rules = loader.load(file, DSN, Map.of()).batches();
        assertEquals(List.of("nightly_etl", "reports"), rules.stream().map(ExporterSettings.BatchRule::name).toList());
        assertTrue(rules.get(0).matches("etl_load", "etl", "dw"));
        assertTrue(rules.get(1).matches("anything", "anyone", "dw"));
    }

    @Test
    void badBatchRulesNameTheirKey() throws IOException {
        assertBatchError("[{ name = x, application-name = \"^etl_(\" }]",
                "pg-batch-exporter.batches[0].application-name: invalid regular expression '^etl_('");
        assertBatchError("[{ name = a, user = u }, { name = a, user = v }]",
                "pg-batch-exporter.batches[1].name: duplicate batch name 'a' (also pg-batch-exporter.batches[0])");
        assertBatchError("[{ name = \"nightly etl\", user = u }]", "pg-batch-exporter.batches[0].name: 'nightly etl' is not a valid batch name");
        assertBatchError("[{ name = other, user = u }]", "pg-batch-exporter.batches[0].name: 'other' is reserved");
        assertBatchError("[{ name = walsender, user = u }]", "pg-batch-exporter.batches[0].name: 'walsender' is reserved");
        assertBatchError("[{ user = u }]", "pg-batch-exporter.batches[0].name: missing");
        assertBatchError("[{ name = a }]", "pg-batch-exporter.batches[0]: batch 'a' needs at least one of application-name, user, database");
        assertBatchError("[{ name = a, aplication-name = x }]", "pg-batch-exporter.batches[0].aplication-name: unknown key");
        assertBatchError("[{ name = a, user = [u] }]", "pg-batch-exporter.batches[0].user: expected a string");
        assertBatchError("[ a ]", "pg-batch-exporter.batches[0]: expected an object");
        assertBatchError("{ name = a }", "pg-batch-exporter.batches: expected a list");
    }

    @Test
    void unknownSamplerKeyIsRejected() throws IOException {
        Path file = write("pg-batch-exporter.sampler.intervall = 2s\n");
        ConfigException e = assertThrows(ConfigException.class, () -> loader.load(file, DSN, Map.of()));
        assertTrue(e.getMessage().startsWith("pg-batch-exporter.sampler.intervall: unknown key"), e.getMessage());
        assertTrue(e.getMessage().contains("interval"), e.getMessage());
    }

    private void assertBatchError(String batches, String expectedStart) throws IOException {
        Path file = write("pg-batch-exporter.batches = " + batches + "\n");
        ConfigException fromFile = assertThrows(ConfigException.class, () -> loader.load(file, DSN, Map.of()));
        assertTrue(fromFile.getMessage().startsWith(expectedStart), "expected '" + expectedStart + "', got: " + fromFile.getMessage());
        ConfigException fromFlag = assertThrows(ConfigException.class, () -> loader.load(null, DSN, Map.of("batches", batches)));
        assertTrue(fromFlag.getMessage().startsWith(expectedStart), "from a flag: " + fromFlag.getMessage());
    }

    private Path write(String content) throws IOException {
        Path file = Files.createTempFile(dir, "exporter", ".conf");
        Files.writeString(file, content);
        return file;
    }
}
