package io.pgbatchtelemetry.exporter.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Configuration mistakes a new user makes in the first hour: a duration without a unit (HOCON would
 * read {@code 5} as 5 ms), messages that print durations as {@code PT0.005S}, a file missing its
 * closing brace. Each is one line naming the key and what to write instead.
 */
class DurationAndSyntaxErrorsTest {

    private static final Map<String, String> DSN = Map.of("DATA_SOURCE_NAME", "postgresql://mon:pw@127.0.0.1:5432/postgres");

    @TempDir
    Path dir;

    private final SettingsLoader loader = new SettingsLoader();

    @Test
    void aDurationWithoutAUnitNamesTheUnitToAdd() {
        ConfigException flag = assertThrows(ConfigException.class, () -> loader.load(null, DSN, Map.of("scrape.timeout", "5")));
        assertEquals("pg-batch-exporter.scrape.timeout: '5' has no unit: write 5s for seconds (or 5ms, 5m); "
                + "a number alone would be read as milliseconds", flag.getMessage());
        ConfigException env = assertThrows(ConfigException.class, () -> loader.load(null,
                Map.of("DATA_SOURCE_NAME", "postgresql://mon@db/postgres", "PG_EXPORTER_SAMPLER_INTERVAL", "1"), Map.of()));
        assertTrue(env.getMessage().startsWith("pg-batch-exporter.sampler.interval: '1' has no unit: write 1s"), env.getMessage());
    }

    @Test
    void aNumberWithoutAUnitInTheFileIsAnErrorToo() throws IOException {
        Path file = Files.writeString(dir.resolve("e.conf"), "pg-batch-exporter { scrape { lock-timeout = 500 } }\n");
        ConfigException e = assertThrows(ConfigException.class, () -> loader.load(file, DSN, Map.of()));
        assertTrue(e.getMessage().startsWith("pg-batch-exporter.scrape.lock-timeout: '500' has no unit: write 500s"), e.getMessage());
        assertEquals(Duration.ofMillis(500), loader.load(null, DSN, Map.of("scrape.lock-timeout", "500ms")).scrape().lockTimeout());
    }

    @Test
    void messagesPrintDurationsAsUsersWriteThem() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> loader.load(null, DSN, Map.of("scrape.timeout", "5ms", "scrape.statement-timeout", "3s")));
        assertEquals("pg-batch-exporter.scrape.statement-timeout: must not exceed scrape.timeout (5ms)", e.getMessage());
        assertEquals("5s", Durations.format(Duration.ofSeconds(5)));
        assertEquals("100ms", Durations.format(Duration.ofMillis(100)));
        assertEquals("1500ms", Durations.format(Duration.ofMillis(1500)));
        assertEquals("90s", Durations.format(Duration.ofSeconds(90)));
        assertEquals("2m", Durations.format(Duration.ofMinutes(2)));
        assertEquals("1h", Durations.format(Duration.ofHours(1)));
        assertEquals("0s", Durations.format(Duration.ZERO));
    }

    @Test
    void aFileMissingItsClosingBraceSaysSo() throws IOException {
        Path file = Files.writeString(dir.resolve("open.conf"), "pg-batch-exporter {\n  scrape { timeout = 5s }\n");
        ConfigException e = assertThrows(ConfigException.class, () -> loader.load(file, DSN, Map.of()));
        assertTrue(e.getMessage().startsWith("--config.file: "), e.getMessage());
        assertTrue(e.getMessage().contains("missing a closing '}'"), e.getMessage());
        assertTrue(!e.getMessage().contains("parenthes"), e.getMessage());
    }
}
