package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The exporter connecting to PostgreSQL over TLS the way the README tells users to:
 * {@code sslmode=verify-full} and {@code sslrootcert} in {@code DATA_SOURCE_NAME}, against a server
 * whose certificate the test made. The server refuses non-TLS connections for the monitoring role
 * ({@code hostnossl ... reject}), so a passing scrape proves TLS was used; a second CA, a certificate
 * for another host name, and a client certificate (pgjdbc reads the key as PKCS#8 DER) are checked too.
 */
class PostgresTlsTest {

    private static final String CERT_USER = "pgbt_cert_monitor";

    @TempDir
    static Path dir;
    private static PostgresCluster cluster;
    private static TestCertificates ca;
    private static TestCertificates otherCa;
    private static TestCertificates.Issued client;

    @BeforeAll
    static void startTlsCluster() throws Exception {
        List<Integer> versions = SharedClusters.versions();
        int version = versions.get(versions.size() - 1);
        ca = TestCertificates.authority(Files.createDirectory(dir.resolve("ca")), "postgres");
        otherCa = TestCertificates.authority(Files.createDirectory(dir.resolve("other-ca")), "other");
        // only the address: connecting by the name "localhost" must then fail verify-full (not verify-ca)
        TestCertificates.Issued server = ca.server("server", "IP:127.0.0.1");
        client = ca.client("client", CERT_USER);

        cluster = PostgresCluster.builder(version).name("tls")
                .setting("ssl", "on")
                .setting("ssl_cert_file", "server.crt")   // relative to the data directory
                .setting("ssl_key_file", "server.key")
                .setting("ssl_ca_file", "ca.crt")         // for the client-certificate role
                .build();
        // the server runs as the postgres OS user and refuses a key others can read
        giveToServer(server.cert(), "server.crt", false);
        giveToServer(server.key(), "server.key", true);
        giveToServer(ca.caCert(), "ca.crt", false);
        Path hba = cluster.dataDir().resolve("pg_hba.conf");
        String rules = "hostnossl all " + ExporterTestSupport.MONITOR_USER + " 127.0.0.1/32 reject\n"
                + "hostssl   all " + CERT_USER + " 127.0.0.1/32 cert\n";
        Files.writeString(hba, rules + Files.readString(hba));
        cluster.start();
        ExporterTestSupport.createMonitoringRole(cluster);
        cluster.execute("CREATE ROLE " + CERT_USER + " LOGIN IN ROLE pg_monitor");
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void verifyFullWithTheRightCaScrapesOverTls() throws Exception {
        try (Exporter exporter = Exporter.start(settings(dsn(ca.caCert())))) {
            Exposition metrics = ExporterTestSupport.scrape(exporter.port());
            assertEquals(1.0, metrics.value("pg_up"), metrics.text());
            assertEquals(1.0, metrics.value("pg_scrape_collector_success", "collector", "wal"));
            assertEquals("true", exporterSessionsSsl(ExporterTestSupport.MONITOR_USER), "the exporter's session is encrypted");
        }
        // the same role without TLS is refused by the server, so the scrape above could only have used TLS
        try (Exporter exporter = Exporter.start(settings(dsnWithoutTls()))) {
            assertEquals(0.0, ExporterTestSupport.scrape(exporter.port()).value("pg_up"));
        }
    }

    @Test
    void anotherCaOrAnotherHostNameIsRefused() throws Exception {
        try (Exporter exporter = Exporter.start(settings(dsn(otherCa.caCert())))) {
            Exposition metrics = ExporterTestSupport.scrape(exporter.port());
            assertEquals(0.0, metrics.value("pg_up"), "a server certificate from an untrusted CA is refused");
            assertEquals(0.0, metrics.value("pg_scrape_collector_success", "collector", "wal"));
        }
        // verify-full checks the name too: the certificate names 127.0.0.1, not localhost (verify-ca does not care)
        try (Exporter exporter = Exporter.start(settings(dsn(ca.caCert()).replace("@127.0.0.1:", "@localhost:")))) {
            assertEquals(0.0, ExporterTestSupport.scrape(exporter.port()).value("pg_up"), "verify-full refuses another name");
        }
        try (Exporter exporter = Exporter.start(settings(dsn(ca.caCert()).replace("@127.0.0.1:", "@localhost:")
                .replace("verify-full", "verify-ca")))) {
            assertEquals(1.0, ExporterTestSupport.scrape(exporter.port()).value("pg_up"), "the same server passes verify-ca");
        }
    }

    /**
     * An operator with the wrong CA file or host name must see why in the log, not just "not
     * reachable"; once, in the exporter's one-line format (pgjdbc's own java.util.logging lines,
     * repeated on every connection attempt, stay out).
     */
    @Test
    void theReasonIsLoggedOnceInTheLogFormat() throws Exception {
        Map<String, String> cases = Map.of(
                dsn(otherCa.caCert()), "not reachable (SQLSTATE 08006: SSL error",
                dsn(ca.caCert()).replace("@127.0.0.1:", "@localhost:"), "not reachable (SQLSTATE 08006: The hostname localhost could not be verified");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            Path log = Files.createTempFile(dir, "exporter", ".log");
            try (ExporterProcess process = ExporterProcess.start(Map.of("DATA_SOURCE_NAME", c.getKey()),
                    List.of("--web.listen-address=127.0.0.1:0"), log)) {
                int port = process.awaitPort();
                for (int i = 0; i < 3; i++) {
                    assertEquals(0.0, ExporterTestSupport.scrape(port).value("pg_up"));
                }
                process.terminate(30);
                String output = process.output();
                assertTrue(output.contains(c.getValue()), output);
                assertEquals(1, output.split("not reachable", -1).length - 1, "logged once for three failed scrapes:\n" + output);
                assertTrue(!output.contains(ExporterTestSupport.MONITOR_PASSWORD), "no password in the log:\n" + output);
                for (String line : output.split("\n")) {
                    assertTrue(LOG_LINE.matcher(line).matches(), "not in the log format: " + line + "\n" + output);
                }
            }
        }
    }

    /** slf4j-simple as configured in simplelogger.properties: time, level, logger, message; one line. */
    private static final java.util.regex.Pattern LOG_LINE = java.util.regex.Pattern.compile(
            "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}(Z|[+-]\\d\\d:\\d\\d) (TRACE|DEBUG|INFO|WARN|ERROR) [A-Za-z.]+ - .+");

    @Test
    void clientCertificateInsteadOfAPassword() throws Exception {
        Path derKey = ca.toPkcs8Der(client.key());
        String dsn = "postgresql://" + CERT_USER + "@127.0.0.1:" + cluster.port() + "/postgres?sslmode=verify-full"
                + "&sslrootcert=" + ca.caCert() + "&sslcert=" + client.cert() + "&sslkey=" + derKey;
        try (Exporter exporter = Exporter.start(settings(dsn))) {
            Exposition metrics = ExporterTestSupport.scrape(exporter.port());
            assertEquals(1.0, metrics.value("pg_up"), metrics.text());
            assertEquals(1.0, metrics.value("pg_scrape_collector_success", "collector", "wal"));
            assertEquals("true", exporterSessionsSsl(CERT_USER));
        }
    }

    private static String dsn(Path rootCert) {
        return "postgresql://" + ExporterTestSupport.MONITOR_USER + ":" + ExporterTestSupport.MONITOR_PASSWORD
                + "@127.0.0.1:" + cluster.port() + "/postgres?sslmode=verify-full&sslrootcert=" + rootCert;
    }

    private static String dsnWithoutTls() {
        return "postgresql://" + ExporterTestSupport.MONITOR_USER + ":" + ExporterTestSupport.MONITOR_PASSWORD
                + "@127.0.0.1:" + cluster.port() + "/postgres?sslmode=disable";
    }

    private static io.pgbatchtelemetry.exporter.config.ExporterSettings settings(String dsn) {
        return new io.pgbatchtelemetry.exporter.config.SettingsLoader().load(null, Map.of("DATA_SOURCE_NAME", dsn),
                Map.of("web.listen-address", "127.0.0.1:0", "data-source.connect-timeout", "2s"));
    }

    /** Whether every session of the exporter as {@code user} is encrypted (pg_stat_ssl), or "none". */
    private static String exporterSessionsSsl(String user) throws Exception {
        try (Connection c = cluster.connect(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT coalesce(bool_and(ssl)::text, 'none') FROM pg_stat_ssl JOIN pg_stat_activity "
                     + "USING (pid) WHERE application_name = 'pg-batch-exporter' AND usename = '" + user + "'")) {
            rs.next();
            return rs.getString(1);
        }
    }

    /** Copies a file into the data directory, owned by the server's OS user, 0600 for keys. */
    private static void giveToServer(Path source, String name, boolean secret) throws IOException {
        Path target = cluster.dataDir().resolve(name);
        Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING);
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString(secret ? "rw-------" : "rw-r--r--"));
        if ("root".equals(System.getProperty("user.name"))) {
            UserPrincipalLookupService users = target.getFileSystem().getUserPrincipalLookupService();
            Files.setOwner(target, users.lookupPrincipalByName("postgres"));
            Files.getFileAttributeView(target, java.nio.file.attribute.PosixFileAttributeView.class)
                    .setGroup(users.lookupPrincipalByGroupName("postgres"));
        }
    }
}
