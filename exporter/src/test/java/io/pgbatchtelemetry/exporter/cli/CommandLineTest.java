package io.pgbatchtelemetry.exporter.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.config.ConfigException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CommandLineTest {

    private static final Set<String> KEYS = Set.of("web.listen-address", "web.telemetry-path", "scrape.timeout");

    @Test
    void postgresExporterFlagsInBothSpellings() {
        CommandLine cl = CommandLine.parse(List.of("--web.listen-address=:9999", "--web.telemetry-path", "/m",
                "--config.file=/etc/x.conf", "--no-collector.wal"), KEYS);
        assertEquals(":9999", cl.overrides().get("web.listen-address"));
        assertEquals("/m", cl.overrides().get("web.telemetry-path"));
        assertEquals(Path.of("/etc/x.conf"), cl.configFile());
        assertEquals("false", cl.overrides().get("collectors.wal"));
    }

    @Test
    void helpAndVersion() {
        assertTrue(CommandLine.parse(List.of("--help"), KEYS).help());
        assertTrue(CommandLine.parse(List.of("--version"), KEYS).version());
    }

    @Test
    void unknownFlagsAndCollectorsFail() {
        ConfigException flag = assertThrows(ConfigException.class, () -> CommandLine.parse(List.of("--web.listen=1"), KEYS));
        assertTrue(flag.getMessage().startsWith("--web.listen: unknown option"), flag.getMessage());
        ConfigException collector = assertThrows(ConfigException.class, () -> CommandLine.parse(List.of("--collector.nope"), KEYS));
        assertTrue(collector.getMessage().contains("unknown collector 'nope'"), collector.getMessage());
        assertThrows(ConfigException.class, () -> CommandLine.parse(List.of("--scrape.timeout"), KEYS));
        assertThrows(ConfigException.class, () -> CommandLine.parse(List.of("stray"), KEYS));
        assertThrows(ConfigException.class, () -> CommandLine.parse(List.of("--log.level=loud"), KEYS));
    }

    @Test
    void aMissingValueIsNotTakenFromTheNextOption() {
        ConfigException missing = assertThrows(ConfigException.class,
                () -> CommandLine.parse(List.of("--config.file", "--log.level=debug"), KEYS));
        assertEquals("--config.file: needs a value", missing.getMessage());
        assertTrue(CommandLine.parse(List.of("-h"), KEYS).help());
    }
}
