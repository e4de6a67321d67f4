package io.pgbatchtelemetry.exporter.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Layering and validation of settings; pure, no server needed. */
class SettingsLoaderTest {

    private static final Map<String, String> DSN = Map.of("DATA_SOURCE_NAME", "postgresql://mon:pw@127.0.0.1:5432/postgres");

    @TempDir
    Path dir;

    private final SettingsLoader loader = new SettingsLoader();

    @Test
    void defaultsComeFromReferenceConf() {
        ExporterSettings settings = loader.load(null, DSN, Map.of());
        assertEquals("", settings.web().host());
        assertEquals(9187, settings.web().port());
        assertEquals("/metrics", settings.web().telemetryPath());
        assertEquals(3, settings.scrape().poolSize());
        assertEquals("pg-batch-exporter", settings.dataSource().applicationName());
        assertEquals("mon", settings.dataSource().user());
        assertEquals(CollectorCatalog.names(), settings.collectors());
    }

    @Test
    void referenceConfListsExactlyTheCatalogCollectors() {
        Set<String> inReference = ConfigFactory.parseResources("reference.conf")
                .getConfig(SettingsLoader.ROOT + ".collectors").root().keySet();
        assertEquals(CollectorCatalog.names(), inReference);
    }

    @Test
    void precedenceIsFileThenEnvironmentThenFlags() throws IOException {
        Path file = write("""
                pg-batch-exporter.web.listen-address = "127.0.0.1:1111"
                pg-batch-exporter.scrape.timeout = 5s
                pg-batch-exporter.web.telemetry-path = "/from-file"
                """);
        Map<String, String> env = Map.of(
                "DATA_SOURCE_NAME", "postgresql://a@h/db",
                "PG_EXPORTER_WEB_LISTEN_ADDRESS", "127.0.0.1:2222",
                "PG_EXPORTER_WEB_TELEMETRY_PATH", "/from-env");
        ExporterSettings settings = loader.load(file, env, Map.of("web.telemetry-path", "/from-flag"));
        assertEquals(2222, settings.web().port());
        assertEquals("/from-flag", settings.web().telemetryPath());
        assertEquals(Duration.ofSeconds(5), settings.scrape().timeout());
    }

    @Test
    void passwordFileWinsAndIsReadFromItsFirstLine() throws IOException {
        Path secret = dir.resolve("pw");
        Files.writeString(secret, "from-file\nignored\n");
        ExporterSettings settings = loader.load(null,
                Map.of("DATA_SOURCE_NAME", "postgresql://u:from-url@h/db", "DATA_SOURCE_PASS_FILE", secret.toString()), Map.of());
        assertEquals("from-file", settings.dataSource().password());
        assertFalse(settings.toString().contains("from-file"), "settings must mask the password: " + settings);
    }

    @Test
    void collectorsCanBeSwitchedOffByEnvironment() {
        Map<String, String> env = new java.util.HashMap<>(DSN);
        env.put("PG_EXPORTER_COLLECTORS_WAL", "false");
        assertFalse(loader.load(null, env, Map.of()).collectors().contains("wal"));
    }

    @Test
    void unknownKeyIsRejectedWithItsName() throws IOException {
        Path file = write("pg-batch-exporter.scrape.timout = 5s\n");
        ConfigException e = assertThrows(ConfigException.class, () -> loader.load(file, DSN, Map.of()));
        assertTrue(e.getMessage().startsWith("pg-batch-exporter.scrape.timout: unknown key"), e.getMessage());
        assertTrue(e.getMessage().contains("timeout"), "suggests the known keys: " + e.getMessage());
    }

    @Test
    void aKnownKeyOutsideTheRootSaysWhereItBelongs() throws IOException {
        Path file = write("web {\n  tls {\n    cert-file = \"/etc/x.pem\"\n  }\n}\n");
        ConfigException e = assertThrows(ConfigException.class, () -> loader.load(file, DSN, Map.of()));
        assertTrue(e.getMessage().startsWith("web.tls.cert-file: unknown key"), e.getMessage());
        assertTrue(e.getMessage().contains("inside pg-batch-exporter { ... } (this one as pg-batch-exporter.web.tls.cert-file)"),
                e.getMessage());
    }

    @Test
    void unknownCollectorIsRejected() throws IOException {
        Path file = write("pg-batch-exporter.collectors.walz = true\n");
        ConfigException e = assertThrows(ConfigException.class, () -> loader.load(file, DSN, Map.of()));
        assertTrue(e.getMessage().contains("unknown collector 'walz'"), e.getMessage());
    }

    @Test
    void badDurationNamesTheKey() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> loader.load(null, DSN, Map.of("scrape.timeout", "ten seconds")));
        assertTrue(e.getMessage().startsWith("pg-batch-exporter.scrape.timeout: bad duration 'ten seconds'"), e.getMessage());
    }

    @Test
    void negativeDurationIsRejected() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> loader.load(null, DSN, Map.of("scrape.lock-timeout", "-1s")));
        assertTrue(e.getMessage().startsWith("pg-batch-exporter.scrape.lock-timeout: must be positive"), e.getMessage());
    }

    @Test
    void databaseSizeIntervalDefaultsToAMinuteAllowsZeroAndRejectsNegative() {
        assertEquals(Duration.ofSeconds(60), loader.load(null, DSN, Map.of()).collectorOptions().databaseSizeInterval());
        assertEquals(Duration.ZERO, loader.load(null, DSN, Map.of("scrape.database-size-interval", "0s"))
                .collectorOptions().databaseSizeInterval(), "0 = read on every scrape");
        assertEquals(Duration.ofMinutes(5), loader.load(null,
                Map.of("DATA_SOURCE_NAME", "postgresql://mon@db/postgres", "PG_EXPORTER_SCRAPE_DATABASE_SIZE_INTERVAL", "5m"),
                Map.of()).collectorOptions().databaseSizeInterval(), "from its environment variable");
        ConfigException negative = assertThrows(ConfigException.class,
                () -> loader.load(null, DSN, Map.of("scrape.database-size-interval", "-1s")));
        assertTrue(negative.getMessage().startsWith("pg-batch-exporter.scrape.database-size-interval: must be 0 or more"),
                negative.getMessage());
        ConfigException bad = assertThrows(ConfigException.class,
                () -> loader.load(null, DSN, Map.of("scrape.database-size-interval", "hourly")));
        assertTrue(bad.getMessage().startsWith("pg-batch-exporter.scrape.database-size-interval: bad duration 'hourly'"),
                bad.getMessage());
    }

    @Test
    void poolLargerThanThreeIsRejected() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> loader.load(null, DSN, Map.of("scrape.pool-size", "10")));
        assertTrue(e.getMessage().startsWith("pg-batch-exporter.scrape.pool-size: must be between 1 and 3"), e.getMessage());
    }

    @Test
    void missingConfigFileAndUnreadablePasswordFileAreClearErrors() {
        ConfigException missing = assertThrows(ConfigException.class,
                () -> loader.load(dir.resolve("nope.conf"), DSN, Map.of()));
        assertTrue(missing.getMessage().startsWith("--config.file: cannot read"), missing.getMessage());

        ConfigException pw = assertThrows(ConfigException.class, () -> loader.load(null,
                Map.of("DATA_SOURCE_NAME", "postgresql://u@h/db", "DATA_SOURCE_PASS_FILE", dir.resolve("absent").toString()), Map.of()));
        assertTrue(pw.getMessage().startsWith("pg-batch-exporter.data-source.password-file: cannot read"), pw.getMessage());
    }

    @Test
    void malformedHoconIsAConfigError() throws IOException {
        Path file = write("pg-batch-exporter { scrape { timeout = \n");
        ConfigException e = assertThrows(ConfigException.class, () -> loader.load(file, DSN, Map.of()));
        assertTrue(e.getMessage().startsWith("--config.file:"), e.getMessage());
    }

    @Test
    void badListenAddressAndPath() {
        assertThrows(ConfigException.class, () -> loader.load(null, DSN, Map.of("web.listen-address", "9187")));
        assertThrows(ConfigException.class, () -> loader.load(null, DSN, Map.of("web.listen-address", ":99999")));
        assertThrows(ConfigException.class, () -> loader.load(null, DSN, Map.of("web.telemetry-path", "metrics")));
    }

    @Test
    void emptyDataSourceIsAConfigError() {
        ConfigException e = assertThrows(ConfigException.class, () -> loader.load(null, Map.of(), Map.of()));
        assertTrue(e.getMessage().contains("data-source.url"), e.getMessage());
    }

    private Path write(String content) throws IOException {
        Path file = dir.resolve("exporter.conf");
        Files.writeString(file, content);
        return file;
    }
}
